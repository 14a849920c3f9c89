import { harness, REPO, tasksMarkdown, type Harness } from './harness';
import { SA_BRANCH, SA_TASK_ID } from '../../src/temporal/search-attributes';
import { setMaxParallelUpdate } from '../../workflows/definitions';
import { eventually, updateRejection } from '../support/temporal';

describe('implementFeature fan-out', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  test('20 tasks with maxParallel 3: never more than 3 pods alive, all succeed with verified commits', async () => {
    // Pods live ~1 s, so the three of a wave overlap even when their child workflows start a few hundred ms apart.
    h = await harness(() => ({ lines: ['working'], runMs: 1000 }));
    const handle = await h.start(tasksMarkdown(20), { maxParallel: 3 });
    const summary = await h.result(handle);
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.succeeded).toBe(20);
    expect(h.k8s.maxAlive).toBeLessThanOrEqual(3);
    expect(h.k8s.maxAlive).toBe(3); // the limit was actually used
    expect(h.k8s.created).toHaveLength(20);
    for (const t of summary.tasks) {
      expect(t.commit).toBe(await h.git.branchHead('https://git.example.test/acme/app.git', t.branch));
      expect(t.branch).toMatch(/^specs\/feat-[0-9a-f]+\/T\d{3}-async$/);
      expect(t.tokens?.input).toBe(1000);
      expect(t.attempt).toBe(1);
    }
    expect(await h.k8s.waitAllGone()).toBe(true);
  });

  test('dependsOn orders the fan-out; a failed dependency blocks its dependants with the reason', async () => {
    h = await harness((req) => ({ result: req.labels['sdlc-runner.dev/task'] === 'T001' ? 'failure' : 'success' }));
    const md = tasksMarkdown(4, { T002: 'depends on T001', T003: 'depends on T002', T004: 'depends on T005' });
    const handle = await h.start(md, { maxParallel: 4, decisionTimeoutSeconds: 1 });
    const summary = await h.result(handle);
    const byId = Object.fromEntries(summary.tasks.map((t) => [t.id, t]));
    expect(byId.T001!.status).toBe('failed');
    expect(byId.T001!.reason).toContain('no change');
    expect(byId.T002!.status).toBe('blocked');
    expect(byId.T002!.reason).toBe('dependency T001 failed');
    expect(byId.T003!.status).toBe('blocked');
    expect(byId.T003!.reason).toBe('dependency T002 blocked');
    // T004 depends on a task that is not dispatched: it does not block.
    expect(byId.T004!.status).toBe('succeeded');
    expect(summary.status).toBe('failed');
    // T002/T003 never got a pod.
    expect(h.k8s.created.some((n) => n.includes('-t002-'))).toBe(false);
  });

  test('dependants start only after their dependency succeeded', async () => {
    h = await harness(() => ({ runMs: 300 }));
    const handle = await h.start(tasksMarkdown(3, { T002: 'depends on T001', T003: 'depends on T001' }), { maxParallel: 3 });
    const summary = await h.result(handle);
    expect(summary.counts.succeeded).toBe(3);
    const at = (pred: (r: { event: string; pod: string }) => boolean) => h.k8s.records.find(pred)!.at;
    const t1Exit = at((r) => r.event === 'exited' && r.pod.includes('-t001-'));
    expect(at((r) => r.event === 'created' && r.pod.includes('-t002-'))).toBeGreaterThanOrEqual(t1Exit);
    expect(at((r) => r.event === 'created' && r.pod.includes('-t003-'))).toBeGreaterThanOrEqual(t1Exit);
  });

  test('setMaxParallel while running raises the limit; invalid values are rejected with a clear message', async () => {
    h = await harness(() => ({ runMs: 1500 }));
    const handle = await h.start(tasksMarkdown(6), { maxParallel: 1 });
    await eventually(() => h.k8s.alive === 1, 'first pod');
    expect(await updateRejection(handle.executeUpdate(setMaxParallelUpdate, { args: [0] }))).toMatch(/maxParallel must be an integer from 1 to 100, got 0/);
    expect(await handle.executeUpdate(setMaxParallelUpdate, { args: [3] })).toBe(1);
    const summary = await h.result(handle);
    expect(summary.counts.succeeded).toBe(6);
    expect(h.k8s.maxAlive).toBe(3);
    expect((await h.state(handle)).options.maxParallel).toBe(3);
  });
});

describe('finding runs and tasks in Temporal (UI, temporal workflow list)', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  test('search attributes and memo: the run by repository + feature with its status; a failed task by status, ID and branch, summarised in words', async () => {
    h = await harness((req) => ({ result: req.labels['sdlc-runner.dev/task'] === 'T002' ? 'failure' : 'success' }));
    const feature = `find-${Date.now().toString(36)}`;
    const handle = await h.start(tasksMarkdown(2), { decisionTimeoutSeconds: 1 }, feature);
    const summary = await h.result(handle);
    const failed = summary.tasks.find((t) => t.id === 'T002')!;
    expect(failed.status).toBe('failed');

    const list = async (query: string) => {
      const out = [];
      for await (const wf of h.env.client.workflow.list({ query })) out.push(wf);
      return out;
    };
    // Visibility is eventually consistent: wait until the closed run's final values are indexed.
    const [run] = await eventually(async () => {
      const found = await list(`SdlcRepository="${REPO.url}" AND SdlcFeature="${feature}" AND WorkflowType="implementFeature" AND SdlcRunStatus="${summary.status}"`);
      return found.length === 1 && found[0]!.status.name !== 'RUNNING' ? found : undefined;
    }, 'the run by repository, feature and status', 30_000);
    expect(run!.workflowId).toBe(handle.workflowId);
    expect(run!.memo).toMatchObject({ feature, repository: REPO.url, tasksFile: `specs/${feature}/tasks.md` });
    expect(String(run!.memo!.summary)).toContain(feature);

    const [task] = await eventually(async () => {
      const found = await list(`SdlcFeature="${feature}" AND SdlcTaskStatus="failed"`);
      return found.length === 1 ? found : undefined;
    }, 'the failed task by status', 30_000);
    expect(task!.workflowId).toBe(failed.childWorkflowId);
    expect(task!.typedSearchAttributes.get(SA_TASK_ID)).toBe('T002');
    expect(task!.typedSearchAttributes.get(SA_BRANCH)).toBe(failed.branch);
    expect(task!.memo!.summary).toBe(`T002 — Implement part 2 in \`src/part2.ts\` (attempt 1): failed — ${failed.reason}`);
  });
});
