/**
 * A run as Temporal itself keeps it, for when no worker answers the state query (a query needs a worker
 * to replay the run, even a finished one): the run's memo and search attributes, and one row per task
 * from its task workflows' search attributes and memo. Less than the full state (no commits, tokens or
 * pending tasks), but true, and readable while every worker is down.
 */
import type { Client } from '@temporalio/client';
import { SA_BRANCH, SA_FEATURE, SA_REPOSITORY, SA_RUN_STATUS, SA_TASK_ID, SA_TASK_STATUS } from '../temporal/search-attributes';
import { DEFAULT_RUN_OPTIONS, type RunState, type RunStatus, type TaskState, type TaskStatus } from '../../workflows/types';

/** A worker answers a state query in milliseconds: no answer in this long means none is serving the run. */
export const QUERY_ANSWER_MS = Number(process.env.SDLC_QUERY_TIMEOUT_SECONDS ?? 15) * 1000;

/**
 * The query's answer, or 'no-answer' when no worker answered within `ms` (Temporal itself would wait much
 * longer). The same pending query is reused by the next call, so a follower never piles them up.
 */
export class StateQuery<T> {
  private pending: Promise<T | undefined> | undefined;
  constructor(private readonly ask: () => Promise<T>) {}

  async within(ms: number): Promise<T | undefined | 'no-answer'> {
    this.pending ??= this.ask().then(
      (v) => v,
      () => undefined,
    );
    const p = this.pending;
    const r = await Promise.race([p, new Promise<'no-answer'>((resolve) => setTimeout(() => resolve('no-answer'), ms).unref())]);
    if (r !== 'no-answer') this.pending = undefined;
    return r;
  }
}

export interface WorkerPresence {
  /** When a worker last polled the run's task queue, if Temporal remembers one. */
  lastSeen?: Date;
}

/** When a worker last polled the task queue (Temporal answers this at once, worker or not). */
export async function workerPresence(client: Client, namespace: string, taskQueue: string): Promise<WorkerPresence> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    // TASK_QUEUE_KIND_NORMAL and TASK_QUEUE_TYPE_WORKFLOW (the proto enums' values).
    taskQueue: { name: taskQueue, kind: 1 },
    taskQueueType: 1,
  });
  const seen = (res.pollers ?? [])
    .map((p) => p.lastAccessTime?.seconds)
    .filter((s) => s !== undefined && s !== null)
    .map((s) => new Date(Number(s) * 1000));
  return { lastSeen: seen.sort((a, b) => b.getTime() - a.getTime())[0] };
}

/** One line saying that the state shown is what Temporal keeps, and why. */
export function workerDownLine(taskQueue: string, presence: WorkerPresence): string {
  const since = presence.lastSeen ? `last poll ${presence.lastSeen.toISOString()}` : 'no poll seen recently';
  return `no worker answered for task queue ${taskQueue} within ${QUERY_ANSWER_MS / 1000}s (${since}): the worker is down; showing the run as Temporal keeps it — start a worker (sdlc-runner worker) for the full state`;
}

function memoString(memo: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = memo?.[key];
  return typeof v === 'string' ? v : undefined;
}

/** The run's state from Temporal's own records (describe + visibility), without a worker. */
export async function keptState(client: Client, runId: string): Promise<RunState> {
  const desc = await client.workflow.getHandle(runId).describe();
  const memo = desc.memo as Record<string, unknown> | undefined;
  const status = (desc.typedSearchAttributes.get(SA_RUN_STATUS) ?? 'running') as RunStatus;
  // The newest attempt of each task: its workflow ID ends in /<task>/<attempt>.
  const latest = new Map<string, TaskState>();
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'runAgentTask' AND WorkflowId STARTS_WITH "${runId}/"` })) {
    const id = wf.typedSearchAttributes.get(SA_TASK_ID);
    const attempt = Number(/\/(\d+)$/.exec(wf.workflowId)?.[1] ?? 1);
    if (!id || (latest.get(id)?.attempt ?? 0) >= attempt) continue;
    const summary = memoString(wf.memo as Record<string, unknown> | undefined, 'summary') ?? '';
    latest.set(id, {
      id,
      title: /^\S+ — (.*) \(attempt \d+\)/.exec(summary)?.[1] ?? '',
      phase: null,
      line: 0,
      branch: wf.typedSearchAttributes.get(SA_BRANCH) ?? '',
      dependsOn: [],
      status: (wf.status.name === 'RUNNING' ? 'running' : (wf.typedSearchAttributes.get(SA_TASK_STATUS) ?? 'failed')) as TaskStatus,
      attempt,
      autoRetries: 0,
      childWorkflowId: wf.workflowId,
      startedAt: wf.startTime.toISOString(),
      ...(wf.closeTime ? { endedAt: wf.closeTime.toISOString() } : {}),
      // "T001 — title (attempt 1): failed — the agent made no change"
      ...(/: \w+ — (.*)$/.exec(summary)?.[1] ? { reason: /: \w+ — (.*)$/.exec(summary)![1] } : {}),
    });
  }
  return {
    workflowId: runId,
    // The memo is the run's own (set once a worker has run it); the search attributes are set by whoever started it.
    feature: { name: memoString(memo, 'feature') ?? desc.typedSearchAttributes.get(SA_FEATURE) ?? '', dir: '' },
    repository: { url: memoString(memo, 'repository') ?? desc.typedSearchAttributes.get(SA_REPOSITORY) ?? '', baseBranch: '' },
    tasksFile: memoString(memo, 'tasksFile') ?? '',
    status,
    options: DEFAULT_RUN_OPTIONS,
    tasks: [...latest.values()].sort((a, b) => a.id.localeCompare(b.id)),
    warnings: [],
    startedAt: desc.startTime.toISOString(),
    generation: 0,
    finishRequested: false,
  };
}
