// Shared test helpers: temp dirs, free ports, running the built CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist/src/cli.js');

export function tempDir(prefix = 'tw-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Records of NDJSON text (replay's stdout, a sink's file): one JSON value per non-empty line. */
export function ndjsonRecords<T>(text: string): T[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/**
 * What every CLI child of a test gets: the journald receiver on a free port
 * (its default, 19532, would collide between test files running at once).
 */
export const CHILD_ENV: NodeJS.ProcessEnv = { TRAILWATCH_JOURNAL__PORT: '0' };

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...CHILD_ENV, ...process.env, ...opts.env }, cwd: opts.cwd ?? ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Start the CLI in the background; resolves once `ready` matches a stderr log line. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; ready?: RegExp; timeoutMs?: number } = {}): Promise<{ child: ChildProcess; logs: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...CHILD_ENV, ...process.env, ...opts.env }, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let logs = '';
    const ready = opts.ready ?? /"msg":"http listening"/;
    const timer = setTimeout(() => reject(new Error(`CLI not ready in time; logs:\n${logs}`)), opts.timeoutMs ?? 20_000);
    const onData = (d: Buffer) => {
      logs += d;
      if (ready.test(logs)) {
        clearTimeout(timer);
        resolve({ child, logs: () => logs });
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', (d) => (logs += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`CLI exited early with ${code}; logs:\n${logs}`));
    });
  });
}

/**
 * `trailwatch run` on loopback as the end-to-end suites drive it: syslog over
 * TCP on `syslogPort` only, the session log on `httpPort` with `token`, no
 * webhooks, and these `rules` settings. Its config is <dir>/trailwatch.yaml.
 */
export async function startLoopbackRun(
  dir: string,
  o: { dataDir: string; httpPort: number; syslogPort: number; token: string; rules: Record<string, unknown> },
): Promise<{ child: ChildProcess; logs: () => string; config: string }> {
  const config = join(dir, 'trailwatch.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      data_dir: o.dataDir,
      http: { host: '127.0.0.1', port: o.httpPort },
      syslog: { host: '127.0.0.1', udp: { enabled: false }, tcp: { port: o.syslogPort } },
      session_log: { token: o.token },
      rules: o.rules,
      sinks: { webhook: { enabled: false } },
    }),
  );
  const started = await startCli(['-c', config, 'run'], { ready: /"msg":"http listening"/, timeoutMs: 30_000 });
  return { ...started, config };
}

/** Rejects after ms with what, so a wait that never ends fails with a reason instead of hanging the run. */
export function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)), ms)))]).finally(() => clearTimeout(t));
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, opts: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string) } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${(typeof opts.what === 'function' ? opts.what() : opts.what) ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
