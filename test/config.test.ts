import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyEnv, loadConfig, parseConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { runCli, startCli, tempDir } from './helpers.js';

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

  it('takes env values of string fields literally (secrets are never read as YAML)', () => {
    const c = (env: NodeJS.ProcessEnv) => parseConfig(applyEnv({}, env));
    assert.equal(c({ TRAILWATCH_SESSION_LOG__TOKEN: 'abc #def' }).session_log.token, 'abc #def');
    assert.equal(c({ TRAILWATCH_SESSION_LOG__TOKEN: '123' }).session_log.token, '123');
    assert.equal(c({ TRAILWATCH_SESSION_LOG__TOKEN: 'true' }).session_log.token, 'true');
    assert.equal(c({ TRAILWATCH_SESSION_LOG__TOKEN: 'null' }).session_log.token, 'null');
    assert.equal(c({ TRAILWATCH_SESSION_LOG__TOKEN: '  spaced ' }).session_log.token, '  spaced ', 'spaces are kept');
    assert.equal(c({ TRAILWATCH_SESSION_LOG__TOKEN: '' }).session_log.token, '', 'empty is empty (the endpoint then refuses all)');
    assert.equal(c({ TRAILWATCH_SESSION_LOG__TOKEN: '[a, b]' }).session_log.token, '[a, b]');
    assert.equal(c({ TRAILWATCH_SESSION_LOG__TOKEN: 'k: v' }).session_log.token, 'k: v');
    assert.equal(c({ TRAILWATCH_GATEWAY__SECRET_KEY: '0x1F' }).gateway.secret_key, '0x1F');
    const kafka = c({ TRAILWATCH_BUS__KAFKA__SASL__MECHANISM: 'plain', TRAILWATCH_BUS__KAFKA__SASL__USERNAME: '007', TRAILWATCH_BUS__KAFKA__SASL__PASSWORD: "'quoted' #1" }).bus.kafka.sasl;
    assert.equal(kafka.username, '007');
    assert.equal(String(kafka.password), "'quoted' #1");
    assert.equal(c({ TRAILWATCH_SINKS__ELASTICSEARCH__AUTH__USERNAME: 'u', TRAILWATCH_SINKS__ELASTICSEARCH__AUTH__PASSWORD: '1e3' }).sinks.elasticsearch.auth.password, '1e3');
  });

  it('still reads numbers, booleans and lists of other fields as YAML', () => {
    const c = parseConfig(
      applyEnv({}, { TRAILWATCH_HTTP__PORT: '9091', TRAILWATCH_SESSION_LOG__ENABLED: 'false', TRAILWATCH_RULES__DIRS: '[/etc/tw/rules, ./more]', TRAILWATCH_SYSLOG__MAX_MESSAGE_BYTES: '4096' }),
    );
    assert.equal(c.http.port, 9091);
    assert.equal(c.session_log.enabled, false);
    assert.deepEqual(c.rules.dirs, ['/etc/tw/rules', './more']);
    assert.equal(c.syslog.max_message_bytes, 4096);
    // A field the schema does not have is still refused with its path, not silently taken.
    assert.throws(() => parseConfig(applyEnv({}, { TRAILWATCH_SESSION_LOG__TOKN: 'x' })), /session_log: unknown field\(s\) "tokn"/);
  });

  it('a real `trailwatch run` accepts "Bearer abc #def" on /v1/session-log with TRAILWATCH_SESSION_LOG__TOKEN=\'abc #def\', and refuses "Bearer abc"', async () => {
    const dataDir = join(tmp.dir, 'run-data');
    const env = {
      TRAILWATCH_SESSION_LOG__TOKEN: 'abc #def',
      TRAILWATCH_DATA_DIR: dataDir,
      TRAILWATCH_HTTP__HOST: '127.0.0.1',
      TRAILWATCH_HTTP__PORT: '0',
      TRAILWATCH_SYSLOG__HOST: '127.0.0.1',
      TRAILWATCH_SYSLOG__UDP__ENABLED: 'false',
      TRAILWATCH_SYSLOG__TCP__PORT: '0',
      TRAILWATCH_JOURNAL__ENABLED: 'false',
      TRAILWATCH_SINKS__WEBHOOK__ENABLED: 'false',
    };
    const { child, logs } = await startCli(['run'], { env, timeoutMs: 30_000 });
    try {
      const port = Number(/"msg":"http listening"/.test(logs()) && /"http":\{"host":"[^"]*","port":(\d+)\}/.exec(logs())?.[1]);
      assert.ok(port > 0, logs());
      const post = (token: string) =>
        fetch(`http://127.0.0.1:${port}/v1/session-log`, {
          method: 'POST',
          body: JSON.stringify({ event: { action: 'session-start' }, host: { name: 'gw-env' } }) + '\n',
          headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${token}` },
        });
      const ok = await post('abc #def');
      assert.equal(ok.status, 200, await ok.clone().text());
      assert.deepEqual(await ok.json(), { accepted: 1, invalid: 0, errors: [] });
      const cut = await post('abc');
      assert.equal(cut.status, 401);
      assert.doesNotMatch(logs(), /abc #def/, 'the token is not logged');
    } finally {
      child.kill('SIGTERM');
    }
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
