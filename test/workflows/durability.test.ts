import { harness, tasksMarkdown, type Harness } from './harness';
import { startWorker, eventually } from '../support/temporal';
import { runCli } from '../integration/support/cli';

describe('implementFeature durability', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  test('a worker shut down mid-follow and a new one started: the task completes with no second pod and no lost result', async () => {
    // ~10 s of output: the graceful stop alone takes the 2 s shutdown grace time, so the agent must outlast it by far.
    const lines = Array.from({ length: 100 }, (_, i) => `progress line ${i + 1}`);
    h = await harness(() => ({ lines, lineIntervalMs: 100 }));
    const handle = await h.start(tasksMarkdown(1));
    await eventually(() => [...h.k8s.pods.values()].some((p) => p.logs.length >= 5), 'agent mid-run');
    await h.worker.stop();
    const seenWhenDown = [...h.k8s.pods.values()][0]!.logs.length;
    expect(seenWhenDown).toBeLessThan(lines.length);
    // A new worker on the same task queue (the cluster — here the in-memory gateway — outlives the worker).
    h.worker = await startWorker({ kubernetes: h.k8s, git: h.git }, { taskQueue: h.worker.taskQueue });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('succeeded');
    expect(summary.tasks[0]!.commit).toMatch(/^[0-9a-f]{40}$/);
    // Every line the agent printed (100 progress lines + the result line) was followed exactly once across the restart.
    expect(summary.tasks[0]!.logLines).toBe(lines.length + 1);
    expect(h.k8s.created).toHaveLength(1);
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('an agent quiet for longer than the heartbeat timeout is followed by one activity attempt (no heartbeat-timeout retries)', async () => {
    // Agents think for minutes without printing: liveness must come from the follower, not from the agent's output.
    h = await harness(() => ({ lines: ['cloning repository', 'thinking…'], lineIntervalMs: 4000 }));
    const handle = await h.start(tasksMarkdown(1), { heartbeatTimeoutSeconds: 2 });
    const summary = await h.result(handle);
    expect(summary.tasks[0]!.status).toBe('succeeded');
    const history = await h.env.client.workflow.getHandle(summary.tasks[0]!.childWorkflowId!).fetchHistory();
    const events = history.events ?? [];
    const started = events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!);
    // followAgentPod on its first attempt; createAgentPod, verifyBranch and deleteAgentPod run as local
    // activities (one marker each, recorded once they succeeded).
    expect(started.map((a) => a.attempt)).toEqual([1]);
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(3);
    // What a task costs Temporal (issue 14): under 20 events, one workflow task after the follow ends.
    expect(events.length).toBeLessThanOrEqual(20);
    expect(events.filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(2);
    expect(h.k8s.created).toHaveLength(1);
  });

  test('continue-as-new between waves keeps every task state', async () => {
    h = await harness(() => ({ runMs: 100 }));
    const handle = await h.start(tasksMarkdown(6), { maxParallel: 2, maxHistoryEvents: 40 });
    const summary = await h.result(handle);
    expect(summary.counts.succeeded).toBe(6);
    expect(summary.tasks.every((t) => t.attempt === 1 && t.commit)).toBe(true);
    // Every per-task field made it across the generations, not just status and commit.
    for (const t of summary.tasks) {
      expect(t.commit).toBe(await h.git.branchHead('https://git.example.test/acme/app.git', t.branch));
      expect(t.tokens?.input).toBe(1000);
      expect(t.cost).toBe(0.01);
      expect(t.logLines).toBeGreaterThan(0);
      expect(t.podName).toBe(h.k8s.created.find((n) => n.includes(`-${t.id.toLowerCase()}-`)));
      expect(t.childWorkflowId).toBe(`${handle.workflowId}/${t.id}/1`);
      expect(Date.parse(t.endedAt!)).toBeGreaterThanOrEqual(Date.parse(t.startedAt!));
    }
    expect((await h.state(handle)).generation).toBeGreaterThan(0);
    const desc = await handle.describe();
    // The handle follows the chain: the final run is not the first one.
    const first = await h.env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    expect(desc.runId).not.toBe(handle.firstExecutionRunId);
    expect(h.k8s.created).toHaveLength(6);
    // `sdlc-runner runs` lists the run once, not once per generation (visibility lags a moment).
    const rows = await eventually(async () => {
      const r = await runCli(['runs', '--json', '--limit', '500']);
      const mine = (JSON.parse(r.stdout) as { id: string; status: string }[]).filter((x) => x.id === handle.workflowId);
      return mine.length > 0 && mine.every((x) => x.status === 'COMPLETED') && mine;
    }, 'the run listed as completed');
    expect(rows).toHaveLength(1);
  });
});
