// Errors carry a stable code and whether a retry can help.
export class TrailwatchError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  constructor(code: string, message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'TrailwatchError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
  }
}

/** A configuration that can never work: reported with the field path, exit code 2. */
export class ConfigError extends TrailwatchError {
  constructor(readonly issues: string[]) {
    super('TW_CONFIG', issues.join('\n'));
    this.name = 'ConfigError';
  }
}

const RETRIABLE_NET = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

export function isRetriable(err: unknown): boolean {
  if (err && typeof err === 'object') {
    const e = err as { retriable?: unknown; code?: unknown; cause?: unknown };
    if (typeof e.retriable === 'boolean') return e.retriable;
    if (typeof e.code === 'string' && RETRIABLE_NET.has(e.code)) return true;
    if (e.cause) return isRetriable(e.cause);
  }
  return false;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
