// One JSON serialization per record for every in-process consumer: the file
// sink and the store both want each event as JSON, and JSON.stringify of an
// event costs more than either's own work. While sharing is on (the store
// turns it on when it starts), the first to ask makes it and the string lives
// as long as the record does (a WeakMap; records are not changed after they
// are published). Off, it is plain JSON.stringify: keeping strings nobody
// reads again made ingest without the store slower (GC).
const memo = new WeakMap<object, string>();
let sharing = 0;

/** A consumer that wants the shared serialization (the store stage); returns its release. */
export function shareJson(): () => void {
  sharing++;
  let released = false;
  return () => {
    if (!released) sharing--;
    released = true;
  };
}

export function jsonOf(value: unknown): string {
  if (sharing === 0 || typeof value !== 'object' || value === null) return JSON.stringify(value);
  let s = memo.get(value);
  if (s === undefined) {
    s = JSON.stringify(value);
    memo.set(value, s);
  }
  return s;
}
