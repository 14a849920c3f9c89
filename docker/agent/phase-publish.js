'use strict';
/**
 * Phase 3, the `publish` container (its own uid; the git credential is mounted here and in checkout,
 * never in the agent). It starts with the agent and waits for the agent's handoff (or for its
 * heartbeat to stop), then stages the worktree's files — not its .git — in the phases' own git
 * directory, commits, pushes only `refs/heads/<task branch>` to the repository URL itself, and prints
 * the one result line (contract.js, src/contract/result-line.ts) and exits with its code.
 *
 * A pod stopped before the result (SIGTERM) says so in the result line rather than vanish silently; a
 * push under way gets the exit grace to finish, and the line then reports what happened on the remote.
 * With SDLC_LOG_REF, the pod's log and OpenCode's transcript are pushed there just before the result
 * line (log-archive.js), so they outlive the pod.
 */
const fs = require('node:fs');
const { StringDecoder } = require('node:string_decoder');
const path = require('node:path');
const { EXIT, STATUS_FOR_EXIT, ENV, PHASES, RESULT_LINE_PREFIX } = require('./contract');
const { loadGitPhaseConfig, configErrorOf, identityForReport } = require('./config');
const { Redactor } = require('./redact');
const { Git, GitError } = require('./git');
const { handoffPaths, readJson, agentVerdict, HEARTBEAT_LOST_MS } = require('./handoff');
const { formatResultLine, taskTrailers } = require('./result');
const { phaseOutput } = require('./phase-output');
const { LogRecorder, pushLogArchive } = require('./log-archive');

/** The most of another phase's lines publish relays (a hostile agent could write without end). */
const MAX_RELAY_BYTES = 8 * 1024 * 1024;

/**
 * Relays a phase's lines file into publish's stdout from where it left off, each line marked as that
 * phase's and redacted; a result-line prefix in it is defused (only publish's own line is the result).
 * @returns pump(final): prints the complete lines written since the last call (all of them when final).
 */
function relayLines(file, phase, redactor, record) {
  let offset = 0;
  let pending = '';
  let relayed = 0;
  let capped = false;
  // Bytes are read as they come: a character split across two reads is decoded whole.
  const decoder = new StringDecoder('utf8');
  const print = (line) => {
    const text = redactor.redact(line).split(RESULT_LINE_PREFIX).join('::sdlc-result (relayed)::');
    process.stdout.write(`[sdlc-${phase}] ${text}\n`);
    record(`[sdlc-${phase}] ${text}`);
  };
  return (final = false) => {
    if (capped) return;
    let chunk = '';
    try {
      // Not through a symlink the agent may have put there (publish reads files the agent cannot).
      const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
      try {
        const buf = Buffer.alloc(64 * 1024);
        for (let n; (n = fs.readSync(fd, buf, 0, buf.length, offset)) > 0; offset += n) chunk += decoder.write(buf.subarray(0, n));
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      if (err.code !== 'ENOENT') {
        process.stdout.write(`[sdlc-publish] cannot read the ${phase}'s lines: ${err.code}\n`);
        record(`[sdlc-publish] cannot read the ${phase}'s lines: ${err.code}`);
      }
      return;
    }
    const lines = (pending + chunk).split('\n');
    // The last piece is an unfinished line ('' after a newline): kept for the next read, printed when final.
    pending = lines.pop();
    if (final && pending) lines.push(pending + decoder.end());
    if (final) pending = '';
    for (const line of lines) {
      relayed += line.length + 1;
      if (relayed > MAX_RELAY_BYTES) {
        capped = true;
        const note = `[sdlc-publish] the ${phase}'s lines passed ${MAX_RELAY_BYTES / 1024 / 1024} MiB; the rest only in the ${phase} container's log`;
        process.stdout.write(`${note}\n`);
        record(note);
        return;
      }
      print(line);
    }
  };
}

/** The model gateway's usage.json (model-gateway.js), when the pod has a gateway; undefined otherwise. */
function gatewayUsage(env) {
  const dir = env[ENV.GATEWAY_STATE_DIR];
  if (!dir) return undefined;
  const u = readJson(path.join(dir, 'usage.json'));
  if (!u || typeof u !== 'object' || !u.tokens) return undefined;
  const count = (v) => (Number.isSafeInteger(v) && v >= 0 ? v : 0);
  const t = u.tokens;
  return {
    requests: count(u.requests),
    tokens: { input: count(t.input), output: count(t.output), reasoning: count(t.reasoning), cacheRead: count(t.cacheRead), cacheWrite: count(t.cacheWrite) },
    cost: typeof u.cost === 'number' && Number.isFinite(u.cost) && u.cost >= 0 ? Number(u.cost.toFixed(8)) : 0,
    exceeded: u.exceeded && typeof u.exceeded === 'object' ? u.exceeded : undefined,
  };
}

function budgetReason(e) {
  return e.limit === 'cost'
    ? `the task's cost budget ran out: $${e.used} of $${e.max} spent (the model gateway's count)`
    : `the task's token budget ran out: ${e.used} of ${e.max} tokens used (the model gateway's count)`;
}

/** How long publish waits for the agent's first heartbeat (its container may still be starting). */
const FIRST_HEARTBEAT_MS = 120_000;
const POLL_MS = 250;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * How long a push in flight may still take after SIGTERM: the exit grace, but ending 2 s before the
 * kubelet's SIGKILL (the pod's terminationGracePeriodSeconds, which the runner passes in) so the result
 * line is still written. A grace set above the pod's would otherwise end the pod without a result.
 */
