// The operator-facing SSH server: public-key authentication against the
// policy, the user string `operator:account@target` (or just `operator` for a
// menu), failed logins counted per source and turned into events.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import ssh2 from 'ssh2';
import type { AuthContext, AuthenticationType, Connection, KeyboardAuthContext, PublicKeyAuthContext } from 'ssh2';
import { ConfigError } from '../errors.js';
import { ACTIONS } from '../rules/decoders/vocabulary.js';
import { LoginLimiter, MfaThrottle, type GatewayContext } from './context.js';
import { fingerprint } from './policy.js';
import { OperatorSession } from './session.js';

export interface UserSpec {
  operator: string;
  account?: string;
  target?: string;
}

const USER = /^([A-Za-z0-9._-]+)(?::([a-z_][a-z0-9_.-]*)@([A-Za-z0-9._-]+))?$/i;

/** "alice:deploy@web1" → { operator, account, target }; "alice" → { operator }. */
export function parseUser(s: string): UserSpec | null {
  const m = USER.exec(s);
  if (!m) return null;
  return m[2] ? { operator: m[1], account: m[2], target: m[3] } : { operator: m[1] };
}

/**
 * A fresh ed25519 key pair in OpenSSH format. ssh2's generator drops the
 * leading zero bytes of the public key, so about 1 key in 256 comes out
 * unparsable (mscdex/ssh2#1390, #1513); such a key is thrown away and
 * another generated.
 */
export function generateEd25519(comment: string): { private: string; public: string } {
  for (let i = 0; i < 32; i++) {
    const kp = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    if (!(ssh2.utils.parseKey(kp.private) instanceof Error) && !(ssh2.utils.parseKey(kp.public) instanceof Error)) return kp;
  }
  throw new Error('could not generate a parsable ed25519 key in 32 attempts');
}

/**
 * The gateway's host key, generated (ed25519, mode 0600) on first start. A
 * file that is there but cannot be parsed is an error naming the file (it is
 * never replaced: operators pinned the old key).
 */
export function loadHostKey(file: string): Buffer {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, generateEd25519('trailwatch-gateway').private, { mode: 0o600, flag: 'wx' });
  }
  const key = readFileSync(file);
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) throw new ConfigError([`gateway.host_key_file: ${file}: not a usable SSH private key (${parsed.message})`]);
  return key;
}

