// UDP datagrams the kernel dropped on our sockets (receive buffer full).
// Node has no SO_RXQ_OVFL; Linux shows each socket's drop count in the last
// column of /proc/net/udp and /proc/net/udp6. Our sockets are the rows on our
// local ports whose inodes this process holds (/proc/self/fd), found once
// after bind. Where /proc is absent (not Linux) the count is unknown: read()
// returns null and the metric stays at 0.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const TABLES = ['/proc/net/udp', '/proc/net/udp6'];

interface Row {
  port: number;
  inode: string;
  drops: number;
}

function rows(): Row[] | null {
  const out: Row[] = [];
  let any = false;
  for (const file of TABLES) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    any = true;
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
      const f = lines[i].trim().split(/\s+/);
      if (f.length < 13) continue;
      const colon = f[1].lastIndexOf(':');
      out.push({ port: parseInt(f[1].slice(colon + 1), 16), inode: f[9], drops: Number(f[f.length - 1]) || 0 });
    }
  }
  return any ? out : null;
}

/** Socket inodes this process holds, or null when /proc/self/fd cannot be read. */
function ownInodes(): Set<string> | null {
  try {
    const out = new Set<string>();
    for (const fd of readdirSync('/proc/self/fd')) {
      let link: string;
      try {
        link = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        continue;
      }
      if (link.startsWith('socket:[')) out.add(link.slice(8, -1));
    }
    return out;
  } catch {
    return null;
  }
}

export class KernelDrops {
  private readonly seen = new Map<string, number>();
  /** Drops on our sockets since they were bound (null: unknown here). */
  total: number | null = null;

  /** Finds our sockets on `ports` (call after bind). */
  constructor(ports: readonly number[]) {
    const all = rows();
    if (!all) return;
    const own = ownInodes();
    for (const r of all) {
      if (ports.includes(r.port) && (!own || own.has(r.inode))) this.seen.set(r.inode, r.drops);
    }
    this.total = 0;
  }

  /** New drops since the last read (0 where unknown). */
  read(): number {
    if (this.total === null || !this.seen.size) return 0;
    const all = rows();
    if (!all) return 0;
    let fresh = 0;
    for (const r of all) {
      const before = this.seen.get(r.inode);
      if (before === undefined || r.drops <= before) continue;
      fresh += r.drops - before;
      this.seen.set(r.inode, r.drops);
    }
    this.total += fresh;
    return fresh;
  }
}
