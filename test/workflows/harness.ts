/** Shared setup for workflow tests: a real Temporal server, a real Worker, in-memory cluster and git. */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { AgentPodRequest } from '../../src/k8s/gateway';
import { MemoryGit, MemoryKubernetesGateway, type PodScript } from '../support/memory-gateway';
import { startWorker, testEnv, type RunningWorker } from '../support/temporal';
import type { ImplementFeatureInput, RunOptions, RunSummary } from '../../workflows/types';
import { getRunStateQuery } from '../../workflows/definitions';

export const REPO = { url: 'https://git.example.test/acme/app.git', baseBranch: 'main' };

/** A tasks.md with `n` open [ASYNC] tasks (T001…), optional extra lines per task (e.g. "depends on T001"). */
export function tasksMarkdown(n: number, extra: Record<string, string> = {}): string {
  const lines = ['# Tasks: Demo feature', '', '## Phase 1: Work', ''];
  for (let i = 1; i <= n; i++) {
    const id = `T${String(i).padStart(3, '0')}`;
    lines.push(`- [ ] ${id} [ASYNC] Implement part ${i} in \`src/part${i}.ts\`${extra[id] ? ` (${extra[id]})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

export interface Harness {
  env: TestWorkflowEnvironment;
  k8s: MemoryKubernetesGateway;
  git: MemoryGit;
  worker: RunningWorker;
  start(markdown: string, options?: Partial<RunOptions>, feature?: string): Promise<WorkflowHandleWithFirstExecutionRunId>;
  state(handle: WorkflowHandle): Promise<Awaited<ReturnType<typeof queryState>>>;
  result(handle: WorkflowHandle): Promise<RunSummary>;
  close(): Promise<void>;
}

async function queryState(handle: WorkflowHandle) {
  return handle.query(getRunStateQuery);
}

/** Fast defaults so tests finish in seconds; each test overrides what it exercises. */
export const FAST: Partial<RunOptions> = {
  taskTimeoutSeconds: 30,
  pendingTimeoutSeconds: 10,
  decisionTimeoutSeconds: 2,
  keepFailedPodsSeconds: 0,
  heartbeatTimeoutSeconds: 5,
};

export async function harness(behaviour: (req: AgentPodRequest) => PodScript = () => ({})): Promise<Harness> {
  const env = await testEnv();
  const git = new MemoryGit();
  const k8s = new MemoryKubernetesGateway(behaviour, git);
  const worker = await startWorker({ kubernetes: k8s, git });
  const h: Harness = {
    env,
    k8s,
    git,
    worker,
    async start(markdown, options = {}, feature = `feat-${randomUUID().slice(0, 8)}`) {
      const input: ImplementFeatureInput = {
        repository: REPO,
        feature: { name: feature, dir: `specs/${feature}` },
        tasksFile: `specs/${feature}/tasks.md`,
        tasksMarkdown: markdown,
        options: { ...FAST, ...options },
      };
      return env.client.workflow.start('implementFeature', { taskQueue: worker.taskQueue, workflowId: `sdlc-test-${feature}`, args: [input] });
    },
    state: queryState,
    result: (handle) => handle.result() as Promise<RunSummary>,
    async close() {
      await worker.stop();
      await env.teardown();
    },
  };
  return h;
}

/**
 * A test's end: the run it left open is terminated (a run waiting for a decision would linger on the
 * shared dev server), then its harness is closed. Returns undefined, for the test's `open` variable.
 */
export async function endTest(h: { close(): Promise<void> } | undefined, open: WorkflowHandle | undefined): Promise<undefined> {
  await open?.terminate('test over').catch(() => undefined);
  await h?.close();
  return undefined;
}
