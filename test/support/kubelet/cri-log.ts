/**
 * Container logs in the CRI format container runtimes write and the kubelet serves:
 *   <RFC3339Nano timestamp> <stdout|stderr> <F|P> <text>
 * One file per container. Followers subscribe to appended lines; since a line is written to the
 * file and announced in the same tick, "read the file, then subscribe" loses nothing.
 */
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  /** RFC3339Nano, Go style (trailing zeros of the fraction trimmed), UTC. */
  ts: string;
  /** Nanoseconds since the epoch, for comparisons. */
  ns: bigint;
  stream: LogStream;
  text: string;
}

const epochNsAtStart = BigInt(Date.now()) * 1_000_000n;
const hrAtStart = process.hrtime.bigint();

/** Wall clock in nanoseconds, monotonic within this process. */
function nowNs(): bigint {
  return epochNsAtStart + (process.hrtime.bigint() - hrAtStart);
}

/** Go's time.RFC3339Nano: fractional seconds with trailing zeros removed (no fraction if zero). */
export function formatRfc3339Nano(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}${frac ? '.' + frac : ''}Z`;
}

/** Parses RFC3339 / RFC3339Nano (with Z or an offset) to epoch nanoseconds; undefined if invalid. */
export function parseRfc3339(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return undefined;
  const secondsMs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secondsMs)) return undefined;
  return BigInt(secondsMs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

export function parseCriLine(line: string): LogEntry | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/.exec(line);
  if (!m) return undefined;
  const ns = parseRfc3339(m[1]!);
  if (ns === undefined) return undefined;
  return { ts: m[1]!, ns, stream: m[2] as LogStream, text: m[4]! };
}

export function readCriLog(file: string): LogEntry[] {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const entries: LogEntry[] = [];
  for (const line of content.split('\n')) {
    const e = line ? parseCriLine(line) : undefined;
    if (e) entries.push(e);
  }
  return entries;
}

/** Appends a container's output to its CRI log file, line by line, and announces each line. */
export class CriLogWriter extends EventEmitter {
  private fd: number | undefined;
  private lastNs = 0n;
  private partial: Record<LogStream, string> = { stdout: '', stderr: '' };
  // Output arrives in arbitrary chunks; a decoder per stream keeps multi-byte characters whole.
  private decoders: Record<LogStream, StringDecoder> = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  /** Set once the container has ended and every line is written: followers then finish. */
  ended = false;
  lineCount = 0;

  constructor(readonly file: string) {
    super();
    this.setMaxListeners(0);
    this.fd = openSync(file, 'a');
  }

  /** Feeds raw output; complete lines are written, a trailing partial line waits for more. */
  write(stream: LogStream, chunk: Buffer | string): void {
    const text = this.partial[stream] + (typeof chunk === 'string' ? chunk : this.decoders[stream].write(chunk));
    const lines = text.split('\n');
    this.partial[stream] = lines.pop()!;
    for (const l of lines) this.writeLine(stream, l.replace(/\r$/, ''));
  }

  private writeLine(stream: LogStream, text: string): void {
    if (this.fd === undefined) return;
    let ns = nowNs();
    if (ns <= this.lastNs) ns = this.lastNs + 1n; // strictly increasing: a reader may resume by timestamp
    this.lastNs = ns;
    const entry: LogEntry = { ts: formatRfc3339Nano(ns), ns, stream, text };
    writeSync(this.fd, `${entry.ts} ${stream} F ${text}\n`);
    this.lineCount++;
    this.emit('line', entry);
  }

  /** The container has exited: flush partial lines and release followers. */
  end(): void {
    if (this.ended) return;
    for (const stream of ['stdout', 'stderr'] as const) {
      this.partial[stream] += this.decoders[stream].end();
      if (this.partial[stream]) this.writeLine(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
    this.ended = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.emit('end');
  }
}
