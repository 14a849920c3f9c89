/**
 * The test kubelet's container backend (startKubelet({ runtime: 'podman' }), test/support/kubelet/podman.ts)
 * against the real kube-apiserver: pods run as real containers of the built agent image in a podman pod, and
 * what the runtime enforces is seen from inside the containers — the uid/gids, the read-only root filesystem,
 * dropped capabilities, Secret/ConfigMap files mounted read-only, env from a Secret, init containers in order,
 * an emptyDir shared by containers of different uids, a real OOM kill (OOMKilled, 137), activeDeadlineSeconds
 * with a graceful stop, and the logs with timestamps through the apiserver's pods/log. Fails loudly without
 * podman or the image (never skips).
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { podman, requirePodmanImages } from '../support/kubelet/podman';
import { phaseIs, readPod, startKubeletTestEnv, waitForPod, type KubeletTestEnv } from './helpers';

const NS = 'kubelet-podman';
/** The built agent image (`npm run images`): bash and node, no registry needed. */
const IMAGE = 'localhost/sdlc-runner/agent:dev';
let env: KubeletTestEnv;
/** What the kubelet logged (a container that did not start says why, with its podman command): shown when a test fails. */
const kubeletLog: string[] = [];

beforeAll(async () => {
  await requirePodmanImages([IMAGE]);
  env = await startKubeletTestEnv(NS, { runtime: 'podman', log: (l) => kubeletLog.push(l) });
  await env.api.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'creds' }, stringData: { token: 's3cret-token', user: 'robot' } } });
  await env.api.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'settings' }, data: { 'app.conf': 'mode=strict\n' } } });
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

const create = (pod: V1Pod) => env.api.createNamespacedPod({ namespace: NS, body: pod });
const bash = (name: string, script: string, extra: Partial<V1Container> = {}): V1Container => ({ name, image: IMAGE, command: ['bash', '-c', script], ...extra });
const statusOf = (pod: V1Pod | undefined, name: string) =>
  [...(pod?.status?.initContainerStatuses ?? []), ...(pod?.status?.containerStatuses ?? [])].find((s) => s.name === name);
/** A container's log through the apiserver (pods/log → the kubelet's /containerLogs). */
const logOf = async (pod: string, container: string, timestamps = false) =>
  String(await env.api.readNamespacedPodLog({ namespace: NS, name: pod, container, timestamps }));
const done = (name: string, timeoutMs = 60_000) => waitForPod(env.api, NS, name, phaseIs('Succeeded', 'Failed'), timeoutMs);

/** The chart's container security context. */
const restricted = { runAsUser: 10001, runAsGroup: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

test('securityContext, Secret env and files, ConfigMap files: enforced inside the container; logs carry timestamps through the API', async () => {
  const script = [
    'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"',
    'touch /rootfs-file 2>/dev/null && echo "root: writable" || echo "root: read-only"',
    'echo "token=$(cat /etc/creds/token) env=$SECRET_USER conf=$(cat /etc/app/app.conf)"',
    '{ echo x > /etc/creds/token; } 2>/dev/null && echo "secret: writable" || echo "secret: read-only"',
    '{ touch /etc/app/new; } 2>/dev/null && echo "configmap: writable" || echo "configmap: read-only"',
    'echo "secret mode=$(stat -L -c %a /etc/creds/token) group=$(stat -L -c %g /etc/creds/token)"',
    'echo "capeff=$(grep CapEff /proc/self/status | cut -f2) nonewprivs=$(grep NoNewPrivs /proc/self/status | cut -f2)"',
    'echo hi > /scratch/f && echo "emptyDir: writable group=$(stat -c %g /scratch/f)"',
    'echo "to stderr" >&2',
  ].join('; ');
  await create({
    metadata: { name: 'secure' },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { fsGroup: 10000, runAsNonRoot: true },
      containers: [
        bash('main', script, {
          securityContext: restricted,
          env: [{ name: 'SECRET_USER', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } }],
          volumeMounts: [
            { name: 'creds', mountPath: '/etc/creds' },
            { name: 'settings', mountPath: '/etc/app' },
            { name: 'scratch', mountPath: '/scratch' },
          ],
        }),
      ],
      volumes: [
        { name: 'creds', secret: { secretName: 'creds', defaultMode: 0o440 } },
        { name: 'settings', configMap: { name: 'settings' } },
        { name: 'scratch', emptyDir: {} },
      ],
    },
  });
  const pod = await done('secure');
  expect(statusOf(pod, 'main')?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  const lines = (await logOf('secure', 'main')).split('\n').filter(Boolean);
  expect(lines).toEqual([
    'uid=10001 gid=10001 groups=10001 10000',
    'root: read-only',
    'token=s3cret-token env=robot conf=mode=strict',
    'secret: read-only',
    'configmap: read-only',
    'secret mode=440 group=10000',
    'capeff=0000000000000000 nonewprivs=1',
    'emptyDir: writable group=10000',
    'to stderr',
  ]);
  // With timestamps: every line as the kubelet serves it, RFC3339 with nanoseconds, in order.
  const stamped = (await logOf('secure', 'main', true)).split('\n').filter(Boolean);
  expect(stamped.map((l) => l.slice(l.indexOf(' ') + 1))).toEqual(lines);
  const times = stamped.map((l) => l.slice(0, l.indexOf(' ')));
  for (const t of times) expect(t).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/);
  expect([...times].sort()).toEqual(times);
}, 90_000);

