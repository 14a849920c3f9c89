'use strict';
const fs = require('node:fs');

/**
 * A phase's progress lines, `[sdlc-<phase>] …` on stdout, every one through the redactor. With
 * `relayFile`, each line (without the prefix) is also appended there for publish to relay: the runner
 * follows one container's log, publish's, and reads the whole task in it. `record` sees each stdout
 * line as printed (publish's log archive).
 */
function phaseOutput(phase, redactor, relayFile, record) {
  let closed = false;
  let relay;
  const toRelay = (text) => {
    if (!relayFile) return;
    try {
      relay ??= fs.openSync(relayFile, 'a', 0o664);
      fs.writeSync(relay, `${text}\n`);
    } catch {
      relayFile = undefined; // the workspace is full or gone: stdout still has it
    }
  };
  return {
    /** Progress on stdout; nothing after close() (publish's result line must stay the last line). */
    say(line) {
      if (closed) return;
      const text = redactor.redact(line);
      process.stdout.write(`[sdlc-${phase}] ${text}\n`);
      record?.(`[sdlc-${phase}] ${text}`);
      toRelay(text);
    },
    /** For git.js's retry notes. */
    info(line) {
      this.say(line);
    },
    opencodeStderr(line) {
      const text = `[opencode] ${redactor.redact(line)}`;
      process.stderr.write(`${text}\n`);
      toRelay(text);
    },
    close() {
      closed = true;
    },
  };
}

module.exports = { phaseOutput };
