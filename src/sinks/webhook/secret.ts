// A secret config value (Vector's SensitiveString, Connect's .Secret()): the
// text lives in a private field, so JSON, pino, util.inspect, template strings
// and Object.entries all see "[redacted]" and only reveal() gives it out.
import { inspect } from 'node:util';

export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return '[redacted]';
  }
  toString(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/** Replace every occurrence of any secret in text (for response bodies that might echo a request). */
export function scrub(text: string, secrets: readonly (Secret | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    const v = s?.reveal();
    if (v && v.length >= 4) out = out.split(v).join('[redacted]');
  }
  return out;
}
