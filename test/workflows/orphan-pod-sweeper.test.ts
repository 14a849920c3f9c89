import { harness, tasksMarkdown, type Harness } from './harness';
import { eventually } from '../support/temporal';
import { sweepOrphanPods, temporalExecutionIsOpen } from '../../worker/orphan-pod-sweeper';

/**
 * A workflow that never runs its cleanup (terminated by an operator) leaves its pods behind; the
 * worker's orphan sweeper removes them — and nothing that a running task or a reaper still owns.
 */
describe('orphan pod sweeper', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  const sweep = () => sweepOrphanPods({ kubernetes: h.k8s, isOpen: temporalExecutionIsOpen(h.env.client), log: () => undefined });

  test('a terminated task workflow leaves its pod behind: the sweeper deletes it, and nothing a running task owns', async () => {
    h = await harness(() => ({ hang: true }));
    const run = await h.start(tasksMarkdown(2), { maxParallel: 2 });
    const other = await h.start(tasksMarkdown(1));
    await eventually(() => h.k8s.alive === 3, 'three pods running');
    expect(await sweep()).toEqual([]);

    // An operator terminates one task in Temporal UI: no workflow code runs, so no cleanup either.
    const t1 = await eventually(async () => (await h.state(run)).tasks.find((t) => t.id === 'T001' && t.podName && t.childWorkflowId), 'T001 pod');
    await h.env.client.workflow.getHandle(t1.childWorkflowId!).terminate('operator stopped it');
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.k8s.pods.get(t1.podName!)?.status.deleting).toBe(false);

    expect(await sweep()).toEqual([t1.podName]);
    await eventually(() => !h.k8s.pods.has(t1.podName!), 'orphan deleted');
    // Every other pod is still running: the run's T002 and the other run's T001.
    expect(h.k8s.alive).toBe(2);
    expect((await h.state(other)).tasks[0]!.status).toBe('running');

    // Terminating a whole run is different: its children are asked to cancel and delete their own pods.
    await run.terminate('operator stopped the run');
    await eventually(() => h.k8s.alive === 1, "the terminated run's other pod deleted by its own task");
    await other.cancel();
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('a failed pod kept for inspection (its reaper is running) is not an orphan', async () => {
    h = await harness(() => ({ result: 'failure' }));
    const handle = await h.start(tasksMarkdown(1), { keepFailedPodsSeconds: 600, decisionTimeoutSeconds: 1 });
    const summary = await h.result(handle);
    const pod = summary.tasks[0]!.podName!;
    expect(h.k8s.pods.has(pod)).toBe(true);
    expect(await sweep()).toEqual([]);
    expect(h.k8s.pods.has(pod)).toBe(true);
    // Once its reaper is gone (here: terminated) the pod is an orphan like any other.
    await h.env.client.workflow.getHandle(`${summary.tasks[0]!.childWorkflowId}/reap/${pod}`).terminate('test');
    expect(await sweep()).toEqual([pod]);
  });
});
