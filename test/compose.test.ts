import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './helpers.js';

// `docker compose` (v2) where the plugin exists; Debian's docker-compose (v1,
// installed by npm test) otherwise. Neither needs a Docker engine for `config`.
const COMPOSE: string[] | null =
  spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0
    ? ['docker', 'compose']
    : spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0
      ? ['docker-compose']
      : null;

/** The variables of .env.example, as a user who copied it has them. */
function exampleEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(ROOT, '.env.example'), 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

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

  it('is valid for `docker compose config` with the variables of .env.example, and refuses to start without the secrets', { skip: COMPOSE ? false : 'neither docker compose nor docker-compose is installed' }, () => {
    const [cmd, ...pre] = COMPOSE!;
    const config = (env: Record<string, string>) =>
      spawnSync(cmd, [...pre, '--project-directory', ROOT, '-f', join(ROOT, 'docker-compose.yml'), 'config'], { encoding: 'utf8', cwd: '/', env: { PATH: process.env.PATH!, ...env } });
    const example = exampleEnv();
    const ok = config(example);
    assert.equal(ok.status, 0, ok.stderr);
    const resolved = parse(ok.stdout) as { services: Record<string, { environment?: Record<string, string> }> };
    assert.equal(resolved.services.ingest.environment?.TRAILWATCH_SESSION_LOG__TOKEN, example.SESSION_LOG_TOKEN);
    const { ELASTIC_PASSWORD: _, ...noPassword } = example;
    const refused = config(noPassword);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /set ELASTIC_PASSWORD in \.env/);
  });
});
