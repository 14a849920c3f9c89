/**
 * The one poll loop over a run, shared by `watch`/`implement --follow` (event lines), the live table and
 * `status` (its first observation): each poll asks a worker for the run's state, and says what changed
 * about who answers — no worker (then what Temporal itself keeps, and since when the worker is gone), a
 * worker back, Temporal itself not answering (exit 3 past a bound), Temporal back. Renderers only render.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { getRunStateQuery } from '../../workflows/definitions';
import { runIsOngoing, type RunState } from '../../workflows/types';
import { keptState, QUERY_ANSWER_MS, StateQuery, workerPresence, type WorkerPresence } from './kept-state';
import { CliError } from './errors';
import { sleep } from '../util/sleep';

/** How long a follower waits for an unreachable Temporal before it exits 3 (the run itself goes on). */
export const TEMPORAL_UNREACHABLE_MS = Number(process.env.SDLC_TEMPORAL_UNREACHABLE_SECONDS ?? 60) * 1000;

export type RunObservation =
  /** A worker answered. `closed`: Temporal closed the run (terminated, failed…) while its state still says running (the poll then returns it marked ended). */
  | { kind: 'state'; state: RunState; closed?: string }
  /** No worker answered in time (said once per outage): what Temporal keeps instead. */
  | { kind: 'worker-down'; kept?: RunState; taskQueue?: string; presence: WorkerPresence; closed?: string }
  | { kind: 'worker-up' }
  /** Temporal itself stopped answering (said once per outage); past `giveUpMs` the poll throws CliError (exit 3). */
  | { kind: 'unreachable'; giveUpMs: number }
  | { kind: 'reconnected' };

/**
 * The Temporal status of a run that has closed (TERMINATED, TIMED_OUT, FAILED, CANCELLED, ...), or
 * undefined while it runs. A run terminated by an operator (or failed by a bug) keeps answering the
 * state query with its last state, still 'running': without this check, a follower would poll forever.
 */
async function closedTemporalStatus(handle: WorkflowHandle): Promise<string | undefined> {
  const desc = await handle.describe().catch(() => undefined);
  return desc && desc.status.name !== 'RUNNING' && desc.status.name !== 'CONTINUED_AS_NEW' ? desc.status.name : undefined;
}

/** The last state of a run closed while its state still said 'running', marked as ended. */
export function closedState(state: RunState, temporalStatus: string): RunState {
  return { ...state, status: temporalStatus === 'CANCELLED' ? 'cancelled' : 'failed' };
}

/**
 * Observes the run every `pollMs` until every task has ended (or the run closed in Temporal, or `signal`
 * aborts); returns the last state seen.
 */
export async function* pollRun(client: Client, workflowId: string, opts: { pollMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<RunObservation, RunState | undefined> {
  const handle = client.workflow.getHandle(workflowId);
  const pollMs = opts.pollMs ?? 1000;
  // A query no worker answers, and a describe raced against a bound, outlive the poll that gave up on them:
  // cancelled when the poll ends, so no call is left retrying against a connection its owner then closes.
  // One controller per call, dropped when it settles: a shared signal would collect a listener per poll.
  const inFlight = new Set<AbortController>();
  const cancellable = async <T>(call: () => Promise<T>): Promise<T> => {
    const c = new AbortController();
    inFlight.add(c);
    try {
      return await client.withAbortSignal(c.signal, call);
    } finally {
      inFlight.delete(c);
    }
  };
  const query = new StateQuery(() => cancellable(() => handle.query(getRunStateQuery)));
  let prev: RunState | undefined;
  let workerDown = false;
  let unreachableSince: number | undefined;
  try {
    for (;;) {
      const answer = await query.within(QUERY_ANSWER_MS);
      if (answer === undefined || answer === 'no-answer') {
        // No state: is it the worker, or Temporal itself?
        const answered = await Promise.race([
          cancellable(() => handle.describe()).then(() => true, (err: unknown) => err instanceof WorkflowNotFoundError),
          new Promise<false>((r) => setTimeout(() => r(false), 5000).unref()),
        ]);
        if (!answered) {
          if (unreachableSince === undefined) {
            unreachableSince = Date.now();
            yield { kind: 'unreachable', giveUpMs: TEMPORAL_UNREACHABLE_MS };
          }
          if (Date.now() - unreachableSince >= TEMPORAL_UNREACHABLE_MS) {
            throw new CliError(`Temporal did not answer for ${TEMPORAL_UNREACHABLE_MS / 1000}s; the run goes on in Temporal. Attach again with 'sdlc-runner watch ${workflowId}' once it is reachable`, 3);
          }
          if (opts.signal?.aborted) return prev;
          await sleep(pollMs, opts.signal);
          continue;
        }
      }
      if (unreachableSince !== undefined) {
        unreachableSince = undefined;
        yield { kind: 'reconnected' };
      }
      if (answer === 'no-answer') {
        const closed = await closedTemporalStatus(handle);
        const kept = await keptState(client, workflowId).catch(() => undefined);
        if (!workerDown) {
          workerDown = true;
          const desc = await handle.describe().catch(() => undefined);
          const presence: WorkerPresence = desc ? await workerPresence(client, client.options.namespace, desc.taskQueue).catch((): WorkerPresence => ({})) : {};
          yield { kind: 'worker-down', kept, taskQueue: desc?.taskQueue, presence, closed };
        }
        // A run that has ended needs no worker to be told: what Temporal keeps is its end.
        if (closed && kept) return { ...kept, status: kept.status === 'running' ? closedState(kept, closed).status : kept.status };
        if (opts.signal?.aborted) return prev;
        continue; // the query itself waited QUERY_ANSWER_MS
      }
      if (workerDown) {
        workerDown = false;
        yield { kind: 'worker-up' };
      }
      if (answer) {
        const closed = runIsOngoing(answer.status) ? await closedTemporalStatus(handle) : undefined;
        prev = answer;
        yield { kind: 'state', state: answer, closed };
        if (closed) return closedState(answer, closed);
        if (!runIsOngoing(answer.status)) return answer;
      } else if (await closedTemporalStatus(handle)) {
        return prev;
      }
      if (opts.signal?.aborted) return prev;
      await sleep(pollMs, opts.signal);
    }
  } finally {
    for (const c of inFlight) c.abort();
  }
}
