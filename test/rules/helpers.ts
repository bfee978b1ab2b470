// Shared helpers for the rules suites: write rule files, make decoded events.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TwEvent } from '../../src/event.js';
import { loadRules, type RuleSet } from '../../src/rules/loader.js';

let seq = 0;

/** A decoded event as the decoders would emit it (the contract in vocabulary.ts). */
export function ev(at: string | number, fields: Record<string, unknown> = {}): TwEvent {
  const ts = typeof at === 'number' ? new Date(at).toISOString() : at;
  const e: TwEvent = { '@timestamp': ts, event: { id: `e${++seq}`, kind: 'event' } };
  for (const [path, value] of Object.entries(fields)) {
    const parts = path.split('.');
    let cur = e as unknown as Record<string, unknown>;
    for (let i = 0; i < parts.length - 1; i++) cur = (cur[parts[i]] ??= {}) as Record<string, unknown>;
    cur[parts[parts.length - 1]] = value;
  }
  return e;
}

export function failedLogin(at: string | number, ip: string, user = 'admin', extra: Record<string, unknown> = {}): TwEvent {
  return ev(at, {
    'event.action': 'ssh-login',
    'event.category': ['authentication'],
    'event.type': ['start'],
    'event.outcome': 'failure',
    'source.ip': ip,
    'user.name': user,
    'host.name': 'web1',
    ...extra,
  });
}

export function goodLogin(at: string | number, ip: string, user = 'admin', extra: Record<string, unknown> = {}): TwEvent {
  return failedLogin(at, ip, user, { 'event.outcome': 'success', ...extra });
}

/** Write rule files into a fresh directory and load them (without the default pack). */
export function rulesFrom(dir: string, files: Record<string, string>): RuleSet {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return loadRules([dir]);
}

export const T0 = Date.parse('2024-03-03T10:00:00Z');
export const MIN = 60_000;
