import { compareLogTimestamps, parseLogTimestamp } from '../../src/k8s/timestamps';
import { LogResume } from '../../src/k8s/log-resume';
import { parseLogLine } from '../../src/k8s/log-stream';

describe('compareLogTimestamps (RFC3339Nano with variable fraction digits)', () => {
  it('orders fractions of different lengths by value, not as strings', () => {
    expect(compareLogTimestamps('2026-11-27T20:00:01.5Z', '2026-11-27T20:00:01.45Z')).toBeGreaterThan(0);
    expect(compareLogTimestamps('2026-11-27T20:00:01.45Z', '2026-11-27T20:00:01.5Z')).toBeLessThan(0);
    expect(compareLogTimestamps('2026-11-27T20:00:01.500000001Z', '2026-11-27T20:00:01.5Z')).toBeGreaterThan(0);
  });
  it('treats equal instants written differently as equal', () => {
    expect(compareLogTimestamps('2026-11-27T20:00:01.5Z', '2026-11-27T20:00:01.500000000Z')).toBe(0);
    expect(compareLogTimestamps('2026-11-27T20:00:01Z', '2026-11-27T20:00:01.000Z')).toBe(0);
    expect(compareLogTimestamps('2026-11-27T22:00:01.25+02:00', '2026-11-27T20:00:01.25Z')).toBe(0);
  });
  it('orders across seconds, minutes, days and offsets', () => {
    expect(compareLogTimestamps('2026-11-27T20:00:00.999999999Z', '2026-11-27T20:00:01Z')).toBeLessThan(0);
    expect(compareLogTimestamps('2026-12-31T23:59:59.9Z', '2027-01-01T00:00:00Z')).toBeLessThan(0);
    expect(compareLogTimestamps('2026-11-27T20:30:00-01:00', '2026-11-27T21:00:00Z')).toBeGreaterThan(0);
  });
  it('keeps nanosecond precision that Date would lose', () => {
    expect(compareLogTimestamps('2026-11-27T20:00:01.000000002Z', '2026-11-27T20:00:01.000000001Z')).toBe(1);
    expect(parseLogTimestamp('2026-11-27T20:00:01.123456789Z').nanos).toBe(123456789);
  });
  it('rejects text that is not a timestamp', () => {
    expect(() => compareLogTimestamps('yesterday', '2026-11-27T20:00:01Z')).toThrow(/not an RFC3339 timestamp/);
  });
});

describe('parseLogLine', () => {
  it('splits "<ts> <text>" at the first space and keeps the rest verbatim', () => {
    expect(parseLogLine('2026-11-27T20:00:01.123Z hello  world ')).toEqual({ ts: '2026-11-27T20:00:01.123Z', text: 'hello  world ' });
    expect(parseLogLine('2026-11-27T20:00:01.123Z ')).toEqual({ ts: '2026-11-27T20:00:01.123Z', text: '' });
    expect(parseLogLine('no timestamp here')).toBeUndefined();
  });
});

describe('LogResume', () => {
  const l = (ts: string, text: string) => ({ ts: `2026-11-27T20:00:${ts}Z`, text });
  it('drops what a resumed stream repeats (second-precision sinceTime) and keeps equal-timestamp lines apart', () => {
    const first = [l('01.1', 'a'), l('01.2', 'b'), l('01.2', 'c')];
    // The reconnect starts at the beginning of second :01 and carries one new line with the same stamp.
    const second = [l('01.1', 'a'), l('01.2', 'b'), l('01.2', 'c'), l('01.2', 'd'), l('02.0', 'e')];
    const r = new LogResume();
    const out: string[] = [];
    r.beginStream();
    for (const x of first) if (r.accept(x)) out.push(x.text);
    r.beginStream();
    for (const x of second) if (r.accept(x)) out.push(x.text);
    expect(out).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(r.lastTs).toBe('2026-11-27T20:00:02.0Z');
  });

  it('keeps a line stamped a moment before the previous one (stdout and stderr are stamped apart), and still drops replays', () => {
    // stderr line "warn" was stamped 01.30 but written after stdout's "b" (01.31); the result line follows.
    const first = [l('01.10', 'a'), l('01.31', 'b'), l('01.30', 'warn'), l('01.32', 'result')];
    const r = new LogResume();
    const out: string[] = [];
    r.beginStream();
    for (const x of first) if (r.accept(x)) out.push(x.text);
    expect(out).toEqual(['a', 'b', 'warn', 'result']);
    expect(r.lastTs).toBe('2026-11-27T20:00:01.32Z');
    // A reconnect replays second :01 in file order, then the new lines — one of them again out of order.
    const second = [...first, l('02.20', 'c'), l('02.10', 'late'), l('02.30', 'd')];
    r.beginStream();
    for (const x of second) if (r.accept(x)) out.push(x.text);
    expect(out).toEqual(['a', 'b', 'warn', 'result', 'c', 'late', 'd']);
  });

  it("keeps a line stamped a moment before the last one that arrives right after a reconnect (issue 11, item 7)", () => {
    // The stream is cut after "b" (01.31); the stderr line "warn" (stamped 01.30) was written after the cut.
    const first = [l('01.10', 'a'), l('01.31', 'b')];
    const r = new LogResume();
    const out: string[] = [];
    r.beginStream();
    for (const x of first) if (r.accept(x)) out.push(x.text);
    const second = [l('01.10', 'a'), l('01.31', 'b'), l('01.30', 'warn'), l('01.32', 'result')];
    r.beginStream();
    for (const x of second) if (r.accept(x)) out.push(x.text);
    expect(out).toEqual(['a', 'b', 'warn', 'result']);
  });

  it('a reconnect right after an earlier-stamped line neither repeats it nor drops the next one', () => {
    const r = new LogResume();
    const out: string[] = [];
    r.beginStream();
    for (const x of [l('01.10', 'a'), l('01.31', 'b'), l('01.30', 'warn')]) if (r.accept(x)) out.push(x.text);
    r.beginStream();
    for (const x of [l('01.10', 'a'), l('01.31', 'b'), l('01.30', 'warn'), l('01.29', 'late'), l('02.00', 'c')]) if (r.accept(x)) out.push(x.text);
    expect(out).toEqual(['a', 'b', 'warn', 'late', 'c']);
  });
});
