/**
 * implementFeature: the durable run of one feature. Parses tasks.md (pure, deterministic), then starts
 * one runAgentTask child per dispatched ([ASYNC], open) task, at most `maxParallel` at once, honouring
 * `dependsOn`. When every task is terminal and some did not succeed, waits for `retryTasks` or
 * `finish` (or the decision timeout). Continues-as-new between waves when history grows.
 */
import {
  CancellationScope,
  condition,
  allHandlersFinished,
  continueAsNew,
  isCancellation,
  ParentClosePolicy,
  patched,
  ChildWorkflowCancellationType,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  ApplicationFailure,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { planErrorToException } from '../src/tasks/errors';
import { parseTasksMarkdown } from '../src/tasks/parse';
import { podName } from '../src/k8s/names';
import { SA_BRANCH, SA_FEATURE, SA_REPOSITORY, SA_RUN_STATUS, SA_TASK_ID, SA_TASK_STATUS } from '../src/temporal/search-attributes';
import { cancelTasksUpdate, finishUpdate, getRunStateQuery, retryTasksUpdate, setMaxParallelUpdate, taskPodReplacedSignal, type CancelTasksRequest, type RetryTasksRequest, type TaskPodReplaced } from './definitions';
import { runAgentTask, describeTask } from './run-agent-task';
import {
  DEFAULT_RUN_OPTIONS,
  RETRYABLE_TASK_STATUSES,
  TERMINAL_TASK_STATUSES,
  type AgentTaskOutcome,
  type ImplementFeatureInput,
  type RunOptions,
  type RunState,
  type RunSummary,
  type TaskState,
  type TaskStatus,
} from './types';

const { sweepRunPods } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
});

export const MAX_PARALLEL_LIMIT = 100;

function resolveOptions(partial: Partial<RunOptions> | undefined): RunOptions {
  return { ...DEFAULT_RUN_OPTIONS, ...partial, retry: { ...DEFAULT_RUN_OPTIONS.retry, ...partial?.retry } };
}

function isTerminal(t: TaskState): boolean {
  return TERMINAL_TASK_STATUSES.includes(t.status);
}

function initialState(input: ImplementFeatureInput): { state: RunState; texts: Record<string, string> } {
  const options = resolveOptions(input.options);
  const plan = parseTasksMarkdown(input.tasksMarkdown, { file: input.tasksFile, feature: input.feature.name, branchPattern: options.branchPattern });
  const planError = plan.errors[0];
  if (planError) {
    // Bad input is final: fail the run with the parser's message instead of retrying the workflow task forever.
    throw ApplicationFailure.nonRetryable(planErrorToException(plan.file, planError).message, 'InvalidTasksFile');
  }
  const byId = new Map(plan.tasks.map((t) => [t.id, t]));
  const texts: Record<string, string> = {};
  const tasks: TaskState[] = plan.dispatch.map((id) => {
    const t = byId.get(id)!;
    texts[id] = t.details ? `${t.title}\n${t.details}` : t.title;
    return {
      id,
      title: t.title,
      phase: t.phase,
      line: t.line,
      branch: t.branch ?? '',
      dependsOn: t.dependsOn.filter((d) => plan.dispatch.includes(d)),
      status: 'pending',
      attempt: 0,
      autoRetries: 0,
    };
  });
  const state: RunState = {
    workflowId: workflowInfo().workflowId,
    feature: input.feature,
    repository: input.repository,
    tasksFile: input.tasksFile,
    status: 'running',
    options,
    tasks,
    warnings: plan.warnings,
    startedAt: new Date().toISOString(),
    generation: 0,
    finishRequested: false,
  };
  return { state, texts };
}

function counts(state: RunState): Record<TaskStatus, number> {
  const c: Record<TaskStatus, number> = { pending: 0, running: 0, succeeded: 0, failed: 0, timed_out: 0, cancelled: 0, blocked: 0 };
  for (const t of state.tasks) c[t.status]++;
  return c;
}

