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

const log = {
  info: (line) => process.stdout.write(`[sdlc-agent] ${redactor.redact(line)}\n`),
  progress: (line) => process.stdout.write(`[sdlc-agent] ${redactor.redact(line)}\n`),
  opencodeStderr: (line) => process.stderr.write(`[opencode] ${redactor.redact(line)}\n`),
};

/** Prints the one result line, waits until stdout has taken it, and exits. */
function finish(code, fields) {
  const reason = fields.reason ? redactor.redact(fields.reason) : undefined;
  if (reason) log.info(`${STATUS_FOR_EXIT[code]}: ${reason}`);
  const line = formatResultLine({ ...fields, reason, status: STATUS_FOR_EXIT[code] });
  process.stdout.write(`${line}\n`, () => process.exit(code));
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
  let clone;
  try {
    clone = await git.cloneTaskBranch(repoDir);
  } catch (err) {
    if (err instanceof GitError) return finish(EXIT.GIT_FAILURE, { ...base, reason: err.message });
    throw err;
  }
  const previousCommit = clone.resumed ? (await git.run(['log', '-1', '--format=%s'], { cwd: repoDir })).stdout.trim() : undefined;
  log.info(clone.resumed
    ? `cloned existing task branch at ${clone.startSha.slice(0, 12)}: continuing on top of earlier work`
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
    const sha = await git.pushTaskBranch(repoDir);
    log.info(`pushed ${cfg.taskBranch} at ${sha}`);
    if (failure) {
      return finish(code, { ...base, ...usage, sha, commits, reason: `${failure}; partial work pushed to ${cfg.taskBranch}`, partialPushed: true });
    }
    return finish(EXIT.SUCCESS, { ...base, ...usage, sha, commits });
  } catch (err) {
    if (err instanceof GitError) return finish(EXIT.GIT_FAILURE, { ...base, ...usage, reason: failure ? `${failure}; then ${err.message}` : err.message });
    throw err;
  }
}

// The pod is being stopped: say so in the result line rather than vanish silently.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    const identity = identityForReport(process.env);
    log.info(`received ${signal}; stopping`);
    killActiveOpencode();
    process.stdout.write(`${formatResultLine({ ...identity, status: 'failed', reason: `the agent pod received ${signal} before it finished` })}\n`, () => process.exit(128 + (signal === 'SIGTERM' ? 15 : 2)));
  });
}

main().catch((err) => {
  const identity = identityForReport(process.env);
  finish(EXIT.AGENT_FAILURE, { ...identity, reason: `internal error in the agent runner: ${err && err.stack ? err.stack.split('\n').slice(0, 3).join(' ') : String(err)}` });
});
