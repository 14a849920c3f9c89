/**
 * The whole chain, every part real: `implementFeature` started with the Temporal client → the
 * production worker PROCESS (`node dist/worker/main.js`, configured by env, acting as the runner's
 * least-privilege ServiceAccount) → agent pods on the real kube-apiserver, run by the test kubelet
 * (the agent image is test/e2e/support/fake-agent.sh, which pushes one commit to a real bare git
 * repo and prints the result line) → the workflow's branch verification (`git ls-remote`).
 * Then the same with the worker SIGKILLed while the pods run and a new worker process taking over.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { RunSummary } from '../../workflows/types';
import { getRunStateQuery } from '../../workflows/definitions';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { eventually, makeRecordDir, recordedRuns, runResult, startE2eStack, startRun, temporalClient, timing, type E2eStack } from './support/stack';

const TASKS = 5;
let stack: E2eStack;
let temporal: { client: Client; close(): Promise<void> };
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  const t0 = Date.now();
  temporal = await temporalClient();
  stack = await startE2eStack('chain');
  timing('chain: cluster + kubelet + SA + git repo', Date.now() - t0);
}, 180_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await temporal?.close();
  await stack?.stop();
});

const newQueue = () => `e2e-chain-${randomBytes(4).toString('hex')}`;

async function spawnWorker(queue: string, template: string, name: string): Promise<WorkerProcess> {
  const t0 = Date.now();
  const w = await startWorkerProcess({ env: stack.workerEnv(queue, template), logFile: path.join(stack.scratch, `${name}.log`), name });
  workers.push(w);
  timing(`${name}: process start to /readyz`, Date.now() - t0);
  return w;
}

/** What a user checks after a run: every task succeeded once, on its own commit, which is the remote branch head. */
async function expectAllSucceededOnTheirBranches(summary: RunSummary): Promise<void> {
  expect(summary.status).toBe('succeeded');
  expect(summary.counts.succeeded).toBe(TASKS);
  expect(summary.tasks.map((t) => t.id)).toEqual(['T001', 'T002', 'T003', 'T004', 'T005']);
  const heads = await stack.repo.heads();
  for (const t of summary.tasks) {
    expect(t).toMatchObject({ status: 'succeeded', attempt: 1, tokens: { input: 120, output: 30 }, cost: 0.0012 });
    expect(t.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(t.commit).not.toBe(stack.repo.baseSha);
    expect(heads.get(t.branch)).toBe(t.commit);
  }
  expect(new Set(summary.tasks.map((t) => t.commit)).size).toBe(TASKS);
}

async function expectNoPodsLeft(): Promise<void> {
  await eventually(async () => (await stack.pods()).length === 0, 'every agent pod to be deleted', 30_000);
}

it(`implementFeature runs ${TASKS} [ASYNC] tasks through a real worker process: all succeed, commits are the branch heads, no pod is left`, async () => {
  const records = makeRecordDir(stack.scratch, 'plain');
  const queue = newQueue();
  const worker = await spawnWorker(queue, stack.writePodTemplate({ E2E_RECORD_DIR: records }), 'worker-plain');
  const createdBefore = stack.podCreations().length;

  const t0 = Date.now();
  const handle = await startRun(temporal.client, { taskQueue: queue, tasks: TASKS, repo: stack.repo, options: { maxParallel: TASKS } });
  const summary = await runResult(handle);
  timing(`chain: ${TASKS}-task run (start → result)`, Date.now() - t0);

  await expectAllSucceededOnTheirBranches(summary);
  expect(summary.tasks.every((t) => t.branch === `specs/${handle.workflowId.replace(/^sdlc-/, '')}/${t.id}-async`)).toBe(true);
  // Each agent ran exactly once, in the pod the workflow named.
  const runs = recordedRuns(records);
  expect(runs.map((r) => r.task).sort()).toEqual(summary.tasks.map((t) => t.id));
  expect(new Map(runs.map((r) => [r.task, r.pod]))).toEqual(new Map(summary.tasks.map((t) => [t.id, t.podName])));
  // The runner created exactly these pods, once each, as its own least-privilege ServiceAccount.
  expect(stack.podCreations().slice(createdBefore).sort()).toEqual(summary.tasks.map((t) => t.podName).sort());
  await expectNoPodsLeft();

  expect(await worker.stop()).toBe(0); // SIGTERM → graceful shutdown
}, 180_000);

it('the worker process is SIGKILLed while the agent pods run; a new worker finishes the run: every task once, no pod created twice, none left', async () => {
  const records = makeRecordDir(stack.scratch, 'killed');
  const queue = newQueue();
  // Agents work ~9 s (3 steps × 3 s) before they push: long enough to see all of them Running, even on a loaded machine.
  const template = stack.writePodTemplate({ E2E_RECORD_DIR: records, E2E_STEP_SECONDS: '3' });
  const first = await spawnWorker(queue, template, 'worker-killed');
  const createdBefore = stack.podCreations().length;

  const t0 = Date.now();
  const handle = await startRun(temporal.client, { taskQueue: queue, tasks: TASKS, repo: stack.repo, options: { maxParallel: TASKS, heartbeatTimeoutSeconds: 5 } });
  await eventually(
    async () => (await stack.pods()).filter((p) => p.status?.phase === 'Running').length === TASKS,
    `all ${TASKS} agent pods Running`,
    60_000,
    100,
  );
  expect(await first.kill()).toBe(137);
  timing('chain/kill: start → worker SIGKILLed with all pods Running', Date.now() - t0);
  // Killing the worker does not touch the pods: they keep running (or have just finished) on the node.
  const orphans = await stack.pods();
  expect(orphans).toHaveLength(TASKS);
  expect(orphans.every((p) => !p.metadata?.deletionTimestamp)).toBe(true);

  const replacement = await spawnWorker(queue, template, 'worker-replacement');
  const summary = await runResult(handle);
  timing('chain/kill: start → result (including the crash and heartbeat timeout)', Date.now() - t0);

  await expectAllSucceededOnTheirBranches(summary);
  // Every task's agent ran exactly once: the replacement worker resumed following the same pods.
  const runs = recordedRuns(records);
  expect(runs.map((r) => r.task).sort()).toEqual(summary.tasks.map((t) => t.id));
  // No pod name was created twice (apiserver audit log: 201 Created responses to the runner).
  const created = stack.podCreations().slice(createdBefore);
  expect(created.sort()).toEqual(summary.tasks.map((t) => t.podName).sort());
  expect(new Set(created).size).toBe(created.length);
  await expectNoPodsLeft();
  // The replacement picked up the in-flight follow activities (their heartbeat timed out on the dead worker).
  expect(replacement.output()).toContain('resuming follow from heartbeat');
  // Activity task tokens (anyone holding one can complete the activity) never reach the worker's log.
  expect(replacement.output()).toMatch(/activityType: 'followAgentPod'/);
  expect(replacement.output()).not.toMatch(/taskToken/);
}, 240_000);

it("a task workflow terminated in Temporal (no cleanup runs) leaves its pod running; the worker's orphan sweeper deletes it", async () => {
  const holdDir = path.join(stack.scratch, 'holds-orphan');
  mkdirSync(holdDir, { recursive: true });
  const queue = newQueue();
  const template = stack.writePodTemplate({ E2E_HOLD_DIR: holdDir });
  const t0 = Date.now();
  const worker = await startWorkerProcess({
    env: { ...stack.workerEnv(queue, template), SDLC_ORPHAN_SWEEP_SECONDS: '1' },
    logFile: path.join(stack.scratch, 'worker-orphan.log'),
    name: 'worker-orphan',
  });
  workers.push(worker);
  const handle = await startRun(temporal.client, { taskQueue: queue, tasks: 1, repo: stack.repo, options: { decisionTimeoutSeconds: 1 } });
  // The agent holds after its work until the hold file goes: it is surely still running when its workflow is terminated.
  writeFileSync(path.join(holdDir, handle.workflowId), '');
  const task = await eventually(async () => {
    const t = (await handle.query(getRunStateQuery)).tasks[0]!;
    const running = (await stack.pods()).some((p) => p.metadata?.name === t.podName && p.status?.phase === 'Running');
    return t.podName && t.childWorkflowId && running ? t : undefined;
  }, 'the agent pod running', 60_000);
  await temporal.client.workflow.getHandle(task.childWorkflowId!).terminate('operator stopped the task');
  await eventually(async () => !(await stack.pods()).some((p) => p.metadata?.name === task.podName), 'the orphan pod deleted by the sweeper', 60_000);
  timing('chain/orphan: start → terminated task pod swept', Date.now() - t0);
  expect(worker.output()).toContain(`deleted orphan agent pod ${task.podName}`);
  rmSync(path.join(holdDir, handle.workflowId), { force: true });
  // The run records the terminated task as not succeeded and ends (no decision arrives).
  const summary = await runResult(handle);
  expect(summary.tasks[0]!.status).not.toBe('succeeded');
  await expectNoPodsLeft();
  expect(await worker.stop()).toBe(0);
}, 180_000);
