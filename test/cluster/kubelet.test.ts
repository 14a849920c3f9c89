/**
 * The test kubelet against the real kube-apiserver: pods run as local processes and go through the
 * real phases; logs reach kubectl through the apiserver's pods/log proxy; faults behave as on a node.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CoreV1Api, V1Node, V1Pod } from '@kubernetes/client-node';
import { createLeastPrivilegeAccess, createNamespace, startCluster, type Cluster } from '../support/cluster';
import { startKubelet, type TestKubelet } from '../support/kubelet';
import { bashPod, coreApi, kubectl, kubectlStream, phaseIs, readPod, waitForPod } from './helpers';

const NS = 'kubelet-test';
let cluster: Cluster;
let kubelet: TestKubelet;
let api: CoreV1Api;
let scratch: string;
const kubeletLog: string[] = [];

beforeAll(async () => {
  const started = Date.now();
  cluster = await startCluster();
  kubelet = await startKubelet({
    ...cluster.kubeletOptions(),
    imageCommands: { 'example.com/agent:1': ['bash', '-c', 'echo "agent says $GREETING"; echo "args: $*"', 'agent'] },
    log: (s) => kubeletLog.push(s),
  });
  // eslint-disable-next-line no-console
  console.log(`[kubelet.test] control plane ${cluster.startupMs} ms, + kubelet: ${Date.now() - started} ms`);
  await createNamespace(cluster, NS);
  api = coreApi(cluster.kubeconfigPath);
  scratch = mkdtempSync(path.join(os.tmpdir(), 'kubelet-test-'));
}, 180_000);

afterAll(async () => {
  await kubelet?.stop();
  await cluster?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

afterEach(async () => {
  await kubelet.clearFaults();
});

const create = (pod: V1Pod) => api.createNamespacedPod({ namespace: NS, body: pod });
const terminated = (pod: V1Pod | undefined) => pod?.status?.containerStatuses?.[0]?.state?.terminated;
const k = (...args: string[]) => kubectl(cluster.kubeconfigPath, ['-n', NS, ...args]);

test('registers a Ready node with InternalIP 127.0.0.1 and its log endpoint port', async () => {
  const out = await kubectl(cluster.kubeconfigPath, ['get', 'node', kubelet.nodeName, '-o', 'json']);
  expect(out.code).toBe(0);
  const node = JSON.parse(out.stdout) as V1Node;
  expect(node.status?.addresses).toContainEqual({ type: 'InternalIP', address: '127.0.0.1' });
  expect(node.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBe(kubelet.port);
  expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  expect(node.status?.capacity?.pods).toBeDefined();
});

test('an unscheduled pod is bound, runs to Succeeded, and kubectl logs -f streams every line', async () => {
  await create(bashPod('hello', 'for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.3; done'));
  const running = await waitForPod(api, NS, 'hello', phaseIs('Running', 'Succeeded'));
  expect(running?.spec?.nodeName).toBe(kubelet.nodeName);
  const follow = kubectlStream(cluster.kubeconfigPath, ['-n', NS, 'logs', '-f', 'hello']);
  const result = await follow.done;
  expect(result.code).toBe(0);
  expect(follow.lines).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);

  const done = await waitForPod(api, NS, 'hello', phaseIs('Succeeded'));
  expect(terminated(done)).toMatchObject({ exitCode: 0, reason: 'Completed' });
  expect(terminated(done)?.finishedAt).toBeDefined();
  expect(done?.status?.containerStatuses?.[0]?.state?.terminated?.startedAt).toBeDefined();
});

test('status goes Pending (ContainerCreating) → Running (startedAt) → Succeeded, as seen by a watcher', async () => {
  const seen: string[] = [];
  const record = (pod: V1Pod | undefined) => {
    const cs = pod?.status?.containerStatuses?.[0]?.state;
    const label = `${pod?.status?.phase}/${cs?.waiting?.reason ?? (cs?.running ? 'running' : cs?.terminated?.reason) ?? '-'}`;
    // Before the kubelet's first report the apiserver shows Pending with no container statuses.
    if (pod?.status?.containerStatuses && seen[seen.length - 1] !== label) seen.push(label);
    return pod?.status?.phase === 'Succeeded';
  };
  // Env resolution waits for this secret, so the pod is visibly Pending first.
  await create(
    bashPod('phases', 'sleep 1; echo done', {
      env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'late-secret', key: 'token' } } }],
    }),
  );
  await waitForPod(api, NS, 'phases', (p) => (record(p), p?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError'));
  await api.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'late-secret' }, stringData: { token: 's3cr3t' } } });
  const done = await waitForPod(api, NS, 'phases', record, 30_000);
  expect(seen[0]).toMatch(/^Pending\/(ContainerCreating|CreateContainerConfigError)$/);
  expect(seen).toContain('Pending/CreateContainerConfigError');
  expect(seen).toContain('Running/running');
  expect(seen[seen.length - 1]).toBe('Succeeded/Completed');
  expect(done?.status?.startTime).toBeDefined();
});

test('env from secretKeyRef, configMapKeyRef and fieldRef; $(VAR) expansion; pre-set nodeName; image command mapping', async () => {
  await api.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'creds' }, stringData: { key: 'secret-value' } } });
  await api.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'settings' }, data: { mode: 'fast' } } });
  await create({
    metadata: { name: 'envpod', labels: { task: 'T001' } },
    spec: {
      nodeName: kubelet.nodeName,
      restartPolicy: 'Never',
      containers: [
        {
          name: 'main',
          image: 'busybox',
          command: ['sh', '-c', 'echo "$SECRET $MODE $POD $NSP $TASK $COMBINED"; pwd'],
          env: [
            { name: 'SECRET', valueFrom: { secretKeyRef: { name: 'creds', key: 'key' } } },
            { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
            { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'NSP', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'TASK', valueFrom: { fieldRef: { fieldPath: "metadata.labels['task']" } } },
            { name: 'COMBINED', value: '$(MODE)-$(POD)' },
          ],
        },
        { name: 'agent', image: 'example.com/agent:1', args: ['--task', '$(TASK)'], env: [{ name: 'GREETING', value: 'hi' }, { name: 'TASK', value: 'T001' }] },
      ],
    },
  });
  await waitForPod(api, NS, 'envpod', phaseIs('Succeeded'));
  const main = await k('logs', 'envpod', '-c', 'main');
  const [envLine, cwd] = main.stdout.trim().split('\n');
  expect(envLine).toBe('secret-value fast envpod kubelet-test T001 fast-envpod');
  expect(cwd).toContain(kubelet.rootDir);
  const agent = await k('logs', 'envpod', '-c', 'agent');
  expect(agent.stdout).toBe('agent says hi\nargs: --task T001\n');
});

test('the runner\'s least-privilege ServiceAccount can create a pod and follow its log, and nothing more', async () => {
  const access = await createLeastPrivilegeAccess(cluster, { namespace: 'lp-runner' });
  const lpApi = coreApi(access.kubeconfigPath);
  await lpApi.createNamespacedPod({ namespace: 'lp-runner', body: bashPod('lp', 'echo one; sleep 0.5; echo two') });
  await waitForPod(lpApi, 'lp-runner', 'lp', phaseIs('Running', 'Succeeded'));
  const follow = kubectlStream(access.kubeconfigPath, ['logs', '-f', 'lp']);
  expect((await follow.done).code).toBe(0);
  expect(follow.lines).toEqual(['one', 'two']);
  const exec = await kubectl(access.kubeconfigPath, ['get', 'configmaps']);
  expect(exec.stderr).toMatch(/forbidden/i);
  await lpApi.deleteNamespacedPod({ namespace: 'lp-runner', name: 'lp' });
  await waitForPod(lpApi, 'lp-runner', 'lp', (p) => p === undefined);
});

test('non-zero exit → Failed with the exit code; stderr is in the log', async () => {
  await create(bashPod('fails', 'echo "about to fail" >&2; exit 3'));
  const pod = await waitForPod(api, NS, 'fails', phaseIs('Failed', 'Succeeded'));
  expect(pod?.status?.phase).toBe('Failed');
  expect(terminated(pod)).toMatchObject({ exitCode: 3, reason: 'Error' });
  expect((await k('logs', 'fails')).stdout).toBe('about to fail\n');
});

test('activeDeadlineSeconds → Failed, reason DeadlineExceeded, process killed', async () => {
  const marker = path.join(scratch, 'deadline-still-running');
  await create(bashPod('deadline', `sleep 8; touch ${marker}`, { activeDeadlineSeconds: 2, terminationGracePeriodSeconds: 1 }));
  const pod = await waitForPod(api, NS, 'deadline', phaseIs('Failed', 'Succeeded'), 20_000);
  expect(pod?.status).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
  expect(terminated(pod)?.exitCode).toBe(143); // SIGTERM
  await new Promise((r) => setTimeout(r, 7000));
  expect(() => readFileSync(marker)).toThrow();
}, 40_000);

test('graceful deletion: SIGTERM, the pod stays until the container exits, then the kubelet deletes it', async () => {
  await create(bashPod('graceful', 'trap "echo got TERM; sleep 1; exit 0" TERM; echo started; while true; do sleep 0.1; done', { terminationGracePeriodSeconds: 20 }));
  await waitForPod(api, NS, 'graceful', phaseIs('Running'));
  await waitForPod(api, NS, 'graceful', () => kubelet.pods().some((p) => p.name === 'graceful'));
  const lines: string[] = [];
  const follow = kubectlStream(cluster.kubeconfigPath, ['-n', NS, 'logs', '-f', 'graceful']);
  while (!follow.lines.includes('started')) await new Promise((r) => setTimeout(r, 50));

  const started = Date.now();
  await api.deleteNamespacedPod({ namespace: NS, name: 'graceful' });
  const terminating = await readPod(api, NS, 'graceful');
  expect(terminating?.metadata?.deletionTimestamp).toBeDefined(); // not gone yet: the kubelet must confirm
  await waitForPod(api, NS, 'graceful', (p) => p === undefined, 20_000);
  const tookMs = Date.now() - started;
  expect(tookMs).toBeGreaterThanOrEqual(900); // the trap's `sleep 1` ran
  expect(tookMs).toBeLessThan(15_000); // and it did not wait for the 20 s grace period
  await follow.done;
  lines.push(...follow.lines);
  expect(lines).toEqual(['started', 'got TERM']);
});

test('graceful deletion: SIGKILL after the grace period when SIGTERM is ignored', async () => {
  await create(bashPod('stubborn', 'trap "" TERM; echo started; while true; do sleep 0.1; done'));
  await waitForPod(api, NS, 'stubborn', phaseIs('Running'));
  const seen: V1Pod[] = [];
  const started = Date.now();
  await api.deleteNamespacedPod({ namespace: NS, name: 'stubborn', gracePeriodSeconds: 2 });
  await waitForPod(api, NS, 'stubborn', (p) => (p && seen.push(p), p === undefined), 20_000);
  expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  const last = seen.reverse().find((p) => terminated(p));
  // The final status reaches the API before the kubelet's own delete (not always observed by polling).
  if (last) expect(terminated(last)?.exitCode).toBe(137);
});

test('kubectl logs options: --tail, --timestamps, --since-time, --limit-bytes', async () => {
  await create(bashPod('many', 'for i in $(seq 1 20); do echo "n$i"; done'));
  await waitForPod(api, NS, 'many', phaseIs('Succeeded'));
  expect((await k('logs', 'many', '--tail=3')).stdout).toBe('n18\nn19\nn20\n');
  const stamped = (await k('logs', 'many', '--timestamps')).stdout.trim().split('\n');
  expect(stamped).toHaveLength(20);
  for (const l of stamped) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z n\d+$/);
  // since-time in the future: nothing; in the past: everything
  expect((await k('logs', 'many', '--since-time=2999-01-01T00:00:00Z')).stdout).toBe('');
  expect((await k('logs', 'many', '--since-time=2000-01-01T00:00:00Z')).stdout.split('\n')).toHaveLength(21);
  expect((await k('logs', 'many', '--limit-bytes=7')).stdout).toBe('n1\nn2\nn');
  const previous = await k('logs', 'many', '--previous');
  expect(previous.code).not.toBe(0);
  expect(previous.stderr).toMatch(/previous terminated container "main" in pod "many" not found/);
});

test('fault: image pull failure keeps the pod Pending with ErrImagePull / ImagePullBackOff until cleared', async () => {
  await kubelet.injectFault({ kind: 'imagePullFailure', target: { image: 'registry.example/missing:1' } });
  await create(bashPod('nopull', 'echo pulled', { image: 'registry.example/missing:1' }));
  const reasons = new Set<string>();
  // Watch it for at least 3.5 s, and until both reasons showed (binding and the first status report
  // can take a while on a loaded machine); it must stay Pending throughout.
  const minimum = Date.now() + 3500;
  const deadline = Date.now() + 30_000;
  while ((Date.now() < minimum || reasons.size < 2) && Date.now() < deadline) {
    const p = await readPod(api, NS, 'nopull');
    expect(p?.status?.phase ?? 'Pending').toBe('Pending');
    const r = p?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
    if (r) reasons.add(r);
    await new Promise((r2) => setTimeout(r2, 200));
  }
  expect([...reasons].sort()).toEqual(['ErrImagePull', 'ImagePullBackOff']);
  await kubelet.clearFaults();
  await waitForPod(api, NS, 'nopull', phaseIs('Succeeded'));
});

test('fault: OOM kill → Failed, terminated reason OOMKilled, exit code 137', async () => {
  await create(bashPod('oom', 'echo up; sleep 30'));
  await waitForPod(api, NS, 'oom', phaseIs('Running'));
  await kubelet.injectFault({ kind: 'oomKill', target: { namespace: NS, name: 'oom' } });
  const pod = await waitForPod(api, NS, 'oom', phaseIs('Failed', 'Succeeded'));
  expect(pod?.status?.phase).toBe('Failed');
  expect(terminated(pod)).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
});

test('fault: eviction → Failed, reason Evicted; the pod object stays', async () => {
  await kubelet.injectFault({ kind: 'evict', target: { name: 'evictme' }, afterMs: 500 });
  await create(bashPod('evictme', 'sleep 30'));
  const pod = await waitForPod(api, NS, 'evictme', phaseIs('Failed', 'Succeeded'));
  expect(pod?.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
  expect(pod?.status?.message).toMatch(/low on resource/);
  expect(await readPod(api, NS, 'evictme')).toBeDefined();
});

test('fault: a log stream cut mid-way; the next request (sinceTime) resumes', async () => {
  // Slow enough that the cut visibly happens while the container still runs, even on a loaded machine.
  await create(bashPod('cut', 'for i in $(seq 1 12); do echo "c$i"; sleep 0.4; done'));
  await waitForPod(api, NS, 'cut', phaseIs('Running'));
  await kubelet.injectFault({ kind: 'cutLogStream', target: { name: 'cut' }, afterLines: 4 });
  const first = kubectlStream(cluster.kubeconfigPath, ['-n', NS, 'logs', '-f', '--timestamps', 'cut']);
  await first.done;
  expect(first.lines).toHaveLength(4);
  const lastTs = first.lines[3]!.split(' ')[0]!;
  expect((await readPod(api, NS, 'cut'))?.status?.phase).toBe('Running'); // cut early, not at the end

  const second = kubectlStream(cluster.kubeconfigPath, ['-n', NS, 'logs', '-f', '--timestamps', `--since-time=${lastTs}`, 'cut']);
  expect((await second.done).code).toBe(0);
  // sinceTime has second precision on the wire: the resume repeats lines of that second; drop the seen ones.
  const seen = new Set(first.lines);
  const all = [...first.lines, ...second.lines.filter((l) => !seen.has(l))].map((l) => l.split(' ')[1]);
  expect(all).toEqual(Array.from({ length: 12 }, (_, i) => `c${i + 1}`));
});

test('fault: node NotReady → Ready=False and new pods stay unscheduled until cleared', async () => {
  await kubelet.injectFault({ kind: 'nodeNotReady', message: 'injected' });
  const node = await kubectl(cluster.kubeconfigPath, ['get', 'node', kubelet.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
  expect(node.stdout).toBe('False');
  await create(bashPod('waits', 'echo ran'));
  await new Promise((r) => setTimeout(r, 1500));
  const pending = await readPod(api, NS, 'waits');
  expect(pending?.spec?.nodeName).toBeUndefined();
  expect(pending?.status?.phase).toBe('Pending');
  await kubelet.clearFaults();
  await waitForPod(api, NS, 'waits', phaseIs('Succeeded'));
});

test('100 pods at once all complete on one pod watch', async () => {
  const watchesBefore = kubelet.watchRequests();
  const names = Array.from({ length: 100 }, (_, i) => `bulk-${i}`);
  const started = Date.now();
  await Promise.all(names.map((n) => create(bashPod(n, `echo ${n}`))));
  const deadline = Date.now() + 90_000;
  for (;;) {
    const list = await api.listNamespacedPod({ namespace: NS, labelSelector: 'test=cluster' });
    const bulk = list.items.filter((p) => p.metadata?.name?.startsWith('bulk-'));
    if (bulk.length === 100 && bulk.every((p) => p.status?.phase === 'Succeeded')) break;
    if (Date.now() > deadline) throw new Error(`bulk pods not done: ${bulk.filter((p) => p.status?.phase !== 'Succeeded').length} left`);
    await new Promise((r) => setTimeout(r, 500));
  }
  // eslint-disable-next-line no-console
  console.log(`[kubelet.test] 100 pods Succeeded in ${Date.now() - started} ms`);
  expect((await k('logs', 'bulk-42')).stdout).toBe('bulk-42\n');
  expect(kubelet.watchRequests() - watchesBefore).toBeLessThanOrEqual(2);
}, 120_000);

test('the kubelet keeps working across an apiserver kill -9 + restart', async () => {
  await create(bashPod('across', 'for i in $(seq 1 10); do echo "a$i"; sleep 0.3; done'));
  await waitForPod(api, NS, 'across', phaseIs('Running'));
  await cluster.restartApiserver();
  const pod = await waitForPod(api, NS, 'across', phaseIs('Succeeded', 'Failed'), 30_000);
  expect(pod?.status?.phase).toBe('Succeeded');
  expect((await k('logs', 'across')).stdout.trim().split('\n')).toHaveLength(10);
  await create(bashPod('after-restart', 'echo fine'));
  await waitForPod(api, NS, 'after-restart', phaseIs('Succeeded'));
}, 90_000);

test('secrets never reach argv: env values are only in the environment', async () => {
  await api.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'argv-check' }, stringData: { v: 'do-not-leak' } } });
  const out = path.join(scratch, 'cmdline');
  // `$$$$`: Kubernetes turns `$$` in command/args into `$`, so bash sees `$$` (its own PID).
  await create(bashPod('argv', `cat /proc/$$$$/cmdline | tr '\\0' ' ' > ${out}; echo "len=\${#V}"`, { env: [{ name: 'V', valueFrom: { secretKeyRef: { name: 'argv-check', key: 'v' } } }] }));
  await waitForPod(api, NS, 'argv', phaseIs('Succeeded'));
  expect(readFileSync(out, 'utf8')).not.toContain('do-not-leak');
  expect((await k('logs', 'argv')).stdout).toBe('len=11\n');
  writeFileSync(out, '');
});

test('a restarted kubelet does not run a pod twice: containers lost with the old one end ContainerStatusUnknown', async () => {
  const marker = path.join(scratch, 'runs');
  await create(bashPod('lost', `echo run >> ${marker}; sleep 30`));
  await waitForPod(api, NS, 'lost', phaseIs('Running'));
  await kubelet.stop(); // the node dies: its processes with it
  kubelet = await startKubelet({ ...cluster.kubeletOptions(), log: (s) => kubeletLog.push(s) });
  const pod = await waitForPod(api, NS, 'lost', phaseIs('Failed', 'Succeeded'));
  expect(pod?.status?.phase).toBe('Failed');
  expect(terminated(pod)).toMatchObject({ exitCode: 137, reason: 'ContainerStatusUnknown' });
  expect(readFileSync(marker, 'utf8')).toBe('run\n');
  await create(bashPod('after-kubelet-restart', 'echo ok'));
  await waitForPod(api, NS, 'after-kubelet-restart', phaseIs('Succeeded'));
});

test("a force-deleted pod's processes all die, also one that started a session of its own (as the agent runs opencode)", async () => {
  const pidFile = path.join(scratch, 'detached.pid');
  // setsid: a new session and process group, out of reach of a kill of the container's group alone.
  // ($BASHPID, not $$: Kubernetes expands $$ in a command to $.)
  await create(bashPod('detached', `setsid bash -c 'echo $BASHPID > ${pidFile}; exec sleep 300' & sleep 300`));
  await waitForPod(api, NS, 'detached', phaseIs('Running'));
  const pid = await (async () => {
    for (let i = 0; i < 100; i++) {
      try {
        const p = Number(readFileSync(pidFile, 'utf8').trim());
        if (p) return p;
      } catch {
        // not written yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the detached process never wrote its pid: ${(await k('logs', 'detached')).stdout}`);
  })();
  const alive = (p: number) => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  };
  expect(alive(pid)).toBe(true);
  await api.deleteNamespacedPod({ name: 'detached', namespace: NS, gracePeriodSeconds: 0 });
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  expect(alive(pid)).toBe(false);
});
