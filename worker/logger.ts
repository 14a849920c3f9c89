/**
 * The worker's log: the SDK's default format, minus activity task tokens. A task token is not a
 * credential, but anyone holding it can complete the activity on our behalf; it has no place in logs.
 */
import { inspect } from 'node:util';
import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';

const HIDDEN_META = new Set(['taskToken']);

export function workerLogger(level: LogLevel = 'INFO', write: (line: string) => void = (l) => process.stderr.write(l)): DefaultLogger {
  return new DefaultLogger(level, (entry: LogEntry) => {
    const time = new Date(Number(entry.timestampNanos / 1000000n)).toISOString();
    const meta = entry.meta && Object.fromEntries(Object.entries(entry.meta).filter(([k]) => !HIDDEN_META.has(k)));
    write(`${time} [${entry.level}] ${entry.message}${meta && Object.keys(meta).length ? ` ${inspect(meta, { breakLength: Infinity, depth: 4 })}` : ''}\n`);
  });
}