test('init containers run in order before the containers; an emptyDir is shared by containers of different uids (fsGroup)', async () => {
  const shared = [{ name: 'shared', mountPath: '/shared' }];
  await create({
    metadata: { name: 'ordered' },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { fsGroup: 10000 },
      initContainers: [
        // Files of their own: a file one uid creates (umask 022) is not writable by another, in Kubernetes too.
        bash('first', 'echo "first uid=$(id -u)" > /shared/1', { securityContext: { ...restricted, runAsUser: 10002, runAsGroup: 10002 }, volumeMounts: shared }),
        bash('second', 'test -s /shared/1 && echo "second uid=$(id -u) saw: $(cat /shared/1)" > /shared/2', { securityContext: { ...restricted, runAsUser: 10003, runAsGroup: 10003 }, volumeMounts: shared }),
      ],
      containers: [
        bash('writer', 'test -s /shared/2 && echo "writer uid=$(id -u)" > /shared/3', { securityContext: restricted, volumeMounts: shared }),
        // Waits for its neighbour's file (a condition, not a fixed delay), then shows the whole story.
        bash('reader', 'for i in $(seq 1 300); do test -s /shared/3 && break; sleep 0.1; done; cat /shared/1 /shared/2 /shared/3; ls -ln /shared | tail -n +2 | awk \'{print $1, $3, $4}\'', { securityContext: { ...restricted, runAsUser: 10004, runAsGroup: 10004 }, volumeMounts: shared }),
      ],
      volumes: [{ name: 'shared', emptyDir: {} }],
    },
  });
  const pod = await done('ordered');
  expect({ phase: pod?.status?.phase, log: kubeletLog }).toMatchObject({ phase: 'Succeeded' });
  const first = statusOf(pod, 'first')?.state?.terminated;
  const second = statusOf(pod, 'second')?.state?.terminated;
  const writer = statusOf(pod, 'writer')?.state?.terminated;
  expect([first?.reason, second?.reason, writer?.reason, statusOf(pod, 'reader')?.state?.terminated?.reason]).toEqual(['Completed', 'Completed', 'Completed', 'Completed']);
  // Each init container started only after the one before had finished, the containers after both.
  expect(new Date(second!.startedAt!).getTime()).toBeGreaterThanOrEqual(new Date(first!.finishedAt!).getTime());
  expect(new Date(writer!.startedAt!).getTime()).toBeGreaterThanOrEqual(new Date(second!.finishedAt!).getTime());
  expect((await logOf('ordered', 'reader')).split('\n').filter(Boolean)).toEqual([
    'first uid=10002',
    'second uid=10003 saw: first uid=10002',
    'writer uid=10001',
    // Each file its writer's, in the fsGroup (the emptyDir's setgid group).
    '-rw-r--r-- 10002 10000',
    '-rw-r--r-- 10003 10000',
    '-rw-r--r-- 10001 10000',
  ]);
}, 90_000);

