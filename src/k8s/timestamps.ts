/**
 * Ordering of the timestamps the container runtime stamps on log lines (`timestamps=true`):
 * RFC3339 with a variable number of fraction digits (0–9), e.g. `2025-01-02T03:04:05.123456789Z`,
 * `2025-01-02T03:04:05.5Z` or `2025-01-02T03:04:05+02:00`. `Date` keeps milliseconds only, and a
 * plain string comparison breaks when the fraction lengths differ ("…05.5Z" vs "…05.45Z"), so we
 * compare (epoch seconds, nanoseconds) pairs. Pure: workflows and activities may import it.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

export interface LogInstant {
  /** Whole seconds since the Unix epoch (UTC). */
  seconds: number;
  /** 0..999_999_999 */
  nanos: number;
}

/** Parses an RFC3339(Nano) timestamp; throws on anything else (a log line we cannot order is a bug upstream). */
export function parseLogTimestamp(ts: string): LogInstant {
  const m = RFC3339.exec(ts);
  if (!m) throw new Error(`not an RFC3339 timestamp: ${JSON.stringify(ts)}`);
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let seconds = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const [oh, om] = zone.slice(1).split(':').map(Number);
    // Local time = UTC + offset, so UTC = local − offset.
    seconds -= sign * ((oh ?? 0) * 3600 + (om ?? 0) * 60);
  }
  const nanos = frac ? Number(frac.padEnd(9, '0')) : 0;
  return { seconds, nanos };
}

export function isLogTimestamp(ts: string): boolean {
  return RFC3339.test(ts);
}

/** Negative when a is earlier than b, 0 when they denote the same instant, positive when later. */
export function compareLogTimestamps(a: string, b: string): number {
  const x = parseLogTimestamp(a);
  const y = parseLogTimestamp(b);
  return Math.sign(x.seconds - y.seconds) || Math.sign(x.nanos - y.nanos);
}
