import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { createActivities } from '../../activities';
import { createCliGitGateway } from '../../src/git/cli-gateway';
import { GitRemoteError, type BranchSource, type PrepareBranchRequest } from '../../src/git/gateway';
import { startGitServer, type GitServer } from '../support/git-server';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';

/**
 * Task stacking and feature integration on the worker: real `git` merging in a scratch clone, fetching from
 * and pushing to a real token-protected git server. What the remote holds afterwards is what is asserted.
 */
const TOKEN = 'tok_' + 'Qa1Ws2Ed3Rf4Tg5Yh6Uj7Ik8';
const TIMESTAMP = '2025-01-02T03:04:05.678Z';
let server: GitServer;
let dir: string;
let goodToken: string;
let badToken: string;
/** The scratch clones are made under os.tmpdir(): a private one, so that a leftover is ours to see. */
let scratchRoot: string;
let savedTmpdir: string | undefined;
let repoSeq = 0;

beforeAll(async () => {
  server = await startGitServer({ token: TOKEN });
  dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-git-stack-'));
  goodToken = path.join(dir, 'good');
  badToken = path.join(dir, 'bad');
  writeFileSync(goodToken, TOKEN + '\n');
  writeFileSync(badToken, 'tok_wrong_' + 'Zz9Yy8Xx7\n');
  scratchRoot = path.join(dir, 'tmp');
  mkdirSync(scratchRoot);
  savedTmpdir = process.env.TMPDIR;
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  process.env.TMPDIR = scratchRoot;
});
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  // Every path, success, conflict or failure, removes its scratch clone.
  expect(readdirSync(scratchRoot).filter((entry) => entry.startsWith('sdlc-git-merge-'))).toEqual([]);
});

const BASE_FILES = { 'README.md': 'hello\n', 'src/index.js': 'console.log("base");\n' };

function newRepo(): string {
  const name = `stack${++repoSeq}`;
  server.createRepo(name, BASE_FILES);
  return name;
}

/** A finished task: its branch, made from `from` (default the base), with one commit of `files`. */
function task(repo: string, taskId: string, files: Record<string, string>, from = 'main'): Required<BranchSource> {
  const branch = `specs/001/${taskId}-async`;
  const commit = server.commitToBranch(repo, branch, files, `${taskId}: agent work`, from);
  return { taskId, title: `Work of ${taskId}`, branch, commit };
}

function prepareRequest(repo: string, taskId: string, sources: BranchSource[]): PrepareBranchRequest {
  return { repoUrl: server.url(repo), baseBranch: 'main', branch: `specs/001/${taskId}-async`, taskId, sources, timestamp: TIMESTAMP };
}

function pushes(repo: string): number {
  return server.requests.filter((r) => r.method === 'POST' && r.url === `/${repo}.git/git-receive-pack`).length;
}

