/**
 * The real gateway against a real kube-apiserver (+ etcd) and the process-backed test kubelet,
 * acting as the runner's least-privilege ServiceAccount (Role: pods create/get/list/watch/delete,
 * pods/log get) — so every test here also proves the gateway needs nothing more.
 */
import { execFileSync } from 'node:child_process';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseResultLine } from '../../src/contract/result-line';
import { KubernetesError, LABELS, MANAGED_BY, type PodStatus } from '../../src/k8s/gateway';
import { createClientGateway, type ClientGateway } from '../../src/k8s/client-gateway';
import { toolPath } from '../../src/tools';
import { agentRequest, newRunId, numberedLines, POD_TEMPLATE, RESULT, startTestEnv, type TestEnv } from './support/env';
import { followToEnd } from './support/follow';

let env: TestEnv;
let gw: ClientGateway;

beforeAll(async () => {
  env = await startTestEnv('gateway');
  gw = env.gateway();
}, 240_000);

afterAll(async () => {
  await env?.stop();
});

afterEach(async () => {
  await env?.kubelet.clearFaults();
});

const ended = (p: PodStatus | undefined) => !p || p.phase === 'Succeeded' || p.phase === 'Failed';

describe('agent pod lifecycle through the real apiserver', () => {
  it('create → Running → logs followed → Succeeded, with the ::sdlc-result:: line', async () => {
    const runId = newRunId();
    const req = agentRequest(runId, 'T001', `echo "task $SDLC_TASK_ID from template=$FROM_TEMPLATE"; ${numberedLines(5, 0.02)}; sleep 1; printf '%s\\n' "$RESULT_LINE"; exit 0`, {
      env: { RESULT_LINE: RESULT },
    });
    const t0 = Date.now();
    expect(await gw.createPod(req)).toEqual({ name: req.name, created: true });

    const running = await gw.waitForPod(req.name, (p) => p?.phase === 'Running' || ended(p), { timeoutMs: 30_000 });
    expect(running?.phase).toBe('Running');
    expect(running?.labels).toMatchObject({ [LABELS.run]: runId, [LABELS.task]: 'T001', [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'agent' });

    const followed = await followToEnd(gw, req.name);
    const texts = followed.lines.map((l) => l.text);
    expect(texts).toEqual(['task T001 from template=yes', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5', RESULT]);
    const parsed = parseResultLine(texts[texts.length - 1]!);
    expect(parsed).toEqual({ ok: true, result: expect.objectContaining({ status: 'succeeded', taskId: 'T001', sha: 'a'.repeat(40) }) });
    expect(followed.final).toMatchObject({ phase: 'Succeeded', exitCode: 0, terminatedReason: 'Completed' });
    expect(followed.final?.startedAt).toBeDefined();
    expect(followed.final?.finishedAt).toBeDefined();
    // eslint-disable-next-line no-console
    console.log(`[timing] create → Succeeded + logs: ${Date.now() - t0} ms`);

    // The pod the apiserver stored carries the secure defaults and the per-task fields.
    const admin = new KubeConfig();
    admin.loadFromFile(env.cluster.kubeconfigPath);
    const stored = JSON.parse(
      execFileSync(toolPath('kubectl'), ['--kubeconfig', env.cluster.kubeconfigPath, '-n', env.namespace, 'get', 'pod', req.name, '-o', 'json'], { encoding: 'utf8' }),
    );
    expect(stored.spec).toMatchObject({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      activeDeadlineSeconds: 300,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    });
    expect(stored.spec.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(stored.spec.containers[0].resources.limits).toEqual({ cpu: '2', memory: '4Gi' });
    expect(stored.metadata.annotations['sdlc-runner.dev/workflow-id']).toBe(`wf-${runId}-T001`);
  });

  it('non-zero exit → Failed with the exit code, and the last lines (stderr too) are in the log', async () => {
    const req = agentRequest(newRunId(), 'T002', 'echo "cloning"; echo "fatal: could not push" >&2; exit 20');
    await gw.createPod(req);
    const followed = await followToEnd(gw, req.name);
    expect(followed.final).toMatchObject({ phase: 'Failed', exitCode: 20, terminatedReason: 'Error' });
    expect(followed.lines.map((l) => l.text)).toEqual(['cloning', 'fatal: could not push']);
  });

  it('image pull failure → stays Pending with the waiting reason visible; the pod is then deleted', async () => {
    const runId = newRunId();
    await env.kubelet.injectFault({ kind: 'imagePullFailure', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } }, message: 'manifest unknown' });
    const req = agentRequest(runId, 'T003', 'echo never');
    await gw.createPod(req);
    const pending = await gw.waitForPod(req.name, (p) => p?.waitingReason === 'ErrImagePull' || p?.waitingReason === 'ImagePullBackOff', { timeoutMs: 30_000 });
    expect(pending?.phase).toBe('Pending');
    expect(['ErrImagePull', 'ImagePullBackOff']).toContain(pending?.waitingReason);
    // Still Pending a while later: nothing makes progress while the registry says no.
    const later = await gw.waitForPod(req.name, (p) => p?.phase !== 'Pending', { timeoutMs: 2_000 });
    expect(later?.phase).toBe('Pending');
    expect(later?.waitingMessage ?? '').toMatch(/manifest unknown|pull/i);

    // The runner's pending timeout deletes it.
    await gw.deletePod(req.name, { gracePeriodSeconds: 0 });
    expect(await gw.waitForPod(req.name, (p) => p === undefined, { timeoutMs: 30_000 })).toBeUndefined();
    expect(await gw.getPod(req.name)).toBeUndefined();
  });

  it('a pod that ended without its container ever starting has an empty log, not an endless retry', async () => {
    const runId = newRunId();
    await env.kubelet.injectFault({ kind: 'imagePullFailure', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } } });
    // The deadline must not pass before the "not started yet" check below runs (pod start → ErrImagePull seen → read), even on a loaded machine.
    const req = agentRequest(runId, 'T008', 'echo never', { activeDeadlineSeconds: 10 });
    await gw.createPod(req);
    // While it may still start, following is a retryable "not started yet".
    await gw.waitForPod(req.name, (p) => p?.waitingReason === 'ErrImagePull' || p?.waitingReason === 'ImagePullBackOff', { timeoutMs: 30_000 });
    const early = await (async () => {
      for await (const _ of gw.followLogs(req.name)) return 'line';
      return 'ended';
    })().catch((e: unknown) => e);
    expect(early).toMatchObject({ retryable: true, message: expect.stringMatching(/has not started yet/) });
    const done = await gw.waitForPod(req.name, ended, { timeoutMs: 60_000 });
    expect(done).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
    const lines: string[] = [];
    for await (const l of gw.followLogs(req.name)) lines.push(l.text);
    expect(lines).toEqual([]);
  });

  it('activeDeadlineSeconds → Failed with reason DeadlineExceeded', async () => {
    const req = agentRequest(newRunId(), 'T004', 'echo started; sleep 120', { activeDeadlineSeconds: 2 });
    await gw.createPod(req);
    const done = await gw.waitForPod(req.name, ended, { timeoutMs: 60_000 });
    expect(done).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
  });

  it('OOMKilled is visible in the pod status (exit 137, reason OOMKilled)', async () => {
    const runId = newRunId();
    await env.kubelet.injectFault({ kind: 'oomKill', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } }, afterMs: 500 });
    const req = agentRequest(runId, 'T005', 'echo allocating; sleep 120');
    await gw.createPod(req);
    const done = await gw.waitForPod(req.name, ended, { timeoutMs: 60_000 });
    expect(done).toMatchObject({ phase: 'Failed', exitCode: 137, terminatedReason: 'OOMKilled' });
  });

  it('eviction is visible in the pod status (Failed, reason Evicted)', async () => {
    const runId = newRunId();
    await env.kubelet.injectFault({ kind: 'evict', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } }, afterMs: 500 });
    const req = agentRequest(runId, 'T006', 'echo working; sleep 120');
    await gw.createPod(req);
    const done = await gw.waitForPod(req.name, ended, { timeoutMs: 60_000 });
    expect(done).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    expect(done?.message).toMatch(/low on resource/);
  });

  it('graceful delete: the pod shows as deleting, then disappears; deleting again is not an error', async () => {
    const req = agentRequest(newRunId(), 'T007', "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done");
    await gw.createPod(req);
    await gw.waitForPod(req.name, (p) => p?.phase === 'Running', { timeoutMs: 30_000 });
    await gw.deletePod(req.name, { gracePeriodSeconds: 10 });
    const deleting = await gw.waitForPod(req.name, (p) => !p || p.deleting, { timeoutMs: 10_000 });
    if (deleting) expect(deleting.deleting).toBe(true);
    expect(await gw.waitForPod(req.name, (p) => !p, { timeoutMs: 30_000 })).toBeUndefined();
    await expect(gw.deletePod(req.name)).resolves.toBeUndefined();
  });

  it('delete with grace 0 of a running pod: the pod object stays (deleting) until the kubelet has stopped the agent; it is never force-removed while the agent may run', async () => {
    const req = agentRequest(newRunId(), 'T009', "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.1; done");
    await gw.createPod(req);
    await gw.waitForPod(req.name, (p) => p?.phase === 'Running', { timeoutMs: 30_000 });
    const admin = new KubeConfig();
    admin.loadFromFile(env.cluster.kubeconfigPath);
    const core = admin.makeApiClient(CoreV1Api);
    await gw.deletePod(req.name, { gracePeriodSeconds: 0 });
    // Read straight from the API: the object must still be there, marked for deletion, until the node confirms.
    const right = await core.readNamespacedPod({ name: req.name, namespace: env.namespace }).catch((e: unknown) => e);
    expect(right).toMatchObject({ metadata: { name: req.name, deletionTimestamp: expect.anything() } });
    const gone = await gw.waitForPod(req.name, (p) => !p, { timeoutMs: 30_000 });
    expect(gone).toBeUndefined();
  });
});

