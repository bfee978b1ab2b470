// Syslog timestamps to ISO 8601 UTC strings, without Date parsing on the hot
// path: fields are read digit by digit and the expensive part (calendar maths,
// formatting) is cached by the timestamp's second, since a busy sender stamps
// thousands of lines with the same second.

export type YearFrom = 'receipt' | 'nearest';
export type Zone = 'local' | 'utc';

const D0 = 48;
const FUTURE_SLACK_MS = 31 * 24 * 3600_000;
const CACHE = 64;

/** Two or four ASCII digits at i, or -1. */
function num2(s: string, i: number): number {
  const a = s.charCodeAt(i) - D0;
  const b = s.charCodeAt(i + 1) - D0;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}
function num4(s: string, i: number): number {
  const hi = num2(s, i);
  const lo = num2(s, i + 2);
  return hi < 0 || lo < 0 ? -1 : hi * 100 + lo;
}

/** "Jan".."Dec" (any case) to 1..12, else 0. */
export function monthAt(s: string, i: number): number {
  const k = ((s.charCodeAt(i) | 0x20) << 16) | ((s.charCodeAt(i + 1) | 0x20) << 8) | (s.charCodeAt(i + 2) | 0x20);
  switch (k) {
    case 0x6a616e: return 1; // jan
    case 0x666562: return 2; // feb
    case 0x6d6172: return 3; // mar
    case 0x617072: return 4; // apr
    case 0x6d6179: return 5; // may
    case 0x6a756e: return 6; // jun
    case 0x6a756c: return 7; // jul
    case 0x617567: return 8; // aug
    case 0x736570: return 9; // sep
    case 0x6f6374: return 10; // oct
    case 0x6e6f76: return 11; // nov
    case 0x646563: return 12; // dec
    default: return 0;
  }
}

const CYCLE_MS = 146_097 * 86_400_000; // 400 Gregorian years

/** Epoch ms of a civil time. Years below 100 are shifted by a 400-year cycle (Date maps them to 19xx). */
function civil(zone: Zone, y: number, mo: number, d: number, h: number, mi: number, sec: number): number {
  const shift = y < 100 ? 400 : 0;
  const ms = zone === 'utc' ? Date.UTC(y + shift, mo - 1, d, h, mi, sec) : new Date(y + shift, mo - 1, d, h, mi, sec).getTime();
  return ms - (shift ? CYCLE_MS : 0);
}

/** ISO 8601 UTC of ms, or '' outside years 0000-9999 (the 4-digit years syslog can carry). */
function isoOf(ms: number): string {
  if (Number.isNaN(ms)) return '';
  const iso = new Date(ms).toISOString();
  return iso.length === 24 ? iso : '';
}

