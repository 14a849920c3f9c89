'use strict';
/**
 * The result line (src/contract/result-line.ts): the last line on stdout,
 * `::sdlc-result::{"v":1,"status":...}`. The workflow checks it against the exit code and the remote
 * branch head, so every field here states what actually happened.
 */
const { RESULT_LINE_PREFIX } = require('./contract');

const MAX_REASON = 2000;

/**
 * @param {{ status: string, taskId: string, branch: string, sha?: string, commits?: number,
 *   tokens?: object, cost?: number, reason?: string, partialPushed?: boolean }} r
 */
function formatResultLine(r) {
  const result = { v: 1, status: r.status, taskId: r.taskId, branch: r.branch, commits: r.commits ?? 0 };
  if (r.sha && /^[0-9a-f]{40}$/.test(r.sha)) result.sha = r.sha;
  if (r.tokens) result.tokens = r.tokens;
  if (typeof r.cost === 'number' && Number.isFinite(r.cost) && r.cost >= 0) result.cost = r.cost;
  if (r.reason) result.reason = r.reason.length > MAX_REASON ? `${r.reason.slice(0, MAX_REASON - 1)}…` : r.reason;
  if (r.partialPushed !== undefined) result.partialPushed = r.partialPushed;
  return RESULT_LINE_PREFIX + JSON.stringify(result);
}

/**
 * The trailers every commit publish makes carries (the task's and the log archive's), ending the
 * message: the runner and `sdlc-runner logs` read the task, run and attempt from them.
 */
function taskTrailers(cfg) {
  return [`Sdlc-Task-Id: ${cfg.taskId}`, `Sdlc-Run-Id: ${cfg.runId}`, `Sdlc-Attempt: ${cfg.attempt}`, ''];
}

module.exports = { formatResultLine, taskTrailers };
