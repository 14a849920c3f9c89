'use strict';
/**
 * What the pod's phases hand each other through its volumes (README.md "Phases"):
 * - checkout → publish: `<git state>/checkout.json`, in the volume only checkout and publish mount;
 * - checkout → agent: `<workdir>/.sdlc/checkout.json`, a copy for the agent's prompt;
 * - agent → publish: `<workdir>/.sdlc/agent-done.json` (the verdict and usage), the heartbeat
 *   `<workdir>/.sdlc/agent-alive` the agent's supervisor touches while it runs, and its progress lines
 *   `<workdir>/.sdlc/agent.log`, which publish relays (marked as the agent's) into its own log.
 * What lies in the workspace is writable by the agent's uid, so it is untrusted: publish takes only a
 * verdict of a known shape from it, and trusts nothing else there but the worktree's files.
 */
const fs = require('node:fs');
const path = require('node:path');
const { EXIT } = require('./contract');

/** The supervisor touches the heartbeat this often; publish gives up on an agent silent for HEARTBEAT_LOST_MS. */
const HEARTBEAT_MS = 2_000;
const HEARTBEAT_LOST_MS = 20_000;

function handoffPaths(cfg) {
  const shared = path.join(cfg.workdir, '.sdlc');
  return {
    repoDir: path.join(cfg.workdir, 'repo'),
    shared,
    trustedCheckout: path.join(cfg.gitStateDir, 'checkout.json'),
    agentCheckout: path.join(shared, 'checkout.json'),
    agentDone: path.join(shared, 'agent-done.json'),
    heartbeat: path.join(shared, 'agent-alive'),
    /** The agent's progress lines, relayed by publish (so one container's log tells the whole task). */
    agentLog: path.join(shared, 'agent.log'),
    /** OpenCode's `--format json` events, as the agent saw them (redacted): publish's log archive keeps them. */
    transcript: path.join(shared, 'opencode-events.jsonl'),
    /** Checkout's progress lines, relayed by publish first. */
    checkoutLog: path.join(cfg.gitStateDir, 'checkout.log'),
  };
}

/** Writes JSON whole or not at all (a reader never sees half a file). */
function writeJson(file, value, mode = 0o664) {
  // A phase that starts before (or without) the one that makes the directory still hands over.
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value)}\n`, { mode });
  fs.renameSync(tmp, file);
}

/** The parsed file, or undefined when it is not there (yet). */
function readJson(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text);
}

const AGENT_CODES = new Set([EXIT.SUCCESS, EXIT.AGENT_FAILURE, EXIT.TIMEOUT, EXIT.CONFIG_ERROR]);
const MAX_REASON = 2000;

/**
 * The agent's handoff as publish may use it: `{ code, reason?, tokens?, cost? }`; a file of any other
 * shape is the agent's failure (it can write that file), never a reason to push as a success.
 */
function agentVerdict(raw) {
  const bad = (why) => ({ code: EXIT.AGENT_FAILURE, reason: `the agent's handoff file is invalid (${why})` });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return bad('not a JSON object');
  if (!AGENT_CODES.has(raw.code)) return bad('unknown code');
  const out = { code: raw.code };
  if (raw.reason !== undefined) {
    if (typeof raw.reason !== 'string') return bad('reason is not a string');
    out.reason = raw.reason.slice(0, MAX_REASON);
  }
  if (raw.code !== EXIT.SUCCESS && !out.reason) out.reason = 'the agent failed';
  const t = raw.tokens;
  const count = (v) => Number.isSafeInteger(v) && v >= 0;
  const kinds = ['input', 'output', 'reasoning', 'cacheRead', 'cacheWrite'];
  if (t && typeof t === 'object' && kinds.every((k) => t[k] === undefined || count(t[k]))) {
    out.tokens = Object.fromEntries(kinds.map((k) => [k, t[k] ?? 0]));
  }
  if (typeof raw.cost === 'number' && Number.isFinite(raw.cost) && raw.cost >= 0) out.cost = raw.cost;
  return out;
}

module.exports = { handoffPaths, writeJson, readJson, agentVerdict, HEARTBEAT_MS, HEARTBEAT_LOST_MS };
