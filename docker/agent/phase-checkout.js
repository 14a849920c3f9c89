'use strict';
/**
 * Phase 1, the `checkout` init container (its own uid; the git credential is mounted here and in
 * publish, never in the agent): clones the task branch into the phases' own git directory, gives the
 * agent a clone of its own in the shared workspace, and hands over what publish needs.
 *
 * It exits 0 whatever git said, so the pod goes on to publish, which prints the one result line
 * (git_failed / config_error included): an init container that failed would end the pod without one.
 */
const fs = require('node:fs');
const path = require('node:path');
const { EXIT, ENV, PHASES } = require('./contract');
const { loadGitPhaseConfig, configErrorOf } = require('./config');
const { Redactor } = require('./redact');
const { Git, GitError } = require('./git');
const { handoffPaths, writeJson } = require('./handoff');
const { phaseOutput } = require('./phase-output');

async function runCheckout(env) {
  // Everything checkout creates in the workspace is group-writable: the agent (another uid, same fsGroup) works in it.
  process.umask(0o002);
  const redactor = new Redactor();
  redactor.addSecretsFromEnv(env);
  const fallback = { workdir: path.resolve(env[ENV.WORKDIR] || '/workspace'), gitStateDir: path.resolve(env[ENV.GIT_STATE_DIR] || '/sdlc-git') };
  // Its lines go to publish through the git state volume (not the workspace): the agent cannot change them.
  const out = phaseOutput(PHASES.CHECKOUT, redactor, handoffPaths(fallback).checkoutLog);
  const handOver = (cfg, result) => {
    const p = handoffPaths(cfg);
    fs.mkdirSync(p.shared, { recursive: true, mode: 0o2775 });
    writeJson(p.trustedCheckout, result, 0o640);
    writeJson(p.agentCheckout, result);
  };
  const fail = (cfg, code, reason) => {
    out.say(`checkout failed: ${reason}`);
    handOver(cfg, { ok: false, code, reason: redactor.redact(reason) });
  };

  let cfg;
  try {
    cfg = loadGitPhaseConfig(env, PHASES.CHECKOUT, redactor);
  } catch (err) {
    const problem = configErrorOf(err);
    if (problem) return fail(fallback, EXIT.CONFIG_ERROR, problem);
    throw err;
  }
  const { repoDir } = handoffPaths(cfg);
  if (fs.existsSync(repoDir) && fs.readdirSync(repoDir).length) {
    return fail(cfg, EXIT.CONFIG_ERROR, `${repoDir} is not empty; ${ENV.WORKDIR} must be a fresh directory`);
  }
  out.say(`task ${cfg.taskId} on branch ${cfg.taskBranch} (base ${cfg.baseBranch}), run ${cfg.runId} attempt ${cfg.attempt}`);
  const git = new Git(cfg, out, path.join(cfg.gitStateDir, `private-${cfg.phase}`));
  let clone;
  try {
    clone = await git.checkout(repoDir);
  } catch (err) {
    if (err instanceof GitError) return fail(cfg, EXIT.GIT_FAILURE, err.message);
    throw err;
  }
  const stacked = cfg.stackedOn.length ? ` holding ${cfg.stackedOn.map((d) => d.taskId).join(', ')}` : '';
  out.say(clone.resumed
    ? `cloned existing task branch at ${clone.startSha.slice(0, 12)}${stacked}: continuing on top of earlier work`
    : stacked
      ? `cloned task branch at ${clone.startSha.slice(0, 12)}${stacked}`
      : `created task branch from ${cfg.baseBranch} at ${clone.startSha.slice(0, 12)}`);
  handOver(cfg, { ok: true, ...clone });
  return undefined;
}

module.exports = { runCheckout };
