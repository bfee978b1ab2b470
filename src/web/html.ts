// Escaping by construction: pages are built with the `html` tag, which escapes
// every interpolated value unless it is already SafeHtml (the output of
// another `html` call). Command text, operator names, paths: all of it is
// attacker-controlled, so nothing reaches the page without passing here.
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };
const ESC_RE = /[&<>"'`]/g;

export function escapeHtml(s: string): string {
  return s.replace(ESC_RE, (c) => ESC[c]);
}

function piece(v: unknown): string {
  if (v instanceof SafeHtml) return v.value;
  if (v === undefined || v === null || v === false) return '';
  if (Array.isArray(v)) return v.map(piece).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += piece(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/**
 * JSON for a <script type="application/json"> block: `<`, `>`, `&` and the
 * line separators are escaped so no value can close the element or start a comment.
 */
export function jsonForScript(v: unknown): SafeHtml {
  const s = JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return new SafeHtml(s);
}

/** Terminal text can hold control characters; show them as visible escapes. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A query or form value: trimmed, at most 500 characters, undefined when empty. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v.trim().slice(0, 500) : undefined;
}

/** A form or query time: ISO, or a datetime-local value without a zone (the forms label them UTC). */
export function parseTime(v: unknown): Date | undefined {
  const s = str(v);
  if (!s) return undefined;
  const d = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(s) ? s : `${s}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
