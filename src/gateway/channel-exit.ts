// How a proxied channel ends, as OpenSSH's sshd ends it: the target's
// exit-status, or its exit-signal (a command killed by a signal), then EOF
// and close. A client told neither reports "exit status -1" (ssh exits 255).
import type { ClientChannel, ServerChannel } from 'ssh2';

export interface ChannelExit {
  code: number | null;
  signal?: string;
  coreDumped?: boolean;
  description?: string;
}

/** Records how the target's channel exited (its 'exit' event), for passing on at close. */
export function watchExit(t: ClientChannel): () => ChannelExit {
  const e: ChannelExit = { code: null };
  t.on('exit', (code: number | null, signal?: string, coreDumped?: boolean, description?: string) => {
    e.code = code;
    if (code === null && signal) Object.assign(e, { signal, coreDumped: !!coreDumped, description: description ?? '' });
  });
  return () => e;
}

/** Passes the exit on to the operator's channel; a signal ssh2 cannot name becomes status 128+. */
export function sendExit(ch: ServerChannel, e: ChannelExit): void {
  if (e.signal) {
    try {
      ch.exit(e.signal, e.coreDumped ?? false, e.description ?? '');
      return;
    } catch {
      ch.exit(255);
      return;
    }
  }
  if (e.code !== null) ch.exit(e.code);
}

/** The code a recording keeps: the status, or 128 + nothing known for a signal (as a shell reports it, roughly). */
export function exitCode(e: ChannelExit): number | null {
  return e.code ?? (e.signal ? 255 : null);
}
