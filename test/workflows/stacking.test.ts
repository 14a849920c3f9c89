/**
 * Stacking, file overlap and integration as the run decides them (real Temporal server and Worker, the
 * in-memory cluster and git model): which commits a task is built on, when it is blocked or out of
 * date, and what the integration branch is made of. The git side itself is tested with real git in
 * test/git/stack-integrate.test.ts and, end to end, in test/workflows/stacking-git.test.ts.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { retryTasksUpdate } from '../../workflows/definitions';
import type { RunState } from '../../workflows/types';
import { eventually } from '../support/temporal';
import { endTest, harness, REPO, type Harness } from './harness';

const TASK = 'sdlc-runner.dev/task';
const ATTEMPT = 'sdlc-runner.dev/attempt';

function md(lines: string[]): string {
  return ['# Tasks: Stacking', '', '## Phase 1: Work', '', ...lines, ''].join('\n');
}

const FIVE = md([
  '- [ ] T001 [P] [ASYNC] Create the add operation in `src/add.js`',
  '- [ ] T002 [P] [ASYNC] Create the subtract operation in `src/subtract.js`',
  '- [ ] T003 [P] [ASYNC] Create the multiply operation in `src/multiply.js`',
  // Written out of order on purpose: the starting point merges dependencies in tasks.md order.
  '- [ ] T004 [ASYNC] Export all operations from `src/index.js` (depends on T003, T001, T002)',
  '- [ ] T005 [ASYNC] Document the operations in `docs/ops.md` (depends on T004)',
]);

function task(state: RunState, id: string) {
  return state.tasks.find((t) => t.id === id)!;
}

async function settled(h: Harness, handle: WorkflowHandle): Promise<RunState> {
  return eventually(async () => {
    const s = await h.state(handle);
    return s.status !== 'running' && s;
  }, 'the run settles');
}

describe('stacking and integration', () => {
  let h: Harness;
  let open: WorkflowHandle | undefined;
  afterEach(async () => {
    open = await endTest(h, open);
  });

  test("a dependant starts from its dependencies' verified commits (tasks.md order), its agent is told, and the feature is integrated in dispatch order", async () => {
    h = await harness();
    const handle = await h.start(FIVE, {}, 'calc');
    const summary = await h.result(handle);
    expect(summary.status).toBe('succeeded');
    const state = await h.state(handle);
    const commit = (id: string) => task(state, id).commit!;

    // Only tasks with dependencies are stacked; one call each (no retry was needed).
    expect(h.git.prepareCalls.map((c) => [c.taskId, c.sources.map((s) => [s.taskId, s.commit])])).toEqual([
      ['T004', [['T001', commit('T001')], ['T002', commit('T002')], ['T003', commit('T003')]]],
      ['T005', [['T004', commit('T004')]]],
    ]);
    expect(h.git.prepareCalls[0]!).toMatchObject({ repoUrl: REPO.url, baseBranch: 'main', branch: 'specs/calc/T004-async' });
    // The merge date is the last dependency's end: the same inputs give the same commit on a retry.
    expect(h.git.prepareCalls[0]!.timestamp).toBe([task(state, 'T001'), task(state, 'T002'), task(state, 'T003')].map((t) => t.endedAt!).sort().pop());
    expect(task(state, 'T004').stackedOn).toEqual([
      { taskId: 'T001', commit: commit('T001') },
      { taskId: 'T002', commit: commit('T002') },
      { taskId: 'T003', commit: commit('T003') },
    ]);
    expect(task(state, 'T001').stackedOn).toBeUndefined();

    // The agent's pod is told what its branch holds.
    const pod = h.k8s.createdRequests.find((r) => r.labels[TASK] === 'T004')!;
    expect(JSON.parse(pod.env[AGENT_ENV.STACKED_ON]!)).toEqual([
      { taskId: 'T001', title: 'Create the add operation in `src/add.js`', commit: commit('T001') },
      { taskId: 'T002', title: 'Create the subtract operation in `src/subtract.js`', commit: commit('T002') },
      { taskId: 'T003', title: 'Create the multiply operation in `src/multiply.js`', commit: commit('T003') },
    ]);
    const independent = h.k8s.createdRequests.find((r) => r.labels[TASK] === 'T001')!;
    expect(independent.env[AGENT_ENV.STACKED_ON]).toBeUndefined();

    // One integration branch, every task in dispatch order with its verified commit.
    expect(h.git.integrateCalls).toHaveLength(1);
    expect(h.git.integrateCalls[0]!).toMatchObject({ branch: 'specs/calc/integration', baseBranch: 'main', runId: handle.workflowId });
    expect(h.git.integrateCalls[0]!.sources.map((s) => [s.taskId, s.commit])).toEqual(['T001', 'T002', 'T003', 'T004', 'T005'].map((id) => [id, commit(id)]));
    expect(state.integration).toMatchObject({ branch: 'specs/calc/integration', status: 'integrated', head: h.git.heads.get(`${REPO.url}#specs/calc/integration`), skipped: [] });
    expect(state.integration!.included!.map((i) => i.taskId)).toEqual(['T001', 'T002', 'T003', 'T004', 'T005']);
    const desc = await handle.describe();
    expect(desc.memo?.integration).toBe(`specs/calc/integration @ ${state.integration!.head!.slice(0, 12)} (integrated)`);
  });

  test('conflicting dependencies: the dependant is blocked with the files named and no pod; retry after resolving on its branch succeeds', async () => {
    h = await harness();
    let resolved = false;
    h.git.conflictOn = (req) => (req.taskId === 'T004' && !resolved ? [{ path: 'src/index.js', tasks: ['T001', 'T002'] }] : undefined);
    const handle = await h.start(FIVE, { decisionTimeoutSeconds: 600 }, 'calc-conflict');
    open = handle;
    const state = await settled(h, handle);
    expect(state.status).toBe('awaiting_decision');
    const t4 = task(state, 'T004');
    expect(t4.status).toBe('blocked');
    expect(t4.reason).toMatch(/^T001 and T002 both change src\/index\.js; merging T002 into T004's branch conflicts; no agent was started\. Fix: merge T001, T002, T003 into specs\/calc-conflict\/T004-async, resolve the conflict and push, then retry T004/);
    expect(t4.conflict).toEqual([{ path: 'src/index.js', tasks: ['T001', 'T002'] }]);
    expect(task(state, 'T005')).toMatchObject({ status: 'blocked', reason: 'dependency T004 blocked' });
    expect(h.k8s.created.some((n) => n.includes('-t004-'))).toBe(false);
    // No integration of a feature with a blocked task.
    expect(h.git.integrateCalls).toEqual([]);

    resolved = true; // the user merged and resolved on the branch
    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T004'] }] })).toEqual(['T004', 'T005']);
    const summary = await h.result(handle);
    open = undefined;
    expect(summary.status).toBe('succeeded');
    expect(summary.tasks.find((t) => t.id === 'T004')).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(h.git.integrateCalls).toHaveLength(1);
  });

  test('a dependency re-run after its dependant succeeded: the dependant shows out of date, the run waits, and retry re-runs it on the new commit', async () => {
    h = await harness((req) => ({ result: req.labels[TASK] === 'T003' && req.labels[ATTEMPT] === '1' ? 'failure' : 'success' }));
    const markdown = md(['- [ ] T001 [ASYNC] Create the model in `src/model.js`', '- [ ] T002 [ASYNC] Build the service on it (depends on T001)', '- [ ] T003 [ASYNC] Something independent']);
    const handle = await h.start(markdown, { decisionTimeoutSeconds: 600 }, 'outdated');
    open = handle;
    let state = await settled(h, handle);
    const firstT1 = task(state, 'T001').commit!;
    expect(task(state, 'T002').stackedOn).toEqual([{ taskId: 'T001', commit: firstT1 }]);

    // A succeeded task can be re-run when named; its dependants are not re-run silently.
    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T001'] }] })).toEqual(['T001']);
    state = await eventually(async () => {
      const s = await h.state(handle);
      return task(s, 'T001').attempt === 2 && s.status === 'awaiting_decision' && s;
    }, 'T001 re-run and the run waiting again');
    const secondT1 = task(state, 'T001').commit!;
    expect(secondT1).not.toBe(firstT1);
    expect(task(state, 'T002')).toMatchObject({ status: 'succeeded', attempt: 1 });
    expect(task(state, 'T002').outdated).toBe(`T001 was re-run (now ${secondT1.slice(0, 12)}); this branch holds its earlier work (${firstT1.slice(0, 12)}): retry T002`);

    // The default retry takes what failed and what is out of date.
    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{}] })).toEqual(['T002', 'T003']);
    const summary = await h.result(handle);
    open = undefined;
    expect(summary.status).toBe('succeeded');
    const t2 = summary.tasks.find((t) => t.id === 'T002')!;
    expect(t2).toMatchObject({ attempt: 2, stackedOn: [{ taskId: 'T001', commit: secondT1 }] });
    expect(t2.outdated).toBeUndefined();
    expect(h.git.prepareCalls.filter((c) => c.taskId === 'T002').map((c) => c.sources[0]!.commit)).toEqual([firstT1, secondT1]);
  });

  test('two [P] tasks naming the same file run one after the other, the second stacked on the first; --file-overlap ignore runs them together', async () => {
    const markdown = md(['- [ ] T001 [P] [ASYNC] Create the user model in `src/models/user.ts`', '- [ ] T002 [P] [ASYNC] Add validation to `./src/models/user.ts`']);
    h = await harness(() => ({ runMs: 300 }));
    const handle = await h.start(markdown, {}, 'overlap');
    const summary = await h.result(handle);
    expect(summary.status).toBe('succeeded');
    expect(h.k8s.maxAlive).toBe(1);
    const t2 = summary.tasks.find((t) => t.id === 'T002')!;
    expect(t2.dependsOn).toEqual(['T001']);
    expect(t2.stackedOn).toEqual([{ taskId: 'T001', commit: summary.tasks[0]!.commit }]);
    await h.close();

    h = await harness(() => ({ runMs: 1000 }));
    const together = await h.start(markdown, { fileOverlap: 'ignore' }, 'overlap-ignored');
    expect((await h.result(together)).status).toBe('succeeded');
    expect(h.k8s.maxAlive).toBe(2);
    expect(h.git.prepareCalls).toEqual([]);
  });

  test('stack none and integration none: every task starts from the base and nothing is integrated', async () => {
    h = await harness();
    const handle = await h.start(FIVE, { stack: 'none', integrationBranch: 'none' }, 'flat');
    const summary = await h.result(handle);
    expect(summary.status).toBe('succeeded');
    expect(h.git.prepareCalls).toEqual([]);
    expect(h.git.integrateCalls).toEqual([]);
    expect((await h.state(handle)).integration).toBeUndefined();
    expect(h.k8s.createdRequests).toHaveLength(5);
    for (const req of h.k8s.createdRequests) expect(req.env[AGENT_ENV.STACKED_ON]).toBeUndefined();
  });

  test('an integration conflict does not fail the run: it stops before the task, and the state names the task and files', async () => {
    h = await harness();
    h.git.integrationConflict = () => ({ taskId: 'T003', files: [{ path: 'src/shared.js', tasks: ['T002', 'T003'] }] });
    const handle = await h.start(FIVE, { integrationBranch: 'feature/{feature}' }, 'calc-int');
    const summary = await h.result(handle);
    expect(summary.status).toBe('succeeded');
    const state = await h.state(handle);
    expect(state.integration).toMatchObject({
      branch: 'feature/calc-int',
      status: 'conflict',
      conflict: { taskId: 'T003', files: [{ path: 'src/shared.js', tasks: ['T002', 'T003'] }] },
      skipped: ['T004', 'T005'],
    });
    expect(state.integration!.conflict!.message).toBe('T002 and T003 both change src/shared.js; integrating T003 into feature/calc-int conflicts');
    expect(state.integration!.included!.map((i) => i.taskId)).toEqual(['T001', 'T002']);
  });
});
