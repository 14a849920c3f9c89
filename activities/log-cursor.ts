import { compareLogTimestamps } from '../src/k8s/timestamps';
import type { LogLine } from '../src/k8s/gateway';
import type { FollowProgress } from './types';

const KEEP_LAST_LINES = 20;

/**
 * Where a log follow has got to. After any reconnect the stream restarts at `lastTs` (or earlier:
 * sinceTime has second precision), so lines older than the cursor are dropped and, of the lines
 * carrying exactly `lastTs`, the first `seenAtLastTs` are dropped: no line lost, none repeated.
 */
export class LogCursor {
  constructor(readonly progress: FollowProgress) {}

  static fresh(): LogCursor {
    return new LogCursor({ seenAtLastTs: 0, linesSeen: 0, lastLines: [] });
  }

  private pendingAtLastTs = 0;

  /** Call at the start of each (re)connected stream. */
  beginStream(): void {
    this.pendingAtLastTs = this.progress.seenAtLastTs;
  }

  /** True when the line is new (and records it); false for a line already processed. */
  accept(line: LogLine): boolean {
    const p = this.progress;
    if (p.lastTs !== undefined) {
      const cmp = compareLogTimestamps(line.ts, p.lastTs);
      if (cmp < 0) return false;
      if (cmp === 0 && this.pendingAtLastTs > 0) {
        this.pendingAtLastTs--;
        return false;
      }
      if (cmp === 0) p.seenAtLastTs++;
      else {
        p.lastTs = line.ts;
        p.seenAtLastTs = 1;
        this.pendingAtLastTs = 0;
      }
    } else {
      p.lastTs = line.ts;
      p.seenAtLastTs = 1;
    }
    p.linesSeen++;
    p.lastLines.push(line.text);
    if (p.lastLines.length > KEEP_LAST_LINES) p.lastLines.splice(0, p.lastLines.length - KEEP_LAST_LINES);
    return true;
  }
}
