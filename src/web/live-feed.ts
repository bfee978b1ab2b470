// Watching a live session: the gateway appends to the session's asciicast
// file as the session runs, and this follows the file and speaks the
// server-sent-events protocol of asciinema-player's "eventsource" driver:
//   {"cols","rows","time","init"}  resets the terminal to the screen so far
//   [time, "o", text]              output as it happens (and "r" resizes)
//   event "done"                   the session ended
// Input ("i") and markers ("m") are not sent: the watcher sees the screen.
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export interface FeedEvent {
  /** SSE event name; the default "message" when absent. */
  event?: 'done';
  data: string;
}

/** Follows one growing asciicast file: poll() returns what is new since the last call. */
export class CastFollower {
  private offset = 0;
  private partial = '';
  private started = false;

  constructor(private readonly file: string) {}

  poll(): FeedEvent[] {
    let size: number;
    try {
      size = statSync(this.file).size;
    } catch {
      return [];
    }
    if (size <= this.offset) return [];
    const buf = Buffer.alloc(size - this.offset);
    const fd = openSync(this.file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset = size;
    const text = this.partial + buf.toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return this.started ? this.events(lines) : this.first(lines);
  }

  /** The header and everything so far, as one reset: the watcher starts at the current screen. */
  private first(lines: string[]): FeedEvent[] {
    if (!lines.length) return [];
    let header: { width?: number; height?: number };
    try {
      header = JSON.parse(lines[0]) as { width?: number; height?: number };
    } catch {
      return [];
    }
    this.started = true;
    let cols = header.width ?? 80;
    let rows = header.height ?? 24;
    let time = 0;
    let init = '';
    for (const e of parseEvents(lines.slice(1))) {
      time = e[0];
      if (e[1] === 'o') init += e[2];
      else if (e[1] === 'r') {
        const m = /^(\d+)x(\d+)$/.exec(e[2]);
        if (m) [cols, rows] = [Number(m[1]), Number(m[2])];
      }
    }
    return [{ data: JSON.stringify({ cols, rows, time, init }) }];
  }

  private events(lines: string[]): FeedEvent[] {
    const out: FeedEvent[] = [];
    for (const e of parseEvents(lines)) if (e[1] === 'o' || e[1] === 'r') out.push({ data: JSON.stringify(e) });
    return out;
  }
}

function parseEvents(lines: string[]): [number, string, string][] {
  const out: [number, string, string][] = [];
  for (const l of lines) {
    if (!l.startsWith('[')) continue;
    try {
      const e = JSON.parse(l) as [number, string, string];
      if (typeof e[0] === 'number' && typeof e[1] === 'string' && typeof e[2] === 'string') out.push(e);
    } catch {
      // a line cut by the size cap
    }
  }
  return out;
}

/** One server-sent event, as written on the wire. */
export function sse(e: FeedEvent): string {
  return `${e.event ? `event: ${e.event}\n` : ''}data: ${e.data}\n\n`;
}
