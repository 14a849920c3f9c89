/**
 * Stacking, out-of-date dependants, file overlap and integration end to end with REAL git: a real
 * Temporal server and Worker whose git gateway is createCliGitGateway (token file) against the
 * authenticated test git server, and in-memory pods whose agents really clone, commit and push.
 * What is asserted is what a user sees: getRunState, and what the git server holds.
 * (The same rules with an in-memory git model: test/workflows/stacking.test.ts.)
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { retryTasksUpdate } from '../../workflows/definitions';
import type { RunState } from '../../workflows/types';
import { startGitServer, type GitServer } from '../support/git-server';
import { eventually } from '../support/temporal';
import { git, gitEnv, gitHarness, type AgentWork, type GitHarness } from './git-harness';
import { runCli } from '../integration/support/cli';
import { endTest } from './harness';

const TOKEN = `tok_${randomBytes(12).toString('hex')}`;
const TASK = 'sdlc-runner.dev/task';
let server: GitServer;
let dir: string;
let tokenFile: string;
let h: GitHarness | undefined;
let open: WorkflowHandle | undefined;

beforeAll(async () => {
  server = await startGitServer({ token: TOKEN });
  dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-stacking-git-'));
  tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  open = await endTest(h, open);
  h = undefined;
});

function md(lines: string[]): string {
  return ['# Tasks: Stacking with git', '', '## Phase 1: Work', '', ...lines, ''].join('\n');
}

/** A fresh repository (main holds a README) and a unique feature name. */
function fresh(name: string): { repo: string; url: string; feature: string } {
  const suffix = randomUUID().slice(0, 8);
  const repo = `${name}-${suffix}`;
  server.createRepo(repo, { 'README.md': '# Calculator\n' });
  return { repo, url: server.url(repo), feature: `${name}-${suffix}` };
}

function task(state: RunState, id: string) {
  return state.tasks.find((t) => t.id === id)!;
}

async function settled(handle: WorkflowHandle): Promise<RunState> {
  return eventually(async () => {
    const s = await h!.state(handle);
    return s.status !== 'running' && s;
  }, 'the run settles');
}

function isAncestor(repo: string, commit: string, of: string): boolean {
  try {
    server.git(repo, 'merge-base', '--is-ancestor', commit, of);
    return true;
  } catch {
    return false;
  }
}

function files(repo: string, ref: string): string[] {
  return server.git(repo, 'ls-tree', '-r', '--name-only', ref).split('\n').filter(Boolean);
}

function firstParentSubjects(repo: string, range: string): string[] {
  return server.git(repo, 'log', '--first-parent', '--reverse', '--format=%s', range).split('\n').filter(Boolean);
}

function podsOf(taskId: string, feature: string) {
  return h!.k8s.createdRequests.filter((r) => r.labels[TASK] === taskId && r.env.SDLC_TASK_BRANCH?.startsWith(`specs/${feature}/`));
}

