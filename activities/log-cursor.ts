import { LogResume } from '../src/k8s/log-resume';
import type { LogLine } from '../src/k8s/gateway';
import type { FollowProgress } from './types';
import { redactText } from '../src/security/redact';

const KEEP_LAST_LINES = 20;
/** Longest line kept in the progress: it is heartbeated and returned, and Temporal refuses payloads over 2 MB. */
export const MAX_KEPT_LINE_CHARS = 4_000;

/** The line, cut to MAX_KEPT_LINE_CHARS with a note of how much was left out. */
export function clipLine(text: string): string {
  if (text.length <= MAX_KEPT_LINE_CHARS) return text;
  return `${text.slice(0, MAX_KEPT_LINE_CHARS)}… [${text.length - MAX_KEPT_LINE_CHARS} more characters cut]`;
}

/**
 * A follow activity's progress through a pod's log, in a form that survives a heartbeat round trip:
 * the resume point (LogResume: no line lost or repeated across reconnects), the count of lines, and
 * the last lines (for the failure reason; redacted).
 */
export class LogCursor {
  private readonly resume = new LogResume();

  constructor(readonly progress: FollowProgress) {
    this.resume.lastTs = progress.lastTs;
    this.resume.seenAtLastTs = progress.seenAtLastTs;
    this.resume.seenAfterLastTs = progress.seenAfterLastTs ?? 0;
  }

  static fresh(): LogCursor {
    return new LogCursor({ seenAtLastTs: 0, linesSeen: 0, lastLines: [] });
  }

  /** The resume point: the newest timestamp accepted so far. */
  get lastTs(): string | undefined {
    return this.resume.lastTs;
  }

  /** Call at the start of each (re)connected stream. */
  beginStream(): void {
    this.resume.beginStream();
  }

  /** True when the line is new (and records it); false for a line already processed. */
  accept(line: LogLine): boolean {
    if (!this.resume.accept(line)) return false;
    const p = this.progress;
    p.lastTs = this.resume.lastTs;
    p.seenAtLastTs = this.resume.seenAtLastTs;
    p.seenAfterLastTs = this.resume.seenAfterLastTs;
    p.linesSeen++;
    // The progress is heartbeated: Temporal stores it (UI, `watch`, a timed-out attempt's failure in history), so mask it now.
    p.lastLines.push(clipLine(redactText(line.text)));
    if (p.lastLines.length > KEEP_LAST_LINES) p.lastLines.splice(0, p.lastLines.length - KEEP_LAST_LINES);
    return true;
  }
}
