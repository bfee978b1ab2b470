// Interim syslog line parser for `trailwatch replay`, until the syslog
// parser (src/ingest/syslog/) is merged; replay calls only parseLine() so the
// swap is one import. Understands "Mmm dd hh:mm:ss host app[pid]: msg" with
// an optional <PRI>, the same with an ISO 8601 timestamp (rsyslog's precise
// format), and RFC 5424. A line it cannot parse is still an event (tagged).
import { addTag, baseEvent, type SyslogFields, type TwEvent } from '../event.js';

export interface ParseOptions {
  /** event.id for the event. */
  id: string;
  /** The year of a year-less (BSD) timestamp with this month (0-11). */
  year(month: number): number;
  /** @timestamp for a line without a usable timestamp. */
  fallbackTime: string;
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];
const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
const BSD_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.\d+)? /;

export function parseLine(line: string, opts: ParseOptions): TwEvent {
  const ev = baseEvent(opts.fallbackTime, line, opts.id);
  ev.event.dataset = 'syslog';
  const sys: SyslogFields = {};
  let p = 0;
  if (line.charCodeAt(0) === 60 /* < */) {
    const end = line.indexOf('>');
    const pri = end > 1 && end < 5 ? Number(line.slice(1, end)) : NaN;
    if (Number.isInteger(pri) && pri >= 0 && pri <= 191) {
      setPriority(sys, pri);
      p = end + 1;
    }
  }
  let ok: boolean;
  if (line.startsWith('1 ', p)) ok = parse5424(line, p + 2, ev, sys);
  else ok = parseBsd(line, p, ev, sys, opts);
  if (!ok) {
    ev.message = line.slice(p);
    addTag(ev, 'unparsed');
  }
  ev.log = { syslog: sys };
  ev.trailwatch = { input: { type: 'replay' } };
  return ev;
}

function setPriority(sys: SyslogFields, pri: number): void {
  const f = pri >> 3;
  const s = pri & 7;
  sys.priority = pri;
  sys.facility = { code: f, name: FACILITIES[f] ?? String(f) };
  sys.severity = { code: s, name: SEVERITIES[s] };
}

// Lines come in bursts within one second: convert "Mar  3 10:15:01" once.
let lastBsd = '';
let lastIso = '';
let lastYearFn: ParseOptions['year'] | null = null;

function parseBsd(line: string, p: number, ev: TwEvent, sys: SyslogFields, opts: ParseOptions): boolean {
  let rest: string;
  const head = line.substr(p, 16);
  if (head.length === 16 && head.charCodeAt(15) === 32 && head === lastBsd && opts.year === lastYearFn) {
    ev['@timestamp'] = lastIso;
    opts.year(MONTHS[head.slice(0, 3)]);
    rest = line.slice(p + 16);
  } else if (BSD_TIME.test(head) && head.charCodeAt(15) === 32) {
    const m = BSD_TIME.exec(head)!;
    const month = MONTHS[m[1]];
    if (month === undefined) return false;
    const t = Date.UTC(opts.year(month), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
    ev['@timestamp'] = lastIso = new Date(t).toISOString();
    lastBsd = head;
    lastYearFn = opts.year;
    rest = line.slice(p + 16);
  } else if (BSD_TIME.test(p ? line.slice(p) : line)) {
    const m = BSD_TIME.exec(p ? line.slice(p) : line)!;
    const month = MONTHS[m[1]];
    if (month === undefined) return false;
    const t = Date.UTC(opts.year(month), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
    ev['@timestamp'] = new Date(t).toISOString();
    rest = line.slice(p + m[0].length);
  } else {
    const sp = line.indexOf(' ', p);
    if (sp < 0) return false;
    const t = Date.parse(line.slice(p, sp));
    if (Number.isNaN(t) || line.charCodeAt(p) < 48 || line.charCodeAt(p) > 57) return false;
    ev['@timestamp'] = new Date(t).toISOString();
    rest = line.slice(sp + 1);
  }
  const hs = rest.indexOf(' ');
  if (hs <= 0) return false;
  const host = rest.slice(0, hs);
  sys.hostname = host;
  ev.host = { name: host };
  const body = rest.slice(hs + 1);
  // The tag: "app[pid]:" or "app:"; a space before the colon means there is none.
  const colon = body.indexOf(':');
  const space = body.indexOf(' ');
  if (colon > 0 && (space < 0 || colon < space)) {
    const tag = body.slice(0, colon);
    const br = tag.indexOf('[');
    const app = br > 0 ? tag.slice(0, br) : tag;
    sys.appname = app;
    ev.process = { name: app };
    if (br > 0 && tag.endsWith(']')) {
      const procid = tag.slice(br + 1, -1);
      sys.procid = procid;
      const pid = Number(procid);
      if (Number.isInteger(pid)) ev.process.pid = pid;
    }
    ev.message = body.charCodeAt(colon + 1) === 32 ? body.slice(colon + 2) : body.slice(colon + 1);
  } else ev.message = body;
  return true;
}

function parse5424(line: string, p: number, ev: TwEvent, sys: SyslogFields): boolean {
  sys.version = 1;
  const fields: string[] = [];
  for (let i = 0; i < 5; i++) {
    const sp = line.indexOf(' ', p);
    if (sp < 0) return false;
    fields.push(line.slice(p, sp));
    p = sp + 1;
  }
  const [ts, host, app, procid, msgid] = fields;
  if (ts !== '-') {
    const t = Date.parse(ts);
    if (Number.isNaN(t)) return false;
    ev['@timestamp'] = new Date(t).toISOString();
  }
  if (host !== '-') {
    sys.hostname = host;
    ev.host = { name: host };
  }
  if (app !== '-') {
    sys.appname = app;
    ev.process = { name: app };
  }
  if (procid !== '-') {
    sys.procid = procid;
    const pid = Number(procid);
    if (Number.isInteger(pid)) (ev.process ??= {}).pid = pid;
  }
  if (msgid !== '-') sys.msgid = msgid;
  if (line[p] === '-') p += 2;
  else if (line[p] === '[') {
    const sd = parseStructuredData(line, p);
    if (!sd) return false;
    sys.structured_data = sd.data;
    p = sd.end + 1;
  } else return false;
  let msg = line.slice(p);
  if (msg.charCodeAt(0) === 0xfeff) msg = msg.slice(1);
  ev.message = msg;
  return true;
}

function parseStructuredData(line: string, p: number): { data: Record<string, Record<string, string>>; end: number } | null {
  const data: Record<string, Record<string, string>> = {};
  while (line[p] === '[') {
    let i = p + 1;
    while (i < line.length && line[i] !== ' ' && line[i] !== ']') i++;
    const id = line.slice(p + 1, i);
    const params: Record<string, string> = {};
    while (line[i] === ' ') {
      const eq = line.indexOf('="', i);
      if (eq < 0) return null;
      const name = line.slice(i + 1, eq);
      let v = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        v += line[j];
      }
      if (j >= line.length) return null;
      params[name] = v;
      i = j + 1;
    }
    if (line[i] !== ']') return null;
    data[id] = params;
    p = i + 1;
  }
  return { data, end: p };
}
