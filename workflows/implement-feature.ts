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
import { RunTable } from './run-table';
import { integrateInto } from './integrate-feature';
import {
  DEFAULT_RUN_OPTIONS,
  integrationBranchName,
  MAX_DISPATCHED_TASKS,
  type AgentTaskOutcome,
  type ImplementFeatureInput,
  type RunOptions,
  type RunState,
  type RunSummary,
  type TaskState,
} from './types';

/** Marks runs started with stacking, file-overlap ordering and integration: older histories replay without them. */
const STACKING_PATCH = 'stack-and-integrate';

/** Marks runs that upsert their search attributes and memo only when they changed (each upsert is a history event). */
const PUBLISH_ON_CHANGE_PATCH = 'publish-on-change';

const checkApi = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 },
});

const { sweepRunPods } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
});

export { MAX_PARALLEL_LIMIT } from './run-table';

/**
 * A new run's input: the schema (any client may start a run), then the worker's policy on the repository
 * and the branches it will push. Either failing ends the run at once, non-retryably, before any pod.
 */
async function checkInput(input: ImplementFeatureInput): Promise<void> {
  // Nothing of the input is read before the worker has checked it: a malformed one must not crash this code.
  const { tasksMarkdown, carried: _carried, ...rest } = (input ?? {}) as Partial<ImplementFeatureInput>;
  try {
    await checkApi.checkRunInput({ input: { ...rest, tasksMarkdownLength: typeof tasksMarkdown === 'string' ? tasksMarkdown.length : -1 } });
  } catch (err) {
    const cause = (err as { cause?: ApplicationFailure }).cause;
    throw ApplicationFailure.nonRetryable(cause?.message ?? (err as Error).message, cause?.type ?? 'RunRefused');
  }
}

function resolveOptions(partial: Partial<RunOptions> | undefined): RunOptions {
  return { ...DEFAULT_RUN_OPTIONS, ...partial, retry: { ...DEFAULT_RUN_OPTIONS.retry, ...partial?.retry } };
}

/**
 * @param stacking false while replaying a run started before stacking existed (patched): tasks naming the
 * same file were not ordered then, and nothing else about its plan may change either.
 */
