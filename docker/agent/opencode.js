'use strict';
/**
 * Runs `opencode run --format json` headless: a private HOME with a generated config (permissions
 * that never ask a human, no autoupdate, no sharing, no network fetches it can avoid), events read
 * line by line, and a watchdog for the two ways a run fails to end: it finished but does not exit
 * (known upstream), or the time limit passes.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { EventTracker } = require('./events');

/** OpenCode ignores SIGTERM while a model request is pending; SIGKILL follows after this. */
const KILL_ESCALATION_MS = 3000;
/** After SIGKILL, stop waiting for stdio to close (a grandchild might hold it) after this. */
const CLOSE_WAIT_MS = 5000;
/** After opencode exits, how long its remaining output may take to drain. */
const CLOSE_AFTER_EXIT_MS = 2000;

/** Settings the entrypoint always enforces on top of any extra config (SDLC_OPENCODE_CONFIG_FILE). */
function enforcedConfig() {
  return {
    $schema: 'https://opencode.ai/config.json',
    autoupdate: false,
    share: 'disabled',
    // Headless: anything that would "ask" is rejected by `opencode run`, so decide everything here.
    // The working directory is the clone; leaving it, pushing, and endless identical calls are denied.
    permission: {
      '*': 'allow',
      external_directory: 'deny',
      doom_loop: 'deny',
      bash: { '*': 'allow', 'git push*': 'deny', 'git remote*': 'deny', 'git credential*': 'deny', 'git config*': 'deny' },
    },
  };
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepMerge(base, over) {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}

/**
 * Creates OpenCode's private HOME/XDG dirs and config file.
 * @returns {{ env: Record<string,string>, configFile: string }} env vars that point OpenCode at them
 */
function prepareOpencodeHome(homeDir, extraConfig, opencodeVersion) {
  const xdg = {
    XDG_CONFIG_HOME: path.join(homeDir, '.config'),
    XDG_DATA_HOME: path.join(homeDir, '.local', 'share'),
    XDG_CACHE_HOME: path.join(homeDir, '.cache'),
    XDG_STATE_HOME: path.join(homeDir, '.local', 'state'),
  };
  // Temp files too stay in the pod's workspace volume, so a read-only root filesystem works.
  const tmp = path.join(homeDir, 'tmp');
  for (const dir of [...Object.values(xdg), tmp]) fs.mkdirSync(dir, { recursive: true });
  // OpenCode installs @opencode-ai/plugin into its config dir in the background (an npm registry
  // fetch) unless node_modules exists and the lock already lists every dependency. Declaring it
  // installed keeps runs offline and deterministic; the pod needs no plugin.
  const configDir = path.join(xdg.XDG_CONFIG_HOME, 'opencode');
  fs.mkdirSync(path.join(configDir, 'node_modules'), { recursive: true });
  const deps = { '@opencode-ai/plugin': opencodeVersion || '*' };
  fs.writeFileSync(path.join(configDir, 'package.json'), JSON.stringify({ private: true, dependencies: deps }));
  fs.writeFileSync(path.join(configDir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: { '': { dependencies: deps } } }));

  // The clone belongs to the checkout phase's uid; git refuses a repository another user owns unless told.
  fs.writeFileSync(path.join(homeDir, '.gitconfig'), '[safe]\n\tdirectory = *\n');

  const configFile = path.join(homeDir, 'sdlc-opencode.json');
  fs.writeFileSync(configFile, JSON.stringify(deepMerge(extraConfig || {}, enforcedConfig()), null, 2), { mode: 0o600 });
  return {
    configFile,
    env: {
      HOME: homeDir,
      ...xdg,
      TMPDIR: tmp,
      OPENCODE_CONFIG: configFile,
      OPENCODE_DISABLE_AUTOUPDATE: 'true',
      OPENCODE_DISABLE_MODELS_FETCH: 'true',
      OPENCODE_DISABLE_LSP_DOWNLOAD: 'true',
      OPENCODE_DISABLE_SHARE: 'true',
      // The repo's own opencode.json must not change permissions or providers of an unattended run.
      OPENCODE_DISABLE_PROJECT_CONFIG: 'true',
      OPENCODE_DISABLE_CLAUDE_CODE: 'true',
      GIT_TERMINAL_PROMPT: '0',
    },
  };
}

/** Git credentials stay with the entrypoint: the agent's tools get neither the files nor the helper. */
const WITHHELD_ENV = /^(SDLC_GIT_TOKEN_FILE|SDLC_GIT_SSH_KEY_FILE|SDLC_GIT_KNOWN_HOSTS_FILE|SDLC_GIT_USERNAME|GIT_CONFIG_.*|GIT_SSH_COMMAND|GIT_ASKPASS|SSH_AUTH_SOCK|OPENCODE_CONFIG_CONTENT|OPENCODE_PERMISSION)$/;

function opencodeEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!WITHHELD_ENV.test(k) && v !== undefined) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Runs opencode to completion (or until the watchdog ends it).
 * @param {object} o
 * @param {string} o.bin opencode binary
 * @param {string[]} o.args arguments after the binary
 * @param {string} o.cwd the clone
 * @param {Record<string,string>} o.env full environment for opencode
 * @param {number} o.deadline epoch ms when the time limit passes
 * @param {number} o.exitGraceMs how long opencode may linger after its final step
 * @param {(line: string) => void} o.progress progress printer (redacting)
 * @param {(line: string) => void} o.stderrLine printer for opencode's stderr (redacting)
 * @param {(text: string) => string} [o.redact] redactor for event text, applied before it is shortened
 * @param {(line: string) => void} [o.eventLine] every raw event line (the transcript)
 */
/** Process groups of running opencode children, so a stopping runner can take them along. */
const activeGroups = new Set();

function killActiveOpencode() {
  for (const pid of activeGroups) {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}

/** Node fires a timer longer than this (~24.8 days) at once, so longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** setTimeout for any delay; returns a handle for clearLongTimeout. */
function setLongTimeout(fn, ms) {
  const handle = {};
  const end = Date.now() + ms;
  const arm = () => {
    const left = end - Date.now();
    handle.timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return handle;
}

function clearLongTimeout(handle) {
  if (handle) clearTimeout(handle.timer);
}

function runOpencode(o) {
  const tracker = new EventTracker(o.progress, o.redact);
  return new Promise((resolve) => {
    // Its own process group: the watchdog ends opencode and every tool process it started.
    // OpenCode takes its project directory from PWD when set, not from the process cwd: keep them equal.
    const child = spawn(o.bin, o.args, { cwd: o.cwd, env: { ...o.env, PWD: o.cwd }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid) activeGroups.add(child.pid);
    let timedOut = false;
    let endedByWatchdogAfterFinish = false;
    let killing = false;
    let graceTimer;
    let escalateTimer;
    let giveUpTimer;
    let afterExitTimer;
    let settled = false;
    let exit = { code: null, signal: null };

    const killGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        try { child.kill(signal); } catch { /* already gone */ }
      }
    };
    const stop = (why) => {
      if (killing) return;
      killing = true;
      o.progress(`watchdog: ${why}; stopping opencode`);
      killGroup('SIGTERM');
      escalateTimer = setTimeout(() => {
        killGroup('SIGKILL');
        giveUpTimer = setTimeout(() => finish(), CLOSE_WAIT_MS);
      }, KILL_ESCALATION_MS);
    };
    const finish = () => {
      if (settled) return;
      settled = true;
      clearLongTimeout(deadlineTimer);
      clearLongTimeout(graceTimer);
      clearTimeout(escalateTimer);
      clearTimeout(giveUpTimer);
      // Not left pending once the streams have closed: it would keep the agent container alive for
      // CLOSE_AFTER_EXIT_MS after its handoff (a SIGTERM then, e.g. during publish's push, ended it 143).
      clearTimeout(afterExitTimer);
      // Anything left in the process group (tool subprocesses) goes with opencode.
      killGroup('SIGKILL');
      activeGroups.delete(child.pid);
      resolve({ tracker, exitCode: exit.code, signal: exit.signal, timedOut, endedByWatchdogAfterFinish });
    };

    const deadlineTimer = setLongTimeout(() => {
      timedOut = true;
      stop('time limit reached');
    }, Math.max(0, o.deadline - Date.now()));

    const armGraceIfFinal = () => {
      // A new step after a "final" one (OpenCode went on after all): the grace period no longer applies.
      if (!tracker.sawFinalStep && graceTimer) {
        clearLongTimeout(graceTimer);
        graceTimer = undefined;
      }
      if (tracker.sawFinalStep && !graceTimer && !killing) {
        graceTimer = setLongTimeout(() => {
          endedByWatchdogAfterFinish = true;
          stop(`opencode finished its last step but did not exit within ${o.exitGraceMs / 1000}s`);
        }, o.exitGraceMs);
      }
    };

    lineReader(child.stdout, (line) => {
      tracker.handleLine(line);
      o.eventLine?.(line);
      armGraceIfFinal();
    });
    lineReader(child.stderr, (line) => o.stderrLine(line));
    child.on('error', (err) => {
      tracker.errors.push(`could not start ${o.bin}: ${err.message}`);
      finish();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // A background process the agent started may keep stdout open after opencode itself exited.
      afterExitTimer = setTimeout(() => finish(), CLOSE_AFTER_EXIT_MS);
    });
    child.on('close', (code, signal) => {
      if (exit.code === null && exit.signal === null) exit = { code, signal };
      finish();
    });
  });
}

function lineReader(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let idx;
    while ((idx = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, idx).replace(/\r$/, ''));
      buf = buf.slice(idx + 1);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
    buf = '';
  });
}

module.exports = { prepareOpencodeHome, opencodeEnv, runOpencode, killActiveOpencode, enforcedConfig };
