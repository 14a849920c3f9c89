/**
 * Follows a run until every task is terminal (the run then completes, or waits for a decision):
 * prints events as lines or JSON lines, a throttled progress line, and a final summary.
 */
import type { Client } from '@temporalio/client';
import { runIsOngoing, type RunState } from '../../workflows/types';
import { countTasks, diffRunState, formatEventLine, type RunEvent } from './run-events';
import { workerDownLine } from './kept-state';
import { pollRun } from './run-poller';
import { logArchiveFeaturePrefix } from '../contract/log-archive';

export interface FollowOptions {
  json: boolean;
  out: NodeJS.WritableStream;
  pollMs?: number;
  progressEveryMs?: number;
  /** Stop following when the signal aborts (Ctrl-C): the run itself carries on. */
  signal?: AbortSignal;
}

export function isSettled(state: RunState): boolean {
  return !runIsOngoing(state.status);
}

export function emit(out: NodeJS.WritableStream, json: boolean, e: RunEvent | Record<string, unknown>): void {
  if (json) out.write(JSON.stringify('type' in e ? { event: e.type, ...e, type: undefined } : e) + '\n');
  else out.write(formatEventLine(e as RunEvent) + '\n');
}

/** Prints the run's events until every task has ended; returns the final state observed. */
export async function followRun(client: Client, workflowId: string, opts: FollowOptions): Promise<RunState | undefined> {
  // SDLC_PROGRESS_EVERY_SECONDS: how often the throttled progress line is printed (tests and demos shorten it).
  const progressEvery = opts.progressEveryMs ?? (Number(process.env.SDLC_PROGRESS_EVERY_SECONDS) || 30) * 1000;
  let prev: RunState | undefined;
  let lastProgress = Date.now();
  const say = (json: Record<string, unknown>, line: string) => (opts.json ? emit(opts.out, true, json) : opts.out.write(`${line}\n`));
  const polls = pollRun(client, workflowId, { pollMs: opts.pollMs, signal: opts.signal });
  for (;;) {
    const next = await polls.next();
    if (next.done) return next.value;
    const o = next.value;
    switch (o.kind) {
      case 'unreachable':
        say({ event: 'temporal_unreachable', run: workflowId }, `Temporal is not answering; reconnecting… (giving up after ${o.giveUpMs / 1000}s; the run goes on)`);
        break;
      case 'reconnected':
        if (!opts.json) opts.out.write('reconnected to Temporal: following\n');
        break;
      case 'worker-down':
        if (opts.json) emit(opts.out, true, { event: 'worker_down', run: workflowId, taskQueue: o.taskQueue, lastSeen: o.presence.lastSeen?.toISOString(), tasks: o.kept?.tasks.map((t) => ({ id: t.id, status: t.status, attempt: t.attempt })) });
        else {
          opts.out.write(`${workerDownLine(o.taskQueue ?? '?', o.presence)}${o.closed ? '' : '; waiting for one'}\n`);
          for (const t of o.kept?.tasks ?? []) opts.out.write(`  ${t.id} ${t.status} attempt=${t.attempt} branch=${t.branch}${t.reason ? ` reason=${JSON.stringify(t.reason)}` : ''}\n`);
        }
        break;
      case 'worker-up':
        say({ event: 'worker_up', run: workflowId }, 'a worker answers again: following');
        break;
      case 'state': {
        for (const e of diffRunState(prev, o.state)) emit(opts.out, opts.json, e);
        prev = o.state;
        if (Date.now() - lastProgress >= progressEvery && !isSettled(o.state) && !o.closed) {
          lastProgress = Date.now();
          emit(opts.out, opts.json, { type: 'progress', counts: countTasks(o.state), running: o.state.tasks.filter((t) => t.status === 'running').map((t) => t.id) });
        }
        if (o.closed) say({ event: 'run_closed', run: workflowId, temporalStatus: o.closed }, `run closed in Temporal as ${o.closed}; tasks show their last reported state`);
        break;
      }
    }
  }
}

export function summaryLines(state: RunState, workflowId: string): string[] {
  const c = countTasks(state);
  const lines = [`run finished id=${workflowId} status=${state.status.replace('_', '-')} ${Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ')}`];
  for (const t of state.tasks) {
    lines.push(`  ${t.id} ${t.status} branch=${t.branch}${t.commit ? ` commit=${t.commit.slice(0, 12)}` : ''}${t.reason ? ` reason=${JSON.stringify(t.reason)}` : ''}${t.outdated ? ` out-of-date=${JSON.stringify(t.outdated)}` : ''}`);
  }
  const again = state.tasks.filter((t) => t.status !== 'succeeded' || t.outdated).map((t) => t.id);
  if (again.length) lines.push(`retry with: sdlc-runner retry ${workflowId} ${again.map((id) => `--task ${id}`).join(' ')}`);
  lines.push(...integrationLines(state, workflowId));
  // Pods are deleted (failed ones after an hour): say where their logs stay.
  if (state.tasks.some((t) => t.podName)) {
    lines.push(`agent logs: sdlc-runner logs ${workflowId} (kept after the pods are gone in ${state.repository.url} under ${logArchiveFeaturePrefix(workflowId)})`);
  }
  return lines;
}

/** What is ready to merge: the integration branch once made, else each succeeded task's branch; and how to go on. */
export function integrationLines(state: RunState, workflowId: string): string[] {
  const i = state.integration;
  const ready = state.tasks.filter((t) => t.status === 'succeeded').map((t) => t.branch);
  const lines: string[] = [];
  if (i?.status === 'integrated') {
    lines.push(`ready to merge: ${i.branch} @ ${i.head?.slice(0, 7)} (${(i.included ?? []).map((x) => x.taskId).join(', ')})`);
  } else if (ready.length) {
    lines.push(`ready to merge: ${ready.join(' ')}`);
  }
  if (i?.status === 'conflict' && i.conflict) {
    const task = state.tasks.find((t) => t.id === i.conflict!.taskId);
    lines.push(
      `integration stopped before ${i.conflict.taskId}: ${i.conflict.message}; ${i.branch} @ ${i.head?.slice(0, 7)} holds ${(i.included ?? []).map((x) => x.taskId).join(', ') || 'the base only'}` +
        `${i.skipped?.length ? ` (not integrated: ${[i.conflict.taskId, ...i.skipped].join(', ')})` : ''}`,
      `fix: merge ${i.branch} into ${task?.branch ?? i.conflict.taskId}, resolve and push, then: sdlc-runner integrate ${workflowId}`,
    );
  } else if (i?.status === 'failed') {
    lines.push(`integration into ${i.branch} failed: ${i.reason}; try again with: sdlc-runner integrate ${workflowId}`);
  }
  // The session's own tasks that build on the agents' work start from this (the exact commands to run).
  if (i?.status === 'integrated') lines.push(`build on it locally: git fetch origin ${i.branch} && git merge --no-edit FETCH_HEAD`);
  return lines;
}