function summaryText(state: RunState): string {
  const c = counts(state);
  const parts = (Object.keys(c) as TaskStatus[]).filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`);
  return `${state.feature.name}: ${state.status} — ${parts.join(', ') || 'no tasks'}`;
}

export async function implementFeature(input: ImplementFeatureInput): Promise<RunSummary> {
  const info = workflowInfo();
  let state: RunState;
  let texts: Record<string, string>;
  if (input.carried) {
    state = { ...input.carried, generation: input.carried.generation + 1 };
    // Task texts are re-derived from tasks.md rather than carried (keeps the carried state small).
    texts = initialState({ ...input, carried: undefined }).texts;
  } else {
    ({ state, texts } = initialState(input));
  }
  const runUid = info.firstExecutionRunId;
  const scopes = new Map<string, CancellationScope>();
  let dirty = true;
  let retryRequested = false;

  const publish = () => {
    upsertSearchAttributes([
      { key: SA_FEATURE, value: state.feature.name },
      { key: SA_REPOSITORY, value: state.repository.url },
      { key: SA_RUN_STATUS, value: state.status },
    ] as never);
    const text = summaryText(state);
    upsertMemo({ summary: text, feature: state.feature.name, repository: state.repository.url, tasksFile: state.tasksFile });
    setCurrentDetails(text + '\n' + state.tasks.map((t) => `${t.id} ${t.status}${t.attempt > 1 ? ` (attempt ${t.attempt})` : ''}${t.reason ? ` — ${t.reason}` : ''}`).join('\n'));
  };

  const task = (id: string) => state.tasks.find((t) => t.id === id);
  /** The status a run whose tasks are all terminal ends with. */
  const outcome = () => (state.tasks.every((t) => t.status === 'succeeded') ? 'succeeded' : 'failed');
  const unknownIds = (ids: string[]) => ids.filter((id) => !task(id));
  const retryTargets = (req: RetryTasksRequest) => (req.taskIds?.length ? req.taskIds : state.tasks.filter((t) => RETRYABLE_TASK_STATUSES.includes(t.status)).map((t) => t.id));
  /** The retried tasks plus every blocked task downstream of them (transitively): all of them get another chance. */
  const requeued = (ids: string[]) => {
    const set = new Set(ids);
    for (let grew = true; grew; ) {
      grew = false;
      for (const t of state.tasks) {
        if (!set.has(t.id) && t.status === 'blocked' && t.dependsOn.some((d) => set.has(d))) {
          set.add(t.id);
          grew = true;
        }
      }
    }
    return set;
  };

  setHandler(getRunStateQuery, () => state);

  setHandler(taskPodReplacedSignal, (s: TaskPodReplaced) => {
    // Guarded like the sender: a run that received this signal on a worker without the handler must
    // replay unchanged on one with it (a rolling deploy).
    if (!patched('signal-pod-replaced')) return;
    const t = state.tasks.find((x) => x.id === s.taskId);
    // A late signal from an attempt already superseded or finished changes nothing.
    if (!t || t.attempt !== s.attempt || t.status !== 'running' || (t.infraRetries ?? 0) >= s.infraRetry) return;
    t.podName = s.podName;
    t.infraRetries = s.infraRetry;
    t.reason = `infrastructure retry ${s.infraRetry} after: ${s.reason}`;
    dirty = true; // publish(): Temporal UI's details show the retry too
  });

  setHandler(
    retryTasksUpdate,
    (req: RetryTasksRequest) => {
      // The retried tasks and their blocked dependants (transitively) are queued again.
      const queued = requeued(retryTargets(req));
      for (const id of queued) {
        const t = task(id)!;
        t.status = 'pending';
        t.reason = undefined;
        t.lastLines = undefined;
        // Times belong to an attempt: a re-queued task has neither until its next attempt starts.
        t.startedAt = undefined;
        t.endedAt = undefined;
        t.autoRetries = 0;
      }
      retryRequested = true;
      state.status = 'running';
      dirty = true;
      // Everything queued again, in dispatch order, so the caller sees the dependants that come along.
      return state.tasks.filter((t) => queued.has(t.id)).map((t) => t.id);
    },
    {
      validator: (req: RetryTasksRequest) => {
        if (state.status === 'cancelling' || state.status === 'cancelled') throw new Error('the run is being cancelled; start a new run instead');
        // Once the run has decided its outcome (finish requested, or the decision wait over) nothing may change it.
        if (state.status === 'succeeded' || state.status === 'failed' || state.finishRequested) throw new Error('the run has finished; start a new run instead');
        const unknown = unknownIds(req.taskIds ?? []);
        if (unknown.length) throw new Error(`unknown task(s) ${unknown.join(', ')}; dispatched tasks are ${state.tasks.map((t) => t.id).join(', ')}`);
        const notRetryable = (req.taskIds ?? []).filter((id) => !RETRYABLE_TASK_STATUSES.includes(task(id)!.status));
        if (notRetryable.length) throw new Error(`only failed, timed-out, cancelled or blocked tasks can be retried: ${notRetryable.map((id) => `${id} is ${task(id)!.status}`).join(', ')}`);
        if (!req.taskIds?.length && !state.tasks.some((t) => RETRYABLE_TASK_STATUSES.includes(t.status))) throw new Error('no failed, timed-out, cancelled or blocked task to retry');
        // A task whose dependency stays unsuccessful would only be blocked again: say which one to retry with it.
        const queued = requeued(retryTargets(req));
        const stuck: string[] = [];
        for (const id of queued) {
          for (const d of task(id)!.dependsOn) {
            const dep = task(d)!;
            if (!queued.has(d) && isTerminal(dep) && dep.status !== 'succeeded') stuck.push(`${id} depends on ${d}, which is ${dep.status.replace('_', ' ')}: retry ${d} too`);
          }
        }
        if (stuck.length) throw new Error(stuck.join('; '));
      },
    },
  );

  setHandler(
    cancelTasksUpdate,
    (req: CancelTasksRequest) => {
      const ids = req.taskIds?.length ? req.taskIds : state.tasks.filter((t) => !isTerminal(t)).map((t) => t.id);
      for (const id of ids) {
        const t = task(id)!;
        if (t.status === 'pending') {
          t.status = 'cancelled';
          t.reason = 'cancelled before it started';
          t.endedAt = new Date().toISOString();
        } else scopes.get(id)?.cancel();
      }
      dirty = true;
      return ids;
    },
    {
      validator: (req: CancelTasksRequest) => {
        const unknown = unknownIds(req.taskIds ?? []);
        if (unknown.length) throw new Error(`unknown task(s) ${unknown.join(', ')}; dispatched tasks are ${state.tasks.map((t) => t.id).join(', ')}`);
        const done = (req.taskIds ?? []).filter((id) => isTerminal(task(id)!));
        if (done.length) throw new Error(`already finished: ${done.map((id) => `${id} is ${task(id)!.status}`).join(', ')}`);
        if (!req.taskIds?.length && state.tasks.every(isTerminal)) throw new Error('no pending or running task to cancel');
      },
    },
  );

  setHandler(
    setMaxParallelUpdate,
    (value: number) => {
      const previous = state.options.maxParallel;
      state.options.maxParallel = value;
      dirty = true;
      return previous;
    },
    {
      validator: (value: number) => {
        if (!Number.isInteger(value) || value < 1 || value > MAX_PARALLEL_LIMIT) throw new Error(`maxParallel must be an integer from 1 to ${MAX_PARALLEL_LIMIT}, got ${value}`);
      },
    },
  );

  setHandler(
    finishUpdate,
    () => {
      state.finishRequested = true;
      dirty = true;
      // Every task is terminal (the validator saw to it): this is the status the run ends with.
      return outcome();
    },
    {
      validator: () => {
        const running = state.tasks.filter((t) => !isTerminal(t));
        if (running.length) throw new Error(`tasks still pending or running: ${running.map((t) => t.id).join(', ')}; cancel them first (cancelTasks) or wait`);
      },
    },
  );

  const startTask = (t: TaskState) => {
    t.attempt += 1;
    t.status = 'running';
    t.startedAt = new Date().toISOString();
    t.endedAt = undefined;
    t.reason = undefined;
    t.commit = undefined;
    // Figures belong to one attempt: none from the previous attempt while this one runs.
    t.tokens = undefined;
    t.cost = undefined;
    t.lastLines = undefined;
    t.logLines = undefined;
    t.childWorkflowId = `${info.workflowId}/${t.id}/${t.attempt}`;
    t.podName = podName(info.workflowId, t.id, t.attempt, 0, runUid);
    t.infraRetries = undefined;
    const scope = new CancellationScope();
    scopes.set(t.id, scope);
    const attempt = t.attempt;
    const summary = describeTask({ taskId: t.id, title: t.title, attempt });
    scope
      .run(async () => {
        const child = await startChild(runAgentTask, {
          workflowId: t.childWorkflowId!,
          args: [
            {
              runWorkflowId: info.workflowId,
              runUid,
              taskId: t.id,
              title: t.title,
              taskText: texts[t.id] ?? t.title,
              attempt,
              branch: t.branch,
              repository: state.repository,
              feature: state.feature,
              options: state.options,
            },
          ],
          cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          staticSummary: summary,
          typedSearchAttributes: [
            { key: SA_FEATURE, value: state.feature.name },
            { key: SA_REPOSITORY, value: state.repository.url },
            { key: SA_TASK_ID, value: t.id },
            { key: SA_BRANCH, value: t.branch },
            { key: SA_TASK_STATUS, value: 'running' },
          ] as never,
          memo: { summary },
        });
        return child.result();
      })
      .then(
        (out: AgentTaskOutcome) => record(t, attempt, out),
        (err: unknown) =>
          record(t, attempt, {
            taskId: t.id,
            attempt,
            status: isCancellation(err) ? 'cancelled' : 'failed',
            infrastructure: !isCancellation(err),
            podName: '',
            reason: isCancellation(err) ? 'cancelled by request' : `task workflow failed: ${(err as Error).message}${(err as { cause?: Error }).cause ? `: ${(err as { cause?: Error }).cause!.message}` : ''}`,
            startedAt: t.startedAt!,
            endedAt: new Date().toISOString(),
          }),
      );
  };

  const record = (t: TaskState, attempt: number, out: AgentTaskOutcome) => {
    if (t.attempt !== attempt) return; // a stale attempt (already superseded)
    scopes.delete(t.id);
    t.status = out.status;
    t.podName = out.podName || t.podName;
    t.endedAt = out.endedAt;
    t.commit = out.commit;
    t.reason = out.reason;
    t.tokens = out.tokens;
    t.cost = out.cost;
    t.lastLines = out.lastLines;
    t.logLines = out.logLines;
    // OnFailure-style automatic retry of the agent's own failure, when configured.
    if ((out.status === 'failed' || out.status === 'timed_out') && !out.infrastructure && t.autoRetries < state.options.retry.agentRetries) {
      t.autoRetries++;
      t.status = 'pending';
      t.reason = `retrying automatically after: ${out.reason ?? out.status}`;
    }
    dirty = true;
  };

  /** Decides what can start now; marks tasks blocked when a dependency ended without success. */
  const schedule = () => {
    for (const t of state.tasks) {
      if (t.status !== 'pending') continue;
      const deps = t.dependsOn.map((d) => task(d)!);
      const failedDep = deps.find((d) => isTerminal(d) && d.status !== 'succeeded');
      if (failedDep) {
        t.status = 'blocked';
        t.reason = `dependency ${failedDep.id} ${failedDep.status.replace('_', ' ')}`;
        t.endedAt = new Date().toISOString();
      }
    }
    let running = state.tasks.filter((t) => t.status === 'running').length;
    for (const t of state.tasks) {
      if (running >= state.options.maxParallel) break;
      if (t.status !== 'pending') continue;
      if (!t.dependsOn.every((d) => task(d)!.status === 'succeeded')) continue;
      startTask(t);
      running++;
    }
  };

  const historyTooLong = () => workflowInfo().historyLength >= state.options.maxHistoryEvents || workflowInfo().continueAsNewSuggested;

  let cancellation: unknown;
  try {
    publish();
    for (;;) {
      if (historyTooLong()) {
        // Drain: start nothing new; once no child is running, continue as new with the state.
        await condition(() => state.tasks.every((t) => t.status !== 'running'));
        await condition(allHandlersFinished); // no Update may be cut off by continue-as-new
        if (!state.tasks.every(isTerminal) || !state.finishRequested) {
          await continueAsNew<typeof implementFeature>({ ...input, carried: state });
        }
      }
      if (dirty) {
        dirty = false;
        schedule();
        publish();
      }
      if (state.tasks.every(isTerminal)) {
        const allOk = state.tasks.every((t) => t.status === 'succeeded');
        if (allOk || state.finishRequested) break;
        state.status = 'awaiting_decision';
        publish();
        retryRequested = false;
        const decided = await condition(() => retryRequested || state.finishRequested, state.options.decisionTimeoutSeconds * 1000);
        if (!decided) break;
        if (state.finishRequested && !retryRequested) break;
        continue;
      }
      await condition(() => dirty || historyTooLong());
    }
    state.status = outcome();
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancellation = err;
    state.status = 'cancelling';
    publish();
    // Children are cancelled with the run's root scope and clean up their own pods; wait for them to report.
    await CancellationScope.nonCancellable(() => condition(() => state.tasks.every((t) => t.status !== 'running'), 5 * 60 * 1000));
    for (const t of state.tasks) if (t.status === 'pending') { t.status = 'cancelled'; t.reason = 'run cancelled'; t.endedAt = new Date().toISOString(); }
    state.status = 'cancelled';
  } finally {
    state.endedAt = new Date().toISOString();
  }
  await CancellationScope.nonCancellable(async () => {
    publish();
    // Belt and braces: no pod of this run may outlive it, except failed ones kept for inspection (reaped later).
    // Only pods of tasks that ended failed/timed out can be kept (their reapers delete them later); a task still
    // `running` here (a child that did not report within the cancel wait) has its pod deleted now.
    const keep = state.options.keepFailedPodsSeconds > 0 ? state.tasks.filter((t) => (t.status === 'failed' || t.status === 'timed_out') && t.podName).map((t) => t.podName!) : [];
    await sweepRunPods({ runUid, keep });
  });
  // Rethrowing the cancellation closes the run as Canceled (what Temporal UI and `temporal workflow list` show);
  // the final state stays readable through the getRunState query.
  if (cancellation) throw cancellation;
  return { workflowId: state.workflowId, status: state.status, counts: counts(state), tasks: state.tasks };
}
