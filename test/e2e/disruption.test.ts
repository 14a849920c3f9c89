/**
 * Disruptions through the whole chain (issue 11): a production worker process, the real kube-apiserver
 * and the test kubelet. An admin deletes one running agent pod; a drain evicts another through the
 * policy/v1 Eviction API (kube-apiserver sets the DisruptionTarget condition, then deletes the pod
 * gracefully; the kubelet SIGTERMs the agent). Both are infrastructure: a new pod for the same attempt,
 * every task succeeds, no dependant is blocked, no pod is left.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { eventually, makeRecordDir, recordedRuns, runResult, runState, startE2eStack, startRun, temporalClient, timing, type E2eStack } from './support/stack';

let stack: E2eStack;
let temporal: { client: Client; close(): Promise<void> };
let worker: WorkerProcess | undefined;
let admin: CoreV1Api;

beforeAll(async () => {
  const t0 = Date.now();
  temporal = await temporalClient();
  stack = await startE2eStack('disruption');
  const kc = new KubeConfig();
  kc.loadFromFile(stack.cluster.kubeconfigPath);
  admin = kc.makeApiClient(CoreV1Api);
  timing('disruption: cluster + kubelet + SA + git repo', Date.now() - t0);
}, 180_000);

afterAll(async () => {
  await worker?.kill();
  await temporal?.close();
  await stack?.stop();
});

it('a running pod deleted by an admin and one evicted through the Eviction API each get a new pod for the same attempt; every task succeeds', async () => {
  const records = makeRecordDir(stack.scratch, 'disrupted');
  const queue = `e2e-disruption-${randomBytes(4).toString('hex')}`;
  // Agents work ~9 s before they push: long enough to disrupt them while they run.
  const template = stack.writePodTemplate({ E2E_RECORD_DIR: records, E2E_STEP_SECONDS: '3' });
  worker = await startWorkerProcess({ env: stack.workerEnv(queue, template), logFile: path.join(stack.scratch, 'worker.log'), name: 'worker-disruption' });
  const createdBefore = stack.podCreations().length;
  const t0 = Date.now();
  const handle = await startRun(temporal.client, { taskQueue: queue, tasks: 3, repo: stack.repo, options: { maxParallel: 2, taskTimeoutSeconds: 180 } });

  // T001 and T002 run; T003 waits for a slot.
  const running = await eventually(async () => {
    const pods = await stack.pods();
    const byTask = (id: string) => pods.find((p) => p.metadata?.labels?.['sdlc-runner.dev/task'] === id && p.status?.phase === 'Running');
    const [p1, p2] = [byTask('T001'), byTask('T002')];
    return p1 && p2 && recordedRuns(records).length >= 2 && { p1: p1.metadata!.name!, p2: p2.metadata!.name! };
  }, 'T001 and T002 running', 60_000);

  await admin.deleteNamespacedPod({ name: running.p1, namespace: stack.namespace });
  await admin.createNamespacedPodEviction({ name: running.p2, namespace: stack.namespace, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: running.p2, namespace: stack.namespace } } });

  // While the replacements run, the run says why each task has a new pod.
  const reasons = await eventually(async () => {
    const s = await runState(handle);
    const [t1, t2] = [s.tasks[0]!, s.tasks[1]!];
    return t1.infraRetries === 1 && t2.infraRetries === 1 && { t1: t1.reason, t2: t2.reason };
  }, 'both tasks on a replacement pod', 60_000);
  expect(reasons.t1).toMatch(/^infrastructure retry 1 after: the pod was deleted by someone else before it finished/);
  expect(reasons.t2).toMatch(/^infrastructure retry 1 after: the pod was taken away by Kubernetes \(EvictionByEvictionAPI/);

  const summary = await runResult(handle);
  timing('disruption: 3 tasks, one pod deleted and one evicted (start → result)', Date.now() - t0);
  expect(summary.tasks.map((t) => [t.id, t.status, t.attempt])).toEqual([
    ['T001', 'succeeded', 1],
    ['T002', 'succeeded', 1],
    ['T003', 'succeeded', 1],
  ]);
  // Two pods for each disrupted task (the same attempt), one for T003; none left.
  const created = stack.podCreations().slice(createdBefore);
  expect(created.filter((n) => n.includes('-t001-a1'))).toHaveLength(2);
  expect(created.filter((n) => n.includes('-t002-a1'))).toHaveLength(2);
  expect(created.filter((n) => n.includes('-t003-'))).toHaveLength(1);
  await eventually(async () => (await stack.pods()).length === 0, 'every agent pod deleted', 30_000);
}, 240_000);