function firstParentSubjects(repo: string, range: string): string[] {
  return server.git(repo, 'log', '--first-parent', '--format=%s', range).split('\n').filter(Boolean);
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

describe('prepareTaskBranch', () => {
  test('a new branch with one dependency starts at its commit: no merge commit', async () => {
    const repo = newRepo();
    const t1 = task(repo, 'T001', { 'a.txt': 'a\n' });
    const result = await createCliGitGateway({ tokenFile: goodToken }).prepareTaskBranch(prepareRequest(repo, 'T002', [t1]));
    expect(result).toEqual({ kind: 'ready', head: t1.commit, created: true, merged: ['T001'], contained: [] });
    expect(server.branchHead(repo, 'specs/001/T002-async')).toBe(t1.commit);
  });

  test('three dependencies are merged in order; the same request again gives the same sha and pushes nothing', async () => {
    const repo = newRepo();
    const sources = [task(repo, 'T001', { 'a.txt': 'a\n' }), task(repo, 'T002', { 'b.txt': 'b\n' }), task(repo, 'T003', { 'c.txt': 'c\n' })];
    const git = createCliGitGateway({ tokenFile: goodToken });
    const first = await git.prepareTaskBranch(prepareRequest(repo, 'T004', sources));
    expect(first).toMatchObject({ kind: 'ready', created: true, merged: ['T001', 'T002', 'T003'], contained: [] });
    const head = first.kind === 'ready' ? first.head : '';
    expect(server.branchHead(repo, 'specs/001/T004-async')).toBe(head);
    for (const [file, content] of [['a.txt', 'a\n'], ['b.txt', 'b\n'], ['c.txt', 'c\n'], ['README.md', 'hello\n']]) {
      expect(server.readFile(repo, head, file!)).toBe(content);
    }
    // The first source is the start; each further one is a merge commit that says what it brings.
    expect(firstParentSubjects(repo, `main..${head}`)).toEqual(['Stack T003 into T004: Work of T003', 'Stack T002 into T004: Work of T002', 'T001: agent work']);
    expect(server.git(repo, 'log', '-1', '--format=%B', head)).toBe(
      `Stack T003 into T004: Work of T003\n\nSdlc-Stack-For: T004\nSdlc-Stack-Source: T003 ${sources[2]!.commit}`,
    );
    expect(server.git(repo, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%aI|%cI|%P', head)).toBe(
      `sdlc-runner <sdlc-runner@users.noreply.invalid>|sdlc-runner <sdlc-runner@users.noreply.invalid>|2025-01-02T03:04:05+00:00|2025-01-02T03:04:05+00:00|` +
        `${server.git(repo, 'rev-parse', `${head}^1`)} ${sources[2]!.commit}`,
    );

    const pushed = pushes(repo);
    const again = await git.prepareTaskBranch(prepareRequest(repo, 'T004', sources));
    expect(again).toEqual({ kind: 'ready', head, created: false, merged: [], contained: ['T001', 'T002', 'T003'] });
    expect(pushes(repo)).toBe(pushed);

    // Rebuilt from nothing (the branch deleted), the same inputs make the very same commits.
    server.git(repo, 'update-ref', '-d', 'refs/heads/specs/001/T004-async');
    expect(await git.prepareTaskBranch(prepareRequest(repo, 'T004', sources))).toMatchObject({ kind: 'ready', head, created: true });
  });

  test('two identical calls at once (a retried activity racing itself) both succeed with the same head', async () => {
    const repo = newRepo();
    const sources = [task(repo, 'T001', { 'a.txt': 'a\n' }), task(repo, 'T002', { 'b.txt': 'b\n' })];
    const git = createCliGitGateway({ tokenFile: goodToken });
    const [a, b] = await Promise.all([git.prepareTaskBranch(prepareRequest(repo, 'T003', sources)), git.prepareTaskBranch(prepareRequest(repo, 'T003', sources))]);
    expect(a.kind === 'ready' && b.kind === 'ready' && a.head === b.head).toBe(true);
    expect(server.branchHead(repo, 'specs/001/T003-async')).toBe(a.kind === 'ready' ? a.head : undefined);
  });

  test("an existing task branch keeps its own work; the dependencies are merged on top", async () => {
    const repo = newRepo();
    const t1 = task(repo, 'T001', { 'a.txt': 'a\n' });
    const t2 = task(repo, 'T002', { 'b.txt': 'b\n' });
    const own = task(repo, 'T005', { 'own.txt': 'mine\n' }).commit;
    const result = await createCliGitGateway({ tokenFile: goodToken }).prepareTaskBranch(prepareRequest(repo, 'T005', [t1, t2]));
    expect(result).toMatchObject({ kind: 'ready', created: false, merged: ['T001', 'T002'], contained: [] });
    const head = server.branchHead(repo, 'specs/001/T005-async')!;
    expect(result.kind === 'ready' && result.head).toBe(head);
    expect(server.git(repo, 'merge-base', '--is-ancestor', own, head)).toBe('');
    expect(server.readFile(repo, head, 'own.txt')).toBe('mine\n');
    expect(server.readFile(repo, head, 'a.txt')).toBe('a\n');
    expect(server.readFile(repo, head, 'b.txt')).toBe('b\n');
    expect(firstParentSubjects(repo, `main..${head}`)).toEqual(['Stack T002 into T005: Work of T002', 'Stack T001 into T005: Work of T001', 'T005: agent work']);
  });

  test('a dependency the branch already holds is contained, not merged again', async () => {
    const repo = newRepo();
    const t1 = task(repo, 'T001', { 'a.txt': 'a\n' });
    const t2 = task(repo, 'T002', { 'b.txt': 'b\n' });
    // T006's branch was started from T001's work earlier.
    const own = server.commitToBranch(repo, 'specs/001/T006-async', { 'own.txt': 'mine\n' }, 'T006: agent work', t1.branch);
    const result = await createCliGitGateway({ tokenFile: goodToken }).prepareTaskBranch(prepareRequest(repo, 'T006', [t1, t2]));
    expect(result).toMatchObject({ kind: 'ready', created: false, merged: ['T002'], contained: ['T001'] });
    const head = server.branchHead(repo, 'specs/001/T006-async')!;
    expect(server.git(repo, 'rev-parse', `${head}^1`)).toBe(own);
  });

  test('two dependencies changing the same line: a conflict naming the file and both tasks; nothing is pushed', async () => {
    const repo = newRepo();
    const t7 = task(repo, 'T007', { 'src/index.js': 'console.log("seven");\n', 'seven.txt': '7\n' });
    const t8 = task(repo, 'T008', { 'src/index.js': 'console.log("eight");\n' });
    const git = createCliGitGateway({ tokenFile: goodToken });
    const pushed = pushes(repo);
    const result = await git.prepareTaskBranch(prepareRequest(repo, 'T009', [t7, t8]));
    expect(result).toEqual({
      kind: 'conflict',
      files: [{ path: 'src/index.js', tasks: ['T007', 'T008'] }],
      message: "T007 and T008 both change src/index.js; merging T008 into T009's branch conflicts",
    });
    expect(server.branchHead(repo, 'specs/001/T009-async')).toBeUndefined();
    expect(pushes(repo)).toBe(pushed);

    // The task's own existing work can be one side of the conflict: it is named too, and its branch stays as it was.
    const own = task(repo, 'T010', { 'src/index.js': 'console.log("ten");\n' }).commit;
    const mine = await git.prepareTaskBranch(prepareRequest(repo, 'T010', [t7]));
    expect(mine).toEqual({
      kind: 'conflict',
      files: [{ path: 'src/index.js', tasks: ['T010', 'T007'] }],
      message: "T010 and T007 both change src/index.js; merging T007 into T010's branch conflicts",
    });
    expect(server.branchHead(repo, 'specs/001/T010-async')).toBe(own);
  });

  test('a dependency commit its branch no longer holds (force-moved) fails for good, naming task, commit and branch', async () => {
    const repo = newRepo();
    const t1 = task(repo, 'T001', { 'a.txt': 'a\n' });
    // Force-moved: the branch now points at a different commit made from the base.
    const rewritten = server.commitToBranch(repo, 'rewrite', { 'a.txt': 'rewritten\n' }, 'rewritten', 'main');
    server.git(repo, 'update-ref', `refs/heads/${t1.branch}`, rewritten);
    const error = await failure(createCliGitGateway({ tokenFile: goodToken }).prepareTaskBranch(prepareRequest(repo, 'T002', [t1])));
    expect(error).toBeInstanceOf(GitRemoteError);
    expect((error as GitRemoteError).retryable).toBe(false);
    expect((error as Error).message).toContain(`task T001's commit ${t1.commit} is not on its branch ${t1.branch}`);
    expect(server.branchHead(repo, 'specs/001/T002-async')).toBeUndefined();
  });
});

describe('integrate', () => {
  test('three task branches (one stacked on another) become one branch: a linear first-parent chain of Integrate commits, same sha again', async () => {
    const repo = newRepo();
    const t1 = task(repo, 'T001', { 'a.txt': 'a\n' });
    const t2 = task(repo, 'T002', { 'b.txt': 'b\n' });
    const t3 = task(repo, 'T003', { 'c.txt': 'c\n' }, t2.branch);
    const req = {
      repoUrl: server.url(repo),
      baseBranch: 'main',
      branch: 'specs/001/integration',
      // T003 without a commit: integrated at its branch's current head.
      sources: [t1, t2, { taskId: t3.taskId, title: t3.title, branch: t3.branch }],
      timestamp: TIMESTAMP,
      runId: 'run-42',
    };
    const git = createCliGitGateway({ tokenFile: goodToken });
    const result = await git.integrate(req);
    expect(result).toEqual({
      head: server.branchHead(repo, 'specs/001/integration'),
      included: [
        { taskId: 'T001', commit: t1.commit },
        { taskId: 'T002', commit: t2.commit },
        { taskId: 'T003', commit: t3.commit },
      ],
      skipped: [],
    });
    for (const file of ['a.txt', 'b.txt', 'c.txt', 'README.md', 'src/index.js']) expect(server.readFile(repo, result.head, file)).toBeDefined();
    const base = server.branchHead(repo, 'main')!;
    expect(firstParentSubjects(repo, `${base}..${result.head}`)).toEqual(['Integrate T003: Work of T003', 'Integrate T002: Work of T002', 'Integrate T001: Work of T001']);
    // Linear: the chain's first parents lead straight back to the base head.
    expect(server.git(repo, 'rev-parse', `${result.head}~3`)).toBe(base);
    expect(server.git(repo, 'log', '-1', '--format=%B', result.head)).toBe(`Integrate T003: Work of T003\n\nSdlc-Integrate: T003 ${t3.commit}\nSdlc-Run-Id: run-42`);

    const pushed = pushes(repo);
    expect(await git.integrate(req)).toEqual(result);
    expect(pushes(repo)).toBe(pushed);

    // A task whose work an earlier one already brought is included without a commit of its own.
    const reordered = await git.integrate({ ...req, branch: 'specs/001/integration-2', sources: [t1, t3, t2] });
    expect(reordered.included.map((i) => i.taskId)).toEqual(['T001', 'T003', 'T002']);
    expect(firstParentSubjects(repo, `${base}..${reordered.head}`)).toEqual(['Integrate T003: Work of T003', 'Integrate T001: Work of T001']);
  });

  test('a conflict stops integration before that task; the part integrated is pushed, the rest skipped', async () => {
    const repo = newRepo();
    const t1 = task(repo, 'T001', { 'a.txt': 'a\n' });
    const t11 = task(repo, 'T011', { 'src/index.js': 'console.log("eleven");\n' });
    const t12 = task(repo, 'T012', { 'src/index.js': 'console.log("twelve");\n' });
    const t2 = task(repo, 'T002', { 'b.txt': 'b\n' });
    const result = await createCliGitGateway({ tokenFile: goodToken }).integrate({
      repoUrl: server.url(repo),
      baseBranch: 'main',
      branch: 'specs/001/integration',
      sources: [t1, t11, t12, t2],
      timestamp: TIMESTAMP,
      runId: 'run-7',
    });
    expect(result.included).toEqual([
      { taskId: 'T001', commit: t1.commit },
      { taskId: 'T011', commit: t11.commit },
    ]);
    expect(result.conflict).toEqual({
      taskId: 'T012',
      files: [{ path: 'src/index.js', tasks: ['T011', 'T012'] }],
      message: 'T011 and T012 both change src/index.js; integrating T012 into specs/001/integration conflicts',
    });
    expect(result.skipped).toEqual(['T002']);
    expect(server.branchHead(repo, 'specs/001/integration')).toBe(result.head);
    expect(server.readFile(repo, result.head, 'src/index.js')).toBe('console.log("eleven");\n');
    expect(server.readFile(repo, result.head, 'b.txt')).toBeUndefined();
  });

  test("a conflict a later task's branch already resolves (the user merged both there, as the blocked task's reason says) is integrated through it", async () => {
    const repo = newRepo();
    const t11 = task(repo, 'T011', { 'src/index.js': 'console.log("eleven");\n' });
    const t12 = task(repo, 'T012', { 'src/index.js': 'console.log("twelve");\n' });
    // T013's branch: T011 and T012 merged with the conflict resolved, then T013's own work on top.
    const resolvedTree = server.commitToBranch(repo, 'tmp/resolution', { 'src/index.js': 'console.log("eleven and twelve");\n' }, 'resolution', t11.branch);
    const merge = server.git(repo, 'commit-tree', `${resolvedTree}^{tree}`, '-p', t11.commit, '-p', t12.commit, '-m', 'Merge T011 and T012, resolved');
    server.git(repo, 'update-ref', 'refs/heads/specs/001/T013-async', merge);
    const t13 = task(repo, 'T013', { 'c.txt': 'c\n' }, 'specs/001/T013-async');
    const result = await createCliGitGateway({ tokenFile: goodToken }).integrate({
      repoUrl: server.url(repo),
      baseBranch: 'main',
      branch: 'specs/001/integration',
      sources: [t11, t12, t13],
      timestamp: TIMESTAMP,
      runId: 'run-8',
    });
    expect(result).toMatchObject({ head: server.branchHead(repo, 'specs/001/integration'), skipped: [] });
    expect(result.conflict).toBeUndefined();
    expect(result.included).toEqual([
      { taskId: 'T011', commit: t11.commit },
      { taskId: 'T012', commit: t12.commit },
      { taskId: 'T013', commit: t13.commit },
    ]);
    expect(server.readFile(repo, result.head, 'src/index.js')).toBe('console.log("eleven and twelve");\n');
    // The merge that brought T012 in says so.
    expect(server.git(repo, 'log', '-1', '--format=%B', result.head)).toBe(`Integrate T013: Work of T013\n\nSdlc-Integrate: T013 ${t13.commit}\nSdlc-Integrate: T012 ${t12.commit}\nSdlc-Run-Id: run-8`);
  });

  test('a task branch that does not exist fails for good, naming the task and the branch', async () => {
    const repo = newRepo();
    const error = await failure(
      createCliGitGateway({ tokenFile: goodToken }).integrate({
        repoUrl: server.url(repo),
        baseBranch: 'main',
        branch: 'specs/001/integration',
        sources: [{ taskId: 'T404', title: 'gone', branch: 'specs/001/T404-async' }],
        timestamp: TIMESTAMP,
        runId: 'run-1',
      }),
    );
    expect(error).toBeInstanceOf(GitRemoteError);
    expect((error as GitRemoteError).retryable).toBe(false);
    expect((error as Error).message).toContain("task T404's branch specs/001/T404-async does not exist");
  });
});

test('a refused token fails both operations for good (and the activities non-retryably); the token is never in a message', async () => {
  const repo = newRepo();
  const t1 = task(repo, 'T001', { 'a.txt': 'a\n' });
  const git = createCliGitGateway({ tokenFile: badToken });
  const integrateReq = { repoUrl: server.url(repo), baseBranch: 'main', branch: 'specs/001/integration', sources: [t1], timestamp: TIMESTAMP, runId: 'r' };
  const errors = [await failure(git.prepareTaskBranch(prepareRequest(repo, 'T002', [t1]))), await failure(git.integrate(integrateReq))];
  for (const error of errors) {
    expect(error).toBeInstanceOf(GitRemoteError);
    expect((error as GitRemoteError).retryable).toBe(false);
    expect((error as Error).message).toContain(`git ls-remote ${server.url(repo)} failed:`);
  }
  const activities = createActivities({ kubernetes: new MemoryKubernetesGateway(() => ({}), new MemoryGit()), git });
  const failures = [await failure(activities.prepareTaskBranch(prepareRequest(repo, 'T002', [t1]))), await failure(activities.integrateBranches(integrateReq))];
  for (const f of failures) {
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect((f as ApplicationFailure).nonRetryable).toBe(true);
    expect((f as ApplicationFailure).type).toBe('GitRemoteError');
  }
  for (const error of [...errors, ...failures]) {
    expect((error as Error).message).not.toContain(TOKEN);
    expect((error as Error).message).not.toContain('tok_wrong_');
  }
  expect(server.branchHead(repo, 'specs/001/T002-async')).toBeUndefined();
});

test("repository content cannot run hooks, even where the worker's global config points core.hooksPath into the work tree", async () => {
  const repo = newRepo();
  const marker = path.join(dir, 'hook-ran');
  const hookScript = `#!/bin/sh\necho "$0" >> '${marker}'\n`;
  // Husky-style hooks committed to the base branch, executable (the fixture helper writes plain files).
  const work = mkdtempSync(path.join(dir, 'hooks-fixture-'));
  const fixtureEnv = { ...process.env, GIT_AUTHOR_NAME: 'f', GIT_AUTHOR_EMAIL: 'f@example.test', GIT_COMMITTER_NAME: 'f', GIT_COMMITTER_EMAIL: 'f@example.test' };
  const fixtureGit = (...args: string[]) => execFileSync('git', args, { cwd: work, env: fixtureEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  fixtureGit('clone', '-q', path.join(server.root, `${repo}.git`), '.');
  mkdirSync(path.join(work, '.githooks'));
  for (const hook of ['post-checkout', 'pre-merge-commit', 'post-merge', 'commit-msg', 'pre-push', 'reference-transaction']) {
    writeFileSync(path.join(work, '.githooks', hook), hookScript);
    chmodSync(path.join(work, '.githooks', hook), 0o755);
  }
  fixtureGit('add', '.githooks');
  fixtureGit('commit', '-q', '-m', 'hooks');
  fixtureGit('push', '-q', 'origin', 'HEAD:refs/heads/main');
  const t1 = task(repo, 'T001', { 'a.txt': 'a\n' });
  const t2 = task(repo, 'T002', { 'b.txt': 'b\n' });

  const globalConfig = path.join(dir, 'global-gitconfig');
  writeFileSync(globalConfig, '[core]\n\thooksPath = .githooks\n');
  const saved = process.env.GIT_CONFIG_GLOBAL;
  process.env.GIT_CONFIG_GLOBAL = globalConfig;
  try {
    // Control: plain git with this config does run the repository's hooks.
    const control = mkdtempSync(path.join(dir, 'hooks-control-'));
    execFileSync('git', ['clone', '-q', path.join(server.root, `${repo}.git`), control], { env: { ...process.env }, stdio: 'ignore' });
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);

    const git = createCliGitGateway({ tokenFile: goodToken });
    expect(await git.prepareTaskBranch(prepareRequest(repo, 'T003', [t1, t2]))).toMatchObject({ kind: 'ready', merged: ['T001', 'T002'] });
    expect((await git.integrate({ repoUrl: server.url(repo), baseBranch: 'main', branch: 'specs/001/integration', sources: [t1, t2], timestamp: TIMESTAMP, runId: 'r' })).included).toHaveLength(2);
    expect(existsSync(marker)).toBe(false);
  } finally {
    if (saved === undefined) delete process.env.GIT_CONFIG_GLOBAL;
    else process.env.GIT_CONFIG_GLOBAL = saved;
  }
});

describe('MemoryGit (the workflow tests’ model)', () => {
  test('one source on a new branch starts at it; otherwise a deterministic sha; conflicts through the hook', async () => {
    const git = new MemoryGit();
    const source = { taskId: 'T001', title: 't', branch: 'b1', commit: 'a'.repeat(40) };
    const req = { repoUrl: 'r', baseBranch: 'main', branch: 'b2', taskId: 'T002', sources: [source], timestamp: TIMESTAMP };
    expect(await git.prepareTaskBranch(req)).toEqual({ kind: 'ready', head: source.commit, created: true, merged: ['T001'], contained: [] });
    const two = { ...req, branch: 'b3', sources: [source, { ...source, taskId: 'T004', commit: 'b'.repeat(40) }] };
    const first = await git.prepareTaskBranch(two);
    const second = await git.prepareTaskBranch(two);
    expect(first.kind === 'ready' && second.kind === 'ready' && first.head === second.head && !second.created).toBe(true);
    git.conflictOn = (r) => (r.taskId === 'T009' ? [{ path: 'x.js', tasks: ['T001', 'T004'] }] : undefined);
    expect(await git.prepareTaskBranch({ ...two, taskId: 'T009', branch: 'b9' })).toEqual({
      kind: 'conflict',
      files: [{ path: 'x.js', tasks: ['T001', 'T004'] }],
      message: "T001 and T004 both change x.js; merging T004 into T009's branch conflicts",
    });
    expect(git.prepareCalls.map((c) => c.taskId)).toEqual(['T002', 'T002', 'T002', 'T009']);

    git.push('r', 'b1', source.commit);
    git.integrationConflict = () => ({ taskId: 'T004', files: [{ path: 'x.js', tasks: ['T001', 'T004'] }] });
    const integrated = await git.integrate({ repoUrl: 'r', baseBranch: 'main', branch: 'int', sources: [{ ...source, commit: undefined }, two.sources[1]!, { ...source, taskId: 'T005' }], timestamp: TIMESTAMP, runId: 'x' });
    expect(integrated).toMatchObject({ included: [{ taskId: 'T001', commit: source.commit }], conflict: { taskId: 'T004' }, skipped: ['T005'] });
    expect(await git.branchHead('r', 'int')).toBe(integrated.head);
    expect(git.integrateCalls).toHaveLength(1);
  });
});