function daysIn(y: number, mo: number): number {
  if (mo === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  return mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
}

/** Consecutive seconds land in consecutive cache slots. */
function slotOf(d: number, h: number, mi: number, sec: number): number {
  return ((mi * 61 + sec) ^ (h * 31 + d)) & (CACHE - 1);
}

function validTime(h: number, mi: number, sec: number): boolean {
  return h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 60;
}

/**
 * A timestamp reader with a one-entry cache per format. `end` is where the
 * timestamp stopped; `iso` the result. Methods return false when the text at
 * `i` is not a timestamp of that kind (nothing is thrown).
 */
export class TimestampReader {
  end = 0;
  iso = '';
  // Direct-mapped caches: key (the timestamp's fields to the second) -> "YYYY-MM-DDTHH:MM:SS".
  // Several entries, because a relay interleaves hosts whose clocks differ.
  private readonly keys3339 = new Float64Array(CACHE).fill(-1);
  private readonly prefixes3339: string[] = new Array<string>(CACHE).fill('');
  private readonly whole3339: string[] = new Array<string>(CACHE).fill(''); // prefix + ".000Z"
  private readonly keys3164 = new Float64Array(CACHE).fill(-1);
  private readonly prefixes3164: string[] = new Array<string>(CACHE).fill('');
  private readonly whole3164: string[] = new Array<string>(CACHE).fill('');
  private valid3164Until = 0;

  constructor(
    private readonly yearFrom: YearFrom = 'nearest',
    private readonly zone: Zone = 'local',
  ) {}

  /** RFC 3339 (as RFC 5424 and rsyslog's forward formats write it): 2003-10-11T22:14:15.003Z / +02:00 (/ +0200). */
  read3339(s: string, i: number): boolean {
    const y = num4(s, i);
    if (y < 0 || s.charCodeAt(i + 4) !== 45 || s.charCodeAt(i + 7) !== 45) return false;
    const mo = num2(s, i + 5);
    const d = num2(s, i + 8);
    const t = s.charCodeAt(i + 10);
    if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || (t !== 84 && t !== 116 && t !== 32)) return false;
    const h = num2(s, i + 11);
    const mi = num2(s, i + 14);
    const sec = num2(s, i + 17);
    if (s.charCodeAt(i + 13) !== 58 || s.charCodeAt(i + 16) !== 58 || !validTime(h, mi, sec)) return false;
    let p = i + 19;
    let fracStart = -1;
    let fracEnd = -1;
    if (s.charCodeAt(p) === 46) {
      fracStart = ++p;
      while (p < s.length && p - fracStart < 9) {
        const c = s.charCodeAt(p);
        if (c < 48 || c > 57) break;
        p++;
      }
      if (p === fracStart) return false;
      fracEnd = p;
      while (p < s.length && s.charCodeAt(p) >= 48 && s.charCodeAt(p) <= 57) p++; // beyond nanoseconds: ignored
    }
    let off = 0;
    let zoned = true;
    const z = s.charCodeAt(p);
    if (z === 90 || z === 122) p++;
    else if (z === 43 || z === 45) {
      // +hh:mm, or +hhmm as journalctl -o short-iso and strftime's %z write it.
      const colon = s.charCodeAt(p + 3) === 58;
      const oh = num2(s, p + 1);
      const om = num2(s, colon ? p + 4 : p + 3);
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
      off = (z === 45 ? -1 : 1) * (oh * 60 + om);
      p += colon ? 6 : 5;
    } else zoned = false; // no offset: read it as the configured zone, like RFC 3164
    const key = ((((((y * 13 + mo) * 32 + d) * 24 + h) * 60 + mi) * 61 + sec) * 2000 + off + 1000) * 2 + (zoned ? 1 : 0);
    const slot = slotOf(d, h, mi, sec);
    if (this.keys3339[slot] !== key) {
      const ms = zoned ? civil('utc', y, mo, d, h, mi, Math.min(sec, 59)) - off * 60_000 : this.at(y, mo, d, h, mi, Math.min(sec, 59));
      const iso = isoOf(ms);
      if (!iso) return false;
      this.prefixes3339[slot] = iso.slice(0, 19);
      this.whole3339[slot] = iso.slice(0, 19) + '.000Z';
      this.keys3339[slot] = key;
    }
    const prefix = this.prefixes3339[slot];
    if (fracStart < 0) this.iso = this.whole3339[slot];
    else if (z === 90 && t === 84 && fracEnd - fracStart >= 3 && fracEnd + 1 === p && sec < 60) {
      // Already UTC ISO 8601 with at least milliseconds (most RFC 5424 senders): use it as written.
      this.iso = s.slice(i, p);
    } else this.iso = prefix + fraction(s, fracStart, fracEnd);
    this.end = p;
    return true;
  }

  /**
   * RFC 3164: "Mmm dd hh:mm:ss" (day space- or zero-padded, or unpadded),
   * optionally with a year before the time ("Mmm dd yyyy hh:mm:ss") and
   * fractional seconds. Year-less times get the year per `yearFrom`.
   */
  read3164(s: string, i: number, nowMs: number): boolean {
    const mo = monthAt(s, i);
    if (!mo || s.charCodeAt(i + 3) !== 32) return false;
    let p = i + 4;
    if (s.charCodeAt(p) === 32) p++;
    let d = s.charCodeAt(p) - D0;
    if (d < 0 || d > 9) return false;
    p++;
    const d2 = s.charCodeAt(p) - D0;
    if (d2 >= 0 && d2 <= 9) {
      d = d * 10 + d2;
      p++;
    }
    if (d < 1 || d > 31 || s.charCodeAt(p) !== 32) return false;
    p++;
    let year = -1;
    if (s.charCodeAt(p + 4) === 32) {
      year = num4(s, p);
      if (year < 1) return false;
      p += 5;
    }
    const h = num2(s, p);
    const mi = num2(s, p + 3);
    const sec = num2(s, p + 6);
    if (s.charCodeAt(p + 2) !== 58 || s.charCodeAt(p + 5) !== 58 || !validTime(h, mi, sec)) return false;
    p += 8;
    let fracStart = -1;
    let fracEnd = -1;
    if (s.charCodeAt(p) === 46) {
      fracStart = ++p;
      while (p < s.length && p - fracStart < 9 && s.charCodeAt(p) >= 48 && s.charCodeAt(p) <= 57) p++;
      if (p === fracStart) return false;
      fracEnd = p;
    }
    // Feb 29 without a year is checked against the year it ends up in (by Date, below).
    if (d > (year > 0 ? daysIn(year, mo) : mo === 2 ? 29 : daysIn(2001, mo))) return false;
    const key = ((((year + 1) * 13 + mo) * 32 + d) * 24 + h) * 3660 + mi * 61 + sec;
    if (nowMs > this.valid3164Until) {
      // The year choice (and the local offset) depend on the receipt time: re-decide now and then.
      this.keys3164.fill(-1);
      this.valid3164Until = nowMs + 60_000;
    }
    const slot = slotOf(d, h, mi, sec);
    if (this.keys3164[slot] !== key) {
      const ms = this.resolve3164(year, mo, d, h, mi, Math.min(sec, 59), nowMs);
      const iso = isoOf(ms);
      if (!iso) return false;
      this.prefixes3164[slot] = iso.slice(0, 19);
      this.whole3164[slot] = iso.slice(0, 19) + '.000Z';
      this.keys3164[slot] = key;
    }
    this.iso = fracStart < 0 ? this.whole3164[slot] : this.prefixes3164[slot] + fraction(s, fracStart, fracEnd);
    this.end = p;
    return true;
  }

  private at(y: number, mo: number, d: number, h: number, mi: number, sec: number): number {
    return civil(this.zone, y, mo, d, h, mi, sec);
  }

  private resolve3164(year: number, mo: number, d: number, h: number, mi: number, sec: number, nowMs: number): number {
    if (year > 0) return this.at(year, mo, d, h, mi, sec);
    const now = new Date(nowMs);
    const y = this.zone === 'utc' ? now.getUTCFullYear() : now.getFullYear();
    if (this.yearFrom === 'receipt') return this.at(y, mo, d, h, mi, sec);
    // "nearest": the latest year that does not put the time more than a month
    // ahead of receipt (Dec 31 23:59 received on Jan 1 is last year's; a
    // sender a little fast on Dec 31 may stamp next year's Jan 1).
    for (const cy of [y + 1, y, y - 1]) {
      const t = this.at(cy, mo, d, h, mi, sec);
      if (t <= nowMs + FUTURE_SLACK_MS) return t;
    }
    return this.at(y - 1, mo, d, h, mi, sec);
  }
}

/** ".fff…Z" from the digits in s[start,end): at least milliseconds, at most nanoseconds. */
function fraction(s: string, start: number, end: number): string {
  const n = end - start;
  if (start < 0) return '.000Z';
  if (n === 3) return '.' + s.slice(start, end) + 'Z';
  if (n < 3) return '.' + s.slice(start, end) + (n === 1 ? '00Z' : '0Z');
  return '.' + s.slice(start, end) + 'Z';
}
