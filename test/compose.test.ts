import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './helpers.js';

const composeAvailable = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0;

describe('docker-compose.yml', () => {
  const doc = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string; command?: string[]; environment?: Record<string, string> }> };

  it('runs Kafka (KRaft), Elasticsearch with security on, Grafana and the trailwatch stages', () => {
    const s = doc.services;
    assert.match(s.kafka.image!, /^apache\/kafka:/);
    assert.equal(s.kafka.environment!.KAFKA_PROCESS_ROLES, 'broker,controller');
    assert.equal(s.elasticsearch.environment!['xpack.security.enabled'], 'true');
    assert.match(s.elasticsearch.environment!.ELASTIC_PASSWORD, /\$\{ELASTIC_PASSWORD/);
    assert.match(s.grafana.image!, /^grafana\/grafana:/);
    assert.deepEqual(s.rules.command, ['rules', '--http-port', '8080']);
    assert.deepEqual(s['sink-elasticsearch'].command!.slice(0, 2), ['sink', 'elasticsearch']);
    assert.equal(s.ingest.command![0], 'ingest');
  });

  it('is valid for `docker compose config`', { skip: composeAvailable ? false : 'the docker compose plugin is not installed here (no Docker engine on this machine)' }, () => {
    const r = spawnSync('docker', ['compose', '-f', join(ROOT, 'docker-compose.yml'), 'config', '--quiet'], {
      encoding: 'utf8',
      env: { ...process.env, ELASTIC_PASSWORD: 'x', GRAFANA_ADMIN_PASSWORD: 'y' },
    });
    assert.equal(r.status, 0, r.stderr);
  });
});
