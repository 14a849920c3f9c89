/**
 * The whole chain, every part real: `implementFeature` started with the Temporal client → the
 * production worker PROCESS (`node dist/worker/main.js`, configured by env, acting as the runner's
 * least-privilege ServiceAccount) → agent pods on the real kube-apiserver, run by the test kubelet
 * (the agent image is test/e2e/support/fake-agent.sh, which pushes one commit to a real bare git
 * repo and prints the result line) → the workflow's branch verification (`git ls-remote`).
 * Then the same with the worker SIGKILLed while the pods run and a new worker process taking over,
 * and with the kube-apiserver SIGKILLed and restarted while the follow activities stream the agents' logs.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { RunSummary } from '../../workflows/types';
import type { FollowOutcome, FollowProgress } from '../../activities/types';
import { getRunStateQuery } from '../../workflows/definitions';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { eventually, makeRecordDir, recordedRuns, runResult, runState, startE2eStack, startRun, temporalClient, timing, type E2eStack } from './support/stack';

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

/** The follow activity a task workflow is running now (undefined when none runs): attempt, last failure, last heartbeated progress. */
async function pendingFollow(childWorkflowId: string): Promise<{ attempt: number; lastFailure?: string; progress?: FollowProgress } | undefined> {
  const { raw } = await temporal.client.workflow.getHandle(childWorkflowId).describe();
  const a = raw.pendingActivities?.find((x) => x.activityType?.name === 'followAgentPod');
  if (!a) return undefined;
  const payload = a.heartbeatDetails?.payloads?.[0];
  return {
    attempt: a.attempt ?? 1,
    lastFailure: a.lastFailure?.message ?? undefined,
    progress: payload ? defaultPayloadConverter.fromPayload<FollowProgress>(payload) : undefined,
  };
}

/** From a finished task workflow's history: the follow activity's last attempt, the failure before it, and the outcome it returned. */
async function followInHistory(childWorkflowId: string): Promise<{ attempt: number; lastFailure?: string; outcome: FollowOutcome }> {
  const events = (await temporal.client.workflow.getHandle(childWorkflowId).fetchHistory()).events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'followAgentPod');
  const id = String(scheduled?.eventId);
  const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id)?.activityTaskStartedEventAttributes;
  const completed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id)?.activityTaskCompletedEventAttributes;
  if (!started || !completed?.result?.payloads?.[0]) throw new Error(`followAgentPod of ${childWorkflowId} did not complete`);
  return {
    attempt: started.attempt ?? 1,
    lastFailure: started.lastFailure?.message ?? undefined,
    outcome: defaultPayloadConverter.fromPayload<FollowOutcome>(completed.result.payloads[0]),
  };
}