describe('idempotent create', () => {
  it('409 with the same run/task/attempt labels adopts the existing pod', async () => {
    const runId = newRunId();
    const req = agentRequest(runId, 'T010', 'sleep 5');
    expect(await gw.createPod(req)).toEqual({ name: req.name, created: true });
    // A retried activity (another worker, same request) adopts it instead of failing or duplicating.
    const other = env.gateway();
    expect(await other.createPod(req)).toEqual({ name: req.name, created: false });
    expect((await gw.listPods({ [LABELS.run]: runId })).map((p) => p.name)).toEqual([req.name]);
    await gw.deletePod(req.name, { gracePeriodSeconds: 0 });
  });

  it('409 with different labels is a clear, non-retryable error', async () => {
    const req = agentRequest(newRunId(), 'T011', 'sleep 5');
    await gw.createPod(req);
    const impostor = { ...req, labels: { ...req.labels, [LABELS.attempt]: '2' } };
    const err = await gw.createPod(impostor).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubernetesError);
    expect(err).toMatchObject({ retryable: false, statusCode: 409 });
    expect((err as Error).message).toMatch(new RegExp(`Pod "${req.name}" already exists .* belongs to another task attempt`));
    expect((err as Error).message).toMatch(/sdlc-runner.dev\/attempt=1; this request: .*sdlc-runner.dev\/attempt=2/);
    await gw.deletePod(req.name, { gracePeriodSeconds: 0 });
  });
});

