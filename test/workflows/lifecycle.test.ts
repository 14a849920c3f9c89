import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { harness, tasksMarkdown, type Harness } from './harness';
import { cancelTasksUpdate, finishUpdate, retryTasksUpdate } from '../../workflows/definitions';
import { eventually, updateRejection } from '../support/temporal';
import { formatResultLine } from '../../src/contract/result-line';
import { diffRunState, formatEventLine } from '../../src/cli/run-events';
import type { RunState } from '../../workflows/types';

describe('implementFeature task lifecycle', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  test('a tasks.md the parser rejects fails the run at once (non-retryable, with the file:line message) and creates no pod', async () => {
    h = await harness();
    const handle = await h.start('# Tasks\n\n- [ ] T001 [ASYNC] a\n- [ ] T001 [ASYNC] b\n');
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause as { type?: string; nonRetryable?: boolean; message: string };
    expect(cause.type).toBe('InvalidTasksFile');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(/tasks\.md:3: two open \[ASYNC\] tasks have the same ID T001,.*\(lines 3, 4\)\. Fix: /);
    expect(h.k8s.created).toHaveLength(0);
  });

  test('task deadline: a hanging agent is timed out and its pod deleted', async () => {
    h = await harness(() => ({ hang: true }));
    const handle = await h.start(tasksMarkdown(1), { taskTimeoutSeconds: 2, decisionTimeoutSeconds: 1 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('timed_out');
    // The pod's activeDeadlineSeconds ended it (not the workflow's backup timer, 30 s later).
    expect(summary.tasks[0]!.reason).toBe('task deadline of 2s passed (DeadlineExceeded)');
    expect(await h.k8s.waitAllGone()).toBe(true);
    expect(h.k8s.records.some((r) => r.event === 'deleted')).toBe(true);
  });

  test('pending timeout: a pod stuck in ImagePullBackOff gets new pods within the infrastructure retries, then times out with the reason; each is deleted', async () => {
    h = await harness(() => ({ stuckPending: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "agent:missing"' } }));
    const handle = await h.start(tasksMarkdown(1), { pendingTimeoutSeconds: 2, decisionTimeoutSeconds: 1, retry: { infraRetries: 1, agentRetries: 0 } });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('timed_out');
    expect(summary.tasks[0]!.reason).toBe('pod did not start within 2s (ImagePullBackOff: Back-off pulling image "agent:missing") (infrastructure retries exhausted)');
    const created = h.k8s.records.filter((r) => r.event === 'created').map((r) => r.pod);
    expect(created).toEqual([expect.stringMatching(/-t001-a1-/), expect.stringMatching(/-t001-a1r1-/)]);
    // The first pod was gone before its replacement was created: the two could never both start.
    const events = h.k8s.records.map((r) => `${r.event} ${r.pod}`);
    expect(events.indexOf(`deleted ${created[0]}`)).toBeGreaterThanOrEqual(0);
    expect(events.indexOf(`deleted ${created[0]}`)).toBeLessThan(events.indexOf(`created ${created[1]}`));
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('a pod that never started is infrastructure: its replacement starts, and the task succeeds in the same attempt', async () => {
    h = await harness((req) => (req.name.includes('-t001-a1-') ? { stuckPending: { reason: 'Unschedulable', message: '0/3 nodes are available' } } : {}));
    const handle = await h.start(tasksMarkdown(1), { pendingTimeoutSeconds: 2, decisionTimeoutSeconds: 1 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]).toMatchObject({ status: 'succeeded', attempt: 1 });
    expect(h.k8s.records.filter((r) => r.event === 'created').map((r) => r.pod)).toEqual([expect.stringMatching(/-t001-a1-/), expect.stringMatching(/-t001-a1r1-/)]);
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('pods that may still run are never kept: a pod that never started is deleted even when failed pods are kept', async () => {
    h = await harness(() => ({ stuckPending: { reason: 'ImagePullBackOff' } }));
    const handle = await h.start(tasksMarkdown(1), { pendingTimeoutSeconds: 2, decisionTimeoutSeconds: 1, keepFailedPodsSeconds: 600 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('timed_out');
    // Kept, it could start once the image pulls and run an agent nobody follows.
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test("the workflow's own deadline (a kubelet that ignores activeDeadlineSeconds) deletes the still-running pod, even when failed pods are kept", async () => {
    h = await harness(() => ({ hang: true, ignoreActiveDeadline: true }));
    // Workflow deadline = task timeout + pending timeout + 30 s slack.
    const handle = await h.start(tasksMarkdown(1), { taskTimeoutSeconds: 1, pendingTimeoutSeconds: 1, decisionTimeoutSeconds: 1, keepFailedPodsSeconds: 600 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('timed_out');
    expect(summary.tasks[0]!.reason).toBe('task deadline of 1s passed');
    expect(await h.k8s.waitAllGone()).toBe(true);
  }, 90_000);

  test('cancel one task: it ends cancelled and its pod is deleted at once; the others carry on', async () => {
    // T001/T003 run long enough that the run is still going when T002's pod is gone.
    h = await harness((req) => (req.labels['sdlc-runner.dev/task'] === 'T002' ? { hang: true } : { runMs: 15_000 }));
    const handle = await h.start(tasksMarkdown(3), { maxParallel: 3, decisionTimeoutSeconds: 1 });
    // All three pods created (a count that only grows: T001/T003 may already have finished by the time this is sampled).
    await eventually(async () => (await h.state(handle)).tasks.find((t) => t.id === 'T002')?.status === 'running' && h.k8s.created.length === 3, 'T002 running');
    expect(await updateRejection(handle.executeUpdate(cancelTasksUpdate, { args: [{ taskIds: ['T404'] }] }))).toMatch(/unknown task\(s\) T404; dispatched tasks are T001, T002, T003/);
    expect(await handle.executeUpdate(cancelTasksUpdate, { args: [{ taskIds: ['T002'] }] })).toEqual(['T002']);
    // The task's own cleanup deletes its pod, not the run's final sweep: the agent must not run on.
    const t002Pod = h.k8s.created.find((n) => n.includes('-t002-'))!;
    await eventually(() => !h.k8s.pods.has(t002Pod), 'T002 pod deleted', 10_000);
    const during = await h.state(handle);
    expect({ run: during.status, tasks: during.tasks.map((t) => `${t.id} ${t.status}`) }).toEqual({ run: 'running', tasks: ['T001 running', 'T002 cancelled', 'T003 running'] });
    const summary = await h.result(handle);
    const byId = Object.fromEntries(summary.tasks.map((t) => [t.id, t.status]));
    expect(byId).toEqual({ T001: 'succeeded', T002: 'cancelled', T003: 'succeeded' });
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('cancel the run: every pod is deleted and the run ends cancelled', async () => {
    h = await harness(() => ({ hang: true }));
    const handle = await h.start(tasksMarkdown(4), { maxParallel: 2 });
    await eventually(() => h.k8s.alive === 2, 'two pods running');
    await handle.cancel();
    const err = await h.result(handle).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    // Temporal itself records the run as Canceled (not Failed), and its final state stays queryable.
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const state = await h.state(handle);
    expect(state.status).toBe('cancelled');
    expect(state.tasks.map((t) => t.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    expect(await h.k8s.waitAllGone()).toBe(true);
    expect(h.k8s.created).toHaveLength(2);
  });

  test('cancel the run while a pod create is in flight: the pod created after the cancel is deleted too', async () => {
    h = await harness(() => ({ hang: true }));
    // A slow API server: the create request is in flight when the cancel arrives, and lands after it.
    const create = h.k8s.createPod.bind(h.k8s);
    let inFlight = false;
    h.k8s.createPod = async (req) => {
      inFlight = true;
      await new Promise((r) => setTimeout(r, 3000));
      return create(req);
    };
    const handle = await h.start(tasksMarkdown(1));
    await eventually(() => inFlight, 'create in flight');
    await handle.cancel();
    // While the task winds down the run says so (followers keep following; `cancel` is not sent twice)…
    const winding = await eventually(async () => {
      const state = await h.state(handle);
      return state.status === 'cancelling' && state;
    }, 'run cancelling');
    expect(winding.tasks[0]!.status).toBe('running');
    await h.result(handle).catch(() => undefined);
    // …and once every task has reported, it is cancelled.
    expect((await h.state(handle)).status).toBe('cancelled');
    await eventually(() => h.k8s.created.length === 1, 'the in-flight create landed');
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('a pod name taken by another task attempt fails the task and leaves that pod alone', async () => {
    h = await harness(() => ({ hang: true }));
    // Someone else's pod already has the name this attempt would use (different run/task/attempt labels).
    const create = h.k8s.createPod.bind(h.k8s);
    let foreign: string | undefined;
    h.k8s.createPod = async (req) => {
      if (!foreign) {
        foreign = req.name;
        await create({ ...req, labels: { ...req.labels, 'sdlc-runner.dev/run-uid': 'another-run', 'sdlc-runner.dev/attempt': '7' } });
      }
      return create(req);
    };
    const handle = await h.start(tasksMarkdown(1), { decisionTimeoutSeconds: 1, keepFailedPodsSeconds: 1 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('failed');
    expect(summary.tasks[0]!.reason).toMatch(/belongs to another run\/task\/attempt/);
    // Give a reaper (had one been started) time to act: the other attempt's pod must survive.
    await new Promise((r) => setTimeout(r, 3000));
    expect(h.k8s.pods.get(foreign!)?.status.deleting).toBe(false);
  });

  test('retry a failed task: attempt 2 on the same branch with a new pod, then the run succeeds', async () => {
    h = await harness((req) => ({ result: req.labels['sdlc-runner.dev/attempt'] === '1' && req.labels['sdlc-runner.dev/task'] === 'T002' ? 'failure' : 'success' }));
    const handle = await h.start(tasksMarkdown(2), { decisionTimeoutSeconds: 600 });
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'run awaiting a decision');
    const before = (await h.state(handle)).tasks.find((t) => t.id === 'T002')!;
    expect(before.status).toBe('failed');
    // By default only what did not succeed is retried (a succeeded task is re-run only when named).
    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{}] })).toEqual(['T002']);
    const summary = await h.result(handle);
    const t2 = summary.tasks.find((t) => t.id === 'T002')!;
    expect(summary.status).toBe('succeeded');
    expect(t2.attempt).toBe(2);
    expect(t2.branch).toBe(before.branch);
    expect(t2.podName).not.toBe(before.podName);
    expect(h.k8s.created.filter((n) => n.includes('-t002-'))).toEqual([before.podName, t2.podName]);
  });

  test('a run with failures lingers for a decision; finish ends it with a summary', async () => {
    h = await harness(() => ({ result: 'failure' }));
    const handle = await h.start(tasksMarkdown(1), { decisionTimeoutSeconds: 600 });
    await eventually(async () => (await h.state(handle)).status === 'awaiting_decision', 'awaiting decision');
    expect(await handle.executeUpdate(finishUpdate)).toBe('failed');
    const summary = await h.result(handle);
    expect(summary.status).toBe('failed');
    expect(summary.counts.failed).toBe(1);
    expect(summary.tasks[0]!.lastLines?.at(-1)).toContain('::sdlc-result::');
  });

  test('an agent that claims a push the remote does not have fails branch verification', async () => {
    h = await harness(() => ({ result: 'lie' }));
    const handle = await h.start(tasksMarkdown(1), { decisionTimeoutSeconds: 1 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('failed');
    expect(summary.tasks[0]!.reason).toMatch(/^branch verification failed: branch specs\/.+\/T001-async does not exist on the remote/);
  });

  test('eviction is an infrastructure failure: a new pod is created for the same attempt, and the run names it while it runs', async () => {
    // The replacement pod runs long enough to be seen in the run's state (and by the follow events).
    h = await harness((req) => (req.name.includes('a1r') ? { runMs: 4000 } : { evict: true, runMs: 1000 }));
    const handle = await h.start(tasksMarkdown(1), { retry: { infraRetries: 1, agentRetries: 0 } });
    let before: RunState | undefined;
    let during: RunState | undefined;
    await eventually(async () => {
      const s = await h.state(handle);
      if (h.k8s.created.length < 2 && s.tasks[0]?.status === 'running') before = s;
      else during = s;
      return during?.tasks[0]?.infraRetries === 1;
    }, 'the run names the replacement pod', 30_000);
    const task = during!.tasks[0]!;
    expect({ status: task.status, attempt: task.attempt, podName: task.podName }).toEqual({ status: 'running', attempt: 1, podName: h.k8s.created[1] });
    expect(task.reason).toBe('infrastructure retry 1 after: the pod was evicted from its node');
    // What the main session prints for it (--follow, watch).
    expect(diffRunState(before, during!).map(formatEventLine)).toContainEqual(
      `task T001 new-pod attempt=1 pod=${h.k8s.created[1]} infra-retry=1 reason="infrastructure retry 1 after: the pod was evicted from its node"`,
    );
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('succeeded');
    expect(summary.tasks[0]!.attempt).toBe(1);
    expect(h.k8s.created).toHaveLength(2);
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('OOM kill is an infrastructure failure: a new pod for the same attempt; with no infrastructure retry left, the task fails', async () => {
    // oomtool: the kernel killed one of the agent's tools (the container reports OOMKilled) and the agent went on to push and exit 0.
    h = await harness((req) => (req.name.includes('-oomtool-') ? { terminatedReason: 'OOMKilled' } : req.name.includes('a1r') ? {} : { oomKill: true, runMs: 500 }));
    const tag = Date.now().toString(36);
    const [retried, exhausted, toolKilled] = await Promise.all([
      h.start(tasksMarkdown(1), { retry: { infraRetries: 1, agentRetries: 0 } }, `oomretry-${tag}`).then(h.result),
      h.start(tasksMarkdown(1), { retry: { infraRetries: 0, agentRetries: 0 } }, `oomfinal-${tag}`).then(h.result),
      h.start(tasksMarkdown(1), { retry: { infraRetries: 1, agentRetries: 0 } }, `oomtool-${tag}`).then(h.result),
    ]);
    // A pod that ended well (exit 0, its push verified) succeeded, whatever its container status says: no second pod.
    expect(toolKilled.tasks[0]).toMatchObject({ status: 'succeeded', attempt: 1 });
    expect(toolKilled.tasks[0]!.infraRetries ?? 0).toBe(0);
    const podsOf = (feature: string) => h.k8s.created.filter((name) => name.includes(`-${feature}-${tag}-`));
    expect(retried.tasks[0]).toMatchObject({ status: 'succeeded', attempt: 1, infraRetries: 1 });
    expect(podsOf('oomretry')).toHaveLength(2);
    expect(exhausted.tasks[0]).toMatchObject({ status: 'failed', attempt: 1 });
    expect(exhausted.tasks[0]!.reason).toMatch(/OOM-killed.*infrastructure retries exhausted/);
    expect(podsOf('oomfinal')).toHaveLength(1);
    expect(podsOf('oomtool')).toHaveLength(1);
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('a failed pod is kept for inspection, then deleted by the durable reaper', async () => {
    h = await harness(() => ({ result: 'failure' }));
    // The keep time must outlast the parent's own wind-down (1 s decision timeout, the sweep, the result) on a loaded machine.
    const handle = await h.start(tasksMarkdown(1), { keepFailedPodsSeconds: 10, decisionTimeoutSeconds: 1 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('failed');
    const pod = summary.tasks[0]!.podName!;
    // The run is over, the failed pod is still there to inspect…
    expect(h.k8s.pods.has(pod)).toBe(true);
    // …until its keep time has passed.
    await eventually(() => !h.k8s.pods.has(pod), 'kept pod reaped', 60_000);
    // The delete activity removes the pod a moment before the reaper workflow records its completion.
    const reaper = h.env.client.workflow.getHandle(`${summary.tasks[0]!.childWorkflowId}/reap/${pod}`);
    await reaper.result();
    expect((await reaper.describe()).status.name).toBe('COMPLETED');
  });

  test('credential-shaped agent output never reaches the follow activity heartbeat (Temporal UI, watch, a timed-out attempt in history)', async () => {
    const token = 'ghp_' + 'Z9y8X7w6V5u4T3s2R1q0P9o8N7m6';
    // The agent prints its (failed) result line, then lingers: the line is part of the heartbeat until the pod ends.
    const resultLine = formatResultLine({ v: 1, status: 'git_failed', taskId: 'T001', branch: 'b', commits: 0, reason: `push to https://bob:${token}@github.com failed` });
    h = await harness(() => ({ hang: true, lines: [`fatal: unable to access 'https://bob:${token}@github.com/acme/app.git/'`, resultLine, `Authorization: Bearer ${token}`] }));
    const handle = await h.start(tasksMarkdown(1), { heartbeatTimeoutSeconds: 2 });
    const childId = await eventually(async () => (await h.state(handle)).tasks[0]!.childWorkflowId, 'child started');
    // What `sdlc-runner watch` and Temporal UI read: the pending follow activity's last heartbeat.
    const details = await eventually(async () => {
      const desc = await h.env.client.workflow.getHandle(childId).describe();
      const text = (desc.raw.pendingActivities ?? []).map((a) => (a.heartbeatDetails?.payloads ?? []).map((p) => Buffer.from(p.data ?? []).toString('utf8')).join('\n')).join('\n');
      return text.includes('Authorization') && text;
    }, 'a heartbeat carrying the agent lines');
    expect(details).toContain('https://[REDACTED]@github.com');
    expect(details).toContain('push to https://[REDACTED]@github.com failed');
    expect(details).not.toContain(token);
    await handle.cancel();
    await h.result(handle).catch(() => undefined);
  });

  test('credential-shaped text in agent output never reaches workflow history', async () => {
    const token = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4';
    h = await harness(() => ({ result: 'none', exitCode: 20, lines: [`fatal: unable to access 'https://bob:${token}@github.com/acme/app.git/'`, `Authorization: Bearer ${token}`] }));
    const handle = await h.start(tasksMarkdown(1), { decisionTimeoutSeconds: 1 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('failed');
    expect(summary.tasks[0]!.lastLines).toEqual(["fatal: unable to access 'https://[REDACTED]@github.com/acme/app.git/'", 'Authorization: Bearer [REDACTED]']);
    // Payloads are base64 in the history: decode every one and search the text.
    const decoded = async (hnd: { fetchHistory(): Promise<unknown> }) =>
      [...JSON.stringify(await hnd.fetchHistory()).matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8')).join('\n');
    const child = await decoded(h.env.client.workflow.getHandle(summary.tasks[0]!.childWorkflowId!));
    expect(child).toContain('https://[REDACTED]@github.com');
    expect(child).not.toContain(token);
    expect(await decoded(handle)).not.toContain(token);
  });
});
