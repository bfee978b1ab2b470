// One JSON serialization per record for every in-process consumer: the file
// sink and the store both want each event as JSON, and JSON.stringify of an
// event costs more than either's own work. The first to ask makes it; the
// string lives as long as the record does (a WeakMap), and records are not
// changed after they are published.
const memo = new WeakMap<object, string>();

export function jsonOf(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  let s = memo.get(value);
  if (s === undefined) {
    s = JSON.stringify(value);
    memo.set(value, s);
  }
  return s;
}
