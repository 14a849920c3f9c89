/**
 * A run's input is checked where it enters the workflow: the schema (a run may be started by any client,
 * e.g. by hand in Temporal UI) and the worker's git policy (allowed hosts, the task branch prefix). A
 * refused run fails at once, non-retryably, naming the field or the URL, and creates no pod.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { parseAllowedGitHosts } from '../../src/security/git-policy';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker, testEnv, type RunningWorker } from '../support/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { FAST, tasksMarkdown } from './harness';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../integration/support/cli';

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let k8s: MemoryKubernetesGateway;

beforeAll(async () => {
  env = await testEnv();
  const git = new MemoryGit();
  k8s = new MemoryKubernetesGateway(() => ({}), git);
  worker = await startWorker({ kubernetes: k8s, git, gitPolicy: { allowedHosts: parseAllowedGitHosts('github.com'), branchPrefix: 'specs/' } });
});

afterAll(async () => {
  await worker?.stop();
  await env?.teardown();
});

function input(overrides: Record<string, unknown> = {}, feature = `f-${randomUUID().slice(0, 8)}`) {
  return {
    repository: { url: 'https://github.com/acme/app.git', baseBranch: 'main' },
    feature: { name: feature, dir: `specs/${feature}` },
    tasksFile: `specs/${feature}/tasks.md`,
    tasksMarkdown: tasksMarkdown(2),
    options: FAST,
    ...overrides,
  };
}

/** Starts a run and returns how it failed: the failure's type and message. */
async function refusal(args: unknown): Promise<{ type?: string; message: string }> {
  const handle = await env.client.workflow.start('implementFeature', { taskQueue: worker.taskQueue, workflowId: `sdlc-input-${randomUUID()}`, args: [args] });
  try {
    await handle.result();
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.nonRetryable).toBe(true);
    return { type: cause.type ?? undefined, message: cause.message };
  }
  throw new Error('expected the run to be refused');
}

test('a run started by hand with a missing or wrong field fails at once, naming each field', async () => {
  const { repository: _r, ...noRepository } = input();
  expect(await refusal(noRepository)).toEqual({ type: 'InvalidRunInput', message: 'invalid run input: repository: Invalid input: expected object, received undefined' });
  expect(await refusal(input({ options: { maxParallel: 0, stack: 'sideways', taskTimeoutSeconds: 1e12 } }))).toEqual({
    type: 'InvalidRunInput',
    message: expect.stringMatching(/^invalid run input: options\.maxParallel: Too small: expected number to be >=1; options\.taskTimeoutSeconds: Too big: expected number to be <=604800; options\.stack: Invalid option: expected one of "dependencies"\|"none"$/),
  });
  expect(await refusal(input({ options: { model: 'claude' } }))).toEqual({ type: 'InvalidRunInput', message: 'invalid run input: options.model: must be provider/model, e.g. anthropic/claude-sonnet-4-5' });
  expect(k8s.created).toEqual([]);
});

test("repositories the worker does not allow are refused before any pod: another host, http://, file://", async () => {
  expect(await refusal(input({ repository: { url: 'https://evil.example/acme/app.git', baseBranch: 'main' } }))).toEqual({
    type: 'RunRefused',
    message: expect.stringMatching(/^repository https:\/\/evil\.example is not in the worker's allowlist \(SDLC_ALLOWED_GIT_HOSTS: github\.com\)/),
  });
  expect((await refusal(input({ repository: { url: 'http://github.com/acme/app.git', baseBranch: 'main' } }))).message).toMatch(/uses http, which sends the worker's git token in clear text/);
  expect((await refusal(input({ repository: { url: 'file:///srv/app.git', baseBranch: 'main' } }))).message).toMatch(/^repository file:\/\/ uses file/);
  expect(k8s.created).toEqual([]);
});

test('task branches outside the worker\'s prefix, and a task branch equal to the base, are refused before any pod', async () => {
  expect(await refusal(input({ options: { ...FAST, branchPattern: 'feature/{taskId}' } }))).toEqual({
    type: 'RunRefused',
    message: expect.stringContaining("task branches 'feature/{taskId}' (--branch-pattern 'feature/{taskId}') are outside 'specs/', the only branches this worker lets agents push"),
  });
  const onBase = await refusal(input({ repository: { url: 'https://github.com/acme/app.git', baseBranch: 'specs/x/T001-async' }, options: { ...FAST, branchPattern: 'specs/x/{taskId}-async' } }));
  expect(onBase.type).toBe('InvalidTasksFile');
  expect(onBase.message).toMatch(/specs\/x\/T001-async/);
  expect(k8s.created).toEqual([]);
});

test('a run with more than 10,000 tasks to dispatch, started by another client, fails at once (InvalidTasksFile), no pod', async () => {
  const refused = await refusal(input({ tasksMarkdown: tasksMarkdown(10_001) }));
  expect(refused).toEqual({ type: 'InvalidTasksFile', message: expect.stringMatching(/: 10001 open \[ASYNC\] tasks to dispatch; a run takes at most 10000 .*Fix: split the tasks over several features/) });
  expect(k8s.created).toEqual([]);
}, 60_000);

test('an allowed repository and branches run as usual', async () => {
  const handle = await env.client.workflow.start('implementFeature', { taskQueue: worker.taskQueue, workflowId: `sdlc-input-${randomUUID()}`, args: [input()] });
  expect(((await handle.result()) as { status: string }).status).toBe('succeeded');
  expect(k8s.created).toHaveLength(2);
});

test('sdlc-runner implement on a repository the worker refuses: one line naming it, exit 2, not "run started"', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-refused-'));
  try {
    const feature = `refused-${randomUUID().slice(0, 6)}`;
    mkdirSync(path.join(dir, 'specs', feature), { recursive: true });
    writeFileSync(path.join(dir, 'specs', feature, 'tasks.md'), tasksMarkdown(1));
    const before = k8s.created.length;
    const r = await runCli(['implement', `specs/${feature}/tasks.md`, '--repo', 'https://evil.example/acme/app.git', '--base', 'main'], {
      cwd: dir,
      env: { TEMPORAL_TASK_QUEUE: worker.taskQueue },
    });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
    expect(r.stderr.trim()).toMatch(/^sdlc-runner: run refused: repository https:\/\/evil\.example is not in the worker's allowlist \(SDLC_ALLOWED_GIT_HOSTS: github\.com\)\. Fix: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(k8s.created.length).toBe(before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
