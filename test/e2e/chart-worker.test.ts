/**
 * The chart's config really drives the product: the dev release is installed with `helm install`
 * (values pointing at the jest Temporal dev server), its worker Deployment's pod is run by the test
 * kubelet as a local process (the worker image is mapped to `node dist/worker/main.js`), and that
 * worker completes a one-task run.
 *
 * What stands in for what: there is no kube-controller-manager, so the test plays the ReplicaSet
 * controller (creates one Pod from the Deployment's pod template) and the root-CA publisher
 * (`kube-root-ca.crt` in the release namespace); there is no External Secrets Operator, so the test
 * creates the two Secrets the ExternalSecrets would sync. Everything the worker knows comes from the
 * chart: env from its ConfigMap, the agent pod template and the git read token as mounted files
 * (kubelet `mountVolumes`), and its Kubernetes identity from the pod's projected service-account
 * token (in-cluster config), bound by the chart's Role in the agent namespace.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import type { Client } from '@temporalio/client';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { repoRoot } from '../../src/tools';
import { startCluster, startWatchLoop, type Cluster } from '../support/cluster';
import { freePort } from '../../src/util/free-port';
import { startKubelet, type TestKubelet } from '../support/kubelet';
import { buildReleaseCopies, helmOk, releaseName, releaseNamespace, type ReleaseCopies } from '../chart/helm';
import { createBareRepo, sharedRepoGitConfig, type BareRepo } from './support/git-repo';
import { WORKER_MAIN, waitForWorkerReady } from './support/worker-process';
import { eventually, FAKE_AGENT, makeRecordDir, recordedRuns, runResult, startRun, temporalClient, temporalTarget, timing } from './support/stack';

const RELEASE = releaseName('dev');
const NS = releaseNamespace('dev');
const WORKER_IMAGE = 'sdlc-e2e/worker:chart';
const AGENT_IMAGE = 'sdlc-e2e/agent:chart';

let cluster: Cluster;
let kubelet: TestKubelet;
let copies: ReleaseCopies;
let repo: BareRepo;
let temporal: { client: Client; close(): Promise<void> };
let scratch: string;
let recordsRoot: string;
let core: CoreV1Api;
let adminKubeConfig: () => KubeConfig;
let apps: AppsV1Api;

beforeAll(async () => {
  const t0 = Date.now();
  temporal = await temporalClient();
  cluster = await startCluster({ audit: true });
  kubelet = await startKubelet({
    ...cluster.kubeletOptions(),
    mountVolumes: true,
    imageCommands: { [WORKER_IMAGE]: [process.execPath, WORKER_MAIN], [AGENT_IMAGE]: ['/bin/sh', FAKE_AGENT] },
  });
  copies = await buildReleaseCopies();
  repo = await createBareRepo('chart');
  scratch = mkdtempSync(path.join(os.tmpdir(), 'sdlc-e2e-chart-'));
  mkdirSync(path.join(repoRoot, 'test-output'), { recursive: true });
  recordsRoot = mkdtempSync(path.join(repoRoot, 'test-output', 'e2e-chart-'));
  chmodSync(recordsRoot, 0o755); // the chart's agent pod phases run as non-root uids
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  adminKubeConfig = () => kc;
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  timing('chart-worker: cluster + kubelet + release copies', Date.now() - t0);
}, 180_000);

afterAll(async () => {
  await kubelet?.stop();
  await cluster?.stop();
  await temporal?.close();
  copies?.cleanup();
  repo?.remove();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  if (recordsRoot) rmSync(recordsRoot, { recursive: true, force: true });
});

it('the worker Deployment from the dev release, run by the kubelet, connects to Temporal and completes a one-task run', async () => {
  const t0 = Date.now();
  const queue = `e2e-chart-${randomBytes(4).toString('hex')}`;
  const healthPort = await freePort();
  const metricsPort = await freePort();
  // Not under /tmp: the agent pod mounts an emptyDir at /tmp, and the kubelet remaps env paths under mounts.
  const records = makeRecordDir(recordsRoot, 'runs');
  // Not under /tmp either (same reason): lets the worker's and the phases' uids use the root-owned bare repo.
  const sharedRepo = [{ name: 'GIT_CONFIG_GLOBAL', value: sharedRepoGitConfig(recordsRoot) }];
  const [workerRepo, workerTag] = WORKER_IMAGE.split(':');
  const [agentRepo, agentTag] = AGENT_IMAGE.split(':');
  const values = {
    'agentic-sdlc-agent-runner': {
      image: { repository: workerRepo, tag: workerTag, pullPolicy: 'IfNotPresent' },
      temporal: { address: temporalTarget().address, namespace: temporalTarget().namespace, taskQueue: queue },
      worker: { healthPort, metricsPort, shutdownGraceSeconds: 5, extraEnv: sharedRepo },
      agents: {
        image: { repository: agentRepo, tag: agentTag, pullPolicy: 'IfNotPresent' },
        extraEnv: [{ name: 'E2E_RECORD_DIR', value: records }, ...sharedRepo],
        // The run's repository is a local bare repo: allowed explicitly, as a dev stack does.
        git: { allowedHosts: ['file://'] },
        // Quota admission needs the quota controller's status, which nothing computes here.
        resourceQuota: { enabled: false },
      },
      // No External Secrets Operator here: the test creates the Secrets it would sync.
      secrets: { externalSecret: { enabled: false } },
    },
  };
  const valuesFile = path.join(scratch, 'e2e-values.yaml');
  writeFileSync(valuesFile, YAML.stringify(values));
  await helmOk(['install', RELEASE, copies.dirs.dev, '--namespace', NS, '--create-namespace', '--values', valuesFile, '--kubeconfig', cluster.kubeconfigPath]);
  timing('chart-worker: helm install', Date.now() - t0);

  // The chart's objects tell us the names: the worker's Deployment, its Secret, the agent namespace and Secret.
  const deployment = (await apps.listNamespacedDeployment({ namespace: NS })).items.find((d) => d.metadata?.name === `${RELEASE}-worker`);
  if (!deployment?.spec?.template.spec) throw new Error(`helm install did not create Deployment ${NS}/${RELEASE}-worker`);
  const podSpec = deployment.spec.template.spec;
  // The worker mounts its git read token and (egress proxy mode, dev's default) the egress ticket key.
  const workerSecrets = (podSpec.volumes ?? []).flatMap((v) => (v.secret?.secretName ? [v.secret.secretName] : []));
  const config = await core.readNamespacedConfigMap({ namespace: NS, name: `${RELEASE}-config` });
  const agentNs = config.data!.SDLC_K8S_NAMESPACE!;
  const templateCm = await core.readNamespacedConfigMap({ namespace: NS, name: `${RELEASE}-pod-template` });
  const agentPod = YAML.parse(templateCm.data!['pod-template.yaml']!) as V1Pod;
  const agentSecret = agentPod.spec!.volumes!.find((v) => v.secret)!.secret!.secretName!;
  expect(agentNs).not.toBe(NS);
  expect(config.data).toMatchObject({ TEMPORAL_ADDRESS: temporalTarget().address, TEMPORAL_TASK_QUEUE: queue, SDLC_POD_TEMPLATE_FILE: '/etc/sdlc-runner/pod-template.yaml' });

  // What External Secrets Operator and kube-controller-manager's root-CA publisher would provide.
  expect(config.data).toMatchObject({ SDLC_EGRESS_PROXY: `${RELEASE}-egress-proxy.${NS}.svc.cluster.local:3128`, SDLC_EGRESS_TICKET_KEY_FILE: expect.any(String) });
  expect(workerSecrets).toHaveLength(2);
  for (const name of workerSecrets) {
    const stringData: Record<string, string> = /egress/.test(name) ? { 'ticket-keys': `${randomBytes(32).toString('hex')}\n` } : { 'git-read-token': 'e2e-read-token' };
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name }, stringData } });
  }
  await core.createNamespacedSecret({ namespace: agentNs, body: { metadata: { name: agentSecret }, stringData: { token: 'e2e-push-token', 'anthropic-api-key': 'sk-e2e' } } });
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': cluster.caPem } } });

  // The ReplicaSet controller's job: one pod from the Deployment's template.
  const workerPodName = `${RELEASE}-worker-e2e`;
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: workerPodName, labels: deployment.spec.template.metadata?.labels }, spec: podSpec } });
  const workerPod = () => core.readNamespacedPod({ namespace: NS, name: workerPodName });
  const workerDead = () => undefined;
  await eventually(async () => (await workerPod()).status?.phase === 'Running', 'the worker pod to run', 60_000);
  // Its readiness probe's endpoint, on the port the chart configured.
  await waitForWorkerReady(healthPort, 'the chart worker', workerDead, 60_000).catch(async (err: Error) => {
    const p = await workerPod();
    throw new Error(`${err.message}\npod status: ${JSON.stringify(p.status?.containerStatuses)}`);
  });
  timing('chart-worker: helm install → worker ready', Date.now() - t0);

  const t1 = Date.now();
  const handle = await startRun(temporal.client, { taskQueue: queue, tasks: 1, repo, options: { maxParallel: 1 } });
  const summary = await runResult(handle);
  timing('chart-worker: one-task run', Date.now() - t1);
  expect(summary.tasks.map((t) => [t.id, t.status, t.reason, t.lastLines])).toEqual([['T001', 'succeeded', undefined, undefined]]);
  expect(summary.status).toBe('succeeded');
  const task = summary.tasks[0]!;
  expect(task).toMatchObject({ id: 'T001', status: 'succeeded', attempt: 1 });
  expect(await repo.branchHead(task.branch)).toBe(task.commit);
  expect(recordedRuns(records)).toEqual([{ task: 'T001', pod: task.podName }]);

  // The agent pod was made in the agent namespace by the chart's worker ServiceAccount, with the chart's pod template.
  const creations = cluster.auditEvents().filter((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'pods' && !e.objectRef.subresource && e.objectRef.name === task.podName);
  expect(creations.map((e) => [e.user.username, e.objectRef?.namespace, e.responseStatus?.code])).toEqual([[`system:serviceaccount:${NS}:${RELEASE}-worker`, agentNs, 201]]);
  await eventually(async () => (await core.listNamespacedPod({ namespace: agentNs })).items.length === 0, 'the agent pod to be deleted', 30_000);
  // The chart's model gateway sidecar ran next to the phases with its key file, and was stopped (SIGTERM)
  // by the time the pod has gone.
  expect(readFileSync(path.join(records, 'gateway.log'), 'utf8').split('\n').filter(Boolean)).toEqual([
    `start key T001 ${task.podName}`,
    `stop T001 ${task.podName}`,
  ]);

  // Deleting the worker pod: the kubelet sends SIGTERM, the worker drains and exits 0, the pod goes away.
  // A watch sees the final container state, which the kubelet reports before the pod leaves the API.
  const seen: V1Pod[] = [];
  const watchLoop = startWatchLoop<V1Pod>({
    kubeConfig: adminKubeConfig(),
    path: `/api/v1/namespaces/${NS}/pods`,
    query: { fieldSelector: `metadata.name=${workerPodName}` },
    list: () => core.listNamespacedPod({ namespace: NS, fieldSelector: `metadata.name=${workerPodName}` }),
    onSync: (items) => seen.push(...items),
    onEvent: (type, pod) => seen.push(type === 'DELETED' ? { metadata: { name: 'DELETED' } } : pod),
  });
  await watchLoop.synced;
  const t2 = Date.now();
  await core.deleteNamespacedPod({ namespace: NS, name: workerPodName });
  await eventually(() => seen.some((p) => p.metadata?.name === 'DELETED'), 'the worker pod to leave the API', 40_000, 50);
  watchLoop.stop();
  const terminated = seen.map((p) => p.status?.containerStatuses?.[0]?.state?.terminated).find(Boolean);
  expect(terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  timing('chart-worker: worker pod delete → SIGTERM → exit 0 → gone', Date.now() - t2);
  timing('chart-worker: total', Date.now() - t0);
}, 240_000);
