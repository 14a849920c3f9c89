/**
 * The test kubelet's native sidecar containers (KEP-753: an init container with restartPolicy Always), against the
 * real kube-apiserver with real processes: a sidecar starts in its place among the init containers and the next
 * one starts while it runs; it runs alongside the containers, is restarted when it exits, and is stopped after the
 * regular containers (reverse order of declaration, SIGKILL after the grace period); the pod's phase comes from the
 * regular containers alone. Orders are shown by timestamps the processes write themselves (date +%s%N).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CoreV1Api, V1Container, V1Pod, V1PodSecurityContext, V1Volume } from '@kubernetes/client-node';
import type { Cluster } from '../support/cluster';
import type { TestKubelet } from '../support/kubelet';
import { kubectl, phaseIs, startKubeletTestEnv, waitForPod, type KubeletTestEnv } from './helpers';

const NS = 'kubelet-sidecar';
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

const k = (...args: string[]) => kubectl(cluster.kubeconfigPath, ['-n', NS, ...args]);
const create = (body: V1Pod) => api.createNamespacedPod({ namespace: NS, body });
const logOf = (pod: string, container: string) => api.readNamespacedPodLog({ namespace: NS, name: pod, container });
const bash = (name: string, script: string, extra: Partial<V1Container> = {}): V1Container => ({ name, image: 'docker.io/library/bash:5', command: ['bash', '-c', script], ...extra });
/** A native sidecar: an init container with restartPolicy Always. */
const sidecar = (name: string, script: string, extra: Partial<V1Container> = {}): V1Container => bash(name, script, { restartPolicy: 'Always', ...extra });
/** Shell: wait until a file exists (polling, as the processes do; the test itself never sleeps). */
const wait = (file: string) => `while [ ! -e "${file}" ]; do sleep 0.05; done`;
/** Shell: nanoseconds since the epoch. */
const NOW = '$(date +%s%N)';
const ws = { env: [{ name: 'WS', value: '/ws' }], volumeMounts: [{ name: 'ws', mountPath: '/ws' }] };
const wsVolume: V1Volume[] = [{ name: 'ws', emptyDir: {} }];

function pod(
  name: string,
  spec: { init?: V1Container[]; containers: V1Container[]; volumes?: V1Volume[]; securityContext?: V1PodSecurityContext; activeDeadlineSeconds?: number; terminationGracePeriodSeconds?: number },
): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 10,
      ...(spec.init ? { initContainers: spec.init } : {}),
      containers: spec.containers,
      ...(spec.volumes ? { volumes: spec.volumes } : {}),
      ...(spec.securityContext ? { securityContext: spec.securityContext } : {}),
      ...(spec.activeDeadlineSeconds ? { activeDeadlineSeconds: spec.activeDeadlineSeconds } : {}),
    },
  };
}

const initStatus = (p: V1Pod | undefined, name: string) => p?.status?.initContainerStatuses?.find((s) => s.name === name);
const status = (p: V1Pod | undefined, name: string) => p?.status?.containerStatuses?.find((s) => s.name === name);
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
/** The nanosecond timestamp a process logged after `label`. */
const stamp = (log: string, label: string): bigint => {
  const m = new RegExp(`${label} (\\d{19})`).exec(log);
  if (!m) throw new Error(`no "${label} <ns>" in: ${log}`);
  return BigInt(m[1]!);
};
const fileStamp = (file: string) => BigInt(readFileSync(file, 'utf8').trim());

