/**
 * Resuming a followed log without losing or repeating a line. A reconnect asks for
 * `sinceTime = last timestamp seen`, but the kubelet gets that time with second precision, so the
 * new stream starts at or before the last line seen. Until the first new line of a resumed stream,
 * lines older than the last timestamp are replays and dropped; of the lines carrying exactly that
 * timestamp, as many as were already seen are dropped.
 *
 * Within a stream nothing is dropped for its timestamp: the runtime stamps stdout and stderr in
 * separate goroutines, so a line can carry a stamp a moment earlier than the line before it.
 */
import type { LogLine } from './gateway';
import { compareLogTimestamps } from './timestamps';

export class LogResume {
  /** Newest timestamp accepted so far. */
  lastTs: string | undefined;
  /** How many accepted lines carried exactly lastTs. */
  seenAtLastTs = 0;
  private skipAtLastTs = 0;
  /** True from a (re)connect until the stream's first line that was not seen before. */
  private replaying = false;

  /** Call when a new stream starts (the first one included). */
  beginStream(): void {
    this.skipAtLastTs = this.seenAtLastTs;
    this.replaying = this.lastTs !== undefined;
  }

  /** true when the line is new (and records it), false when it was already seen before a reconnect. */
  accept(line: LogLine): boolean {
    if (this.lastTs !== undefined) {
      const cmp = compareLogTimestamps(line.ts, this.lastTs);
      if (cmp < 0) return !this.replaying; // a replay after a reconnect; mid-stream, an out-of-order stamp
      if (cmp === 0) {
        if (this.replaying && this.skipAtLastTs > 0) {
          this.skipAtLastTs--;
          return false;
        }
        this.replaying = false;
        this.seenAtLastTs++;
        return true;
      }
    }
    this.replaying = false;
    this.lastTs = line.ts;
    this.seenAtLastTs = 1;
    this.skipAtLastTs = 0;
    return true;
  }
}
