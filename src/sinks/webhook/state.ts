// The sink's memory across restarts, under data_dir/webhook/state.json: which
// alert ids each receiver was already notified about (bounded, oldest
// forgotten first), the aggregation groups still open, and receivers disabled
// by a 410. Written atomically (temp file + rename), coalesced.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Alert } from '../../event.js';

export interface PersistedEntry {
  alert: Alert;
  receivedAt: number;
  notified: boolean;
}
export interface PersistedGroup {
  key: string;
  routeId: string;
  receiver: string;
  labels: Record<string, string>;
  entries: PersistedEntry[];
  firstAt: number;
  lastNotifiedAt: number | null;
  dueAt: number | null;
  seq: number;
}
export interface DisabledReceiver {
  fingerprint: string;
  reason: string;
  at: string;
}
interface StateDoc {
  version: 1;
  notified: [string, number][];
  groups: PersistedGroup[];
  disabled: Record<string, DisabledReceiver>;
}

export class WebhookState {
  readonly notified = new Map<string, number>();
  disabled: Record<string, DisabledReceiver> = {};
  groups: PersistedGroup[] = [];
  private writing: Promise<void> | null = null;
  private dirty = false;

  constructor(
    readonly file: string,
    private readonly maxNotified: number,
    private readonly snapshotGroups: () => PersistedGroup[] = () => this.groups,
  ) {}

  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let doc: Partial<StateDoc>;
    try {
      doc = JSON.parse(text) as Partial<StateDoc>;
    } catch {
      // A torn or hand-edited file must not stop alerting: start afresh, keep the bad copy.
      await rename(this.file, `${this.file}.corrupt-${Date.now()}`).catch(() => {});
      return;
    }
    for (const [k, t] of doc.notified ?? []) this.notified.set(k, t);
    this.disabled = doc.disabled ?? {};
    this.groups = doc.groups ?? [];
  }

  isNotified(receiver: string, alertId: string): boolean {
    return this.notified.has(`${receiver}\u0000${alertId}`);
  }

  markNotified(receiver: string, alertId: string, at: number): void {
    const k = `${receiver}\u0000${alertId}`;
    this.notified.delete(k);
    this.notified.set(k, at);
    while (this.notified.size > this.maxNotified) this.notified.delete(this.notified.keys().next().value!);
  }

  /** Resolves once a write that includes every change made before the call is on disk. */
  save(): Promise<void> {
    this.dirty = true;
    if (!this.writing) this.writing = this.loop();
    return this.writing;
  }

  private async loop(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        const doc: StateDoc = { version: 1, notified: [...this.notified], groups: this.snapshotGroups(), disabled: this.disabled };
        await mkdir(dirname(this.file), { recursive: true });
        const tmp = `${this.file}.tmp`;
        await writeFile(tmp, JSON.stringify(doc));
        await rename(tmp, this.file);
      }
    } finally {
      this.writing = null;
    }
  }
}
