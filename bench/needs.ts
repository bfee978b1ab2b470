// What each benchmark's reference (and the benchmark itself) needs from the
// system, as [command or path, Debian package]: found, installed when we are
// root (the way `npm test` installs its tools), or named with the command
// that gets it.
const NEEDS: Record<string, { required: [string, string][]; optional?: [string, string][] }> = {
  syslog: { required: [['rsyslogd', 'rsyslog']] },
  rules: { required: [], optional: [['fail2ban-regex', 'fail2ban'], ['/usr/bin/time', 'time']] },
  gateway: { required: [['sshd', 'openssh-server'], ['chpasswd', 'passwd'], ['useradd', 'passwd']] },
  pipeline: { required: [['logger', 'bsdutils'], ['java', 'openjdk-17-jdk-headless'], ['mvn', 'maven']] },
  journal: { required: [['/lib/systemd/systemd-journal-remote', 'systemd-journal-remote'], ['/lib/systemd/systemd-journal-upload', 'systemd-journal-remote']] },
};

type Ensure = (needs: [string, string][], who: string) => string[];

/**
 * Make sure a case can run: null when it can (optional references that are
 * still missing are only reported), else what is missing and how to get it.
 */
export async function missingFor(name: string): Promise<string | null> {
  const n = NEEDS[name];
  if (!n) return null;
  const { ensurePackages } = (await import(new URL('../../test/system-packages.mjs', import.meta.url).href)) as { ensurePackages: Ensure };
  const missing = ensurePackages([...n.required, ...(n.optional ?? [])], `bench ${name}`);
  const required = new Set(n.required.map(([, p]) => p));
  const blocking = missing.filter((p) => required.has(p));
  return blocking.length ? `missing ${blocking.join(' ')} (apt-get install ${blocking.join(' ')})` : null;
}
