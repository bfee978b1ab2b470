// A real rsyslogd for the suites that forward through it: its own config,
// work directory and pid file (no imuxsock/imklog, nothing of the system's).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p)) ?? 'rsyslogd';

export interface Rsyslog {
  child: ChildProcess;
  /** What rsyslogd wrote on stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Start rsyslogd in the foreground with `config` (the lines after the
 * global() statement, which sets its work directory under `dir`). The
 * config is checked first (`-N1`), so a mistake fails with rsyslog's own
 * message instead of a silent daemon.
 */
export function startRsyslog(dir: string, config: string, globals = ''): Rsyslog {
  const work = join(dir, 'rsyslog');
  mkdirSync(work, { recursive: true });
  const conf = join(work, 'rsyslog.conf');
  writeFileSync(conf, `global(workDirectory="${work}"${globals ? `\n  ${globals}` : ''})\n${config}\n`);
  execFileSync(RSYSLOGD, ['-N1', '-f', conf], { stdio: 'pipe' });
  const child = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(work, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.on('exit', (code) => {
    if (code || process.env.TW_DEBUG) process.stderr.write(`rsyslogd exited ${code}: ${err}\n`);
  });
  return {
    child,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A real rsyslogd: imfile of `file` (as `tag`, facility auth) forwarded over TCP to 127.0.0.1:`port` (octet counting, RFC 5424). */
export function forwardFile(dir: string, file: string, port: number, tag = 'sshd'): Rsyslog {
  return startRsyslog(
    dir,
    [
      'module(load="imfile" mode="inotify")',
      `input(type="imfile" file="${file}" tag="${tag}:" facility="auth" severity="info" freshStartTail="off")`,
      `action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"`,
      '       action.resumeRetryCount="-1" action.resumeInterval="1")',
    ].join('\n'),
  );
}

