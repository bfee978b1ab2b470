// `ssh -p 2222 operator@gateway`: a numbered list of what the operator may
// reach now; they type a number and Enter.
import type { ServerChannel } from 'ssh2';
import type { Access } from './policy.js';
import type { OperatorSession } from './session.js';
import type { ChannelInfo } from './shell.js';

export function showMenu(s: OperatorSession, ch: ServerChannel, info: ChannelInfo): Promise<Access | null> {
  const choices = s.ctx.policy().choices(s.user.operator);
  const nl = info.pty ? '\r\n' : '\n';
  let text = `trailwatch gateway — ${s.user.operator}, choose an account:${nl}`;
  choices.forEach((c, i) => (text += `  ${i + 1}) ${c.account}@${c.target.name}${nl}`));
  text += `  q) quit${nl}> `;
  ch.write(text);
  return new Promise((resolve) => {
    let line = '';
    const done = (a: Access | null) => {
      ch.removeListener('data', onData);
      if (!a) {
        ch.exit(0);
        ch.end();
      }
      resolve(a);
    };
    const onData = (d: Buffer) => {
      for (const ch0 of d.toString('utf8')) {
        if (ch0 === '\r' || ch0 === '\n') {
          ch.write(nl);
          const n = Number(line.trim());
          if (line.trim() === 'q') return done(null);
          if (Number.isInteger(n) && n >= 1 && n <= choices.length) {
            // The policy may have changed while the menu was up: authorize again.
            const c = choices[n - 1];
            return done(s.ctx.policy().authorize(s.user.operator, c.target.name, c.account));
          }
          line = '';
          ch.write(`choose 1-${choices.length} or q${nl}> `);
        } else if (ch0 === '\x03' || ch0 === '\x04') return done(null);
        else if (ch0 === '\x7f' || ch0 === '\b') {
          if (line) {
            line = line.slice(0, -1);
            if (info.pty) ch.write('\b \b');
          }
        } else if (ch0 >= ' ' && line.length < 16) {
          line += ch0;
          if (info.pty) ch.write(ch0);
        }
      }
    };
    ch.on('data', onData);
  });
}
