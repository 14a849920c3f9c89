/**
 * Scale smoke through the whole chain: one production worker process runs 100 tasks at once
 * (maxParallel 100) whose agents exit at once, and observes all their pods through ONE pod watch —
 * counted in the apiserver's audit log per user, so it is what the apiserver saw, not what the
 * worker says about itself. The remote branches exist before the run (E2E_PRESET_SHA), so the
 * agents do no git work and branch verification still checks every result line.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { eventually, makeRecordDir, recordedRuns, runResult, runState, startE2eStack, startRun, temporalClient, timing, type E2eStack } from './support/stack';
import type { AuditEvent } from '../support/cluster';

const TASKS = 100;
let stack: E2eStack;
let temporal: { client: Client; close(): Promise<void> };
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  temporal = await temporalClient();
  stack = await startE2eStack('scale');
}, 180_000);

afterAll(async () => {
  await worker?.kill();
  await temporal?.close();
  await stack?.stop();
});

it(`${TASKS} tasks whose agent exits at once all complete on one worker, which holds one pod watch`, async () => {
  const records = makeRecordDir(stack.scratch, 'runs');
  const queue = `e2e-scale-${randomBytes(4).toString('hex')}`;
  const template = stack.writePodTemplate({ E2E_RECORD_DIR: records, E2E_PRESET_SHA: stack.repo.baseSha });
  worker = await startWorkerProcess({ env: { ...stack.workerEnv(queue, template), SDLC_MAX_CONCURRENT_ACTIVITIES: '300' }, logFile: path.join(stack.scratch, 'worker.log') });

  const feature = `scale-${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: TASKS }, (_, i) => `T${String(i + 1).padStart(3, '0')}`);
  // As if every agent had already pushed: the task branches sit at the base commit.
  await stack.repo.setBranches(ids.map((id) => `specs/${feature}/${id}-async`), stack.repo.baseSha);

  const t0 = Date.now();
  const handle = await startRun(temporal.client, { taskQueue: queue, tasks: TASKS, repo: stack.repo, feature, options: { maxParallel: TASKS, taskTimeoutSeconds: 300, pendingTimeoutSeconds: 240 } });
  // All 100 run at the same time (nothing waits for a free slot).
  const peak = await eventually(async () => {
    const s = await runState(handle);
    return s.tasks.filter((t) => t.status !== 'pending').length === TASKS && s;
  }, 'every task to start', 120_000);
  expect(peak.tasks.some((t) => t.status === 'pending')).toBe(false);
  const summary = await runResult(handle);
  const wallMs = Date.now() - t0;
  timing(`scale: ${TASKS} tasks start → result on one worker`, wallMs);

  expect(summary.status).toBe('succeeded');
  expect(summary.counts.succeeded).toBe(TASKS);
  expect(summary.tasks.every((t) => t.commit === stack.repo.baseSha && t.attempt === 1)).toBe(true);
  expect(recordedRuns(records).map((r) => r.task).sort()).toEqual(ids);
  const created = stack.podCreations();
  expect(created).toHaveLength(TASKS);
  expect(new Set(created).size).toBe(TASKS);

  // One watch for all 100 pods, on the agent namespace, by the runner's ServiceAccount: never two open
  // at once. (A watch the apiserver ends early — e.g. "resource version too large" while its watch
  // cache lags on a loaded machine — is re-opened, so the number of requests may exceed one.)
  const watches = stack.runnerWatches();
  expect(watches.length).toBeGreaterThanOrEqual(1);
  for (const w of watches) {
    expect(w.objectRef).toEqual({ resource: 'pods', namespace: stack.namespace, apiVersion: 'v1' });
    expect(w.requestURI).toContain('labelSelector=app.kubernetes.io%2Fmanaged-by%3Dagentic-sdlc-runner');
  }
  expect({ maxOpenAtOnce: maxConcurrent(watches, stack.cluster.auditEvents()), requests: watches.map((w) => `${w.stageTimestamp} ${w.responseStatus?.code}`) }).toMatchObject({ maxOpenAtOnce: 1 });
  await eventually(async () => (await stack.pods()).length === 0, 'every agent pod to be deleted', 60_000);
  // eslint-disable-next-line no-console
  console.log(`[e2e scale] ${TASKS} tasks in ${(wallMs / 1000).toFixed(1)} s; runner watch requests: ${watches.length}; audit events total: ${stack.cluster.auditEvents().length}`);
}, 300_000);

/** The most watch requests (ResponseStarted events) open at the same moment, from their audit events. */
function maxConcurrent(started: AuditEvent[], all: AuditEvent[]): number {
  const ended = new Map(all.filter((e) => e.stage === 'ResponseComplete' && e.auditID).map((e) => [e.auditID!, Date.parse(e.stageTimestamp ?? '')]));
  const edges = started.flatMap((w) => [
    { at: Date.parse(w.stageTimestamp ?? ''), d: 1 },
    { at: ended.get(w.auditID ?? '') ?? Infinity, d: -1 },
  ]);
  // Ends before starts at the same instant: a watch re-opened right after one ended is not an overlap.
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let open = 0;
  let max = 0;
  for (const e of edges) max = Math.max(max, (open += e.d));
  return max;
}