describe('stacking with real git', () => {
  test("a dependant's agent starts from its dependencies' work; the feature is integrated task by task", async () => {
    const { repo, url, feature } = fresh('calc');
    const FILE: Record<string, string> = { T001: 'src/add.js', T002: 'src/sub.js', T003: 'src/mul.js', T004: 'src/index.js', T005: 'docs/ops.md' };
    h = await gitHarness(tokenFile, ({ taskId }) => ({ [FILE[taskId]!]: `// written by ${taskId}\n` }));
    const markdown = md([
      '- [ ] T001 [P] [ASYNC] Create the add operation in `src/add.js`',
      '- [ ] T002 [P] [ASYNC] Create the subtract operation in `src/sub.js`',
      '- [ ] T003 [P] [ASYNC] Create the multiply operation in `src/mul.js`',
      '- [ ] T004 [ASYNC] Export all operations from `src/index.js` (depends on T001-T003)',
      '- [ ] T005 [ASYNC] Document the operations in `docs/ops.md` (depends on T004)',
    ]);
    const handle = await h.start(url, markdown, {}, feature);
    open = handle;
    expect((await h.result(handle)).status).toBe('succeeded');
    open = undefined;
    const state = await h.state(handle);

    // What each agent found in its clone before it wrote anything.
    expect(h.run('T001')!.saw).toEqual(['README.md']);
    expect(h.run('T004')!.saw).toEqual(['README.md', 'src/add.js', 'src/mul.js', 'src/sub.js']);
    expect(h.run('T005')!.saw).toEqual(['README.md', 'src/add.js', 'src/index.js', 'src/mul.js', 'src/sub.js']);
    expect(task(state, 'T004').dependsOn).toEqual(['T001', 'T002', 'T003']);
    expect(task(state, 'T004').stackedOn).toEqual(['T001', 'T002', 'T003'].map((id) => ({ taskId: id, commit: task(state, id).commit })));
    // Every verified commit is the agent's own push, and its branch's head.
    for (const t of state.tasks) {
      expect(t.commit).toBe(h.run(t.id)!.sha);
      expect(server.branchHead(repo, t.branch)).toBe(t.commit);
      expect(server.git(repo, 'log', '-1', '--format=%(trailers:key=Sdlc-Task-Id,valueonly)', t.commit!)).toBe(t.id);
    }

    const branch = `specs/${feature}/integration`;
    expect(state.integration).toMatchObject({ branch, status: 'integrated', head: server.branchHead(repo, branch), skipped: [] });
    expect(state.integration!.included!.map((i) => i.taskId)).toEqual(['T001', 'T002', 'T003', 'T004', 'T005']);
    expect(files(repo, branch)).toEqual(['README.md', 'docs/ops.md', 'src/add.js', 'src/index.js', 'src/mul.js', 'src/sub.js']);
    for (const [id, file] of Object.entries(FILE)) expect(server.readFile(repo, branch, file)).toBe(`// written by ${id}\n`);
    expect(firstParentSubjects(repo, `main..${branch}`)).toEqual([
      'Integrate T001: Create the add operation in `src/add.js`',
      'Integrate T002: Create the subtract operation in `src/sub.js`',
      'Integrate T003: Create the multiply operation in `src/mul.js`',
      'Integrate T004: Export all operations from `src/index.js` (depends on T001-T003)',
      'Integrate T005: Document the operations in `docs/ops.md` (depends on T004)',
    ]);
    // Only ever with the token from the file: the server saw no credentials in any URL.
    expect(server.requests.some((r) => r.url.includes(TOKEN))).toBe(false);
  });

  test('conflicting dependencies block the dependant (no pod, no branch); resolved on its branch as the reason says, a retry succeeds on the resolution', async () => {
    const { repo, url, feature } = fresh('greet');
    const GREETING: Record<string, string> = { T001: 'hello\n', T002: 'bonjour\n' };
    h = await gitHarness(tokenFile, ({ taskId }): Record<string, string> => (taskId === 'T003' ? { 'src/print.js': 'print(greeting)\n' } : { 'src/greeting.js': GREETING[taskId]! }));
    // No file named: nothing orders T001 and T002, both write src/greeting.js.
    const markdown = md(['- [ ] T001 [P] [ASYNC] Greet in English', '- [ ] T002 [P] [ASYNC] Greet in French', '- [ ] T003 [ASYNC] Print the greetings (depends on T001, T002)']);
    const handle = await h.start(url, markdown, { decisionTimeoutSeconds: 600 }, feature);
    open = handle;
    const state = await settled(handle);
    expect(state.status).toBe('awaiting_decision');
    const t3 = task(state, 'T003');
    expect(t3.status).toBe('blocked');
    expect(t3.reason).toMatch(new RegExp(`^T001 and T002 both change src/greeting\\.js; merging T002 into T003's branch conflicts; no agent was started\\. Fix: merge T001, T002 into specs/${feature}/T003-async, resolve the conflict and push, then retry T003`));
    expect(t3.conflict).toEqual([{ path: 'src/greeting.js', tasks: ['T001', 'T002'] }]);
    expect(podsOf('T003', feature)).toEqual([]);
    expect(h.run('T003')).toBeUndefined();
    expect(server.branchHead(repo, t3.branch)).toBeUndefined();
    expect(state.integration).toBeUndefined();

    // The user does what the reason says, with real git in a clone of their own.
    const work = await mkdtemp(path.join(os.tmpdir(), 'sdlc-test-user-'));
    const env = gitEnv(url, tokenFile, 'A Developer');
    let resolution: string;
    try {
      await git(work, env, ['clone', '-q', '--', url, '.']);
      await git(work, env, ['fetch', '-q', 'origin']);
      await git(work, env, ['checkout', '-q', '-b', t3.branch, task(state, 'T001').commit!]);
      expect((await git(work, env, ['merge', '--no-edit', `origin/${task(state, 'T002').branch}`], [1])).code).toBe(1);
      await writeFile(path.join(work, 'src/greeting.js'), 'hello\nbonjour\n');
      await git(work, env, ['add', 'src/greeting.js']);
      await git(work, env, ['commit', '-q', '--no-edit']);
      await git(work, env, ['push', '-q', 'origin', `HEAD:refs/heads/${t3.branch}`]);
      resolution = (await git(work, env, ['rev-parse', 'HEAD'])).out;
    } finally {
      await rm(work, { recursive: true, force: true });
    }

    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T003'] }] })).toEqual(['T003']);
    const summary = await h.result(handle);
    open = undefined;
    expect(summary.status).toBe('succeeded');
    const done = await h.state(handle);
    const t3done = task(done, 'T003');
    expect(t3done).toMatchObject({ status: 'succeeded', attempt: 2 });
    // The agent started from the user's resolution (nothing left to merge) and committed on top of it.
    expect(h.run('T003', 2)!.startSha).toBe(resolution);
    expect(server.git(repo, 'rev-parse', `${t3done.commit}^`)).toBe(resolution);
    expect(server.readFile(repo, t3done.commit!, 'src/greeting.js')).toBe('hello\nbonjour\n');
    expect(podsOf('T003', feature)).toHaveLength(1);
    // T003's branch holds T001 and T002 resolved: the feature integrates with the user's resolution (T002's
    // own merge would conflict; T003's branch brings it in resolved).
    const branch = `specs/${feature}/integration`;
    expect(done.integration).toMatchObject({ branch, status: 'integrated', skipped: [] });
    expect(server.readFile(repo, branch, 'src/greeting.js')).toBe('hello\nbonjour\n');
    expect(server.readFile(repo, branch, 'src/print.js')).toBe('print(greeting)\n');
  });

  test("a dependency re-run after its dependant succeeded: the dependant is out of date, and its retry merges the new work on top of its own", async () => {
    const { repo, url, feature } = fresh('outdated');
    const FILE: Record<string, string> = { T001: 'src/model.js', T002: 'src/service.js', T003: 'CHANGELOG.md' };
    const work: AgentWork = ({ taskId, attempt }) => (taskId === 'T003' && attempt === 1 ? { failure: 'the agent gave up' } : { [FILE[taskId]!]: `// ${taskId} attempt ${attempt}\n` });
    h = await gitHarness(tokenFile, work);
    const markdown = md(['- [ ] T001 [ASYNC] Create the model in `src/model.js`', '- [ ] T002 [ASYNC] Build the service in `src/service.js` (depends on T001)', '- [ ] T003 [ASYNC] Write the changelog in `CHANGELOG.md`']);
    const handle = await h.start(url, markdown, { decisionTimeoutSeconds: 600 }, feature);
    open = handle;
    let state = await settled(handle);
    expect(state.status).toBe('awaiting_decision');
    expect(task(state, 'T003')).toMatchObject({ status: 'failed', reason: 'the agent gave up' });
    const firstT1 = task(state, 'T001').commit!;
    const firstT2 = task(state, 'T002').commit!;
    expect(task(state, 'T002').stackedOn).toEqual([{ taskId: 'T001', commit: firstT1 }]);
    expect(h.run('T002')!.startSha).toBe(firstT1);

    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{ taskIds: ['T001'] }] })).toEqual(['T001']);
    state = await eventually(async () => {
      const s = await h!.state(handle);
      return task(s, 'T001').attempt === 2 && s.status === 'awaiting_decision' && s;
    }, 'T001 re-run and the run waiting again');
    const secondT1 = task(state, 'T001').commit!;
    expect(secondT1).not.toBe(firstT1);
    expect(server.branchHead(repo, task(state, 'T001').branch)).toBe(secondT1);
    expect(server.git(repo, 'rev-parse', `${secondT1}^`)).toBe(firstT1); // attempt 2 resumed its branch
    expect(task(state, 'T002')).toMatchObject({ status: 'succeeded', attempt: 1, commit: firstT2 });
    expect(task(state, 'T002').outdated).toBe(`T001 was re-run (now ${secondT1.slice(0, 12)}); this branch holds its earlier work (${firstT1.slice(0, 12)}): retry T002`);
    expect(state.integration).toBeUndefined();

    expect(await handle.executeUpdate(retryTasksUpdate, { args: [{}] })).toEqual(['T002', 'T003']);
    expect((await h.result(handle)).status).toBe('succeeded');
    open = undefined;
    state = await h.state(handle);
    const t2 = task(state, 'T002');
    expect(t2).toMatchObject({ status: 'succeeded', attempt: 2, stackedOn: [{ taskId: 'T001', commit: secondT1 }] });
    expect(t2.outdated).toBeUndefined();
    // T001's new work merged on top of T002's own earlier work, before T002's agent started.
    const start = h.run('T002', 2)!.startSha;
    expect(server.git(repo, 'log', '-1', '--format=%s', start)).toMatch(/^Stack T001 into T002: /);
    expect(isAncestor(repo, secondT1, t2.commit!)).toBe(true);
    expect(isAncestor(repo, firstT2, t2.commit!)).toBe(true);
    expect(server.readFile(repo, t2.commit!, 'src/model.js')).toBe('// T001 attempt 2\n');
    expect(server.readFile(repo, t2.commit!, 'src/service.js')).toBe('// T002 attempt 2\n');
    expect(state.integration).toMatchObject({ status: 'integrated', skipped: [] });
    expect(server.readFile(repo, `specs/${feature}/integration`, 'src/model.js')).toBe('// T001 attempt 2\n');
  });

  test('two [P] tasks naming the same file run one after the other, the second on the first; with fileOverlap ignore both run at once', async () => {
    const { repo, url, feature } = fresh('overlap');
    const together = `${feature}-ignored`;
    h = await gitHarness(tokenFile, async ({ taskId, read }) => {
      // In the ignore run, each agent waits until both pods exist (bounded): they must be alive together.
      if (h!.k8s.createdRequests.some((r) => r.env.SDLC_TASK_BRANCH?.startsWith(`specs/${together}/`))) {
        await eventually(() => podsOf('T001', together).length + podsOf('T002', together).length >= 2, 'both pods', 10_000).catch(() => undefined);
      }
      return { 'src/models/user.ts': `${(await read('src/models/user.ts')) ?? ''}// ${taskId}\n` };
    });
    const markdown = md(['- [ ] T001 [P] [ASYNC] Create the user model in `src/models/user.ts`', '- [ ] T002 [P] [ASYNC] Add validation to `./src/models/user.ts`']);
    const handle = await h.start(url, markdown, {}, feature);
    open = handle;
    expect((await h.result(handle)).status).toBe('succeeded');
    open = undefined;
    const state = await h.state(handle);
    expect(task(state, 'T002').dependsOn).toEqual(['T001']);
    // The second pod was created only once the first had succeeded.
    const [p1] = podsOf('T001', feature).map((r) => r.name);
    const [p2] = podsOf('T002', feature).map((r) => r.name);
    const at = (event: string, pod: string | undefined) => h!.k8s.records.findIndex((r) => r.event === event && r.pod === pod);
    expect(at('exited', p1)).toBeGreaterThanOrEqual(0);
    expect(at('created', p2)).toBeGreaterThan(at('exited', p1));
    expect(h.k8s.maxAlive).toBe(1);
    expect(h.run('T002')!.saw).toContain('src/models/user.ts');
    expect(server.readFile(repo, task(state, 'T002').commit!, 'src/models/user.ts')).toBe('// T001\n// T002\n');
    expect(state.integration).toMatchObject({ status: 'integrated' });
    expect(server.readFile(repo, `specs/${feature}/integration`, 'src/models/user.ts')).toBe('// T001\n// T002\n');

    await h.k8s.waitAllGone();
    h.k8s.maxAlive = 0;
    const both = await h.start(url, markdown, { fileOverlap: 'ignore' }, together);
    open = both;
    expect((await h.result(both)).status).toBe('succeeded');
    open = undefined;
    expect(h.k8s.maxAlive).toBe(2);
    const ignored = await h.state(both);
    expect(task(ignored, 'T002').dependsOn).toEqual([]);
    expect(h.runs.filter((r) => r.branch.startsWith(`specs/${together}/`)).map((r) => r.saw)).toEqual([['README.md'], ['README.md']]);
    // Unordered, they wrote the file twice: integration stops at the second.
    expect(ignored.integration).toMatchObject({ status: 'conflict', conflict: { taskId: 'T002', files: [{ path: 'src/models/user.ts', tasks: ['T001', 'T002'] }] } });
  });

  test("an integration conflict does not fail the run: the state names the task and the file, the branch holds the first task only; after the user's fix 'sdlc-runner integrate' pushes the whole feature", async () => {
    const { repo, url, feature } = fresh('integrate');
    const PORT: Record<string, string> = { T001: '8080\n', T002: '9090\n' };
    h = await gitHarness(tokenFile, ({ taskId }) => ({ 'config/port.txt': PORT[taskId]! }));
    const markdown = md(['- [ ] T001 [P] [ASYNC] Configure the production port', '- [ ] T002 [P] [ASYNC] Configure the staging port']);
    const handle = await h.start(url, markdown, {}, feature);
    open = handle;
    const summary = await h.result(handle);
    open = undefined;
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.succeeded).toBe(2);
    const state = await h.state(handle);
    const branch = `specs/${feature}/integration`;
    expect(state.integration).toMatchObject({
      branch,
      status: 'conflict',
      head: server.branchHead(repo, branch),
      included: [{ taskId: 'T001', commit: task(state, 'T001').commit }],
      conflict: { taskId: 'T002', files: [{ path: 'config/port.txt', tasks: ['T001', 'T002'] }] },
      skipped: [],
    });
    expect(state.integration!.conflict!.message).toBe(`T001 and T002 both change config/port.txt; integrating T002 into ${branch} conflicts`);
    expect(server.readFile(repo, branch, 'config/port.txt')).toBe('8080\n');
    expect(firstParentSubjects(repo, `main..${branch}`)).toEqual(['Integrate T001: Configure the production port']);
    expect(isAncestor(repo, task(state, 'T002').commit!, branch)).toBe(false);

    // What the user reads (the built CLI): the conflict, what is integrated, and the fix to follow.
    const cliEnv = { TEMPORAL_TASK_QUEUE: h.worker.taskQueue, SDLC_TEMPORAL_UI_URL: 'http://ui.test' };
    const status = await runCli(['status', handle.workflowId], { env: cliEnv });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`integration stopped before T002: T001 and T002 both change config/port.txt; integrating T002 into ${branch} conflicts; ${branch} @ ${state.integration!.head!.slice(0, 7)} holds T001`);
    expect(status.stdout).toContain(`fix: merge ${branch} into ${task(state, 'T002').branch}, resolve and push, then: sdlc-runner integrate ${handle.workflowId}`);

    // The user follows it with real git, then integrates again.
    const work = await mkdtemp(path.join(os.tmpdir(), 'sdlc-test-user-'));
    const env = gitEnv(url, tokenFile, 'A Developer');
    try {
      await git(work, env, ['clone', '-q', '--branch', task(state, 'T002').branch, '--', url, '.']);
      await git(work, env, ['fetch', '-q', 'origin', branch]);
      expect((await git(work, env, ['merge', '--no-edit', 'FETCH_HEAD'], [1])).code).toBe(1);
      await writeFile(path.join(work, 'config/port.txt'), '8080\n9090\n');
      await git(work, env, ['commit', '-q', '-a', '--no-edit']);
      await git(work, env, ['push', '-q', 'origin', `HEAD:refs/heads/${task(state, 'T002').branch}`]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const again = await runCli(['integrate', handle.workflowId], { env: cliEnv });
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
    const head = server.branchHead(repo, branch)!;
    expect(again.stdout).toContain(`ready to merge: ${branch} @ ${head.slice(0, 7)} (T001, T002)`);
    expect(again.stdout).toContain(`build on it locally: git fetch origin ${branch} && git merge --no-edit FETCH_HEAD`);
    expect(server.readFile(repo, branch, 'config/port.txt')).toBe('8080\n9090\n');
    // status shows the newer integration, not the run's own conflict.
    const after = await runCli(['status', handle.workflowId], { env: cliEnv });
    expect(after.stdout).toContain(`ready to merge: ${branch} @ ${head.slice(0, 7)} (T001, T002)`);
    expect(after.stdout).not.toContain('integration stopped before');
  });
});
