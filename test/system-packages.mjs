// The Debian packages that tests and benchmarks drive for real: find them,
// install the missing ones when we are root (apt-get), and otherwise say
// exactly what is missing and how to get it. Shared by test/run.mjs and
// bench/run.ts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** A command on PATH (or an absolute path) is there. */
export function have(cmd) {
  if (cmd.startsWith('/')) return existsSync(cmd);
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]) if (dir && existsSync(join(dir, cmd))) return true;
  return false;
}

/**
 * `needs`: [command or path, Debian package] pairs. Installs what is missing
 * when running as root; returns the packages still missing (after an install
 * attempt that failed, or without one when not root), with `who` naming the
 * caller in what it prints.
 */
export function ensurePackages(needs, who) {
  const missing = [...new Set(needs.filter(([c]) => !have(c)).map(([, p]) => p))];
  if (!missing.length) return [];
  if (process.getuid?.() !== 0) {
    console.error(`${who}: missing system packages ${missing.join(' ')}; install them (apt-get install ${missing.join(' ')}) or run as root`);
    return missing;
  }
  console.error(`${who}: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  if (r.status === 0) r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  const still = [...new Set(needs.filter(([c]) => !have(c)).map(([, p]) => p))];
  if (still.length) console.error(`${who}: apt-get could not install ${still.join(' ')} (exit ${r.status}); install them by hand: apt-get install ${still.join(' ')}`);
  return still;
}
