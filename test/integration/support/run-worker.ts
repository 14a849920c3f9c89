/** A real Worker in the test process (own task queue) with the in-memory cluster; T005 fails when asked to. */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { AGENT_ENV } from '../../../src/contract/agent-env';
import { MemoryGit, MemoryKubernetesGateway, type PodScript } from '../../support/memory-gateway';
import { startWorker, testEnv, type RunningWorker } from '../../support/temporal';

export interface TestBackend {
  env: TestWorkflowEnvironment;
  worker: RunningWorker;
  k8s: MemoryKubernetesGateway;
  /** Env for the CLI: the dev server, this worker's task queue, the UI base, fast progress lines. */
  cliEnv: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export async function startTestBackend(opts: { failTasks?: string[]; lineIntervalMs?: number } = {}): Promise<TestBackend> {
  const env = await testEnv();
  const git = new MemoryGit();
  const k8s = new MemoryKubernetesGateway((req): PodScript => {
    const failing = opts.failTasks?.includes(req.env[AGENT_ENV.TASK_ID] ?? '');
    return { pendingMs: 300, lines: ['cloning repository', 'running opencode', 'committing', 'pushing branch'], lineIntervalMs: opts.lineIntervalMs ?? 1000, tokens: { input: 1200, output: 340 }, cost: 0.0123, result: failing ? 'failure' : 'success' };
  }, git);
  const worker = await startWorker({ kubernetes: k8s, git });
  return {
    env,
    worker,
    k8s,
    cliEnv: {
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: worker.taskQueue,
      SDLC_TEMPORAL_UI_URL: process.env.TEMPORAL_UI_URL,
      SDLC_PROGRESS_EVERY_SECONDS: '1',
    },
    async close() {
      await worker.stop();
      await env.teardown();
    },
  };
}
