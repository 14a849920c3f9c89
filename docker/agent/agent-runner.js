#!/usr/bin/env node
'use strict';
/**
 * The agent pod's main program (started by docker/agent-entrypoint.sh): clone the task branch, let
 * OpenCode implement the task, decide truthfully whether it did, commit and push, then print the
 * result line and exit with a documented code (contract.js, src/contract/agent-exit-codes.ts).
 *
 * Everything printed passes through the redactor. Node builtins only: this runs in the image.
 */
const fs = require('node:fs');
const path = require('node:path');
const { EXIT, STATUS_FOR_EXIT, ENV } = require('./contract');
const { loadConfig, ConfigError, identityForReport } = require('./config');
const { Redactor } = require('./redact');
const { Git, GitError } = require('./git');
const { composePrompt } = require('./prompt');
const { prepareOpencodeHome, opencodeEnv, runOpencode, killActiveOpencode } = require('./opencode');
const { formatResultLine } = require('./result');

const OPENCODE_VERSION = '1.18.33';

const redactor = new Redactor();
redactor.addSecretsFromEnv(process.env);

/**
 * Run state shared with the signal handler. Exactly one result line per run: the first report wins,
 * every later one (the normal end racing a SIGTERM, a second signal) is dropped, and nothing else is
 * printed on stdout after it.
 */
const state = {
  /** Set once the result line is written; the process exits when stdout has taken it. */
  reported: false,
  /** The signal that asked the pod to stop, if any. */
  stopping: undefined,
  /** Set from the moment `git push` starts until the result line: the remote branch may move. */
  pushing: false,
  /** How long a push in flight may still take after a stop signal (see pushGraceSeconds). */
  pushGraceMs: 20_000,
  /** The Git instance, so a stop signal cancels further retries. */
  git: undefined,
};

/**
 * How long a push in flight may still take after SIGTERM: the exit grace, but ending 2 s before the
 * kubelet's SIGKILL (the pod's terminationGracePeriodSeconds, which the runner passes in) so the result
 * line is still written. A grace set above the pod's would otherwise end the pod without a result.
 */
function pushGraceSeconds(cfg) {
  if (cfg.terminationGraceSeconds === undefined) return cfg.exitGraceSeconds;
  return Math.max(0.5, Math.min(cfg.exitGraceSeconds, cfg.terminationGraceSeconds - 2));
}

/** Progress on stdout, never after the result line (it must stay the last line). */
function say(line) {
  if (!state.reported) process.stdout.write(`[sdlc-agent] ${redactor.redact(line)}\n`);
}

const log = {
  info: say,
  progress: say,
  opencodeStderr: (line) => process.stderr.write(`[opencode] ${redactor.redact(line)}\n`),
};

function report(exitCode, status, fields) {
  if (state.reported) return;
  state.reported = true;
  const line = formatResultLine({ ...fields, status });
  process.stdout.write(`${line}\n`, () => process.exit(exitCode));
}

/** Prints the one result line, waits until stdout has taken it, and exits. */
function finish(code, fields) {
  if (state.reported) return;
  const reason = fields.reason ? redactor.redact(fields.reason) : undefined;
  if (reason) log.info(`${STATUS_FOR_EXIT[code]}: ${reason}`);
  report(code, STATUS_FOR_EXIT[code], { ...fields, reason });
}

/** The pod was stopped before a result: `failed`, exit 128+signal (143 for SIGTERM). */
function finishStopped(signal, reason) {
  if (state.reported) return;
  const identity = identityForReport(process.env);
  const text = redactor.redact(reason);
  log.info(`failed: ${text}`);
  report(128 + (signal === 'SIGTERM' ? 15 : 2), 'failed', { ...identity, reason: text });
}

function registerFileSecrets(cfg) {
  if (cfg.tokenFile) redactor.addSecret(fs.readFileSync(cfg.tokenFile, 'utf8'));
  if (cfg.sshKeyFile) redactor.addSecret(fs.readFileSync(cfg.sshKeyFile, 'utf8'));
}

function opencodeBin() {
  return process.env.OPENCODE_BIN || 'opencode';
}