describe('sidecar containers', () => {
  test('start before the next init container, run alongside main, stopped (SIGTERM) once main ended; the pod Succeeds; statuses, conditions and logs per container', async () => {
    const checkoutGate = path.join(scratch, 'gw-checkout-gate');
    const mainGate = path.join(scratch, 'gw-main-gate');
    const termGate = path.join(scratch, 'gw-term-gate');
    await create(
      pod('gw', {
        terminationGracePeriodSeconds: 30,
        volumes: wsVolume,
        init: [
          // Never exits by itself. On SIGTERM it logs, holds until the test lets it go, and exits 143.
          sidecar('gateway', `trap 'echo "gateway got TERM at ${NOW}"; ${wait(termGate)}; exit 143' TERM; echo "gateway up"; echo serving > "$WS/gateway.ready"; while true; do sleep 0.05; done`, ws),
          // Would wait for ever if the kubelet waited for the sidecar to exit first.
          bash('checkout', `${wait('$WS/gateway.ready')}; echo "checkout saw gateway: $(cat "$WS/gateway.ready")"; ${wait(checkoutGate)}; echo checkout done`, ws),
        ],
        containers: [bash('main', `${wait(mainGate)}; echo "main read: $(cat "$WS/gateway.ready")"; echo "main done at ${NOW}"`, ws)],
      }),
    );

    // Initializing: the sidecar runs (started, ready), checkout runs, main waits.
    await logEventually('gw', 'checkout', 'checkout saw gateway: serving');
    const init = await waitForPod(api, NS, 'gw', (p) => !!initStatus(p, 'checkout')?.state?.running);
    expect(init?.status?.phase).toBe('Pending');
    expect(initStatus(init, 'gateway')).toMatchObject({ name: 'gateway', started: true, ready: true, restartCount: 0, lastState: {} });
    expect(initStatus(init, 'gateway')?.state?.running).toBeDefined();
    expect(initStatus(init, 'checkout')).toMatchObject({ started: true, ready: false });
    expect(status(init, 'main')?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    // The sidecar counts as started: only checkout keeps the pod from being initialized.
    expect(condition(init, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [checkout]' });
    const gwStarted = new Date(initStatus(init, 'gateway')!.state!.running!.startedAt!).getTime();
    expect(gwStarted).toBeLessThanOrEqual(new Date(initStatus(init, 'checkout')!.state!.running!.startedAt!).getTime());
    expect((await k('logs', 'gw', '-c', 'gateway')).stdout).toBe('gateway up\n');

    // Initialized: checkout completed, the sidecar still runs, main runs; Ready needs both.
    writeFileSync(checkoutGate, '');
    const running = await waitForPod(api, NS, 'gw', (p) => !!status(p, 'main')?.state?.running);
    expect(running?.status?.phase).toBe('Running');
    expect(initStatus(running, 'checkout')?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(initStatus(running, 'gateway')).toMatchObject({ started: true, ready: true, restartCount: 0 });
    expect(initStatus(running, 'gateway')?.state?.running).toBeDefined();
    expect(condition(running, 'Initialized')?.status).toBe('True');
    expect(condition(running, 'ContainersReady')?.status).toBe('True');
    expect(condition(running, 'Ready')?.status).toBe('True');

    // main ends: the sidecar gets SIGTERM. While it is still stopping, the pod is not yet Succeeded.
    writeFileSync(mainGate, '');
    await logEventually('gw', 'gateway', 'gateway got TERM at');
    const stopping = await waitForPod(api, NS, 'gw', (p) => !!status(p, 'main')?.state?.terminated);
    expect(status(stopping, 'main')?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(initStatus(stopping, 'gateway')?.state?.running).toBeDefined();
    expect(stopping?.status?.phase).toBe('Running');
    expect(condition(stopping, 'Ready')?.status).toBe('False');

    // It exits 143 on the SIGTERM: the pod Succeeds from main's exit alone.
    writeFileSync(termGate, '');
    const done = await waitForPod(api, NS, 'gw', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    expect(initStatus(done, 'gateway')).toMatchObject({ started: false, ready: false, restartCount: 0, lastState: {} });
    expect(initStatus(done, 'gateway')?.state?.terminated).toMatchObject({ exitCode: 143, reason: 'Error' });
    expect(initStatus(done, 'checkout')?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(status(done, 'main')?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(condition(done, 'Initialized')?.status).toBe('True');

    const gatewayLog = await logOf('gw', 'gateway');
    const mainLog = await logOf('gw', 'main');
    expect(gatewayLog).toMatch(/^gateway up\ngateway got TERM at \d{19}\n$/);
    expect(mainLog).toMatch(/^main read: serving\nmain done at \d{19}\n$/);
    expect(await logOf('gw', 'checkout')).toBe('checkout saw gateway: serving\ncheckout done\n');
    // The SIGTERM came after main had ended.
    expect(stamp(gatewayLog, 'gateway got TERM at')).toBeGreaterThan(stamp(mainLog, 'main done at'));
    expect((await k('logs', 'gw', '-c', 'gateway')).stdout).toBe(gatewayLog);
    expect((await k('logs', 'gw', '-c', 'gateway', '--previous')).stderr).toContain('previous terminated container "gateway" in pod "gw" not found');
  });

  test('a sidecar killed mid-run is restarted (restartCount 1, lastState 137, a new container and log); main still succeeds', async () => {
    const gate = path.join(scratch, 'kill-gate');
    await create(
      pod('killed', {
        volumes: wsVolume,
        init: [sidecar('gateway', `n=$(( $(cat "$WS/starts" 2>/dev/null || echo 0) + 1 )); echo $n > "$WS/starts"; echo "gateway start $n pid $BASHPID"; while true; do sleep 0.05; done`, ws)],
        containers: [bash('main', `${wait(gate)}; echo "gateway starts: $(cat "$WS/starts")"`, ws)],
      }),
    );
    const running = await waitForPod(api, NS, 'killed', (p) => !!status(p, 'main')?.state?.running);
    const first = initStatus(running, 'gateway')!;
    const pid = Number(/gateway start 1 pid (\d+)/.exec(await logEventually('killed', 'gateway', 'gateway start 1 pid'))![1]);
    process.kill(pid, 'SIGKILL');

    const restarted = await waitForPod(api, NS, 'killed', (p) => initStatus(p, 'gateway')?.restartCount === 1 && !!initStatus(p, 'gateway')?.state?.running);
    const gw = initStatus(restarted, 'gateway')!;
    expect(gw).toMatchObject({ started: true, ready: true, restartCount: 1 });
    expect(gw.lastState?.terminated).toMatchObject({ exitCode: 137, reason: 'Error' });
    expect(gw.containerID).not.toBe(first.containerID);
    expect(gw.lastState?.terminated?.startedAt).toEqual(first.state?.running?.startedAt);
    expect(restarted?.status?.phase).toBe('Running');
    expect(status(restarted, 'main')?.state?.running).toBeDefined();
    expect(condition(restarted, 'Initialized')?.status).toBe('True');
    // The current instance's log, and the one before (previous=true), as kubectl shows them.
    await logEventually('killed', 'gateway', 'gateway start 2');
    expect((await k('logs', 'killed', '-c', 'gateway')).stdout).toMatch(/^gateway start 2 pid \d+\n$/);
    expect((await k('logs', 'killed', '-c', 'gateway', '--previous')).stdout).toBe(`gateway start 1 pid ${pid}\n`);

    writeFileSync(gate, '');
    const done = await waitForPod(api, NS, 'killed', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    expect(await logOf('killed', 'main')).toBe('gateway starts: 2\n');
    expect(initStatus(done, 'gateway')).toMatchObject({ restartCount: 1 });
    expect(initStatus(done, 'gateway')?.state?.terminated?.exitCode).toBe(143); // no trap: SIGTERM ends bash
    expect(initStatus(done, 'gateway')?.lastState?.terminated?.exitCode).toBe(137);
  });

  test('a sidecar that exits 1 on its own once, during init, is restarted; the next init container waits for nothing but its start', async () => {
    await create(
      pod('crash-once', {
        volumes: wsVolume,
        init: [
          sidecar('gateway', `if [ ! -e "$WS/crashed" ]; then touch "$WS/crashed"; echo "crashing once" >&2; exit 1; fi; echo "gateway again"; echo up > "$WS/gateway.ready"; while true; do sleep 0.05; done`, ws),
          bash('checkout', `${wait('$WS/gateway.ready')}; echo "checkout saw: $(cat "$WS/gateway.ready")"`, ws),
        ],
        containers: [bash('main', 'echo "main read: $(cat "$WS/gateway.ready")"', ws)],
      }),
    );
    const done = await waitForPod(api, NS, 'crash-once', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    const gw = initStatus(done, 'gateway')!;
    expect(gw.restartCount).toBe(1);
    expect(gw.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(gw.state?.terminated?.exitCode).toBe(143);
    expect(await logOf('crash-once', 'checkout')).toBe('checkout saw: up\n');
    expect(await logOf('crash-once', 'main')).toBe('main read: up\n');
    expect(await logOf('crash-once', 'gateway')).toBe('gateway again\n');
    expect((await k('logs', 'crash-once', '-c', 'gateway', '--previous')).stdout).toBe('crashing once\n');
  });

  test.each(['deletion', 'activeDeadlineSeconds'] as const)('%s: main gets SIGTERM first, the sidecar only once main has exited', async (how) => {
    const name = how === 'deletion' ? 'deleted' : 'deadline';
    const drop = mkdtempSync(path.join(scratch, `${name}-`));
    const env = [...ws.env, { name: 'DROP', value: drop }];
    await create(
      pod(name, {
        terminationGracePeriodSeconds: 20,
        ...(how === 'activeDeadlineSeconds' ? { activeDeadlineSeconds: 4 } : {}),
        volumes: wsVolume,
        init: [sidecar('gateway', `trap 'echo ${NOW} > "$DROP/gateway.term"; exit 143' TERM; touch "$WS/gateway.up"; echo up; while true; do sleep 0.05; done`, { ...ws, env })],
        // main takes a second to shut down: a sidecar signalled with it would log its SIGTERM before main's exit.
        containers: [bash('main', `trap 'echo ${NOW} > "$DROP/main.term"; sleep 1; echo ${NOW} > "$DROP/main.exit"; exit 0' TERM; ${wait('$WS/gateway.up')}; echo up; while true; do sleep 0.05; done`, { ...ws, env })],
      }),
    );
    await waitForPod(api, NS, name, (p) => !!status(p, 'main')?.state?.running);
    await logEventually(name, 'main', 'up');

    let last: V1Pod | undefined;
    if (how === 'deletion') {
      await api.deleteNamespacedPod({ namespace: NS, name });
      // The pod leaves the API only after every container, the sidecar last, has stopped.
      await waitForPod(api, NS, name, (p) => (p?.status && (last = p), p === undefined));
    } else {
      last = await waitForPod(api, NS, name, phaseIs('Succeeded', 'Failed'), 30_000);
      expect(last?.status).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
    }
    const mainTerm = fileStamp(path.join(drop, 'main.term'));
    const mainExit = fileStamp(path.join(drop, 'main.exit'));
    const gatewayTerm = fileStamp(path.join(drop, 'gateway.term'));
    expect(mainExit).toBeGreaterThan(mainTerm);
    expect(gatewayTerm).toBeGreaterThan(mainExit);
    expect(gatewayTerm - mainTerm).toBeGreaterThanOrEqual(1_000_000_000n);
    if (how === 'activeDeadlineSeconds' || initStatus(last, 'gateway')?.state?.terminated) {
      // The final status (always seen for the deadline; seen for a deletion when the poll caught it before the delete).
      expect(status(last, 'main')?.state?.terminated).toMatchObject({ exitCode: 0 });
      expect(initStatus(last, 'gateway')?.state?.terminated).toMatchObject({ exitCode: 143, reason: 'Error' });
      expect(initStatus(last, 'gateway')?.restartCount).toBe(0);
    }
  });

  test('a failing regular container → Failed; both sidecars stopped in reverse order, neither restarted', async () => {
    await create(
      pod('main-fails', {
        volumes: wsVolume,
        init: [
          sidecar('logs', `trap 'echo "logs TERM at ${NOW}"; exit 143' TERM; touch "$WS/logs.up"; while true; do sleep 0.05; done`, ws),
          // Declared later, stopped first; takes half a second to exit.
          sidecar('gateway', `trap 'echo "gateway TERM at ${NOW}"; sleep 0.5; echo "gateway exit at ${NOW}"; exit 143' TERM; touch "$WS/gateway.up"; while true; do sleep 0.05; done`, ws),
        ],
        containers: [bash('main', `${wait('$WS/logs.up')}; ${wait('$WS/gateway.up')}; echo "main failing at ${NOW}" >&2; exit 3`, ws)],
      }),
    );
    const done = await waitForPod(api, NS, 'main-fails', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Failed');
    expect(status(done, 'main')?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    for (const name of ['logs', 'gateway']) {
      expect(initStatus(done, name)).toMatchObject({ restartCount: 0, started: false, lastState: {} });
      expect(initStatus(done, name)?.state?.terminated).toMatchObject({ exitCode: 143, reason: 'Error' });
    }
    const mainLog = await logOf('main-fails', 'main');
    const gatewayLog = await logOf('main-fails', 'gateway');
    const logsLog = await logOf('main-fails', 'logs');
    expect(stamp(gatewayLog, 'gateway TERM at')).toBeGreaterThan(stamp(mainLog, 'main failing at'));
    expect(stamp(logsLog, 'logs TERM at')).toBeGreaterThan(stamp(gatewayLog, 'gateway exit at'));
  });

  test('a regular init container failing after a sidecar started → Failed; the sidecar stopped, main never started', async () => {
    const marker = path.join(scratch, 'init-fails-main-ran');
    await create(
      pod('init-fails', {
        volumes: wsVolume,
        init: [
          sidecar('gateway', `trap 'echo "gateway got TERM"; exit 143' TERM; touch "$WS/gateway.up"; while true; do sleep 0.05; done`, ws),
          bash('checkout', `${wait('$WS/gateway.up')}; echo "cannot clone" >&2; exit 3`, ws),
        ],
        containers: [bash('main', `touch ${marker}`)],
      }),
    );
    const done = await waitForPod(api, NS, 'init-fails', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Failed');
    expect(initStatus(done, 'checkout')?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(initStatus(done, 'gateway')?.state?.terminated).toMatchObject({ exitCode: 143 });
    expect(initStatus(done, 'gateway')?.restartCount).toBe(0);
    expect(status(done, 'main')?.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(condition(done, 'Initialized')).toMatchObject({ status: 'False', message: 'containers with incomplete status: [gateway checkout]' });
    expect(await logOf('init-fails', 'gateway')).toBe('gateway got TERM\n');
    expect(existsSync(marker)).toBe(false);
  });

  test('a sidecar that ignores SIGTERM is SIGKILLed after terminationGracePeriodSeconds; the pod still Succeeds', async () => {
    await create(
      pod('stubborn', {
        terminationGracePeriodSeconds: 2,
        volumes: wsVolume,
        init: [sidecar('gateway', `trap 'echo "ignoring TERM"' TERM; touch "$WS/up"; while true; do sleep 0.05; done`, ws)],
        containers: [bash('main', `${wait('$WS/up')}; echo main done`, ws)],
      }),
    );
    await waitForPod(api, NS, 'stubborn', (p) => !!status(p, 'main')?.state?.terminated);
    const mainEnded = Date.now();
    await logEventually('stubborn', 'gateway', 'ignoring TERM');
    const done = await waitForPod(api, NS, 'stubborn', phaseIs('Succeeded', 'Failed'));
    expect(Date.now() - mainEnded).toBeGreaterThanOrEqual(1500);
    expect(done?.status?.phase).toBe('Succeeded');
    expect(initStatus(done, 'gateway')?.state?.terminated).toMatchObject({ exitCode: 137, reason: 'Error' });
    expect(initStatus(done, 'gateway')?.restartCount).toBe(0);
  });

  test('a sidecar runs with its own identity (runAsUser, private HOME, volume groups), and SIGTERM reaches it through the wrapper', async () => {
    const sc = { securityContext: { runAsUser: 1001 } };
    await create(
      pod('sidecar-ids', {
        securityContext: { runAsUser: 1000, fsGroup: 2000 },
        volumes: wsVolume,
        init: [
          sidecar('gateway', `trap 'echo "gateway got TERM"; exit 143' TERM; echo "uid=$(id -u) home=$HOME"; umask 002; echo from-gateway > "$WS/handoff"; while true; do sleep 0.05; done`, { ...ws, ...sc }),
        ],
        containers: [bash('main', `${wait('$WS/handoff')}; echo "uid=$(id -u) read: $(cat "$WS/handoff")"`, ws)],
      }),
    );
    const done = await waitForPod(api, NS, 'sidecar-ids', phaseIs('Succeeded', 'Failed'));
    expect(done?.status?.phase).toBe('Succeeded');
    const dir = kubelet.pods().find((p) => p.name === 'sidecar-ids')!.dir;
    expect(await logOf('sidecar-ids', 'gateway')).toBe(`uid=1001 home=${path.join(dir, 'home', 'gateway')}\ngateway got TERM\n`);
    expect(await logOf('sidecar-ids', 'main')).toBe('uid=1000 read: from-gateway\n');
    expect(initStatus(done, 'gateway')?.state?.terminated).toMatchObject({ exitCode: 143 });
    expect(existsSync(path.join(dir, 'volumes', 'ws', 'handoff'))).toBe(true);
  });
});
