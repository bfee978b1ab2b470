// Load generator for bench/syslog.ts, run as its own process so that the
// receiver under test does not share an event loop with the sender.
//   tcp <host> <port> <file>            write the file (pre-framed) as fast as the receiver takes it
//   udp <host> <port> <file> <rate>     send each line of the file as a datagram, paced at <rate>/s
// Prints one JSON line: { sent, seconds }.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

async function tcp(host: string, port: number, file: string): Promise<void> {
  const data = readFileSync(file);
  const t0 = performance.now();
  const sock = connect({ host, port, noDelay: false });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.once('connect', () => resolve());
  });
  // The parent starts its clock here: process start-up is not part of the measurement.
  process.stdout.write('connected\n');
  const SLICE = 1 << 20;
  for (let off = 0; off < data.length; off += SLICE) {
    if (!sock.write(data.subarray(off, Math.min(data.length, off + SLICE)))) await new Promise((r) => sock.once('drain', r));
  }
  await new Promise<void>((r) => sock.end(() => r()));
  process.stdout.write(JSON.stringify({ sent: data.length, seconds: (performance.now() - t0) / 1000 }) + '\n');
}

async function udp(host: string, port: number, file: string, rate: number): Promise<void> {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => Buffer.from(l));
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sock.connect(port, host);
  await new Promise((r) => sock.once('connect', r));
  process.stdout.write('connected\n');
  const t0 = performance.now();
  let sent = 0;
  let inflight = 0;
  while (sent < lines.length) {
    // Pace in 1 ms slots: send what is due, then yield.
    const due = Math.min(lines.length, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (sent < due) {
      inflight++;
      sock.send(lines[sent++], () => inflight--);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  while (inflight > 0) await new Promise((r) => setImmediate(r));
  const seconds = (performance.now() - t0) / 1000;
  sock.close();
  process.stdout.write(JSON.stringify({ sent, seconds }) + '\n');
}

const [mode, host, port, file, rate] = process.argv.slice(2);
const run = mode === 'udp' ? udp(host, Number(port), file, Number(rate)) : tcp(host, Number(port), file);
run.catch((err) => {
  process.stderr.write(`syslog-sender: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
