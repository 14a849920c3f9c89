/**
 * Connects tests to the real Temporal dev server started in globalSetup, and runs real Workers with
 * the prebuilt workflow bundle (dist/workflow-bundle.js, made by `npm run build`).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Runtime, Worker, DefaultLogger } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { repoRoot } from '../../src/tools';

export const WORKFLOW_BUNDLE = path.join(repoRoot, 'dist', 'workflow-bundle.js');

let runtimeInstalled = false;
function quietRuntime() {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

export async function testEnv(address = process.env.TEMPORAL_ADDRESS): Promise<TestWorkflowEnvironment> {
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: the jest globalSetup must start the Temporal dev server');
  quietRuntime();
  return TestWorkflowEnvironment.createFromExistingServer({ address, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
}

export interface RunningWorker {
  worker: Worker;
  taskQueue: string;
  /** Graceful shutdown; resolves when the worker has stopped. */
  stop(): Promise<void>;
}

export async function startWorker(deps: ActivityDeps, opts: { taskQueue?: string; shutdownGraceTime?: string; address?: string } = {}): Promise<RunningWorker> {
  if (!existsSync(WORKFLOW_BUNDLE)) throw new Error(`${WORKFLOW_BUNDLE} is missing: run 'npm run build' (npm test does it)`);
  quietRuntime();
  const taskQueue = opts.taskQueue ?? `test-${randomUUID()}`;
  const connection = await NativeConnection.connect({ address: opts.address ?? process.env.TEMPORAL_ADDRESS! });
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue,
    workflowBundle: { codePath: WORKFLOW_BUNDLE },
    activities: createActivities({ pollIntervalMs: 200, ...deps }),
    shutdownGraceTime: opts.shutdownGraceTime ?? '2s',
    stickyQueueScheduleToStartTimeout: '2s',
  });
  const running = worker.run();
  let stopped: Promise<void> | undefined;
  return {
    worker,
    taskQueue,
    stop() {
      stopped ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await connection.close();
      })();
      return stopped;
    },
  };
}

/** Polls `fn` until it returns truthy (or throws after timeoutMs with `what`). */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The message a rejected Update carries (the validator's error is the cause of WorkflowUpdateFailedError). */
export async function updateRejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { cause?: Error };
    return e.cause?.message ?? e.message;
  }
  throw new Error('expected the update to be rejected, but it was accepted');
}