function initialState(input: ImplementFeatureInput, stacking: boolean): { state: RunState; texts: Record<string, string> } {
  const options = resolveOptions(input.options);
  const plan = parseTasksMarkdown(input.tasksMarkdown, {
    file: input.tasksFile,
    feature: input.feature.name,
    branchPattern: options.branchPattern,
    ...(stacking
      ? { fileOverlap: options.fileOverlap, baseBranch: input.repository.baseBranch, integrationBranch: integrationBranchName(options, input.feature.name) ?? 'none' }
      : { fileOverlap: 'ignore' as const }),
  });
  const planError = plan.errors[0];
  if (planError) {
    // Bad input is final: fail the run with the parser's message instead of retrying the workflow task forever.
    throw ApplicationFailure.nonRetryable(planErrorToException(plan.file, planError).message, 'InvalidTasksFile');
  }
  // Only asked when over the limit: every other run's history stays as it was.
  if (plan.dispatch.length > MAX_DISPATCHED_TASKS && patched('max-dispatched-tasks')) {
    throw ApplicationFailure.nonRetryable(
      `${plan.file}: ${plan.dispatch.length} open [ASYNC] tasks to dispatch; a run takes at most ${MAX_DISPATCHED_TASKS} (its state must fit in one Temporal answer). Fix: split the tasks over several features, or mark fewer of them [ASYNC]`,
      'InvalidTasksFile',
    );
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
      // Tasks naming the same files wait for each other like written dependencies (and stack on them).
      dependsOn: [...new Set([...t.dependsOn, ...(t.orderedAfter ?? []).map((a) => a.id)])].filter((d) => plan.dispatch.includes(d)),
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

export async function implementFeature(input: ImplementFeatureInput): Promise<RunSummary> {
  const info = workflowInfo();
  const stacking = patched(STACKING_PATCH);
  const onChangeOnly = patched(PUBLISH_ON_CHANGE_PATCH);
  if (stacking && !input?.carried) await checkInput(input);
  let state: RunState;
  let texts: Record<string, string>;
  if (input.carried) {
    state = { ...input.carried, generation: input.carried.generation + 1 };
    // Task texts are re-derived from tasks.md rather than carried (keeps the carried state small).
    texts = initialState({ ...input, carried: undefined }, stacking).texts;
  } else {
    ({ state, texts } = initialState(input, stacking));
  }
  const runUid = info.firstExecutionRunId;
  const table = new RunTable(state);
  const scopes = new Map<string, CancellationScope>();
  let retryRequested = false;
  const now = () => new Date().toISOString();

  /** What this execution last upserted (JSON): an unchanged value is not upserted again (onChangeOnly). */
  const published = { searchAttributes: '', memo: '' };
  const publish = () => {
    const searchAttributes = [
      { key: SA_FEATURE, value: state.feature.name },
      { key: SA_REPOSITORY, value: state.repository.url },
      { key: SA_RUN_STATUS, value: state.status },
    ];
    const i = state.integration;
    const head = i?.head ? ` @ ${i.head.slice(0, 12)}` : '';
    const memo = {
      summary: table.summary(),
      feature: state.feature.name,
      repository: state.repository.url,
      tasksFile: state.tasksFile,
      ...(i ? { integration: `${i.branch}${head} (${i.status})` } : {}),
    };
    const changed = (key: keyof typeof published, value: unknown) => {
      const json = JSON.stringify(value);
      if (onChangeOnly && published[key] === json) return false;
      published[key] = json;
      return true;
    };
    if (changed('searchAttributes', searchAttributes)) upsertSearchAttributes(searchAttributes as never);
    if (changed('memo', memo)) upsertMemo(memo);
    setCurrentDetails(table.details() + (i ? `\nintegration ${i.branch}: ${i.status}${head}${i.conflict ? ` — ${i.conflict.message}` : i.reason ? ` — ${i.reason}` : ''}` : ''));
  };

  setHandler(getRunStateQuery, () => state);

  setHandler(taskPodReplacedSignal, (s: TaskPodReplaced) => {
    // Guarded like the sender: a run that received this signal on a worker without the handler must
    // replay unchanged on one with it (a rolling deploy).
    if (!patched('signal-pod-replaced')) return;
    table.podReplaced(s);
  });

  setHandler(
    retryTasksUpdate,
    (req: RetryTasksRequest) => {
      // The retried tasks and their blocked dependants (transitively) are queued again; the caller sees them all.
      const queued = table.requeue(req, now());
      retryRequested = true;
      return queued;
    },
    { validator: (req: RetryTasksRequest) => table.validateRetry(req) },
  );

  setHandler(
    cancelTasksUpdate,
    (req: CancelTasksRequest) => {
      const { ids, running } = table.cancel(req, now());
      for (const id of running) scopes.get(id)?.cancel();
      return ids;
    },
    { validator: (req: CancelTasksRequest) => table.validateCancel(req) },
  );

  setHandler(setMaxParallelUpdate, (value: number) => table.setMaxParallel(value), { validator: (value: number) => table.validateMaxParallel(value) });

  setHandler(finishUpdate, () => table.finish(), { validator: () => table.validateFinish() });

  const startTask = (t: TaskState) => {
    // Only dependencies that succeeded with a verified commit can be stacked on (the table starts no other task).
    const stackOn = stacking && state.options.stack === 'dependencies' ? table.stackSources(t) : [];
    const stackTimestamp = table.stackTimestamp(t);
    const attempt = table.begin(t, now(), {
      childWorkflowId: `${info.workflowId}/${t.id}/${t.attempt + 1}`,
      podName: podName(info.workflowId, t.id, t.attempt + 1, 0, runUid),
    });
    const scope = new CancellationScope();
    scopes.set(t.id, scope);
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
              ...(stackOn.length ? { stackOn, stackTimestamp } : {}),
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
            endedAt: now(),
          }),
      );
  };

  const record = (t: TaskState, attempt: number, out: AgentTaskOutcome) => {
    if (table.record(t, attempt, out, now())) scopes.delete(t.id);
    // Only a run with a cost budget acts here (older histories have none: they replay unchanged).
    for (const id of table.enforceRunBudget(now())) scopes.get(id)?.cancel();
  };

  /** Blocks what can never start, then starts what can. */
  const schedule = () => {
    table.blockDependants(now());
    for (const t of table.nextToStart(state.options.maxParallel)) startTask(t);
  };

  /**
   * Every task succeeded: their branches merged onto the base, in dispatch order, into one branch. A
   * conflict or a git failure does not fail the run: its state and summary say what to do.
   */
  const integrate = async () => {
    const branch = integrationBranchName(state.options, state.feature.name);
    if (!branch) return;
    setCurrentDetails(`${table.details()}\nintegrating into ${branch}`);
    const sources = state.tasks.map((t) => ({ taskId: t.id, title: t.title, branch: t.branch, commit: t.commit }));
    state.integration = await integrateInto({ repoUrl: state.repository.url, baseBranch: state.repository.baseBranch, branch, sources, runId: state.workflowId }, now());
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
        if (!table.allTerminal() || !state.finishRequested) {
          await continueAsNew<typeof implementFeature>({ ...input, carried: state });
        }
      }
      if (table.dirty) {
        // What schedule() changes (tasks blocked or started) is published right here: no second pass.
        schedule();
        table.dirty = false;
        publish();
      }
      if (table.allTerminal()) {
        // Out-of-date successes need a decision too: re-run them on their dependencies' new work, or finish.
        const allOk = stacking ? table.complete() : state.tasks.every((t) => t.status === 'succeeded');
        if (allOk || state.finishRequested) break;
        state.status = 'awaiting_decision';
        publish();
        retryRequested = false;
        const decided = await condition(() => retryRequested || state.finishRequested, state.options.decisionTimeoutSeconds * 1000);
        if (!decided) break;
        if (state.finishRequested && !retryRequested) break;
        continue;
      }
      await condition(() => table.dirty || historyTooLong());
    }
    if (stacking && table.outcome() === 'succeeded') await integrate();
    state.status = table.outcome();
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancellation = err;
    state.status = 'cancelling';
    publish();
    // Children are cancelled with the run's root scope and clean up their own pods; wait for them to report.
    await CancellationScope.nonCancellable(() => condition(() => state.tasks.every((t) => t.status !== 'running'), 5 * 60 * 1000));
    table.cancelPending(now());
    state.status = 'cancelled';
  } finally {
    state.endedAt = now();
  }
  await CancellationScope.nonCancellable(async () => {
    publish();
    // Belt and braces: no pod of this run may outlive it, except failed ones kept for inspection (reaped later).
    // Only pods of tasks that ended failed/timed out can be kept (their reapers delete them later); a task still
    // `running` here (a child that did not report within the cancel wait) has its pod deleted now.
    const keep = state.options.keepFailedPodsSeconds > 0 ? state.tasks.filter((t) => (t.status === 'failed' || t.status === 'timed_out' || t.status === 'budget_exceeded') && t.podName).map((t) => t.podName!) : [];
    await sweepRunPods({ runUid, keep });
  });
  // Rethrowing the cancellation closes the run as Canceled (what Temporal UI and `temporal workflow list` show);
  // the final state stays readable through the getRunState query.
  if (cancellation) throw cancellation;
  return { workflowId: state.workflowId, status: state.status, counts: table.counts(), tasks: state.tasks };
}
