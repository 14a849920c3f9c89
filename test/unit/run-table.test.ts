/** The run's task table without a Temporal server: transitions, scheduling, retries, cancels and what they refuse. */
import { RunTable } from '../../workflows/run-table';
import { DEFAULT_RUN_OPTIONS, type AgentTaskOutcome, type RunState, type TaskState } from '../../workflows/types';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';
const T2 = '2026-01-01T00:02:00.000Z';

function task(id: string, dependsOn: string[] = []): TaskState {
  return { id, title: `do ${id}`, phase: null, line: 1, branch: `specs/f/${id}-async`, dependsOn, status: 'pending', attempt: 0, autoRetries: 0 };
}

function table(tasks: TaskState[], options: Partial<RunState['options']> = {}): RunTable {
  return new RunTable({
    workflowId: 'sdlc-app-f',
    feature: { name: 'f', dir: 'specs/f' },
    repository: { url: 'https://git.example.test/app.git', baseBranch: 'main' },
    tasksFile: 'specs/f/tasks.md',
    status: 'running',
    options: { ...DEFAULT_RUN_OPTIONS, ...options, retry: { ...DEFAULT_RUN_OPTIONS.retry, ...options.retry } },
    tasks,
    warnings: [],
    startedAt: T0,
    generation: 0,
    finishRequested: false,
  });
}

function outcome(t: TaskState, status: AgentTaskOutcome['status'], extra: Partial<AgentTaskOutcome> = {}): AgentTaskOutcome {
  return { taskId: t.id, attempt: t.attempt, status, podName: `pod-${t.id}-${t.attempt}`, infrastructure: false, startedAt: T0, endedAt: T1, ...extra };
}

const ids = (ts: TaskState[]) => ts.map((t) => t.id);

function start(tb: RunTable, t: TaskState, at = T0): number {
  return tb.begin(t, at, { childWorkflowId: `wf/${t.id}/${t.attempt + 1}`, podName: `pod-${t.id}-${t.attempt + 1}` });
}

