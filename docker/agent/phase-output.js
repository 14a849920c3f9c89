'use strict';
/** A phase's progress lines, `[sdlc-<phase>] …` on stdout, every one through the redactor. */
function phaseOutput(phase, redactor) {
  let closed = false;
  return {
    /** Progress on stdout; nothing after close() (publish's result line must stay the last line). */
    say(line) {
      if (!closed) process.stdout.write(`[sdlc-${phase}] ${redactor.redact(line)}\n`);
    },
    /** For git.js's retry notes. */
    info(line) {
      this.say(line);
    },
    opencodeStderr(line) {
      process.stderr.write(`[opencode] ${redactor.redact(line)}\n`);
    },
    close() {
      closed = true;
    },
  };
}

module.exports = { phaseOutput };
