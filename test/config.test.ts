import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyEnv, loadConfig, parseConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { runCli, tempDir } from './helpers.js';

describe('config', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('fills defaults from an empty document', () => {
    const c = parseConfig({});
    assert.equal(c.data_dir, './data');
    assert.equal(c.http.port, 8080);
    assert.equal(c.syslog.udp.port, 5514);
    assert.equal(c.syslog.tcp.port, 5514);
    assert.equal(c.bus.type, 'memory');
    assert.equal(c.bus.memory.capacity, 50_000);
  });

  it('reports the field path and the reason', () => {
    assert.throws(
      () => parseConfig({ syslog: { tcp: { port: 70000 } }, http: { prot: 1 } }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.issues.join('\n');
        assert.match(text, /syslog\.tcp\.port: .*65535/);
        assert.match(text, /http: unknown field\(s\) "prot"/);
        return true;
      },
    );
  });

  it('refuses TLS without a certificate', () => {
    assert.throws(() => parseConfig({ syslog: { tls: { enabled: true } } }), /syslog\.tls: tls\.enabled needs cert and key/);
  });

  it('applies environment overrides', () => {
    const raw = applyEnv(
      { http: { port: 1 } },
      { KAFKA_BROKERS: 'a:1, b:2', ELASTICSEARCH_URL: 'http://es:9200', TRAILWATCH_HTTP__PORT: '9090', TRAILWATCH_DATA_DIR: '/var/lib/tw' },
    );
    const c = parseConfig(raw);
    assert.deepEqual(c.bus.kafka.brokers, ['a:1', 'b:2']);
    assert.equal(c.sinks.elasticsearch.url, 'http://es:9200');
    assert.equal(c.http.port, 9090);
    assert.equal(c.data_dir, '/var/lib/tw');
  });

  it("ignores the test runner's own TRAILWATCH_ variables (they are not config fields)", () => {
    const env = { TRAILWATCH_KEEP_SERVICES: '1', TRAILWATCH_TEST_TIMEOUT_MS: '1000', TRAILWATCH_RUN_TIMEOUT_MS: '1000', TRAILWATCH_SERVICES_DIR: '/tmp/s' };
    assert.deepEqual(parseConfig(applyEnv({}, env)), parseConfig({}));
  });

  it('reports YAML syntax errors with a line', () => {
    const f = join(tmp.dir, 'bad.yaml');
    writeFileSync(f, 'http:\n  port: [1,\n');
    assert.throws(() => loadConfig({ file: f, env: {} }), /bad\.yaml: not valid YAML \(line \d+/);
  });

  it('check-config exits 2 with the path on a bad file', async () => {
    const f = join(tmp.dir, 'bad2.yaml');
    writeFileSync(f, 'syslog:\n  max_connections: -3\n');
    const r = await runCli(['--config', f, 'check-config']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /syslog\.max_connections: /);
  });

  it('check-config prints the effective config with secrets redacted', async () => {
    const f = join(tmp.dir, 'good.yaml');
    writeFileSync(f, 'session_log:\n  token: hunter2-very-secret\n');
    const r = await runCli(['--config', f, 'check-config']);
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.equal(c.session_log.token, '[redacted]');
    assert.doesNotMatch(r.stdout, /hunter2/);
  });
});

describe('config > documented example', () => {
  it('trailwatch.example.yaml is what the schema generates, and parses to the defaults', async () => {
    const { readFileSync } = await import('node:fs');
    const { exampleConfigYaml } = await import('../src/config-doc.js');
    const { ROOT } = await import('./helpers.js');
    const file = join(ROOT, 'trailwatch.example.yaml');
    assert.equal(readFileSync(file, 'utf8'), exampleConfigYaml(), 'regenerate with: node dist/src/cli.js check-config --example > trailwatch.example.yaml');
    assert.deepEqual(loadConfig({ file, env: {} }), parseConfig({}));
    // every leaf field carries a description, not only its type
    const lines = exampleConfigYaml().split('\n');
    const undocumented = lines.filter((l, i) => /^\s*#? ?[a-z_]+:( |$)/.test(l) && /^\s*# \([^)]*\)$/.test(lines[i - 1] ?? ''));
    assert.deepEqual(undocumented, []);
  });
});
