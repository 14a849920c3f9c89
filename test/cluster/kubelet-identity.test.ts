/**
 * The test kubelet's init containers and container identities, against the real kube-apiserver with real
 * processes: initContainers run in order before the containers; a pod that sets runAsUser runs each container
 * as its own uid/gid/groups (setpriv); a container can read only the volumes it mounts — shown by the
 * operating system (EACCES / EROFS), not by the kubelet's say-so.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CoreV1Api, V1Container, V1Pod, V1PodSecurityContext, V1Volume } from '@kubernetes/client-node';
import type { Cluster } from '../support/cluster';
import { startKubelet, type TestKubelet } from '../support/kubelet';
import { toolPath } from '../../src/tools';
import { kubectl, phaseIs, startKubeletTestEnv, waitForPod, type KubeletTestEnv } from './helpers';

const NS = 'kubelet-identity';
let env: KubeletTestEnv;
let cluster: Cluster;
let kubelet: TestKubelet;
let api: CoreV1Api;
let scratch: string;
const kubeletLog: string[] = [];

beforeAll(async () => {
  env = await startKubeletTestEnv(NS, { mountVolumes: true, log: (s) => kubeletLog.push(s) });
  ({ cluster, kubelet, api, scratch } = env);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

afterEach(async () => {
  await kubelet.clearFaults();
});

const k = (...args: string[]) => kubectl(cluster.kubeconfigPath, ['-n', NS, ...args]);
const logOf = (pod: string, container: string) => api.readNamespacedPodLog({ namespace: NS, name: pod, container });
const bash = (name: string, script: string, extra: Partial<V1Container> = {}): V1Container => ({ name, image: 'docker.io/library/bash:5', command: ['bash', '-c', script], ...extra });

function pod(name: string, spec: { init?: V1Container[]; containers: V1Container[]; volumes?: V1Volume[]; securityContext?: V1PodSecurityContext; activeDeadlineSeconds?: number }): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 5,
      ...(spec.init ? { initContainers: spec.init } : {}),
      containers: spec.containers,
      ...(spec.volumes ? { volumes: spec.volumes } : {}),
      ...(spec.securityContext ? { securityContext: spec.securityContext } : {}),
      ...(spec.activeDeadlineSeconds ? { activeDeadlineSeconds: spec.activeDeadlineSeconds } : {}),
    },
  };
}

const initState = (p: V1Pod | undefined, name: string) => p?.status?.initContainerStatuses?.find((s) => s.name === name)?.state;
const state = (p: V1Pod | undefined, name: string) => p?.status?.containerStatuses?.find((s) => s.name === name)?.state;
const condition = (p: V1Pod | undefined, type: string) => p?.status?.conditions?.find((c) => c.type === type);

/** Polls `read` until `until` holds (no fixed sleeps: the condition decides). */
async function eventually<T>(read: () => Promise<T>, until: (v: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (until(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const logEventually = (podName: string, container: string, text: string) => eventually(() => logOf(podName, container).catch(() => ''), (l) => l.includes(text), `log of ${podName}/${container} has "${text}"`);

describe('init containers', () => {
  test('run before the containers: Pending (init running) → Running → Succeeded; an emptyDir carries the init output; logs per container', async () => {
    const gate1 = path.join(scratch, 'init-gate');
    const gate2 = path.join(scratch, 'main-gate');
    const wait = (f: string) => `while [ ! -e ${f} ]; do sleep 0.05; done`;
    await api.createNamespacedPod({
      namespace: NS,
      body: pod('init-ok', {
        init: [bash('checkout', `echo checking out; ${wait(gate1)}; echo from-init > "$WS/file"; echo checkout done`, { env: [{ name: 'WS', value: '/ws' }], volumeMounts: [{ name: 'ws', mountPath: '/ws' }] })],
        containers: [bash('main', `${wait(gate2)}; echo "read: $(cat "$WS/file")"; echo main done`, { env: [{ name: 'WS', value: '/ws' }], volumeMounts: [{ name: 'ws', mountPath: '/ws' }] })],
        volumes: [{ name: 'ws', emptyDir: {} }],
      }),
    });

    const initRunning = await waitForPod(api, NS, 'init-ok', (p) => !!initState(p, 'checkout')?.running);
    expect(initRunning?.status?.phase).toBe('Pending');
    expect(state(initRunning, 'main')?.waiting?.reason).toBe('PodInitializing');
    expect(condition(initRunning, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [checkout]' });
    expect(initRunning?.status?.initContainerStatuses?.[0]).toMatchObject({ name: 'checkout', ready: false, started: true, restartCount: 0 });
    // The init container's log while it runs; the main container has none yet — the kubelet's 400, through the apiserver.
    await logEventually('init-ok', 'checkout', 'checking out');
    const early = await k('logs', 'init-ok', '-c', 'main');
    expect(early.code).not.toBe(0);
    expect(early.stderr).toContain('container "main" in pod "init-ok" is waiting to start: PodInitializing');

    writeFileSync(gate1, '');
    const running = await waitForPod(api, NS, 'init-ok', phaseIs('Running', 'Succeeded', 'Failed'));
    expect(running?.status?.phase).toBe('Running');
    expect(state(running, 'main')?.running).toBeDefined();
    expect(initState(running, 'checkout')?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(running?.status?.initContainerStatuses?.[0]?.ready).toBe(true);
    expect(condition(running, 'Initialized')?.status).toBe('True');

    writeFileSync(gate2, '');
    const done = await waitForPod(api, NS, 'init-ok', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    expect(initState(done, 'checkout')?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(state(done, 'main')?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(await logOf('init-ok', 'checkout')).toBe('checking out\ncheckout done\n');
    expect(await logOf('init-ok', 'main')).toBe('read: from-init\nmain done\n');
    expect((await k('logs', 'init-ok', '-c', 'checkout')).stdout).toBe('checking out\ncheckout done\n');
  });

  test('an init container that exits 3 fails the pod: later init containers and the containers never start', async () => {
    const marker = path.join(scratch, 'main-ran');
    const later = path.join(scratch, 'later-init-ran');
    await api.createNamespacedPod({
      namespace: NS,
      body: pod('init-fails', {
        init: [bash('prep', 'echo prepared'), bash('checkout', 'echo "cannot clone" >&2; exit 3'), bash('never', `touch ${later}`)],
        containers: [bash('main', `touch ${marker}; echo main ran`)],
      }),
    });
    const failed = await waitForPod(api, NS, 'init-fails', phaseIs('Failed', 'Succeeded', 'Running'));
    expect(failed?.status?.phase).toBe('Failed');
    expect(initState(failed, 'prep')?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(initState(failed, 'checkout')?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(initState(failed, 'never')).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(state(failed, 'main')).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(failed?.status?.containerStatuses?.[0]?.containerID).toBeUndefined();
    expect(condition(failed, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized' });
    expect(await logOf('init-fails', 'checkout')).toBe('cannot clone\n');
    expect(await logOf('init-fails', 'prep')).toBe('prepared\n');
    // Their processes never started: the files they would have created do not exist.
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(later)).toBe(false);
    expect((await k('logs', 'init-fails', '-c', 'main')).stderr).toContain('is waiting to start: PodInitializing');

    // Deleting the failed pod: it goes away (the kubelet confirms), statuses stay as they were until then.
    await api.deleteNamespacedPod({ namespace: NS, name: 'init-fails' });
    await waitForPod(api, NS, 'init-fails', (p) => p === undefined);
    expect(existsSync(marker)).toBe(false);
  });

  test('fault oomKill on a running init container → Failed, OOMKilled 137; the container never starts', async () => {
    const marker = path.join(scratch, 'oom-main-ran');
    await api.createNamespacedPod({ namespace: NS, body: pod('init-oom', { init: [bash('checkout', 'echo up; sleep 60')], containers: [bash('main', `touch ${marker}`)] }) });
    await waitForPod(api, NS, 'init-oom', (p) => !!initState(p, 'checkout')?.running);
    await kubelet.injectFault({ kind: 'oomKill', target: { namespace: NS, name: 'init-oom' }, container: 'checkout' });
    const failed = await waitForPod(api, NS, 'init-oom', phaseIs('Failed', 'Succeeded', 'Running'));
    expect(failed?.status?.phase).toBe('Failed');
    expect(initState(failed, 'checkout')?.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    expect(state(failed, 'main')?.waiting?.reason).toBe('PodInitializing');
    expect(existsSync(marker)).toBe(false);
  });

  test('an oomKill naming a container armed during init hits that container once it runs', async () => {
    await kubelet.injectFault({ kind: 'oomKill', target: { name: 'init-oom-later' }, container: 'main', afterMs: 200 });
    await api.createNamespacedPod({ namespace: NS, body: pod('init-oom-later', { init: [bash('checkout', 'echo checked out')], containers: [bash('main', 'echo up; sleep 60')] }) });
    const failed = await waitForPod(api, NS, 'init-oom-later', phaseIs('Failed', 'Succeeded'));
    expect(initState(failed, 'checkout')?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(state(failed, 'main')?.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
  });

  test('deleting a pod during init: SIGTERM reaches the init container, the container never starts, the pod goes away', async () => {
    const marker = path.join(scratch, 'deleted-main-ran');
    await api.createNamespacedPod({
      namespace: NS,
      // Exits 0 on TERM: even a successful init container must not let the containers start once the pod is being deleted.
      body: pod('init-deleted', { init: [bash('checkout', 'trap "echo got TERM; exit 0" TERM; echo started; while true; do sleep 0.1; done')], containers: [bash('main', `touch ${marker}`)] }),
    });
    await waitForPod(api, NS, 'init-deleted', (p) => !!initState(p, 'checkout')?.running);
    await logEventually('init-deleted', 'checkout', 'started');
    const seen: V1Pod[] = [];
    await api.deleteNamespacedPod({ namespace: NS, name: 'init-deleted' });
    await waitForPod(api, NS, 'init-deleted', (p) => (p && seen.push(p), p === undefined));
    expect(existsSync(marker)).toBe(false);
    const last = seen.reverse().find((p) => initState(p, 'checkout')?.terminated);
    // The final status reaches the API before the kubelet's own delete (not always observed by polling).
    if (last) expect(initState(last, 'checkout')?.terminated?.exitCode).toBe(0);
  });

  test('activeDeadlineSeconds during init → Failed, DeadlineExceeded; the container never starts', async () => {
    const marker = path.join(scratch, 'deadline-main-ran');
    await api.createNamespacedPod({ namespace: NS, body: pod('init-deadline', { init: [bash('checkout', 'sleep 60')], containers: [bash('main', `touch ${marker}`)], activeDeadlineSeconds: 2 }) });
    const failed = await waitForPod(api, NS, 'init-deadline', phaseIs('Failed', 'Succeeded'), 30_000);
    expect(failed?.status).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
    expect(initState(failed, 'checkout')?.terminated?.exitCode).toBe(143); // SIGTERM
    expect(state(failed, 'main')?.terminated).toMatchObject({ exitCode: 137, reason: 'ContainerStatusUnknown' });
    expect(existsSync(marker)).toBe(false);
  });
});

describe('two containers', () => {
  test('separate logs; Running until both ended; Succeeded when both exit 0', async () => {
    const gate = path.join(scratch, 'two-gate');
    await api.createNamespacedPod({ namespace: NS, body: pod('two-ok', { containers: [bash('a', 'echo from a'), bash('b', `while [ ! -e ${gate} ]; do sleep 0.05; done; echo from b`)] }) });
    const oneDone = await waitForPod(api, NS, 'two-ok', (p) => !!state(p, 'a')?.terminated);
    expect(oneDone?.status?.phase).toBe('Running');
    expect(state(oneDone, 'b')?.running).toBeDefined();
    writeFileSync(gate, '');
    const done = await waitForPod(api, NS, 'two-ok', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    expect(await logOf('two-ok', 'a')).toBe('from a\n');
    expect(await logOf('two-ok', 'b')).toBe('from b\n');
  });

  test('Failed when one of them exits non-zero', async () => {
    await api.createNamespacedPod({ namespace: NS, body: pod('two-fail', { containers: [bash('a', 'echo fine'), bash('b', 'echo broken >&2; exit 5')] }) });
    const done = await waitForPod(api, NS, 'two-fail', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Failed');
    expect(state(done, 'a')?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(state(done, 'b')?.terminated).toMatchObject({ exitCode: 5, reason: 'Error' });
    expect(await logOf('two-fail', 'a')).toBe('fine\n');
    expect(await logOf('two-fail', 'b')).toBe('broken\n');
  });
});

describe('identity', () => {
  const report = 'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"; grep -E "^(NoNewPrivs|CapEff|CapBnd):" /proc/self/status | tr -d "\\t"; echo "home=$HOME $(stat -c "%u %a" "$HOME")"';
  const parse = (log: string) => {
    const m = /^uid=(\d+) gid=(\d+) groups=([\d ]+)$/m.exec(log)!;
    const field = (k: string) => new RegExp(`^${k}:(\\S+)$`, 'm').exec(log)?.[1];
    const home = /^home=(\S+) (\d+) (\d+)$/m.exec(log)!;
    return {
      uid: Number(m[1]),
      gid: Number(m[2]),
      groups: m[3]!.trim().split(' ').map(Number).sort((a, b) => a - b),
      noNewPrivs: field('NoNewPrivs'),
      capEff: field('CapEff'),
      capBnd: field('CapBnd'),
      home: { path: home[1]!, owner: Number(home[2]), mode: home[3] },
    };
  };

  test('runAsUser/runAsGroup (container over pod), fsGroup + supplementalGroups, no_new_privs, capabilities drop ALL, a private HOME', async () => {
    await api.createNamespacedPod({
      namespace: NS,
      body: pod('ids', {
        securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000] },
        init: [bash('checkout', report, { securityContext: { runAsUser: 1002 } })],
        containers: [
          bash('podlevel', report),
          bash('override', report, { securityContext: { runAsUser: 1001, runAsGroup: 1001, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }),
          bash('root-dropped', report, { securityContext: { runAsUser: 0, capabilities: { drop: ['ALL'] } } }),
        ],
      }),
    });
    const done = await waitForPod(api, NS, 'ids', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    const dir = kubelet.pods().find((p) => p.name === 'ids')!.dir;

    const checkout = parse(await logOf('ids', 'checkout'));
    expect(checkout).toMatchObject({ uid: 1002, gid: 3000, groups: [2000, 3000, 4000], noNewPrivs: '0', capEff: '0000000000000000' });
    expect(checkout.home).toEqual({ path: path.join(dir, 'home', 'checkout'), owner: 1002, mode: '700' });

    const podlevel = parse(await logOf('ids', 'podlevel'));
    expect(podlevel).toMatchObject({ uid: 1000, gid: 3000, groups: [2000, 3000, 4000], noNewPrivs: '0', capEff: '0000000000000000' });
    expect(podlevel.capBnd).not.toBe('0000000000000000');
    expect(podlevel.home).toEqual({ path: path.join(dir, 'home', 'podlevel'), owner: 1000, mode: '700' });

    const override = parse(await logOf('ids', 'override'));
    expect(override).toMatchObject({ uid: 1001, gid: 1001, groups: [1001, 2000, 4000], noNewPrivs: '1', capEff: '0000000000000000', capBnd: '0000000000000000' });

    // uid 0 with every capability dropped has none left either.
    const root = parse(await logOf('ids', 'root-dropped'));
    expect(root).toMatchObject({ uid: 0, gid: 3000, groups: [2000, 3000, 4000], noNewPrivs: '0', capEff: '0000000000000000', capBnd: '0000000000000000' });
  });

  test('a private HOME is not readable by the other containers of the pod', async () => {
    const env = [
      { name: 'ROOT', value: kubelet.rootDir },
      { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
    ];
    await api.createNamespacedPod({
      namespace: NS,
      body: pod('homes', {
        securityContext: { runAsUser: 1000 },
        init: [bash('checkout', 'echo secret-config > "$HOME/.gitconfig"; echo "$HOME"', { env })],
        containers: [bash('agent', 'echo "peek: $(cat "$ROOT/pods/$POD_UID/home/checkout/.gitconfig" 2>&1)"', { securityContext: { runAsUser: 1001 }, env })],
      }),
    });
    const done = await waitForPod(api, NS, 'homes', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    const checkoutHome = (await logOf('homes', 'checkout')).trim();
    expect(checkoutHome).toBe(path.join(kubelet.pods().find((p) => p.name === 'homes')!.dir, 'home', 'checkout'));
    expect(statSync(path.join(checkoutHome, '.gitconfig')).uid).toBe(1000);
    expect(await logOf('homes', 'agent')).toBe(`peek: cat: ${checkoutHome}/.gitconfig: Permission denied\n`);
  });

  test('runAsNonRoot with runAsUser 0 is refused: CreateContainerConfigError, nothing runs', async () => {
    await api.createNamespacedPod({ namespace: NS, body: pod('nonroot', { securityContext: { runAsNonRoot: true, runAsUser: 0 }, containers: [bash('main', 'echo ran')] }) });
    const waiting = await waitForPod(api, NS, 'nonroot', (p) => state(p, 'main')?.waiting?.reason === 'CreateContainerConfigError');
    expect(waiting?.status?.phase).toBe('Pending');
    expect(state(waiting, 'main')?.waiting?.message).toMatch(/runAsNonRoot and image will run as root/);
    await api.deleteNamespacedPod({ namespace: NS, name: 'nonroot' });
    await waitForPod(api, NS, 'nonroot', (p) => p === undefined);
  });
});

describe('volume isolation', () => {
  test('a container reads only the volumes it mounts: the agent gets EACCES on the credential; shared emptyDir files work across uids', async () => {
    await api.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'git-cred' }, stringData: { token: 's3cret-token' } } });
    const volumesDir = '$ROOT/pods/$POD_UID/volumes';
    const common = [
      { name: 'ROOT', value: kubelet.rootDir },
      { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      { name: 'WS', value: '/workspace' },
    ];
    const credMount = { name: 'cred', mountPath: '/var/run/secrets/git', readOnly: true };
    const wsMount = { name: 'ws', mountPath: '/workspace' };
    const stateMount = { name: 'state', mountPath: '/state' };
    const env = [...common, { name: 'TOKEN_FILE', value: '/var/run/secrets/git/token' }, { name: 'STATE', value: '/state' }];
    await api.createNamespacedPod({
      namespace: NS,
      body: pod('isolated', {
        volumes: [
          { name: 'cred', secret: { secretName: 'git-cred', defaultMode: 0o400 } },
          { name: 'ws', emptyDir: {} },
          { name: 'state', emptyDir: {} },
        ],
        init: [
          bash('checkout', 'umask 002; echo "checkout token bytes: $(wc -c < "$TOKEN_FILE")"; echo repo-content > "$WS/repo.txt"; echo checkout-note > "$STATE/note"', {
            securityContext: { runAsUser: 1001, runAsGroup: 1001 },
            env,
            volumeMounts: [credMount, wsMount, stateMount],
          }),
        ],
        containers: [
          bash(
            'agent',
            [
              'umask 002',
              `echo "cred: $(cat "${volumesDir}/cred/token" 2>&1)"`,
              `echo "state: $(cat "${volumesDir}/state/note" 2>&1)"`,
              `echo "list: $(ls "${volumesDir}" 2>&1)"`,
              'echo "repo: $(cat "$WS/repo.txt")"',
              'echo agent-wrote > "$WS/shared"',
              'while ! grep -q pub-appended "$WS/shared"; do sleep 0.05; done',
              'echo "shared: $(tr "\\n" " " < "$WS/shared")"',
            ].join('\n'),
            { securityContext: { runAsUser: 1002, runAsGroup: 1002, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, env: common, volumeMounts: [wsMount] },
          ),
          bash(
            'pub',
            [
              'echo "token: $(cat "$TOKEN_FILE")"',
              'echo "note: $(cat "$STATE/note")"',
              'while ! grep -q agent-wrote "$WS/shared" 2>/dev/null; do sleep 0.05; done',
              'echo pub-appended >> "$WS/shared"',
              'echo "write to cred: $(touch "$(dirname "$TOKEN_FILE")/x" 2>&1)"',
            ].join('\n'),
            { securityContext: { runAsUser: 1003, runAsGroup: 1003 }, env, volumeMounts: [credMount, wsMount, stateMount] },
          ),
        ],
      }),
    });
    const done = await waitForPod(api, NS, 'isolated', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    const dir = kubelet.pods().find((p) => p.name === 'isolated')!.dir;
    const vol = (...p: string[]) => path.join(dir, 'volumes', ...p);

    expect(await logOf('isolated', 'checkout')).toBe('checkout token bytes: 12\n');
    const agent = await logOf('isolated', 'agent');
    expect(agent).toContain(`cred: cat: ${vol('cred', 'token')}: Permission denied`);
    expect(agent).toContain(`state: cat: ${vol('state', 'note')}: Permission denied`);
    expect(agent).toMatch(/^list: ls: cannot open directory .*: Permission denied$/m);
    expect(agent).toContain('repo: repo-content');
    expect(agent).toContain('shared: agent-wrote pub-appended');
    expect(agent).not.toContain('s3cret-token');
    const pub = await logOf('isolated', 'pub');
    expect(pub).toContain('token: s3cret-token');
    expect(pub).toContain('note: checkout-note');
    expect(pub).toMatch(/^write to cred: touch: cannot touch .*: (Read-only file system|Permission denied)$/m);

    // What the OS sees: each volume its own group, the emptyDir setgid 2770, the secret 0440 (0400 | group read), the shared file the agent's, group-writable.
    const cred = statSync(vol('cred'));
    const ws = statSync(vol('ws'));
    const st = statSync(vol('state'));
    expect(new Set([cred.gid, ws.gid, st.gid]).size).toBe(3);
    for (const s of [cred, ws, st]) expect(s.uid).toBe(0);
    expect((ws.mode & 0o7777).toString(8)).toBe('2770');
    expect((cred.mode & 0o7777).toString(8)).toBe('2750');
    const token = statSync(vol('cred', 'token'));
    expect({ uid: token.uid, gid: token.gid, mode: (token.mode & 0o777).toString(8) }).toEqual({ uid: 0, gid: cred.gid, mode: '440' });
    const shared = statSync(vol('ws', 'shared'));
    expect({ uid: shared.uid, gid: shared.gid, mode: (shared.mode & 0o777).toString(8) }).toEqual({ uid: 1002, gid: ws.gid, mode: '664' });
    expect((statSync(vol()).mode & 0o777).toString(8)).toBe('711');

    // The pod's dir (files of other uids in it) is removed with the pod.
    await api.deleteNamespacedPod({ namespace: NS, name: 'isolated' });
    await waitForPod(api, NS, 'isolated', (p) => p === undefined);
    await eventually(async () => existsSync(dir), (e) => !e, 'pod dir removed');
  });

  test('a readOnly mount cannot be written by that container (EROFS), while the container that mounts it read-write can', async () => {
    await api.createNamespacedPod({
      namespace: NS,
      body: pod('readonly', {
        securityContext: { runAsUser: 1000 },
        volumes: [{ name: 'handoff', emptyDir: {} }],
        init: [bash('fill', 'echo filled > "$D/file"', { env: [{ name: 'D', value: '/handoff' }], volumeMounts: [{ name: 'handoff', mountPath: '/handoff' }] })],
        containers: [
          bash('use', 'echo "read: $(cat "$D/file")"; echo "append: $({ echo more >> "$D/file"; } 2>&1)"; echo "create: $(touch "$D/new" 2>&1)"', {
            env: [{ name: 'D', value: '/handoff' }],
            volumeMounts: [{ name: 'handoff', mountPath: '/handoff', readOnly: true }],
          }),
        ],
      }),
    });
    const done = await waitForPod(api, NS, 'readonly', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    const log = await logOf('readonly', 'use');
    expect(log).toContain('read: filled');
    expect(log).toMatch(/^append: .*Read-only file system$/m);
    expect(log).toMatch(/^create: touch: cannot touch .*: Read-only file system$/m);
  });
});

describe('processes through the wrapper (unshare → sh → setpriv exec: the pid the kubelet spawned is the container\'s)', () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  test('SIGTERM reaches the main process of a non-root container on deletion; a child in a session of its own dies with the pod', async () => {
    // Where uid 1000 may leave a note that outlives the pod dir.
    const drop = mkdtempSync(path.join(os.tmpdir(), 'kubelet-identity-drop-'));
    chmodSync(drop, 0o777);
    await api.createNamespacedPod({
      namespace: NS,
      body: pod('wrapped', {
        securityContext: { runAsUser: 1000, fsGroup: 2000 },
        volumes: [{ name: 'ws', emptyDir: {} }, { name: 'ro', emptyDir: {} }],
        containers: [
          bash(
            'main',
            // ($BASHPID, not $$: Kubernetes expands $$ in a command to $.)
            'trap "echo got TERM > $DROP/term; exit 0" TERM; setsid bash -c \'echo $BASHPID > "$WS/child.pid"; exec sleep 300\' & echo "main pid $BASHPID"; while true; do sleep 0.1; done',
            {
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              env: [{ name: 'WS', value: '/ws' }, { name: 'DROP', value: drop }],
              volumeMounts: [{ name: 'ws', mountPath: '/ws' }, { name: 'ro', mountPath: '/ro', readOnly: true }],
            },
          ),
        ],
      }),
    });
    await waitForPod(api, NS, 'wrapped', phaseIs('Running'));
    const dir = kubelet.pods().find((p) => p.name === 'wrapped')!.dir;
    const childPidFile = path.join(dir, 'volumes', 'ws', 'child.pid');
    const child = await eventually(async () => (existsSync(childPidFile) ? Number(readFileSync(childPidFile, 'utf8').trim()) : 0), (p) => p > 0, 'child pid written');
    const mainPid = Number(/main pid (\d+)/.exec(await logEventually('wrapped', 'main', 'main pid'))![1]);
    // The main process is bash itself, as uid 1000 (no wrapper process left in between), with no_new_privs.
    const status = readFileSync(`/proc/${mainPid}/status`, 'utf8');
    expect(readFileSync(`/proc/${mainPid}/comm`, 'utf8').trim()).toBe('bash');
    expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(alive(child)).toBe(true);

    await api.deleteNamespacedPod({ namespace: NS, name: 'wrapped' });
    await waitForPod(api, NS, 'wrapped', (p) => p === undefined);
    // The main process ended on SIGTERM (its trap ran, as uid 1000); its detached child was killed although its parent was gone by then.
    expect(readFileSync(path.join(drop, 'term'), 'utf8')).toBe('got TERM\n');
    expect(statSync(path.join(drop, 'term')).uid).toBe(1000);
    await eventually(async () => alive(child) || alive(mainPid), (a) => !a, 'the container\'s processes are gone');
    rmSync(drop, { recursive: true, force: true });
  });

  test('a non-root container uses the in-cluster config the kubelet writes for its mounted service-account token', async () => {
    await api.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': cluster.caPem } } });
    const p = pod('incluster', {
      securityContext: { runAsUser: 1000, runAsGroup: 1000 },
      containers: [bash('main', `${toolPath('kubectl')} auth whoami -o jsonpath='{.status.userInfo.username}'; echo; stat -c "%u %a" "$KUBECONFIG"`)],
    });
    p.spec!.automountServiceAccountToken = true;
    await api.createNamespacedPod({ namespace: NS, body: p });
    const done = await waitForPod(api, NS, 'incluster', phaseIs('Succeeded', 'Failed'));
    const log = await logOf('incluster', 'main');
    expect({ phase: done?.status?.phase, log }).toEqual({ phase: 'Succeeded', log: `system:serviceaccount:${NS}:default\n1000 600\n` });
  });
});

// Last: replaces the kubelet.
describe('kubelet restart', () => {
  test('a kubelet restarted while an init container ran does not run the pod again: Failed, ContainerStatusUnknown', async () => {
    const marker = path.join(scratch, 'restart-runs');
    const mainMarker = path.join(scratch, 'restart-main-ran');
    await api.createNamespacedPod({ namespace: NS, body: pod('init-lost', { init: [bash('checkout', `echo run >> ${marker}; sleep 60`)], containers: [bash('main', `touch ${mainMarker}`)] }) });
    await waitForPod(api, NS, 'init-lost', (p) => !!initState(p, 'checkout')?.running);
    await kubelet.stop();
    kubelet = await startKubelet({ ...cluster.kubeletOptions(), mountVolumes: true, log: (s) => kubeletLog.push(s) });
    const failed = await waitForPod(api, NS, 'init-lost', phaseIs('Failed', 'Succeeded'));
    expect(failed?.status?.phase).toBe('Failed');
    expect(initState(failed, 'checkout')?.terminated).toMatchObject({ exitCode: 137, reason: 'ContainerStatusUnknown' });
    // After an init container that did not complete, the container never ran: still waiting, as after an init failure.
    expect(state(failed, 'main')).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(existsSync(mainMarker)).toBe(false);
    expect(readFileSync(marker, 'utf8')).toBe('run\n');
  });
});
