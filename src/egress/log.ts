/**
 * One line per proxied connection (per request for plain-http forwarding), to stdout for the
 * cluster's log collector. The ticket is never a field: it is a bearer credential until it expires.
 */
export type LogFormat = 'json' | 'kv';

export type LogRecord = Record<string, string | number | boolean | undefined>;

export type LogSink = (record: LogRecord) => void;

function kvValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[A-Za-z0-9._:/@*+,-]+$/.test(text) ? text : JSON.stringify(text);
}

export function formatLog(record: LogRecord, format: LogFormat): string {
  const entries = Object.entries(record).filter((e): e is [string, string | number | boolean] => e[1] !== undefined);
  if (format === 'json') return JSON.stringify(Object.fromEntries(entries));
  return entries.map(([k, v]) => `${k}=${kvValue(v)}`).join(' ');
}

export function stdoutSink(format: LogFormat): LogSink {
  return (record) => process.stdout.write(`${formatLog({ ts: new Date().toISOString(), ...record }, format)}\n`);
}
