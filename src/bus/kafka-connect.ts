// The Kafka connection settings (brokers, TLS, SASL) as kafkajs options, and
// what a failed connection means for the person who configured it.
// kafkajs reports a certificate that does not verify, or a broker that
// refuses our client certificate, as a retriable connection error, and a
// plaintext client on a TLS listener as "Closed connection": a stage would
// retry such a misconfiguration forever. Here those become permanent
// TrailwatchErrors that name the setting to fix, and `preflightKafka` checks
// one connection before a stage starts, so a CLI fails fast with that message
// while a broker that is merely down still lets it start (records wait).
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { Kafka, logLevel, type KafkaConfig as KafkaJsConfig, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from './kafka-config.js';
import { TrailwatchError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

function pem(field: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TrailwatchError('TW_KAFKA_TLS_FILE', `bus.kafka.tls.${field}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

/** Brokers, TLS and SASL from the config, as kafkajs client options (no retry or logging policy). */
export function kafkaConnection(cfg: KafkaConfig): Pick<KafkaJsConfig, 'clientId' | 'brokers' | 'ssl' | 'sasl' | 'connectionTimeout' | 'requestTimeout'> {
  const t = cfg.tls;
  const ssl = t.enabled
    ? {
        rejectUnauthorized: t.reject_unauthorized,
        ca: t.ca_file ? [pem('ca_file', t.ca_file)] : undefined,
        cert: t.cert_file ? pem('cert_file', t.cert_file) : undefined,
        key: t.key_file ? pem('key_file', t.key_file) : undefined,
      }
    : undefined;
  const s = cfg.sasl;
  const sasl = s.mechanism === 'none' ? undefined : ({ mechanism: s.mechanism, username: s.username!, password: s.password! } as SASLOptions);
  return { clientId: cfg.client_id, brokers: cfg.brokers, ssl, sasl, connectionTimeout: cfg.connection_timeout_ms, requestTimeout: cfg.request_timeout_ms };
}

/** Node's codes for a peer certificate that does not verify (ours, not the broker's complaint). */
const CERT_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The innermost error that carries a code or is a kafkajs error of its own (not a retry wrapper). */
function root(err: unknown): { name?: string; code?: unknown; type?: unknown; message?: string; broker?: string } {
  let e = err as { name?: string; cause?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    if (e.name !== 'KafkaJSNumberOfRetriesExceeded' && e.name !== 'KafkaJSNonRetriableError') break;
    if (!e.cause || e.cause === e) break;
    e = e.cause as typeof e;
  }
  return (e ?? {}) as ReturnType<typeof root>;
}

/** A certificate failure no retry can fix: our verification of the broker, or the broker refusing our certificate. */
export function certFailure(err: unknown): 'broker-cert' | 'client-cert' | null {
  const code = root(err).code;
  if (typeof code !== 'string') return null;
  if (CERT_CODES.has(code)) return 'broker-cert';
  if (/^ERR_SSL_.*(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE)$/.test(code)) return 'client-cert';
  return null;
}

/** Never show the configured password, whatever a broker or library puts in a message. */
function scrub(text: string, cfg: KafkaConfig): string {
  const pw = cfg.sasl.password;
  return pw ? text.split(pw).join('[redacted]') : text;
}

/**
 * A permanent, explained error for a connection problem that needs a config
 * change (authentication, TLS), or null when waiting may help.
 */
export function explainKafkaError(err: unknown, cfg: KafkaConfig): TrailwatchError | null {
  const r = root(err);
  const detail = scrub(r.message ?? errorMessage(err), cfg);
  const at = r.broker ?? cfg.brokers.join(',');
  if (r.name === 'KafkaJSSASLAuthenticationError') {
    return new TrailwatchError(
      'TW_KAFKA_SASL',
      `kafka: SASL authentication failed for user "${cfg.sasl.username}" (${cfg.sasl.mechanism}) at ${at}: ${detail}. ` +
        'Check bus.kafka.sasl.username, bus.kafka.sasl.mechanism and the password (env TRAILWATCH_BUS__KAFKA__SASL__PASSWORD)',
      { cause: err },
    );
  }
  if (r.type === 'UNSUPPORTED_SASL_MECHANISM' || r.type === 'ILLEGAL_SASL_STATE') {
    return new TrailwatchError('TW_KAFKA_SASL', `kafka: the broker at ${at} does not accept SASL mechanism ${cfg.sasl.mechanism} (bus.kafka.sasl.mechanism): ${detail}`, { cause: err });
  }
  const tls = certFailure(err);
  if (tls === 'broker-cert') {
    const ca = cfg.tls.ca_file ? `the CA in bus.kafka.tls.ca_file (${cfg.tls.ca_file})` : 'the system CAs (set bus.kafka.tls.ca_file to the CA that signed it)';
    return new TrailwatchError('TW_KAFKA_TLS_CERT', `kafka: TLS: the certificate of the broker at ${at} did not verify against ${ca}: ${detail} (${String(r.code)})`, { cause: err });
  }
  if (tls === 'client-cert') {
    return new TrailwatchError(
      'TW_KAFKA_TLS_CLIENT_CERT',
      `kafka: TLS: the broker at ${at} refused our client certificate (${cfg.tls.cert_file ? `bus.kafka.tls.cert_file ${cfg.tls.cert_file}` : 'none configured: set bus.kafka.tls.cert_file and key_file'}): ${detail}`,
      { cause: err },
    );
  }
  if (typeof r.code === 'string' && r.code.startsWith('ERR_SSL_')) return new TrailwatchError('TW_KAFKA_TLS', `kafka: TLS handshake with the broker at ${at} failed: ${detail}`, { cause: err });
  return null;
}

/** Whether host:port completes a TLS handshake (certificate not checked): tells a TLS listener from a plaintext one. */
function speaksTls(broker: string, timeoutMs: number): Promise<boolean> {
  const i = broker.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = tlsConnect({ host: broker.slice(0, i), port: Number(broker.slice(i + 1)), rejectUnauthorized: false, timeout: timeoutMs });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('secureConnect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

/** Closed/reset before any answer: with TLS off, find out whether the listener wanted TLS. */
function closedEarly(err: unknown): boolean {
  const r = root(err);
  return r.name === 'KafkaJSConnectionClosedError' || /closed connection|socket disconnected before secure TLS/i.test(r.message ?? '');
}

async function explainClosed(err: unknown, cfg: KafkaConfig): Promise<TrailwatchError | null> {
  if (!closedEarly(err)) return null;
  const r = root(err);
  const broker = r.broker ?? cfg.brokers[0];
  if (!cfg.tls.enabled && (await speaksTls(broker, cfg.connection_timeout_ms))) {
    return new TrailwatchError('TW_KAFKA_TLS', `kafka: the broker at ${broker} expects TLS but bus.kafka.tls.enabled is false: set it to true (and bus.kafka.tls.ca_file to the CA that signed the broker's certificate)`, { cause: err });
  }
  if (cfg.tls.enabled && !(await speaksTls(broker, cfg.connection_timeout_ms))) {
    return new TrailwatchError('TW_KAFKA_TLS', `kafka: the broker at ${broker} does not speak TLS but bus.kafka.tls.enabled is true: is this a plaintext listener?`, { cause: err });
  }
  if (cfg.sasl.mechanism === 'none') {
    return new TrailwatchError('TW_KAFKA_CLOSED', `kafka: the broker at ${broker} closed the connection before answering; if this listener requires SASL, set bus.kafka.sasl (mechanism, username, password)`, { cause: err });
  }
  return null;
}

/**
 * Connect once (no retries) before a stage starts. A misconfiguration throws
 * an explained TrailwatchError; an unreachable broker is only logged, since
 * the stage can start and wait for it.
 */
export async function preflightKafka(cfg: KafkaConfig, log: Logger): Promise<void> {
  if (cfg.sasl.mechanism === 'plain' && !cfg.tls.enabled) log.warn('kafka: SASL PLAIN without TLS sends the password in clear text; set bus.kafka.tls.enabled');
  // A connection closed without an answer is judged only when it happens twice: a broker restarting may close one.
  for (let attempt = 0; ; attempt++) {
    const err = await connectOnce(cfg);
    if (!err) return;
    const explained = explainKafkaError(err, cfg) ?? (attempt > 0 ? await explainClosed(err, cfg) : null);
    if (explained) throw explained;
    if (attempt > 0 || !closedEarly(err)) {
      log.warn({ err: scrub(errorMessage(err), cfg), brokers: cfg.brokers }, 'kafka: brokers not reachable yet; starting anyway, records wait for them');
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** One connection and one metadata request, no retries; the error if any. */
async function connectOnce(cfg: KafkaConfig): Promise<unknown> {
  const admin = new Kafka({ ...kafkaConnection(cfg), clientId: `${cfg.client_id}-preflight`, retry: { retries: 0 }, logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    // A SASL listener answers ApiVersions before authentication: ask for metadata too.
    await admin.describeCluster();
    return null;
  } catch (err) {
    return err;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
