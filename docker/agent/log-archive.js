'use strict';
/**
 * The task's log outlives its pod. Publish records every line it prints — its container's log, which
 * relays checkout's and the agent's lines, exactly what the runner follows — and, before its result
 * line, pushes that log with OpenCode's event transcript as one parentless commit to SDLC_LOG_REF
 * (`refs/sdlc-runner/logs/<run>/<run uid>/<pod>`, set by the worker) in the task's repository:
 *   log.txt          `<RFC3339 time> <line>` per line, as `kubectl logs --timestamps` prints them
 *   transcript.jsonl OpenCode's `--format json` events, as the agent wrote them (redacted again here)
 * Best effort and bounded: the archive never changes the task's result and delays it by at most
 * ARCHIVE_TIMEOUT_MS. `sdlc-runner logs <run>` reads it once the pod is gone.
 */
const fs = require('node:fs');
const { taskTrailers } = require('./result');

/** The most of the log kept in the archive (publish relays at most 8 MiB of the agent's lines). */
const MAX_LOG_BYTES = 12 * 1024 * 1024;
/** The most of the transcript kept (the agent writes it; it could write without end). */
const MAX_TRANSCRIPT_BYTES = 32 * 1024 * 1024;
/** How long the archive's push may hold the result line back. */
const ARCHIVE_TIMEOUT_MS = 20_000;

/** Publish's lines, each stamped when printed. */
class LogRecorder {
  constructor(maxBytes = MAX_LOG_BYTES) {
    this.maxBytes = maxBytes;
    this.lines = [];
    this.bytes = 0;
    this.dropped = 0;
  }

  /** One printed line (without its newline). */
  record(line) {
    const stamped = `${new Date().toISOString()} ${line}`;
    if (this.bytes + stamped.length + 1 > this.maxBytes) {
      this.dropped++;
      return;
    }
    this.lines.push(stamped);
    this.bytes += stamped.length + 1;
  }

  /** log.txt: the recorded lines, a note of what did not fit, then `last` (the result line) stamped now. */
  text(last) {
    const out = [...this.lines];
    const now = new Date().toISOString();
    if (this.dropped) out.push(`${now} [sdlc-publish] ${this.dropped} more lines were printed but not archived (the archive keeps ${this.maxBytes / 1024 / 1024} MiB)`);
    if (last !== undefined) out.push(`${now} ${last}`);
    return out.join('\n') + '\n';
  }
}

/**
 * A file the agent wrote, read without following a symlink it may have planted in its place (publish
 * can read files the agent cannot), at most `maxBytes`; '' when missing or not a regular file.
 */
function readUntrustedFile(file, maxBytes) {
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return '';
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return '';
    const buf = Buffer.alloc(Math.min(maxBytes, stat.size));
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The agent's side: OpenCode's event lines appended to `file` (redacted), up to MAX_TRANSCRIPT_BYTES.
 * @returns (line) => void
 */
function transcriptWriter(file, redact) {
  let fd;
  let written = 0;
  return (line) => {
    if (file === undefined) return;
    const text = `${redact(line)}\n`;
    if (written + text.length > MAX_TRANSCRIPT_BYTES) return;
    try {
      fd ??= fs.openSync(file, 'a', 0o664);
      fs.writeSync(fd, text);
      written += text.length;
    } catch {
      file = undefined; // the workspace is full or gone: the transcript is a convenience
    }
  };
}

/**
 * Pushes the archive: log.txt (the recorded lines + `resultLine`) and the transcript, redacted with
 * publish's secrets. Resolves the archive's commit, or rejects (GitError) — the caller says so and goes on.
 */
async function pushLogArchive({ git, ref, recorder, resultLine, transcriptFile, redactor, cfg }) {
  const transcript = transcriptFile ? redactor.redact(readUntrustedFile(transcriptFile, MAX_TRANSCRIPT_BYTES)) : '';
  const files = { 'log.txt': recorder.text(resultLine) };
  if (transcript) files['transcript.jsonl'] = transcript.endsWith('\n') ? transcript : `${transcript}\n`;
  const message = [
    `sdlc-runner log: ${cfg.taskId} attempt ${cfg.attempt}`,
    '',
    `The agent pod's log${transcript ? " and OpenCode's transcript" : ''}, kept after the pod is gone.`,
    'Read it with: sdlc-runner logs <run>',
    '',
    ...taskTrailers(cfg),
  ].join('\n');
  return git.pushArchive(ref, files, message, ARCHIVE_TIMEOUT_MS);
}

module.exports = { LogRecorder, transcriptWriter, pushLogArchive, readUntrustedFile, ARCHIVE_TIMEOUT_MS };
