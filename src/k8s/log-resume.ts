/**
 * Resuming a followed log without losing or repeating a line. A reconnect asks for
 * `sinceTime = last timestamp seen`, but the kubelet gets that time with second precision, so the
 * new stream starts at or before the last line seen. Lines older than the last timestamp are
 * dropped; of the lines carrying exactly that timestamp, as many as were already seen are dropped.
 */
import type { LogLine } from './gateway';
import { compareLogTimestamps } from './timestamps';

export class LogResume {
  /** Timestamp of the newest line accepted so far. */
  lastTs: string | undefined;
  /** How many accepted lines carried exactly lastTs. */
  seenAtLastTs = 0;
  private skipAtLastTs = 0;

  /** Call when a new stream starts (the first one included). */
  beginStream(): void {
    this.skipAtLastTs = this.seenAtLastTs;
  }

  /** true when the line is new (and records it), false when it was already seen before a reconnect. */
  accept(line: LogLine): boolean {
    if (this.lastTs !== undefined) {
      const cmp = compareLogTimestamps(line.ts, this.lastTs);
      if (cmp < 0) return false;
      if (cmp === 0) {
        if (this.skipAtLastTs > 0) {
          this.skipAtLastTs--;
          return false;
        }
        this.seenAtLastTs++;
        return true;
      }
    }
    this.lastTs = line.ts;
    this.seenAtLastTs = 1;
    this.skipAtLastTs = 0;
    return true;
  }
}
