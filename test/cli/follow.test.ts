/**
 * The follow loop behind `implement --follow` and `watch` (src/cli/follow.ts), in-process against a
 * real Temporal server and worker (in-memory cluster): what the main session reads while a run goes.
 */
import { Writable } from 'node:stream';
import { followRun } from '../../src/cli/follow';
import { harness, tasksMarkdown, type Harness } from '../workflows/harness';

/** Collects written lines with the time each was written. */
function timedLines(): { out: Writable; lines: { at: number; text: string }[] } {
  const lines: { at: number; text: string }[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) lines.push({ at: Date.now(), text });
      done();
    },
  });
  return { out, lines };
}

describe('following a run', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  test('the progress line is throttled: at most one per interval while tasks run, however often the state is polled', async () => {
    h = await harness(() => ({ lines: ['working'], runMs: 5000 }));
    const handle = await h.start(tasksMarkdown(2));
    const { out, lines } = timedLines();
    // Polled every 100 ms, progress every 1 s: an unthrottled line would come ten times a second.
    const final = await followRun(h.env.client, handle.workflowId, { json: false, out, pollMs: 100, progressEveryMs: 1000 });
    expect(final?.status).toBe('succeeded');
    const progress = lines.filter((l) => l.text.startsWith('progress '));
    expect(progress.length).toBeGreaterThanOrEqual(2); // the tasks ran ≥ 5 s
    const gaps = progress.slice(1).map((l, i) => l.at - progress[i]!.at);
    expect(gaps.filter((ms) => ms < 1000)).toEqual([]);
    expect(progress[0]!.text).toMatch(/^progress running=2 running=T001,T002$/);
    // Events still come as they happen, each once.
    expect(lines.filter((l) => /^task T00[12] started /.test(l.text))).toHaveLength(2);
    expect(lines.filter((l) => /^task T00[12] succeeded /.test(l.text))).toHaveLength(2);
  });
});