describe('errors say what to fix', () => {
  it('a spec the apiserver rejects → non-retryable, with the apiserver\'s reason', async () => {
    const bad = env.gateway({ podTemplate: POD_TEMPLATE.replace('value: "yes"', 'value: "yes"\n      resources: { limits: { memory: "lots" } }') });
    const err = await bad.createPod(agentRequest(newRunId(), 'T020', 'true')).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: false });
    expect([400, 422]).toContain((err as KubernetesError).statusCode);
    expect((err as Error).message).toMatch(/invalid .*quantit/i);
  });

  it('403: names the verb, resource and the Role that must allow it', async () => {
    // The ServiceAccount's Role is only in its own namespace.
    const elsewhere = createClientGateway({ namespace: 'default', kubeConfig: env.saKubeConfig(), podTemplate: POD_TEMPLATE });
    try {
      const err = await elsewhere.createPod(agentRequest(newRunId(), 'T021', 'true')).catch((e: unknown) => e);
      expect(err).toMatchObject({ retryable: false, statusCode: 403 });
      expect((err as Error).message).toMatch(/must allow verb "create" on resource "pods" in namespace "default"/);
      const listErr = await elsewhere.listPods({}).catch((e: unknown) => e);
      expect((listErr as Error).message).toMatch(/verb "list" on resource "pods"/);
    } finally {
      await elsewhere.close();
    }
  });

  it('404 namespace: says to create it', async () => {
    const admin = new KubeConfig();
    admin.loadFromFile(env.cluster.kubeconfigPath);
    const nowhere = createClientGateway({ namespace: 'no-such-namespace', kubeConfig: admin, podTemplate: POD_TEMPLATE });
    try {
      const err = await nowhere.createPod(agentRequest(newRunId(), 'T022', 'true')).catch((e: unknown) => e);
      expect(err).toMatchObject({ retryable: false, statusCode: 404 });
      expect((err as Error).message).toMatch(/Namespace "no-such-namespace" does not exist.*kubectl create namespace no-such-namespace/);
    } finally {
      await nowhere.close();
    }
  });

  it('403 exceeded quota: retryable (capacity frees up as other agents end), says it is the quota, not the Role', async () => {
    const admin = new KubeConfig();
    admin.loadFromFile(env.cluster.kubeconfigPath);
    const core = admin.makeApiClient(CoreV1Api);
    const namespace = `quota-${newRunId('q').toLowerCase()}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedResourceQuota({ namespace, body: { metadata: { name: 'agents' }, spec: { hard: { pods: '0' } } } });
    // No quota controller in the test cluster: publish the status it would compute.
    await core.replaceNamespacedResourceQuotaStatus({
      name: 'agents',
      namespace,
      body: { metadata: { name: 'agents', namespace }, spec: { hard: { pods: '0' } }, status: { hard: { pods: '0' }, used: { pods: '0' } } },
    });
    const full = createClientGateway({ namespace, kubeConfig: admin, podTemplate: POD_TEMPLATE });
    try {
      const err = await full.createPod(agentRequest(newRunId(), 'T024', 'true')).catch((e: unknown) => e);
      expect(err).toMatchObject({ statusCode: 403, retryable: true });
      expect((err as Error).message).toMatch(/exceeded quota: agents/);
      expect((err as Error).message).toMatch(/ResourceQuota/);
      expect((err as Error).message).not.toMatch(/Role/);
    } finally {
      await full.close();
      await core.deleteNamespace({ name: namespace });
    }
  });

  it('an unreachable apiserver is a retryable error', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', caData: Buffer.from(env.cluster.caPem).toString('base64') }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const dead = createClientGateway({ namespace: env.namespace, kubeConfig: kc, podTemplate: POD_TEMPLATE, syncWaitMs: 100 });
    try {
      await expect(dead.createPod(agentRequest(newRunId(), 'T023', 'true'))).rejects.toMatchObject({ retryable: true });
    } finally {
      await dead.close();
    }
  });
});

describe('logs', () => {
  it('log stream cut mid-way → reconnect from the last timestamp, no line lost or repeated', async () => {
    const runId = newRunId();
    // Two cuts: after 7 lines of the first stream and 7 lines of the second.
    await env.kubelet.injectFault({ kind: 'cutLogStream', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } }, afterLines: 7, times: 2 });
    const req = agentRequest(runId, 'T030', `${numberedLines(40, 0.05)}; printf '%s\\n' "$RESULT_LINE"`, { env: { RESULT_LINE: RESULT } });
    await gw.createPod(req);
    const followed = await followToEnd(gw, req.name);
    const expected = [...Array.from({ length: 40 }, (_, i) => `line ${i + 1}`), RESULT];
    expect(followed.lines.map((l) => l.text)).toEqual(expected);
    expect(followed.streams).toBeGreaterThanOrEqual(3);
    expect(followed.final?.phase).toBe('Succeeded');
  });

  it('a burst of lines written at once keeps its order and count across a cut', async () => {
    const runId = newRunId();
    await env.kubelet.injectFault({ kind: 'cutLogStream', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } }, afterLines: 50 });
    const req = agentRequest(runId, 'T031', 'sleep 0.5; i=1; while [ $i -le 200 ]; do echo "burst $i"; i=$((i+1)); done');
    await gw.createPod(req);
    const followed = await followToEnd(gw, req.name);
    expect(followed.lines.map((l) => l.text)).toEqual(Array.from({ length: 200 }, (_, i) => `burst ${i + 1}`));
  });
});

describe('listing and least privilege', () => {
  it('listPods selects a run\'s pods by label; getPod of an unknown pod is undefined', async () => {
    const runA = newRunId('list');
    const runB = newRunId('list');
    const a1 = agentRequest(runA, 'T040', 'true');
    const a2 = agentRequest(runA, 'T041', 'true');
    const b1 = agentRequest(runB, 'T040', 'true');
    await Promise.all([a1, a2, b1].map((r) => gw.createPod(r)));
    expect((await gw.listPods({ [LABELS.run]: runA })).map((p) => p.name).sort()).toEqual([a1.name, a2.name].sort());
    expect((await gw.listPods({ [LABELS.run]: runA, [LABELS.task]: 'T041' })).map((p) => p.name)).toEqual([a2.name]);
    expect(await gw.getPod('sdlc-no-such-pod')).toBeUndefined();
  });

  it('the ServiceAccount may do exactly what the gateway needs (kubectl auth can-i)', () => {
    const canI = (...args: string[]) => {
      try {
        return execFileSync(toolPath('kubectl'), ['--kubeconfig', env.access.kubeconfigPath, 'auth', 'can-i', ...args], { encoding: 'utf8' }).trim();
      } catch (err) {
        return String((err as { stdout?: string }).stdout ?? '').trim();
      }
    };
    for (const verb of ['create', 'get', 'list', 'watch', 'delete']) expect(canI(verb, 'pods', '-n', env.namespace)).toBe('yes');
    expect(canI('get', 'pods', '--subresource=log', '-n', env.namespace)).toBe('yes');
    expect(canI('update', 'pods', '-n', env.namespace)).toBe('no');
    expect(canI('get', 'secrets', '-n', env.namespace)).toBe('no');
    expect(canI('create', 'pods', '-n', 'default')).toBe('no');
    expect(canI('create', 'pods', '--subresource=exec', '-n', env.namespace)).toBe('no');
  });

  it('one shared watch served all of the above', () => {
    const stats = gw.watchStats();
    expect(stats.openWatches).toBe(1);
    expect(stats.lists).toBe(1);
    // eslint-disable-next-line no-console
    console.log(`[stats] gateway watch: ${JSON.stringify(stats)}`);
  });
});