function commitMessage(cfg, { partial }) {
  const title = cfg.taskText.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
  const subject = `${partial ? 'WIP (agent failed, partial work): ' : ''}${cfg.taskId}: ${title}`.slice(0, 100);
  return [
    subject,
    '',
    partial
      ? `Partial work pushed for a human to pick up: the agent did not finish task ${cfg.taskId}.`
      : `Implements task ${cfg.taskId} (agent run, attempt ${cfg.attempt}).`,
    '',
    `Sdlc-Task-Id: ${cfg.taskId}`,
    `Sdlc-Run-Id: ${cfg.runId}`,
    `Sdlc-Attempt: ${cfg.attempt}`,
    '',
  ].join('\n');
}

async function main() {
  const startedAt = Date.now();
  const identity = identityForReport(process.env);
  let cfg;
  try {
    cfg = loadConfig(process.env);
    registerFileSecrets(cfg);
  } catch (err) {
    if (err instanceof ConfigError || err.code === 'ENOENT' || err.code === 'EACCES') {
      return finish(EXIT.CONFIG_ERROR, { ...identity, reason: `configuration error: ${err.message}` });
    }
    throw err;
  }
  const deadline = startedAt + cfg.timeLimitSeconds * 1000;
  const base = { taskId: cfg.taskId, branch: cfg.taskBranch };
  log.info(`task ${cfg.taskId} on branch ${cfg.taskBranch} (base ${cfg.baseBranch}), run ${cfg.runId} attempt ${cfg.attempt}, model ${cfg.model}, time limit ${cfg.timeLimitSeconds}s`);

  // Private state for this run, outside the clone so it never gets committed.
  const stateDir = path.join(cfg.workdir, '.sdlc-agent');
  const repoDir = path.join(cfg.workdir, 'repo');
  try {
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    if (fs.existsSync(repoDir) && fs.readdirSync(repoDir).length) {
      return finish(EXIT.CONFIG_ERROR, { ...base, reason: `${repoDir} is not empty; ${ENV.WORKDIR} must be a fresh directory` });
    }
  } catch (err) {
    return finish(EXIT.CONFIG_ERROR, { ...base, reason: `cannot prepare ${ENV.WORKDIR} ${cfg.workdir}: ${err.message}` });
  }

  const git = new Git(cfg, log, stateDir);
  state.git = git;
  state.pushGraceMs = pushGraceSeconds(cfg) * 1000;
  let clone;
  try {
    clone = await git.cloneTaskBranch(repoDir);
  } catch (err) {
    if (err instanceof GitError) return finish(EXIT.GIT_FAILURE, { ...base, reason: err.message });
    throw err;
  }
  const previousCommit = clone.previousCommit;
  const stacked = cfg.stackedOn.length ? ` holding ${cfg.stackedOn.map((d) => d.taskId).join(', ')}` : '';
  log.info(clone.resumed
    ? `cloned existing task branch at ${clone.startSha.slice(0, 12)}${stacked}: continuing on top of earlier work`
    : stacked
      ? `cloned task branch at ${clone.startSha.slice(0, 12)}${stacked}`
      : `created task branch from ${cfg.baseBranch} at ${clone.startSha.slice(0, 12)}`);

  const prompt = composePrompt(cfg, { repoDir, resumed: clone.resumed, previousCommit });
  const home = prepareOpencodeHome(path.join(stateDir, 'home'), cfg.extraOpencodeConfig, OPENCODE_VERSION);
  const bin = opencodeBin();
  log.info(`running ${path.basename(bin)} (${cfg.model}); time left ${Math.round((deadline - Date.now()) / 1000)}s`);
  const run = await runOpencode({
    bin,
    args: ['run', '--format', 'json', '--title', `${cfg.taskId} (${cfg.runId})`, '--model', cfg.model, prompt],
    cwd: repoDir,
    env: opencodeEnv(home.env),
    deadline,
    exitGraceMs: cfg.exitGraceSeconds * 1000,
    progress: log.progress,
    stderrLine: log.opencodeStderr,
    redact: (text) => redactor.redact(text),
  });
  const t = run.tracker;
  const usage = { tokens: t.tokens, cost: Number(t.cost.toFixed(8)) };
  log.info(`opencode ended (${run.exitCode === null ? `signal ${run.signal}` : `exit code ${run.exitCode}`}) after ${Math.round((Date.now() - startedAt) / 1000)}s; tokens in=${t.tokens.input} out=${t.tokens.output}, cost $${usage.cost}`);

  // The verdict: events, exit code and the working tree, all together.
  let failure;
  let code = EXIT.SUCCESS;
  if (run.timedOut) {
    code = EXIT.TIMEOUT;
    failure = `the time limit of ${cfg.timeLimitSeconds}s passed before the agent finished`;
  } else {
    const v = t.verdict(run);
    if (!v.ok) {
      code = EXIT.AGENT_FAILURE;
      failure = v.reason;
    }
  }

  let changes;
  try {
    changes = await git.changedFiles(repoDir, clone.startSha);
  } catch (err) {
    return finish(EXIT.GIT_FAILURE, { ...base, ...usage, reason: err.message });
  }
  if (!failure && changes.length === 0) {
    code = EXIT.AGENT_FAILURE;
    failure = 'the agent made no change to the working tree';
  }
  if (changes.length) log.info(`changes: ${changes.map((c) => c.replace(/\t/g, ' ')).join(', ').slice(0, 1500)}`);

  if (failure && !(cfg.pushPartial && changes.length)) {
    return finish(code, { ...base, ...usage, commits: 0, reason: `${failure}; nothing was committed or pushed`, partialPushed: false });
  }

  try {
    if (await git.hasUncommittedChanges(repoDir)) {
      const sha = await git.commitAll(repoDir, commitMessage(cfg, { partial: Boolean(failure) }));
      log.info(`committed ${sha.slice(0, 12)}`);
    }
    const commits = await git.countCommits(repoDir, clone.startSha);
    // Stopped before the push: it must not start (the stop was reported as failed, nothing pushed).
    if (state.stopping) return undefined;
    state.pushing = true;
    const sha = await git.pushTaskBranch(repoDir);
    log.info(`pushed ${cfg.taskBranch} at ${sha}`);
    if (failure) {
      return finish(code, { ...base, ...usage, sha, commits, reason: `${failure}; partial work pushed to ${cfg.taskBranch}`, partialPushed: true });
    }
    return finish(EXIT.SUCCESS, { ...base, ...usage, sha, commits });
  } catch (err) {
    if (err instanceof GitError) {
      const reason = failure ? `${failure}; then ${err.message}` : err.message;
      // Stopped while pushing and the push failed (its retries were cut short by the stop).
      if (state.stopping) return finishStopped(state.stopping, `the agent pod received ${state.stopping} while pushing, and the push failed: ${reason}`);
      return finish(EXIT.GIT_FAILURE, { ...base, ...usage, reason });
    }
    throw err;
  }
}

// The pod is being stopped: say so in the result line rather than vanish silently. A push already
// under way may have moved the remote branch: it gets the exit grace to finish, and the result line
// then reports what happened on the remote (the work pushed → succeeded with its sha).
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    // The result line is out (the process exits once stdout has taken it), or a stop is already under way.
    if (state.reported || state.stopping) return;
    state.stopping = signal;
    killActiveOpencode();
    if (state.git) state.git.stopRetrying();
    if (!state.pushing) {
      log.info(`received ${signal}; stopping`);
      return finishStopped(signal, `the agent pod received ${signal} before it finished`);
    }
    const graceS = state.pushGraceMs / 1000;
    log.info(`received ${signal} while pushing; letting the push finish (up to ${graceS}s)`);
    setTimeout(() => finishStopped(signal, `the agent pod received ${signal} while pushing, and the push did not finish within ${graceS}s; the remote branch may have moved`), state.pushGraceMs);
  });
}

main().catch((err) => {
  const identity = identityForReport(process.env);
  finish(EXIT.AGENT_FAILURE, { ...identity, reason: `internal error in the agent runner: ${err && err.stack ? err.stack.split('\n').slice(0, 3).join(' ') : String(err)}` });
});
