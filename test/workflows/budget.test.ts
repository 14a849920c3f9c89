/**
 * Budgets in the run (real Temporal server and Worker, the in-memory cluster): the task budget travels to
 * the pod's model gateway, a task it stopped ends budget_exceeded; the run's cost budget stops new tasks and
 * cancels running ones, their pods deleted.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { endTest, harness, tasksMarkdown, type Harness } from './harness';
import { eventually } from '../support/temporal';

describe('budgets', () => {
  let h: Harness;
  let open: WorkflowHandle | undefined;
  afterEach(async () => {
    open = await endTest(h, open);
  });

  test('the task budget reaches the pod; a task the gateway stopped ends budget_exceeded with its figures, its pod kept', async () => {
    h = await harness(() => ({ result: 'budget' }));
    const handle = await h.start(tasksMarkdown(1), { keepFailedPodsSeconds: 600, budget: { maxTokensPerTask: 3000, maxCostPerTask: 0.5 } });
    const summary = await h.result(handle);
    const t = summary.tasks[0]!;
    expect(t).toMatchObject({ status: 'budget_exceeded', tokens: { input: 2400, output: 680 }, cost: 0.0174 });
    expect(t.reason).toMatch(/token budget ran out: 3080 of 3000 tokens used/);
    expect(summary.counts.budget_exceeded).toBe(1);
    expect(summary.status).not.toBe('succeeded');
    const req = h.k8s.createdRequests[0]!;
    expect(JSON.parse(req.env[AGENT_ENV.GATEWAY_BUDGET]!)).toEqual({ maxTokens: 3000, maxCost: 0.5 });
    // Kept for inspection, like a failed task's pod.
    expect([...h.k8s.pods.keys()]).toContain(t.podName);
  });

  test('without budgets the pod gets no budget variable', async () => {
    h = await harness();
    const handle = await h.start(tasksMarkdown(1));
    await h.result(handle);
    expect(h.k8s.createdRequests[0]!.env[AGENT_ENV.GATEWAY_BUDGET]).toBeUndefined();
  });

  test('the run budget: once the finished tasks spent it, the running task is cancelled (its pod deleted) and the pending one never starts', async () => {
    // T001 ends at once having spent $0.6; T002 runs on; T003 waits for a slot.
    h = await harness((req) => (req.name.includes('-t001-') ? { cost: 0.6 } : { hang: true }));
    const handle = await h.start(tasksMarkdown(3), { maxParallel: 2, budget: { maxCostPerRun: 0.5 } });
    const summary = await h.result(handle);
    const by = Object.fromEntries(summary.tasks.map((t) => [t.id, t]));
    const why = "the run's cost budget of $0.5 ran out ($0.6 spent)";
    expect(by.T001).toMatchObject({ status: 'succeeded', cost: 0.6 });
    expect(by.T002).toMatchObject({ status: 'cancelled', reason: why });
    expect(by.T003).toMatchObject({ status: 'cancelled', reason: why });
    expect(h.k8s.created.filter((n) => n.includes('-t003-'))).toEqual([]);
    await eventually(() => h.k8s.pods.size === 0 || [...h.k8s.pods.keys()].every((n) => !n.includes('-t002-')), 'the cancelled task\'s pod deleted');
  });
});
