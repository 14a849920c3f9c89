/**
 * Workflow tests against a REAL git server: a real Temporal server and Worker whose git gateway is the
 * real `createCliGitGateway` (branch verification, stacking merges, integration with real git), and the
 * in-memory cluster whose pods act as agents that really clone, commit and push (like docker/agent/git.js).
 * Credentials reach git only through a token file read by a credential helper (GIT_CONFIG_* env), never in a URL.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { createCliGitGateway } from '../../src/git/cli-gateway';
import type { AgentPodRequest } from '../../src/k8s/gateway';
import { repoRoot } from '../../src/tools';
import { getRunStateQuery } from '../../workflows/definitions';
import type { ImplementFeatureInput, RunOptions, RunState, RunSummary } from '../../workflows/types';
import { MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker, testEnv, type RunningWorker } from '../support/temporal';
import { FAST } from './harness';

const exec = promisify(execFile);
/** The agent image's own credential helper: prints the token read from SDLC_GIT_TOKEN_FILE. */
const TOKEN_HELPER = path.join(repoRoot, 'docker', 'agent', 'git-credential-token-file.js');

/** Environment for git talking to `repoUrl`: the token file's helper, scoped to the URL's origin; an identity; no prompts. */
export function gitEnv(repoUrl: string, tokenFile: string, who = 'Test Agent'): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'credential.helper',
    GIT_CONFIG_VALUE_0: '',
    GIT_CONFIG_KEY_1: `credential.${new URL(repoUrl).origin}.helper`,
    GIT_CONFIG_VALUE_1: `!'${process.execPath}' '${TOKEN_HELPER}'`,
    SDLC_GIT_TOKEN_FILE: tokenFile,
    GIT_AUTHOR_NAME: who,
    GIT_AUTHOR_EMAIL: 'agent@example.test',
    GIT_COMMITTER_NAME: who,
    GIT_COMMITTER_EMAIL: 'agent@example.test',
  };
}

/** Runs git in `cwd`; exit codes in `allow` are returned as `code`, others throw with git's stderr. */
export async function git(cwd: string, env: NodeJS.ProcessEnv, args: string[], allow: number[] = []): Promise<{ out: string; code: number }> {
  try {
    return { out: (await exec('git', args, { cwd, env })).stdout.trim(), code: 0 };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code === 'number' && allow.includes(e.code)) return { out: String(e.stdout ?? '').trim(), code: e.code };
    throw new Error(`git ${args.join(' ')} failed: ${String(e.stderr ?? err)}`);
  }
}

/** One run of an agent pod: what it started from, what it saw, what it pushed. */
export interface AgentRun {
  taskId: string;
  attempt: number;
  branch: string;
  startSha: string;
  /** `git ls-files` right after the clone, before the agent wrote anything. */
  saw: string[];
  sha?: string;
  failure?: string;
}

/** What the scripted agent does: the files to write (then committed and pushed), or a failure. */
export type AgentWork = (task: { taskId: string; attempt: number; saw: string[]; read(file: string): Promise<string | undefined> }) => Promise<Record<string, string> | { failure: string }> | Record<string, string> | { failure: string };

/** The pod's agent: clones its task branch if it exists (else the base), records what it sees, commits `work`'s files with an Sdlc-Task-Id trailer, pushes. */
export function gitAgent(tokenFile: string, work: AgentWork, runs: AgentRun[]) {
  return async (req: AgentPodRequest): Promise<{ sha: string } | { failure: string }> => {
    const url = req.env[AGENT_ENV.REPO_URL]!;
    const branch = req.env[AGENT_ENV.TASK_BRANCH]!;
    const taskId = req.env[AGENT_ENV.TASK_ID]!;
    const attempt = Number(req.env[AGENT_ENV.ATTEMPT]);
    const env = gitEnv(url, tokenFile);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sdlc-test-agent-'));
    try {
      const exists = (await git(dir, env, ['ls-remote', '--heads', '--', url, `refs/heads/${branch}`])).out !== '';
      await git(dir, env, ['clone', '-q', '--single-branch', '--branch', exists ? branch : req.env[AGENT_ENV.BASE_BRANCH]!, '--', url, '.']);
      if (!exists) await git(dir, env, ['checkout', '-q', '-b', branch]);
      const run: AgentRun = { taskId, attempt, branch, startSha: (await git(dir, env, ['rev-parse', 'HEAD'])).out, saw: (await git(dir, env, ['ls-files'])).out.split('\n').filter(Boolean) };
      runs.push(run);
      const files = await work({ taskId, attempt, saw: run.saw, read: (file) => readFile(path.join(dir, file), 'utf8').catch(() => undefined) });
      if ('failure' in files) {
        run.failure = String(files.failure);
        return { failure: run.failure };
      }
      for (const [file, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
        await writeFile(path.join(dir, file), content);
      }
      await git(dir, env, ['add', '-A']);
      await git(dir, env, ['commit', '-q', '-m', `${taskId}: agent work (attempt ${attempt})\n\nSdlc-Task-Id: ${taskId}`]);
      await git(dir, env, ['push', '-q', 'origin', `HEAD:refs/heads/${branch}`]);
      run.sha = (await git(dir, env, ['rev-parse', 'HEAD'])).out;
      return { sha: run.sha };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

export interface GitHarness {
  env: TestWorkflowEnvironment;
  k8s: MemoryKubernetesGateway;
  worker: RunningWorker;
  /** Every agent run, in the order their clones finished. */
  runs: AgentRun[];
  run(taskId: string, attempt?: number): AgentRun | undefined;
  start(repoUrl: string, markdown: string, options?: Partial<RunOptions>, feature?: string): Promise<WorkflowHandleWithFirstExecutionRunId>;
  state(handle: WorkflowHandle): Promise<RunState>;
  result(handle: WorkflowHandle): Promise<RunSummary>;
  close(): Promise<void>;
}

export async function gitHarness(tokenFile: string, work: AgentWork): Promise<GitHarness> {
  const env = await testEnv();
  const runs: AgentRun[] = [];
  const agent = gitAgent(tokenFile, work, runs);
  const k8s = new MemoryKubernetesGateway(() => ({ lines: ['working'], agent }));
  const worker = await startWorker({ kubernetes: k8s, git: createCliGitGateway({ tokenFile }) });
  return {
    env,
    k8s,
    worker,
    runs,
    run: (taskId, attempt = 1) => runs.find((r) => r.taskId === taskId && r.attempt === attempt),
    start(repoUrl, markdown, options = {}, feature = `feat-${randomUUID().slice(0, 8)}`) {
      const input: ImplementFeatureInput = {
        repository: { url: repoUrl, baseBranch: 'main' },
        feature: { name: feature, dir: `specs/${feature}` },
        tasksFile: `specs/${feature}/tasks.md`,
        tasksMarkdown: markdown,
        options: { ...FAST, ...options },
      };
      return env.client.workflow.start('implementFeature', { taskQueue: worker.taskQueue, workflowId: `sdlc-test-${feature}`, args: [input] });
    },
    state: (handle) => handle.query(getRunStateQuery),
    result: (handle) => handle.result() as Promise<RunSummary>,
    async close() {
      await worker.stop();
      await env.teardown();
    },
  };
}
