/** retryTasks / cancelTasks / finish against the contract: what they act on, and what they refuse. */
import type { WorkflowHandle } from '@temporalio/client';
import { endTest, harness, tasksMarkdown, type Harness } from './harness';
import { cancelTasksUpdate, finishUpdate, retryTasksUpdate, setMaxParallelUpdate } from '../../workflows/definitions';
import { eventually, updateRejection } from '../support/temporal';

const TASK = 'sdlc-runner.dev/task';
const ATTEMPT = 'sdlc-runner.dev/attempt';

describe('implementFeature updates', () => {
  let h: Harness;
  let open: WorkflowHandle | undefined;
  afterEach(async () => {
    open = await endTest(h, open);
  });

  test('retrying a failed dependency re-queues its whole blocked chain, not just the direct dependants', async () => {
    h = await harness((req) => ({ result: req.labels[TASK] === 'T001' && req.labels[ATTEMPT] === '1' ? 'failure' : 'success' }));
    const handle = await h.start(tasksMarkdown(3, { T002: 'depends on T001', T003: 'depends on T002' }), { decisionTimeoutSeconds: 600 });
    open = handle;
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision');
    expect((await h.state(handle)).tasks.map((t) => t.status)).toEqual(['failed', 'blocked', 'blocked']);
    // The answer names every task queued again, so `sdlc-runner retry` can say the dependants come along.
    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T001'] }] })).toEqual(['T001', 'T002', 'T003']);
    const state = await eventually(async () => {
      const s = await h.state(handle);
      return s.status !== 'running' && s;
    }, 'the run settles again');
    expect(state.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T001', 'succeeded'],
      ['T002', 'succeeded'],
      ['T003', 'succeeded'],
    ]);
    expect(state.status).toBe('succeeded');
  });

  test('a blocked task records when it was blocked; re-queued by a retry it shows no end time until it has run again', async () => {
    h = await harness((req) => ({ result: req.labels[TASK] === 'T001' && req.labels[ATTEMPT] === '1' ? 'failure' : 'success', runMs: req.labels[ATTEMPT] === '2' ? 3000 : 0 }));
    const handle = await h.start(tasksMarkdown(2, { T002: 'depends on T001' }), { decisionTimeoutSeconds: 600 });
    open = handle;
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision');
    const blocked = (await h.state(handle)).tasks[1]!;
    expect(blocked.status).toBe('blocked');
    expect(blocked.endedAt).toBeDefined();
    await handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T001'] }] });
    const requeued = (await h.state(handle)).tasks;
    expect(requeued[1]!.status).toBe('pending');
    expect(requeued[1]!.endedAt).toBeUndefined();
    expect(requeued[0]!.endedAt).toBeUndefined();
    expect(requeued[1]!.startedAt).toBeUndefined();
    expect((await h.result(handle)).status).toBe('succeeded');
  });

  test('setMaxParallel lowered while running: nothing new starts until fewer tasks run than the new limit', async () => {
    h = await harness(() => ({ runMs: 1500 }));
    const handle = await h.start(tasksMarkdown(6), { maxParallel: 3 });
    await eventually(() => h.k8s.alive === 3, 'three pods');
    expect(await handle.executeUpdate(setMaxParallelUpdate, { args: [1] })).toBe(3);
    const summary = await h.result(handle);
    expect(summary.counts.succeeded).toBe(6);
    // After the three of the first wave, one pod at a time.
    const created = h.k8s.records.filter((r) => r.event === 'created').slice(3);
    expect(created.map((r) => r.alive)).toEqual([1, 1, 1]);
  });

  test('retrying a blocked task whose dependency is still failed is rejected with what to do', async () => {
    h = await harness((req) => ({ result: req.labels[TASK] === 'T001' ? 'failure' : 'success' }));
    const handle = await h.start(tasksMarkdown(2, { T002: 'depends on T001' }), { decisionTimeoutSeconds: 600 });
    open = handle;
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision');
    expect(await updateRejection(handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T002'] }] }))).toMatch(/T002 depends on T001, which is failed: retry T001 too/);
    // Retrying both is accepted.
    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T001', 'T002'] }] })).toEqual(['T001', 'T002']);
  });

  test('a retry arriving after the run has decided its outcome is rejected; the run ends failed, not running', async () => {
    h = await harness(() => ({ result: 'failure' }));
    // A slow final pod sweep keeps the run open after it has decided it failed.
    const list = h.k8s.listPods.bind(h.k8s);
    h.k8s.listPods = async (sel) => {
      await new Promise((r) => setTimeout(r, 4000));
      return list(sel);
    };
    const handle = await h.start(tasksMarkdown(1), { decisionTimeoutSeconds: 1 });
    await eventually(async () => (await h.state(handle)).status === 'failed', 'run decided failed');
    expect(await updateRejection(handle.executeUpdate(retryTasksUpdate, { args: [{}] }))).toMatch(/the run has (finished|ended)/);
    const summary = await h.result(handle);
    expect(summary.status).toBe('failed');
    expect(summary.tasks[0]!.status).toBe('failed');
  });

  test('a retry while the run is being cancelled is rejected and the run stays cancelling', async () => {
    h = await harness((req) => (req.labels[TASK] === 'T001' ? { result: 'failure' } : { hang: true }));
    const create = h.k8s.createPod.bind(h.k8s);
    let inFlight = false;
    h.k8s.createPod = async (req) => {
      if (req.labels[TASK] === 'T002') {
        // T002's create only starts once T001 has failed, and is still in flight when the run is cancelled.
        await eventually(() => h.k8s.records.some((r) => r.event === 'exited'), 'T001 exited');
        inFlight = true;
        await new Promise((r) => setTimeout(r, 4000));
      }
      return create(req);
    };
    const handle = await h.start(tasksMarkdown(2), { maxParallel: 2 });
    await eventually(async () => inFlight && (await h.state(handle)).tasks[0]!.status === 'failed', 'T001 failed, T002 creating');
    await handle.cancel();
    await eventually(async () => (await h.state(handle)).status === 'cancelling', 'run cancelling');
    expect(await updateRejection(handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T001'] }] }))).toMatch(/the run is being cancelled/);
    expect((await h.state(handle)).status).toBe('cancelling');
    await h.result(handle).catch(() => undefined);
    const state = await h.state(handle);
    expect(state.status).toBe('cancelled');
    expect(state.tasks.map((t) => t.status)).toEqual(['failed', 'cancelled']);
  });

  test('finish returns the final status; a new attempt starts with no figures from the previous one', async () => {
    h = await harness((req) => (req.labels[ATTEMPT] === '1' ? { result: 'failure', tokens: { input: 7, output: 3 }, cost: 0.5 } : { hang: true }));
    const handle = await h.start(tasksMarkdown(1), { decisionTimeoutSeconds: 600 });
    open = handle;
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision');
    const first = (await h.state(handle)).tasks[0]!;
    expect(first.tokens).toMatchObject({ input: 7, output: 3 });
    expect(first.cost).toBe(0.5);
    expect(first.endedAt).toBeDefined();
    await handle.executeUpdate(retryTasksUpdate, { args: [{}] });
    const second = await eventually(async () => {
      const t = (await h.state(handle)).tasks[0]!;
      return t.attempt === 2 && t.status === 'running' && t;
    }, 'attempt 2 running');
    expect(second.tokens).toBeUndefined();
    expect(second.cost).toBeUndefined();
    expect(second.endedAt).toBeUndefined();
    expect(second.logLines).toBeUndefined();
    await handle.executeUpdate(cancelTasksUpdate, { args: [{}] });
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision again');
    expect(await handle.executeUpdate(finishUpdate)).toBe('failed');
    expect((await h.result(handle)).status).toBe('failed');
  });

  test('cancelling all tasks cancels pending ones too (they never start); search attributes follow every transition', async () => {
    h = await harness(() => ({ hang: true }));
    const handle = await h.start(tasksMarkdown(3), { maxParallel: 1, decisionTimeoutSeconds: 600 });
    open = handle;
    await eventually(() => h.k8s.alive === 1, 'first pod');
    expect(await handle.executeUpdate(cancelTasksUpdate, { args: [{}] })).toEqual(['T001', 'T002', 'T003']);
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision');
    const state = await h.state(handle);
    expect(state.tasks.map((t) => t.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    // Tasks cancelled before they started have an end time too (and no start time).
    expect(state.tasks.map((t) => [Boolean(t.startedAt), Boolean(t.endedAt)])).toEqual([[true, true], [false, true], [false, true]]);
    expect(h.k8s.created).toHaveLength(1);
    const sa = async (hd: WorkflowHandle, key: string) => (await hd.describe()).searchAttributes[key]?.[0];
    expect(await sa(handle, 'SdlcRunStatus')).toBe('awaiting_decision');
    const child = h.env.client.workflow.getHandle(state.tasks[0]!.childWorkflowId!);
    expect(await sa(child, 'SdlcTaskStatus')).toBe('cancelled');
    expect(await sa(child, 'SdlcTaskId')).toBe('T001');
    expect(await sa(child, 'SdlcBranch')).toBe(state.tasks[0]!.branch);
    expect(await updateRejection(handle.executeUpdate(cancelTasksUpdate, { args: [{ taskIds: ['T002'] }] }))).toMatch(/already finished: T002 is cancelled/);
    await handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T002'] }] });
    await eventually(async () => (await sa(handle, 'SdlcRunStatus')) === 'running', 'run status running again after the retry');
    await handle.executeUpdate(cancelTasksUpdate, { args: [{}] });
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision again');
    await handle.executeUpdate(finishUpdate);
    await h.result(handle);
    expect(await sa(handle, 'SdlcRunStatus')).toBe('failed');
    expect(h.k8s.created).toHaveLength(2);
    expect(await h.k8s.waitAllGone()).toBe(true);
  });
});