test('resources.limits.memory is the container\'s: a process that allocates past it is OOM-killed (OOMKilled, 137), the pod fails', async () => {
  await create({
    metadata: { name: 'hog' },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      containers: [
        {
          name: 'hog',
          image: IMAGE,
          command: ['node', '-e', 'console.log("allocating"); const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));'],
          securityContext: restricted,
          resources: { limits: { memory: '64Mi' } },
        },
      ],
    },
  });
  const pod = await done('hog');
  expect(pod?.status?.phase).toBe('Failed');
  expect(statusOf(pod, 'hog')?.state?.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
  expect(await logOf('hog', 'hog')).toContain('allocating');
}, 90_000);

test('deleting a running pod: its container gets SIGTERM (podman stop with the grace period), the pod and its containers go', async () => {
  const script = 'trap \'echo "SIGTERM received"; exit 0\' TERM; echo started; sleep 60 & wait';
  await create({
    metadata: { name: 'deleted' },
    spec: { restartPolicy: 'Never', automountServiceAccountToken: false, terminationGracePeriodSeconds: 20, containers: [bash('main', script, { securityContext: restricted })] },
  });
  await waitForPod(env.api, NS, 'deleted', (p) => p?.status?.containerStatuses?.[0]?.state?.running !== undefined, 30_000);
  // Its first line is out: the trap is set.
  for (const end = Date.now() + 20_000; !(await logOf('deleted', 'main')).includes('started') && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  await env.api.deleteNamespacedPod({ namespace: NS, name: 'deleted' });
  // The container's last state as the kubelet reported it before confirming the deletion: exit 0 from the trap.
  const last = await waitForPod(env.api, NS, 'deleted', (p) => p === undefined || p.status?.containerStatuses?.[0]?.state?.terminated !== undefined, 30_000);
  if (last) expect(last.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  await waitForPod(env.api, NS, 'deleted', (p) => p === undefined, 30_000);
  // Well within the 20 s grace: the SIGTERM ended it, not the SIGKILL after the grace.
  expect(Date.now() - t0).toBeLessThan(15_000);
  const ours = async () => (await podman(['ps', '--all', '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => n.includes(`-${NS}-deleted-`));
  for (const end = Date.now() + 20_000; (await ours()).length > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 200));
  expect(await ours()).toEqual([]);
}, 90_000);

test('activeDeadlineSeconds stops the containers gracefully (SIGTERM reaches the container, DeadlineExceeded); deleting the pod removes its containers', async () => {
  const script = 'trap \'echo "SIGTERM received"; exit 0\' TERM; echo started; sleep 60 & wait';
  await create({
    metadata: { name: 'deadline' },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      activeDeadlineSeconds: 3,
      terminationGracePeriodSeconds: 20,
      containers: [bash('main', script, { securityContext: restricted })],
    },
  });
  const pod = await done('deadline', 30_000);
  expect({ phase: pod?.status?.phase, reason: pod?.status?.reason, log: kubeletLog }).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
  // The trap ran (a graceful stop, not a kill after the 20 s grace): the container exited 0 on its own.
  expect(statusOf(pod, 'main')?.state?.terminated).toMatchObject({ exitCode: 0 });
  expect((await logOf('deadline', 'main')).split('\n').filter(Boolean)).toEqual(['started', 'SIGTERM received']);

  const ours = async () => (await podman(['ps', '--all', '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => n.includes(`-${NS}-`) && n.includes('-deadline-'));
  expect((await ours()).length).toBeGreaterThan(0);
  await env.api.deleteNamespacedPod({ namespace: NS, name: 'deadline' });
  await waitForPod(env.api, NS, 'deadline', (p) => p === undefined, 30_000);
  // The podman pod goes with the pod (after the API delete: wait for it, do not assume).
  const deadline = Date.now() + 20_000;
  while ((await ours()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  expect(await ours()).toEqual([]);
  expect(await readPod(env.api, NS, 'deadline')).toBeUndefined();
}, 90_000);