export function createSshServer(ctx: GatewayContext, hostKey: Buffer): { server: ssh2.Server; endAll(): void } {
  const limiter = new LoginLimiter(ctx.cfg.login);
  const throttle = new MfaThrottle(ctx.cfg.mfa.throttle);
  const clients = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [hostKey], ident: 'trailwatch-gateway' }, (client, info) => {
    const ip = info.ip;
    clients.add(client);
    client.on('close', () => clients.delete(client));
    if (limiter.blocked(ip)) {
      client.on('error', () => undefined);
      client.end();
      return;
    }
    let user: UserSpec | null = null;
    let failure: string | null = null;
    /** The last failure is already an event of its own (a refused code). */
    let reported = false;
    let authed = false;
    // The operator's key passed; the one-time code is still to come.
    let keyPassed: UserSpec | null = null;
    let keyPassedAs = '';
    let codeTries = 0;
    client.on('authentication', (a) => {
      if (a.method === 'keyboard-interactive' && keyPassed && a.username === keyPassedAs) return secondFactor(a as KeyboardAuthContext);
      const r = authenticate(ctx, a, ip, limiter);
      // A client trying one more method after a real refusal keeps that refusal as the reason.
      if (r.fail && !(r.otherMethod && failure)) {
        failure = r.fail;
        reported = false;
      }
      if (r.partial) {
        keyPassed = r.user!;
        keyPassedAs = a.username;
        // Leaving at the code prompt is a failed login too (unless a refused code already said so).
        if (!reported) failure = `no one-time code given for operator ${keyPassed.operator}`;
        return a.reject(['keyboard-interactive'], true);
      }
      if (r.user) {
        user = r.user;
        authed = true;
      }
      // accept() may emit 'ready' synchronously: decide only after the state is set.
      if (r.accept) a.accept();
      else a.reject(r.methods);
    });
    /** A refused code: its own event (with why), counted for the throttle; the connection ends after max_tries. */
    const refuseCode = (a: KeyboardAuthContext, operator: string, refusal: 'bad-code' | 'replayed-code' | 'no-code' | 'throttled', message: string, count: boolean) => {
      const tripped = count && throttle.fail(operator, ip);
      failure = message;
      reported = true;
      ctx.events.emit({
        action: ACTIONS.gatewayLogin,
        outcome: 'failure',
        message: `gateway login failed from ${ip}: ${message}${tripped ? `; codes for ${operator} and from ${ip} not checked for a while` : ''}`,
        operator,
        sourceIp: ip,
        reason: message,
        extra: { auth: { method: 'keyboard-interactive', mfa: refusal } },
      });
      if (++codeTries < ctx.cfg.mfa.max_tries && !tripped && count) return a.reject(['keyboard-interactive'], true);
      a.reject([]);
      // No more tries on this connection: a client may not authenticate again to get a fresh prompt.
      setImmediate(() => client.end());
    };
    const secondFactor = (a: KeyboardAuthContext) => {
      const who = keyPassed!;
      if (limiter.blocked(ip)) {
        failure = 'source blocked after repeated failures';
        reported = false;
        return a.reject([]);
      }
      if (codeTries >= ctx.cfg.mfa.max_tries) return a.reject([]);
      const wait = throttle.wait(who.operator, ip);
      if (wait > 0) return refuseCode(a, who.operator, 'throttled', `one-time codes for operator ${who.operator} are not checked for ${Math.ceil(wait / 1000)} s after repeated failures`, false);
      a.prompt([{ prompt: 'One-time code: ', echo: false }], `trailwatch gateway: second factor for ${who.operator}`, (answers) => {
        // Another connection may have tripped the throttle while this prompt was open.
        const late = throttle.wait(who.operator, ip);
        if (late > 0) return refuseCode(a, who.operator, 'throttled', `one-time codes for operator ${who.operator} are not checked for ${Math.ceil(late / 1000)} s after repeated failures`, false);
        const code = (answers[0] ?? '').trim();
        if (!code) return refuseCode(a, who.operator, 'no-code', `no one-time code given for operator ${who.operator}`, true);
        let check: ReturnType<typeof ctx.mfa.verify>;
        try {
          check = ctx.mfa.verify(who.operator, code);
        } catch (err) {
          // An enrolment that does not decrypt (another secret key) or parse: refuse, say why in the log.
          ctx.log.error({ operator: who.operator, error: (err as Error).message }, 'cannot check the second factor');
          failure = `second factor of operator ${who.operator} cannot be checked`;
          reported = false;
          return a.reject([]);
        }
        if (check === 'ok') {
          throttle.succeed(who.operator, ip);
          user = who;
          authed = true;
          return a.accept();
        }
        if (check === 'replayed') return refuseCode(a, who.operator, 'replayed-code', `one-time code already used by operator ${who.operator}`, true);
        refuseCode(a, who.operator, 'bad-code', `bad one-time code for operator ${who.operator}`, true);
      });
    };
    client.on('ready', () => {
      limiter.succeed(ip);
      const how = keyPassed ? ' with key and one-time code' : ' with key';
      ctx.events.emit({ action: ACTIONS.gatewayLogin, outcome: 'success', message: `operator ${user!.operator} logged in to the gateway from ${ip}${how}`, operator: user!.operator, sourceIp: ip });
      const s = new OperatorSession(ctx, client as Connection, user!, { ip, port: info.port });
      ctx.sessions.add(s);
      client.on('close', () => ctx.sessions.delete(s));
    });
    client.on('error', (err) => ctx.log.debug({ ip, error: err.message, stack: err.stack }, 'operator connection error'));
    client.on('close', () => {
      if (authed || !failure) return;
      const nowBlocked = limiter.fail(ip);
      // A refused code was its own event already; the connection adds one only when it blocks the source.
      if (reported && !nowBlocked) return;
      ctx.events.emit({
        action: ACTIONS.gatewayLogin,
        outcome: 'failure',
        message: `gateway login failed from ${ip}: ${failure}${nowBlocked ? '; source blocked' : ''}`,
        sourceIp: ip,
        reason: failure,
        ...(nowBlocked ? { alert: { rule: 'gateway-login-blocked', name: 'Repeated failed gateway logins; source blocked', severity: 'medium' as const } } : {}),
      });
    });
  });
  return {
    server,
    endAll: () => {
      for (const c of clients) c.end();
    },
  };
}

/** One authentication request. Returns the user once accepted, or why it failed. */
function authenticate(ctx: GatewayContext, a: AuthContext, ip: string, limiter: LoginLimiter): { accept: boolean; methods?: AuthenticationType[]; user?: UserSpec; fail?: string; partial?: boolean; otherMethod?: boolean } {
  if (limiter.blocked(ip)) {
    return { accept: false, methods: [], fail: 'source blocked after repeated failures' };
  }
  if (a.method === 'none') {
    return { accept: false, methods: ['publickey'] };
  }
  const user = parseUser(a.username);
  if (a.method !== 'publickey') {
    return { accept: false, methods: ['publickey'], fail: `method ${a.method} not allowed (user ${JSON.stringify(a.username)})`, otherMethod: true };
  }
  const pk = a as PublicKeyAuthContext;
  const policy = ctx.policy();
  if (!user || !policy.keyMatches(user.operator, fingerprint(pk.key.data))) {
    return { accept: false, methods: ['publickey'], fail: user ? `key not registered for operator ${user.operator}` : `malformed user ${JSON.stringify(a.username)}` };
  }
  if (!pk.signature || !pk.blob) {
    // The client asks whether this key would do; it signs next.
    return { accept: true };
  }
  const parsed = ssh2.utils.parseKey(pk.key.data);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || key.verify(pk.blob, pk.signature, pk.hashAlgo) !== true) {
    return { accept: false, methods: ['publickey'], fail: `bad signature for operator ${user.operator}` };
  }
  const granted = user.target ? policy.authorize(user.operator, user.target, user.account!) !== null : policy.choices(user.operator).length > 0;
  if (!granted) {
    return { accept: false, methods: [], fail: user.target ? `no grant for ${user.operator} to ${user.account}@${user.target}` : `no grant for ${user.operator}` };
  }
  const mfa = ctx.cfg.mfa.mode;
  if (mfa !== 'off') {
    if (ctx.mfa.has(user.operator)) return { accept: false, partial: true, user };
    if (mfa === 'required') return { accept: false, methods: [], fail: `operator ${user.operator} has no second factor enrolled (gateway.mfa.mode is required)` };
  }
  return { accept: true, user };
}
