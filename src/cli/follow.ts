/**
 * Follows a run until every task is terminal (the run then completes, or waits for a decision):
 * prints events as lines or JSON lines, a throttled progress line, and a final summary.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { getRunStateQuery } from '../../workflows/definitions';
import { runIsOngoing, type RunState } from '../../workflows/types';
import { countTasks, diffRunState, formatEventLine, type RunEvent } from './run-events';
import { keptState, QUERY_ANSWER_MS, StateQuery, workerDownLine, workerPresence, type WorkerPresence } from './kept-state';
import { CliError } from './errors';
import { logArchiveFeaturePrefix } from '../contract/log-archive';

/** How long a follower waits for an unreachable Temporal before it exits 3 (the run itself goes on). */
const TEMPORAL_UNREACHABLE_MS = Number(process.env.SDLC_TEMPORAL_UNREACHABLE_SECONDS ?? 60) * 1000;

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

/**
 * The Temporal status of a run that has closed (TERMINATED, TIMED_OUT, FAILED, CANCELLED, ...), or
 * undefined while it runs. A run terminated by an operator (or failed by a bug) keeps answering the
 * state query with its last state, still 'running': without this check, a follower would poll forever.
 */
export async function closedTemporalStatus(handle: WorkflowHandle): Promise<string | undefined> {
  const desc = await handle.describe().catch(() => undefined);
  return desc && desc.status.name !== 'RUNNING' && desc.status.name !== 'CONTINUED_AS_NEW' ? desc.status.name : undefined;
}

/** The last state of a run closed while its state still said 'running', marked as ended. */
export function closedState(state: RunState, temporalStatus: string): RunState {
  return { ...state, status: temporalStatus === 'CANCELLED' ? 'cancelled' : 'failed' };
}

/** Returns the final state observed. */
export async function followRun(client: Client, workflowId: string, opts: FollowOptions): Promise<RunState | undefined> {
  const handle = client.workflow.getHandle(workflowId);
  const pollMs = opts.pollMs ?? 1000;
  // SDLC_PROGRESS_EVERY_SECONDS: how often the throttled progress line is printed (tests and demos shorten it).
  const progressEvery = opts.progressEveryMs ?? (Number(process.env.SDLC_PROGRESS_EVERY_SECONDS) || 30) * 1000;
  let prev: RunState | undefined;
  let lastProgress = Date.now();
  const query = new StateQuery(() => handle.query(getRunStateQuery));
  /** Set while no worker answers (the run goes on when one is back): said once, with what Temporal keeps. */
  let workerDown = false;
  /** Since when Temporal itself has not answered: past the bound the follower gives up with exit 3. */
  let unreachableSince: number | undefined;
  const temporalUnreachable = async (): Promise<boolean> => {
    const answered = await Promise.race([
      handle.describe().then(() => true, (err: unknown) => err instanceof WorkflowNotFoundError),
      new Promise<false>((r) => setTimeout(() => r(false), 5000).unref()),
    ]);
    if (answered) {
      if (unreachableSince !== undefined && !opts.json) opts.out.write('reconnected to Temporal: following\n');
      unreachableSince = undefined;
      return false;
    }
    if (unreachableSince === undefined) {
      unreachableSince = Date.now();
      if (opts.json) emit(opts.out, true, { event: 'temporal_unreachable', run: workflowId });
      else opts.out.write(`Temporal is not answering; reconnecting… (giving up after ${TEMPORAL_UNREACHABLE_MS / 1000}s; the run goes on)\n`);
    }
    if (Date.now() - unreachableSince >= TEMPORAL_UNREACHABLE_MS) {
      throw new CliError(`Temporal did not answer for ${TEMPORAL_UNREACHABLE_MS / 1000}s; the run goes on in Temporal. Attach again with 'sdlc-runner watch ${workflowId}' once it is reachable`, 3);
    }
    return true;
  };
  for (;;) {
    const answer = await query.within(QUERY_ANSWER_MS);
    if (answer !== undefined && answer !== 'no-answer') unreachableSince = undefined;
    else if (await temporalUnreachable()) {
      if (opts.signal?.aborted) return prev;
      await new Promise((r) => setTimeout(r, pollMs));
      continue;
    }
    if (answer === 'no-answer') {
      const closed = await closedTemporalStatus(handle);
      const kept = await keptState(client, workflowId).catch(() => undefined);
      if (!workerDown) {
        workerDown = true;
        const desc = await handle.describe().catch(() => undefined);
        const presence: WorkerPresence = desc ? await workerPresence(client, client.options.namespace, desc.taskQueue).catch((): WorkerPresence => ({})) : {};
        if (opts.json) emit(opts.out, true, { event: 'worker_down', run: workflowId, taskQueue: desc?.taskQueue, lastSeen: presence.lastSeen?.toISOString(), tasks: kept?.tasks.map((t) => ({ id: t.id, status: t.status, attempt: t.attempt })) });
        else {
          opts.out.write(`${workerDownLine(desc?.taskQueue ?? '?', presence)}${closed ? '' : '; waiting for one'}\n`);
          for (const t of kept?.tasks ?? []) opts.out.write(`  ${t.id} ${t.status} attempt=${t.attempt} branch=${t.branch}${t.reason ? ` reason=${JSON.stringify(t.reason)}` : ''}\n`);
        }
      }
      // A run that has ended needs no worker to be told: what Temporal keeps is its end.
      if (closed && kept) return { ...kept, status: kept.status === 'running' ? closedState(kept, closed).status : kept.status };
      if (opts.signal?.aborted) return prev;
      continue;
    }
    if (workerDown) {
      workerDown = false;
      if (opts.json) emit(opts.out, true, { event: 'worker_up', run: workflowId });
      else opts.out.write('a worker answers again: following\n');
    }
    const state = answer;
    if (state) {
      for (const e of diffRunState(prev, state)) emit(opts.out, opts.json, e);
      prev = state;
      if (Date.now() - lastProgress >= progressEvery && !isSettled(state)) {
        lastProgress = Date.now();
        emit(opts.out, opts.json, { type: 'progress', counts: countTasks(state), running: state.tasks.filter((t) => t.status === 'running').map((t) => t.id) });
      }
      if (isSettled(state)) return state;
      const closed = await closedTemporalStatus(handle);
      if (closed) {
        if (opts.json) emit(opts.out, true, { event: 'run_closed', run: workflowId, temporalStatus: closed });
        else opts.out.write(`run closed in Temporal as ${closed}; tasks show their last reported state\n`);
        return closedState(state, closed);
      }
    } else {
      const desc = await handle.describe().catch(() => undefined);
      if (desc && desc.status.name !== 'RUNNING' && desc.status.name !== 'CONTINUED_AS_NEW') return prev;
    }
    if (opts.signal?.aborted) return prev;
    await new Promise((r) => setTimeout(r, pollMs));
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
