// A second node:test reporter for `npm test`: after the TAP stream, repeat
// every failure with its error and location, so a long run's log ends with
// what went wrong (CI shows the head and the tail of the output).
import { inspect } from 'node:util';

export default async function* failures(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, details, file, line } = event.data;
    const err = details?.error;
    // A test cancelled because its suite failed says nothing new; the suite's own entry carries the cause.
    if (err?.failureType === 'cancelledByParent') continue;
    const cause = err?.cause ?? err;
    failed.push(`✖ ${name} (${file ?? '?'}:${line ?? '?'})\n${indent(inspect(cause, { depth: 4 }))}`);
  }
  if (failed.length) yield `\nfailures (${failed.length}):\n${failed.join('\n\n')}\n`;
}

function indent(s) {
  return s.split('\n').map((l) => `    ${l}`).join('\n');
}
