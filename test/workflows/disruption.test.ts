/**
 * Disruptions are infrastructure, not the agent's fault (real Temporal server and Worker, the in-memory
 * cluster): a pod deleted by someone else or taken away through the Eviction API gets a new pod for the
 * same attempt; an API outage is waited out inside the follow activity (no attempt cap below the task
 * deadline); a failing delete never changes a task's outcome; a follow refused for good deletes its pod.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { endTest, harness, tasksMarkdown, type Harness } from './harness';
import { eventually } from '../support/temporal';

describe('disruptions', () => {
  let h: Harness;
  let open: WorkflowHandle | undefined;
  afterEach(async () => {
    open = await endTest(h, open);
  });

  test('a running pod deleted by someone else: a new pod for the same attempt, the task succeeds, its dependant is not blocked', async () => {
    h = await harness((req) => (req.name.includes('-t001-a1-') && !req.name.includes('a1r') ? { runMs: 5000, deletedBySomeoneElseAfterMs: 100 } : {}));
    const handle = await h.start(tasksMarkdown(2, { T002: 'depends on T001' }));
    const summary = await h.result(handle);
    expect(summary.status).toBe('succeeded');
    const t1 = summary.tasks.find((t) => t.id === 'T001')!;
    expect(t1).toMatchObject({ status: 'succeeded', attempt: 1, infraRetries: 1 });
    expect(t1.reason).toBeUndefined();
    expect(h.k8s.created.filter((n) => n.includes('-t001-'))).toHaveLength(2);
    expect(summary.tasks.find((t) => t.id === 'T002')!.status).toBe('succeeded');
  });

  test('a pod taken away through the Eviction API (DisruptionTarget): a new pod, and the run names why while it runs', async () => {
    h = await harness((req) => (req.name.includes('a1r') ? { runMs: 3000 } : { runMs: 5000, evictedThroughApiAfterMs: 100 }));
    const handle = await h.start(tasksMarkdown(1));
    const running = await eventually(async () => {
      const t = (await h.state(handle)).tasks[0]!;
      return t.infraRetries === 1 && t;
    }, 'the replacement pod');
    expect(running.reason).toBe('infrastructure retry 1 after: the pod was taken away by Kubernetes (EvictionByEvictionAPI: Eviction API: evicting)');
    expect((await h.result(handle)).status).toBe('succeeded');
    expect(h.k8s.created).toHaveLength(2);
  });

  test('with no infrastructure retry left, a deleted pod fails the task as infrastructure, naming what happened', async () => {
    h = await harness(() => ({ runMs: 5000, deletedBySomeoneElseAfterMs: 100 }));
    const handle = await h.start(tasksMarkdown(1), { retry: { infraRetries: 0, agentRetries: 0 } });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.reason).toMatch(/^the pod was deleted by someone else before it finished( \(exit 143\))? \(infrastructure retries exhausted\)$/);
  });

  test('an API outage longer than a retry would bear is waited out inside one follow attempt: the task succeeds, one pod', async () => {
    h = await harness(() => ({ runMs: 1500 }));
    const handle = await h.start(tasksMarkdown(1));
    await eventually(() => h.k8s.created.length === 1 && [...h.k8s.pods.values()][0]?.status.phase === 'Running', 'the pod running');
    h.k8s.apiDownUntil = Date.now() + 8000;
    const summary = await h.result(handle);
    expect(summary.status).toBe('succeeded');
    expect(h.k8s.created).toHaveLength(1);
    // One attempt of the follow activity: it waited (heartbeating) rather than failing against an attempt cap.
    const child = h.env.client.workflow.getHandle(summary.tasks[0]!.childWorkflowId!);
    const attempts: number[] = [];
    for (const e of (await child.fetchHistory()).events ?? []) {
      if (e.activityTaskStartedEventAttributes) attempts.push(e.activityTaskStartedEventAttributes.attempt ?? 0);
    }
    expect(Math.max(...attempts)).toBe(1);
  });

  test("a pod delete failing 9 times in a row: the task stays succeeded with its commit, and the reaper deletes the pod later", async () => {
    h = await harness();
    h.k8s.failingDeletes = 9;
    const handle = await h.start(tasksMarkdown(1));
    const summary = await h.result(handle);
    expect(summary.status).toBe('succeeded');
    const t = summary.tasks[0]!;
    expect(t).toMatchObject({ status: 'succeeded', commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
    // The task's own delete gave up after its quick tries and handed the pod to the durable reaper.
    const reaper = h.env.client.workflow.getHandle(`${t.childWorkflowId}/reap/${t.podName}`);
    expect((await reaper.describe()).type).toBe('reapPod');
    await eventually(() => h.k8s.pods.size === 0, 'the pod deleted', 60_000);
    expect(h.k8s.failingDeletes).toBe(0);
  }, 90_000);

  test('403 on pods/log while the pod runs: the task fails with the reason and its pod is deleted, not kept', async () => {
    h = await harness(() => ({ runMs: 30_000 }));
    h.k8s.logsForbidden = () => true;
    const handle = await h.start(tasksMarkdown(1), { keepFailedPodsSeconds: 3600 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]).toMatchObject({ status: 'failed' });
    expect(summary.tasks[0]!.reason).toMatch(/forbidden: User cannot get resource "pods\/log"/);
    await eventually(() => h.k8s.pods.size === 0, 'the running pod deleted');
    expect(h.k8s.records.filter((r) => r.event === 'deleted').map((r) => r.pod)).toEqual(h.k8s.created);
  });
});
