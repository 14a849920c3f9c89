/**
 * Kubernetes log timestamps are RFC3339Nano with a variable number of fraction digits
 * ("2026-11-27T20:00:01.5Z", "...01.500000001Z"), so they do not sort as strings. Compare them as
 * (epoch seconds, nanoseconds).
 */
function parts(ts: string): [number, number] {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) throw new Error(`not an RFC3339 timestamp: ${ts}`);
  const secs = Date.parse(`${m[1]}${m[3]}`) / 1000;
  const nanos = m[2] ? Number(m[2].padEnd(9, '0')) : 0;
  return [secs, nanos];
}

export function compareLogTimestamps(a: string, b: string): number {
  const [as, an] = parts(a);
  const [bs, bn] = parts(b);
  return as !== bs ? as - bs : an - bn;
}