describe('RunTable', () => {
  test('the run budget: once finished tasks spent it, pending tasks are cancelled with the reason, running ones are handed back to cancel, retry refused', () => {
    const [a, b, c] = [task('T001'), task('T002'), task('T003')];
    const tb = table([a, b, c], { maxParallel: 2, budget: { maxCostPerRun: 0.5 } });
    start(tb, a);
    start(tb, b);
    expect(tb.enforceRunBudget(T1)).toEqual([]); // nothing spent yet
    tb.record(a, 1, outcome(a, 'succeeded', { commit: 'a'.repeat(40), cost: 0.6 }), T1);
    expect(tb.spent()).toBeCloseTo(0.6);
    expect(tb.enforceRunBudget(T1)).toEqual(['T002']);
    expect(c).toMatchObject({ status: 'cancelled', reason: "the run's cost budget of $0.5 ran out ($0.6 spent)" });
    // The running task's own report (its child was cancelled) keeps the budget as the reason.
    tb.record(b, 1, outcome(b, 'cancelled', { reason: 'cancelled by request' }), T2);
    expect(b).toMatchObject({ status: 'cancelled', reason: "the run's cost budget of $0.5 ran out ($0.6 spent)" });
    expect(tb.enforceRunBudget(T2)).toEqual([]); // once
    expect(() => tb.validateRetry({ taskIds: ['T003'] })).toThrow(/cost budget of \$0\.5 ran out .*start a new run with a larger --max-cost-per-run/);
  });

  test('no run budget: nothing is ever stopped for cost', () => {
    const a = task('T001');
    const tb = table([a, task('T002')]);
    start(tb, a);
    tb.record(a, 1, outcome(a, 'succeeded', { commit: 'a'.repeat(40), cost: 1000 }), T1);
    expect(tb.enforceRunBudget(T1)).toEqual([]);
  });

  test('nextToStart: dependencies first, in dispatch order, never more than maxParallel running', () => {
    const tb = table([task('T1'), task('T2'), task('T3', ['T1']), task('T4')], { maxParallel: 2 });
    expect(ids(tb.nextToStart(2))).toEqual(['T1', 'T2']);
    start(tb, tb.task('T1')!);
    expect(ids(tb.nextToStart(2))).toEqual(['T2']);
    start(tb, tb.task('T2')!);
    expect(tb.nextToStart(2)).toEqual([]);
    tb.record(tb.task('T1')!, 1, outcome(tb.task('T1')!, 'succeeded', { commit: 'a'.repeat(40) }), T1);
    // T3's dependency succeeded: it comes before T4 in dispatch order.
    expect(ids(tb.nextToStart(2))).toEqual(['T3']);
    expect(ids(tb.nextToStart(3))).toEqual(['T3', 'T4']);
  });

  test('mark: a new attempt starts with no figures, reason or end time of the previous one', () => {
    const tb = table([task('T1')]);
    const t = tb.task('T1')!;
    start(tb, t);
    tb.record(t, 1, outcome(t, 'failed', { reason: 'no change', tokens: { input: 7, output: 3, reasoning: 0, cacheRead: 0, cacheWrite: 0 }, cost: 0.5, lastLines: ['x'], logLines: 9 }), T1);
    expect(t).toMatchObject({ status: 'failed', reason: 'no change', cost: 0.5, endedAt: T1, startedAt: T0, podName: 'pod-T1-1', logLines: 9 });
    tb.dirty = false;
    start(tb, t, T2);
    expect(t).toMatchObject({ status: 'running', attempt: 2, startedAt: T2, podName: 'pod-T1-2', childWorkflowId: 'wf/T1/2' });
    for (const k of ['endedAt', 'reason', 'tokens', 'cost', 'lastLines', 'logLines', 'commit', 'infraRetries'] as const) expect(t[k]).toBeUndefined();
    expect(tb.dirty).toBe(true);
  });

  test('a stale attempt reports nothing; an agent failure is retried automatically only while agentRetries allows', () => {
    const tb = table([task('T1')], { retry: { infraRetries: 2, agentRetries: 1 } });
    const t = tb.task('T1')!;
    start(tb, t);
    expect(tb.record(t, 0, outcome(t, 'succeeded'), T1)).toBe(false);
    expect(t.status).toBe('running');
    tb.record(t, 1, outcome(t, 'failed', { reason: 'tests fail' }), T1);
    expect(t).toMatchObject({ status: 'pending', reason: 'retrying automatically after: tests fail', autoRetries: 1 });
    start(tb, t);
    tb.record(t, 2, outcome(t, 'failed', { reason: 'still failing' }), T2);
    expect(t).toMatchObject({ status: 'failed', reason: 'still failing', attempt: 2 });
    // Infrastructure's failures are not the agent's: never retried as OnFailure.
    const tb2 = table([task('T1')], { retry: { infraRetries: 2, agentRetries: 1 } });
    start(tb2, tb2.task('T1')!);
    tb2.record(tb2.task('T1')!, 1, outcome(tb2.task('T1')!, 'failed', { infrastructure: true }), T1);
    expect(tb2.task('T1')!.status).toBe('failed');
  });

  test('blockDependants blocks a whole chain in one pass, naming the dependency and when', () => {
    const tb = table([task('T1'), task('T2', ['T1']), task('T3', ['T2']), task('T4')]);
    start(tb, tb.task('T1')!);
    tb.record(tb.task('T1')!, 1, outcome(tb.task('T1')!, 'timed_out'), T1);
    tb.blockDependants(T2);
    expect(tb.tasks.map((t) => [t.id, t.status, t.reason])).toEqual([
      ['T1', 'timed_out', undefined],
      ['T2', 'blocked', 'dependency T1 timed out'],
      ['T3', 'blocked', 'dependency T2 blocked'],
      ['T4', 'pending', undefined],
    ]);
    expect(tb.task('T3')!.endedAt).toBe(T2);
  });

  test('retry: re-queues the blocked chain downstream; refuses what would only block again, with what to do', () => {
    const tb = table([task('T1'), task('T2', ['T1']), task('T3', ['T2']), task('T4')]);
    for (const t of [tb.task('T1')!, tb.task('T4')!]) start(tb, t);
    tb.record(tb.task('T1')!, 1, outcome(tb.task('T1')!, 'failed'), T1);
    tb.record(tb.task('T4')!, 1, outcome(tb.task('T4')!, 'failed'), T1);
    tb.blockDependants(T1);
    tb.state.status = 'awaiting_decision';
    expect(() => tb.validateRetry({ taskIds: ['T2'] })).toThrow('T2 depends on T1, which is failed: retry T1 too');
    expect(() => tb.validateRetry({ taskIds: ['T9'] })).toThrow('unknown task(s) T9; dispatched tasks are T1, T2, T3, T4');
    tb.validateRetry({ taskIds: ['T1'] });
    expect(tb.requeue({ taskIds: ['T1'] }, T2)).toEqual(['T1', 'T2', 'T3']);
    expect(tb.state.status).toBe('running');
    expect(tb.task('T2')).toMatchObject({ status: 'pending', endedAt: undefined, reason: undefined });
    expect(tb.task('T4')!.status).toBe('failed');
    // Default: every failed, timed-out, cancelled or blocked task.
    expect(tb.requeue({}, T2)).toEqual(['T4']);
  });

  test('retry is refused once the run is cancelling or has decided its outcome, and for tasks that cannot be retried', () => {
    const tb = table([task('T1'), task('T2')]);
    start(tb, tb.task('T1')!);
    expect(() => tb.validateRetry({ taskIds: ['T1'] })).toThrow('only finished tasks can be retried: T1 is running; cancel it first or wait');
    expect(() => tb.validateRetry({})).toThrow('no failed, timed-out, cancelled, blocked or out-of-date task to retry');
    tb.state.status = 'cancelling';
    expect(() => tb.validateRetry({})).toThrow('the run is being cancelled');
    tb.state.status = 'awaiting_decision';
    tb.state.finishRequested = true;
    expect(() => tb.validateRetry({})).toThrow('the run has finished');
  });

  test('cancel: pending tasks end at once, running ones are handed to the workflow; finished ones are refused', () => {
    const tb = table([task('T1'), task('T2'), task('T3')]);
    start(tb, tb.task('T1')!);
    tb.record(tb.task('T1')!, 1, outcome(tb.task('T1')!, 'succeeded'), T1);
    start(tb, tb.task('T2')!);
    expect(() => tb.validateCancel({ taskIds: ['T1'] })).toThrow('already finished: T1 is succeeded');
    tb.validateCancel({});
    expect(tb.cancel({}, T2)).toEqual({ ids: ['T2', 'T3'], running: ['T2'] });
    expect(tb.task('T3')).toMatchObject({ status: 'cancelled', reason: 'cancelled before it started', endedAt: T2 });
    expect(tb.task('T2')!.status).toBe('running');
    tb.record(tb.task('T2')!, 1, outcome(tb.task('T2')!, 'cancelled'), T2);
    expect(() => tb.validateCancel({})).toThrow('no pending or running task to cancel');
  });

  test('finish is refused while a task is open and returns the outcome; maxParallel is bounded', () => {
    const tb = table([task('T1'), task('T2')]);
    start(tb, tb.task('T1')!);
    expect(() => tb.validateFinish()).toThrow('tasks still pending or running: T1, T2; cancel them first (cancelTasks) or wait');
    tb.record(tb.task('T1')!, 1, outcome(tb.task('T1')!, 'succeeded'), T1);
    tb.cancel({ taskIds: ['T2'] }, T1);
    tb.validateFinish();
    expect(tb.finish()).toBe('failed');
    expect(tb.state.finishRequested).toBe(true);
    expect(() => tb.validateMaxParallel(0)).toThrow('maxParallel must be an integer from 1 to 100, got 0');
    expect(() => tb.validateMaxParallel(2.5)).toThrow('got 2.5');
    expect(tb.setMaxParallel(7)).toBe(DEFAULT_RUN_OPTIONS.maxParallel);
  });

  test('podReplaced names the pod that runs now; a late or repeated report changes nothing', () => {
    const tb = table([task('T1')]);
    start(tb, tb.task('T1')!);
    tb.podReplaced({ taskId: 'T1', attempt: 1, podName: 'pod-r1', infraRetry: 1, reason: 'the pod was evicted from its node' });
    expect(tb.task('T1')).toMatchObject({ podName: 'pod-r1', infraRetries: 1, reason: 'infrastructure retry 1 after: the pod was evicted from its node' });
    tb.podReplaced({ taskId: 'T1', attempt: 1, podName: 'pod-old', infraRetry: 1, reason: 'again' });
    tb.podReplaced({ taskId: 'T1', attempt: 0, podName: 'pod-older', infraRetry: 2, reason: 'stale' });
    expect(tb.task('T1')!.podName).toBe('pod-r1');
  });

  test('summary and details: what the memo and Temporal UI show', () => {
    const tb = table([task('T1'), task('T2')]);
    start(tb, tb.task('T1')!);
    tb.record(tb.task('T1')!, 1, outcome(tb.task('T1')!, 'failed', { reason: 'no change' }), T1);
    start(tb, tb.task('T1')!);
    expect(tb.summary()).toBe('f: running — 1 pending, 1 running');
    expect(tb.details()).toBe('f: running — 1 pending, 1 running\nT1 running (attempt 2)\nT2 pending');
  });
});