it("the kube-apiserver is SIGKILLed and restarted twice while the follow activities stream the agents' logs: the follows reconnect, and wait out an outage longer than their heartbeat timeout without failing an attempt; every task succeeds once, no line lost or repeated, no pod created twice", async () => {
  const TASKS_HERE = 3;
  const records = makeRecordDir(stack.scratch, 'apiserver-restart');
  const holdDir = makeRecordDir(stack.scratch, 'holds-apiserver-restart');
  const queue = newQueue();
  // The agents print "tick <n>" every 0.2 s after their steps until the test releases them: they are
  // surely printing through both outages, and record how many ticks they printed (ticks.log).
  const template = stack.writePodTemplate({ E2E_RECORD_DIR: records, E2E_HOLD_DIR: holdDir, E2E_TICK_SECONDS: '0.2' });
  const worker = await spawnWorker(queue, template, 'worker-apiserver-restart');
  const createdBefore = stack.podCreations().length;

  const feature = `e2e-restart-${randomBytes(3).toString('hex')}`;
  const hold = path.join(holdDir, `sdlc-${feature}`); // SDLC_RUN_ID is the run's workflow ID
  writeFileSync(hold, '');
  const t0 = Date.now();
  const handle = await startRun(temporal.client, {
    taskQueue: queue,
    tasks: TASKS_HERE,
    feature,
    repo: stack.repo,
    options: { maxParallel: TASKS_HERE, heartbeatTimeoutSeconds: 5 },
  });
  expect(handle.workflowId).toBe(`sdlc-${feature}`);

  const children = await eventually(async () => {
    const tasks = (await runState(handle)).tasks;
    const running = (await stack.pods()).filter((p) => p.status?.phase === 'Running').length;
    return running === TASKS_HERE && tasks.every((t) => t.childWorkflowId && t.podName) ? tasks.map((t) => t.childWorkflowId!) : undefined;
  }, `all ${TASKS_HERE} agent pods Running`, 60_000, 100);
  /** Every follow activity as last heartbeated, once each has read `enough` (the product's own view of what it followed). */
  const followedUntil = (enough: (p: FollowProgress) => boolean, what: string) =>
    eventually(async () => {
      const now = await Promise.all(children.map((id) => pendingFollow(id)));
      return now.every((f) => f?.progress && enough(f.progress)) ? now.map((f) => f!) : undefined;
    }, what, 60_000);
  /** Has read a line the agent printed after `ms` (the kubelet stamps lines with the host clock). */
  const readLineAfter = (ms: number) => (p: FollowProgress) => !!p.lastTs && Date.parse(p.lastTs) > ms;
  // Lines 1–4 are "start" and the 3 steps: more than 6 means the follows are reading ticks.
  await followedUntil((p) => p.linesSeen > 6, 'every follow activity to heartbeat ticks it has read');
  timing('chain/apiserver: start → all pods Running, ticks followed', Date.now() - t0);

  // 1. A quick restart (the harness's kill -9 + start on the same port + /readyz).
  let t = Date.now();
  await stack.cluster.restartApiserver();
  timing('chain/apiserver: restart 1 (kill -9 → ready again)', Date.now() - t);
  t = Date.now();
  const afterFirst = await followedUntil(readLineAfter(Date.now()), 'every follow to read a line printed after restart 1');
  timing('chain/apiserver: ready → every follow reading again', Date.now() - t);

  // 2. A longer outage — over twice the follows' heartbeat timeout (5 s): each follow activity waits it out
  // itself, heartbeating; none fails or times out (its attempt stays), as the task deadline is the only bound.
  t = Date.now();
  stack.killApiserver();
  const waited = await eventually(async () => {
    if (Date.now() - t < 12_000) return undefined;
    return Promise.all(children.map((id) => pendingFollow(id)));
  }, 'an outage of 12 s', 60_000);
  expect(waited.map((f) => f?.attempt)).toEqual(afterFirst.map((f) => f.attempt));
  await stack.cluster.restartApiserver();
  timing(`chain/apiserver: restart 2 (kill -9 → 12 s outage waited out by the follows → ready again)`, Date.now() - t);
  t = Date.now();
  const afterSecond = await followedUntil(readLineAfter(Date.now()), 'every follow to read a line printed after restart 2');
  timing('chain/apiserver: ready → every follow reading again', Date.now() - t);
  // The same pods still run: none was replaced or created again.
  expect((await stack.pods()).filter((p) => p.status?.phase === 'Running')).toHaveLength(TASKS_HERE);

  rmSync(hold);
  const summary = await runResult(handle);
  timing('chain/apiserver: start → result (including both restarts)', Date.now() - t0);

  expect(summary.status).toBe('succeeded');
  expect(summary.tasks.map((x) => x.id)).toEqual(['T001', 'T002', 'T003']);
  const heads = await stack.repo.heads();
  for (const x of summary.tasks) {
    expect(x).toMatchObject({ status: 'succeeded', attempt: 1, autoRetries: 0, tokens: { input: 120, output: 30 }, cost: 0.0012 });
    expect(x.infraRetries ?? 0).toBe(0);
    expect(heads.get(x.branch)).toBe(x.commit);
  }
  // Each agent ran exactly once, in the pod the workflow named, and each pod was created once (audit log: 201s to the runner).
  const runs = recordedRuns(records);
  expect(runs.map((r) => r.task).sort()).toEqual(summary.tasks.map((x) => x.id));
  expect(new Map(runs.map((r) => [r.task, r.pod]))).toEqual(new Map(summary.tasks.map((x) => [x.id, x.podName])));
  expect(stack.podCreations().slice(createdBefore).sort()).toEqual(summary.tasks.map((x) => x.podName).sort());

  // No line lost or repeated across the outages: the follow counted exactly the lines each agent printed
  // (start, 3 steps, <n> ticks, "released", "done", the result line), and its last lines are the agent's last, in order.
  const ticks = new Map(
    readFileSync(path.join(records, 'ticks.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split(' ')[0]!, Number(l.split(' ')[1])] as const),
  );
  const report: string[] = [];
  for (const x of summary.tasks) {
    const n = ticks.get(x.id)!;
    expect(n).toBeGreaterThan(20);
    expect(x.logLines).toBe(n + 7);
    const follow = await followInHistory(x.childWorkflowId!);
    report.push(`${x.id} ${n + 7} lines, follow attempt ${follow.attempt}`);
    // One attempt followed the pod through both outages: no attempt cap, no retry needed.
    expect(follow.attempt).toBe(1);
    expect(follow.lastFailure).toBeUndefined();
    expect(follow.outcome.kind).toBe('exited');
    if (follow.outcome.kind !== 'exited') continue;
    expect(follow.outcome.linesSeen).toBe(n + 7);
    expect(follow.outcome.lastLines.slice(0, -1)).toEqual([
      ...Array.from({ length: 17 }, (_, i) => `agent[${x.id}]: tick ${n - 16 + i}`),
      `agent[${x.id}]: released after ${n} ticks`,
      `agent[${x.id}]: done at ${x.commit}`,
    ]);
    expect(follow.outcome.lastLines.at(-1)).toMatch(/^::sdlc-result::\{/);
  }
  // eslint-disable-next-line no-console
  console.log(`[e2e] chain/apiserver: ${report.join('; ')}; follow attempts after restart 1: ${afterFirst.map((f) => f.attempt).join(',')}, after restart 2: ${afterSecond.map((f) => f.attempt).join(',')}`);
  const log = readFileSync(path.join(stack.scratch, 'worker-apiserver-restart.log'), 'utf8');
  for (const x of summary.tasks) expect(log).toMatch(new RegExp(`Kubernetes API unreachable; waiting.*pod: '${x.podName}'`));
  await expectNoPodsLeft();
  expect(await worker.stop()).toBe(0);
}, 180_000);
