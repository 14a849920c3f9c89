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
  /** Lines accepted after the last line stamped lastTs, stamped earlier than it (stdout/stderr skew). */
  seenAfterLastTs = 0;
  private skipAtLastTs = 0;
  private skipAfterLastTs = 0;
  /** True from a (re)connect until the stream has re-delivered every line seen before it. */
  private replaying = false;

  /** Call when a new stream starts (the first one included). */
  beginStream(): void {
    this.skipAtLastTs = this.seenAtLastTs;
    this.skipAfterLastTs = this.seenAfterLastTs;
    this.replaying = this.lastTs !== undefined;
  }

  /**
   * true when the line is new (and records it), false when it was already seen before a reconnect. A
   * resumed stream re-delivers, in file order, the lines of lastTs's second: the lines at lastTs (as many
   * as were seen), then the earlier-stamped lines seen after them; everything after that is new — even a
   * line stamped a moment before lastTs that was written after the cut.
   */
  accept(line: LogLine): boolean {
    if (this.lastTs !== undefined) {
      const cmp = compareLogTimestamps(line.ts, this.lastTs);
      if (this.replaying) {
        if (cmp === 0 && this.skipAtLastTs > 0) {
          this.skipAtLastTs--;
          return false;
        }
        if (cmp < 0 && this.skipAtLastTs > 0) return false; // before the last line at lastTs: seen
        if (cmp < 0 && this.skipAfterLastTs > 0) {
          this.skipAfterLastTs--;
          return false;
        }
        this.replaying = false;
      }
      if (cmp < 0) {
        this.seenAfterLastTs++;
        return true;
      }
      if (cmp === 0) {
        this.seenAtLastTs++;
        this.seenAfterLastTs = 0;
        return true;
      }
    }
    this.replaying = false;
    this.lastTs = line.ts;
    this.seenAtLastTs = 1;
    this.seenAfterLastTs = 0;
    this.skipAtLastTs = 0;
    this.skipAfterLastTs = 0;
    return true;
  }
}