function pushGraceSeconds(cfg) {
  if (cfg.terminationGraceSeconds === undefined) return cfg.exitGraceSeconds;
  return Math.max(0.5, Math.min(cfg.exitGraceSeconds, cfg.terminationGraceSeconds - 2));
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
    ...taskTrailers(cfg),
  ].join('\n');
}

function runPublish(env) {
  const redactor = new Redactor();
  redactor.addSecretsFromEnv(env);
  const recorder = new LogRecorder();
  const record = (line) => recorder.record(line);
  const out = phaseOutput(PHASES.PUBLISH, redactor, undefined, record);
  /**
   * Exactly one result line: the first report wins, every later one (the normal end racing a SIGTERM,
   * a second signal) is dropped, and nothing else is printed on stdout after it. `concluded` is set once
   * the result is known and only the log archive's push holds the line back: a signal then prints it at once.
   */
  const state = { reported: false, stopping: undefined, pushing: false, pushGraceMs: 20_000, git: undefined, concluded: undefined, cfg: undefined };

  const report = (exitCode, status, fields) => {
    if (state.reported) return;
    state.reported = true;
    out.close();
    process.stdout.write(`${formatResultLine({ ...fields, status })}\n`, () => process.exit(exitCode));
  };
  /** Pushes the log archive (when the pod has SDLC_LOG_REF and a git config); says why when it cannot. */
  const archive = async (resultLine) => {
    const ref = env[ENV.LOG_REF];
    const cfg = state.cfg;
    if (!ref || !cfg) return;
    try {
      state.git ??= new Git(cfg, out, path.join(cfg.gitStateDir, `private-${cfg.phase}`));
      const transcriptFile = handoffPaths(cfg).transcript;
      // Said before the push, so the archive holds every line the pod prints when it succeeds.
      out.say(`keeping this log and OpenCode's transcript at ${ref}`);
      await pushLogArchive({ git: state.git, ref, recorder, resultLine, transcriptFile, redactor, cfg });
    } catch (err) {
      if (!(err instanceof GitError)) throw err;
      out.say(`log archive not pushed to ${ref}: ${err.message}`);
    }
  };
  /** Prints the one result line (after the log archive, which carries it too), waits until stdout has taken it, and exits. */
  const finish = async (code, fields) => {
    if (state.reported || state.concluded) return;
    const reason = fields.reason ? redactor.redact(fields.reason) : undefined;
    if (reason) out.say(`${STATUS_FOR_EXIT[code]}: ${reason}`);
    const status = STATUS_FOR_EXIT[code];
    state.concluded = () => report(code, status, { ...fields, reason });
    await archive(formatResultLine({ ...fields, reason, status })).catch(() => undefined);
    state.concluded();
  };
  /** The pod was stopped before a result: `failed`, exit 128+signal (143 for SIGTERM). */
  const finishStopped = (signal, reason) => {
    if (state.reported) return;
    const text = redactor.redact(reason);
    out.say(`failed: ${text}`);
    report(128 + (signal === 'SIGTERM' ? 15 : 2), 'failed', { ...identityForReport(env), reason: text });
  };

  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      // The result is known and only the log archive holds it back: the result goes out now.
      if (state.concluded) return state.concluded();
      // The result line is out (the process exits once stdout has taken it), or a stop is already under way.
      if (state.reported || state.stopping) return;
      state.stopping = signal;
      if (state.git) state.git.stopRetrying();
      if (!state.pushing) {
        out.say(`received ${signal}; stopping`);
        return finishStopped(signal, `the agent pod received ${signal} before it finished`);
      }
      const graceS = state.pushGraceMs / 1000;
      out.say(`received ${signal} while pushing; letting the push finish (up to ${graceS}s)`);
      setTimeout(() => finishStopped(signal, `the agent pod received ${signal} while pushing, and the push did not finish within ${graceS}s; the remote branch may have moved`), state.pushGraceMs);
    });
  }

  const publish = async () => {
    let cfg;
    try {
      cfg = loadGitPhaseConfig(env, PHASES.PUBLISH, redactor);
      state.cfg = cfg;
    } catch (err) {
      const problem = configErrorOf(err);
      if (problem) return finish(EXIT.CONFIG_ERROR, { ...identityForReport(env), reason: problem });
      throw err;
    }
    const base = { taskId: cfg.taskId, branch: cfg.taskBranch };
    const paths = handoffPaths(cfg);
    const checkout = readJson(paths.trustedCheckout);
    if (!checkout) {
      return finish(EXIT.CONFIG_ERROR, { ...base, reason: `checkout handed nothing over in ${cfg.gitStateDir}: the pod needs the checkout init container, with the same ${ENV.GIT_STATE_DIR}` });
    }
    relayLines(paths.checkoutLog, PHASES.CHECKOUT, redactor, record)(true);
    if (!checkout.ok) return finish(checkout.code, { ...base, reason: checkout.reason });

    const relayAgent = relayLines(paths.agentLog, PHASES.AGENT, redactor, record);
    let verdict = await waitForAgent(paths, state, relayAgent);
    if (state.stopping) return undefined;
    relayAgent(true);
    // With a model gateway, what was really billed is its count (trusted: the agent cannot write it), and a
    // budget it enforced is the verdict: the agent ended because the gateway refused it.
    const metered = gatewayUsage(env);
    if (metered?.exceeded) verdict = { code: EXIT.BUDGET_EXCEEDED, reason: budgetReason(metered.exceeded) };
    const usage = metered ? { tokens: metered.tokens, cost: metered.cost } : verdict.tokens ? { tokens: verdict.tokens, cost: verdict.cost } : {};
    if (metered) out.say(`model usage (gateway): ${metered.requests} requests, tokens in=${metered.tokens.input} out=${metered.tokens.output}, cost $${metered.cost}`);
    const failure = verdict.code === EXIT.SUCCESS ? undefined : verdict.reason;

    const git = new Git(cfg, out, path.join(cfg.gitStateDir, `private-${cfg.phase}`));
    state.git = git;
    state.pushGraceMs = pushGraceSeconds(cfg) * 1000;
    try {
      const changes = await git.stageWorktree(paths.repoDir, checkout.startSha);
      let code = verdict.code;
      let why = failure;
      if (!why && changes.length === 0) {
        code = EXIT.AGENT_FAILURE;
        why = 'the agent made no change to the working tree';
      }
      if (changes.length) out.say(`changes: ${changes.map((c) => c.replace(/\t/g, ' ')).join(', ').slice(0, 1500)}`);
      if (why && !(cfg.pushPartial && changes.length)) {
        return finish(code, { ...base, ...usage, commits: 0, reason: `${why}; nothing was committed or pushed`, partialPushed: false });
      }
      if (changes.length) out.say(`committed ${(await git.commitStaged(paths.repoDir, commitMessage(cfg, { partial: Boolean(why) }))).slice(0, 12)}`);
      const commits = await git.countCommits(checkout.startSha);
      // Stopped before the push: it must not start (the stop was reported as failed, nothing pushed).
      if (state.stopping) return undefined;
      state.pushing = true;
      const sha = await git.pushTaskBranch();
      out.say(`pushed ${cfg.taskBranch} at ${sha}`);
      if (why) return finish(code, { ...base, ...usage, sha, commits, reason: `${why}; partial work pushed to ${cfg.taskBranch}`, partialPushed: true });
      return finish(EXIT.SUCCESS, { ...base, ...usage, sha, commits });
    } catch (err) {
      if (!(err instanceof GitError)) throw err;
      const reason = failure ? `${failure}; then ${err.message}` : err.message;
      // Stopped while pushing and the push failed (its retries were cut short by the stop).
      if (state.stopping) return finishStopped(state.stopping, `the agent pod received ${state.stopping} while pushing, and the push failed: ${reason}`);
      return finish(EXIT.GIT_FAILURE, { ...base, ...usage, reason });
    }
  };

  return publish().catch((err) => {
    finish(EXIT.AGENT_FAILURE, { ...identityForReport(env), reason: `internal error in the publisher: ${err && err.stack ? err.stack.split('\n').slice(0, 3).join(' ') : String(err)}` });
  });
}

/** The agent's verdict, once its handoff is there; a failure when its heartbeat stops first. */
async function waitForAgent(paths, state, relay) {
  const since = Date.now();
  let beatSeen = false;
  while (!state.stopping) {
    relay();
    let raw;
    try {
      raw = readJson(paths.agentDone);
    } catch (err) {
      return agentVerdict({ invalid: err.message });
    }
    if (raw !== undefined) return agentVerdict(raw);
    let lastBeat;
    try {
      lastBeat = fs.statSync(paths.heartbeat).mtimeMs;
      beatSeen = true;
    } catch {
      lastBeat = undefined;
    }
    const silentFor = Date.now() - Math.max(lastBeat ?? since, since);
    if (silentFor > (beatSeen ? HEARTBEAT_LOST_MS : FIRST_HEARTBEAT_MS)) {
      return { code: EXIT.AGENT_FAILURE, reason: `the agent container stopped without handing over its work (no heartbeat for ${Math.round(silentFor / 1000)}s: killed, or out of memory?)` };
    }
    await sleep(POLL_MS);
  }
  return { code: EXIT.AGENT_FAILURE, reason: 'stopped' };
}

module.exports = { runPublish };
