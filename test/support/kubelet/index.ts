/**
 * Test kubelet — TEST SUPPORT ONLY, never shipped. Machines here have no container runtime, so this
 * stands in for the kubelet against the real kube-apiserver: it registers a Node, binds unscheduled
 * pods to itself (there is no scheduler), runs each container's command as a local process with the
 * pod's env, writes CRI logs and serves them on the kubelet log endpoint (so `kubectl logs -f` and
 * client-node's Log go through the apiserver), reports status through the real phases, enforces
 * activeDeadlineSeconds, performs graceful deletion, and injects faults on request. initContainers
 * run in order before the containers; a pod that sets securityContext.runAsUser runs each container
 * as its own uid/gid/groups, and (mountVolumes) a container can read only the volumes it mounts
 * (pod-worker.ts, identity.ts, volumes.ts). Sidecars (init containers with restartPolicy Always, KEP-753) start in
 * their place, run alongside the containers, are restarted when they exit, and are stopped after the regular
 * containers (pod-worker.ts).
 *
 * `runtime: 'podman'` runs each pod as real containers of its images instead (a podman pod; pod-worker.ts,
 * podman.ts): the images must be in the project's podman store (`npm run images`); no registry is reached.
 *
 * It runs inside the calling Node process; one pod watch (field selector spec.nodeName=<node>)
 * plus one watch for unscheduled pods serve any number of pods.
 *
 *   const kubelet = await startKubelet({ ...cluster.kubeletOptions(), imageCommands: { 'ghcr.io/x/agent:1': ['bash', '/abs/agent.sh'] } });
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { startWatchLoop, type WatchLoop } from '../cluster/watch-loop';
import { podMatches, type Fault, type PodTarget } from './faults';
import { startLogServer, type LogServer } from './log-server';
import { nodeStatus, patchNodeStatus, registerNode } from './node';
import { PodWorker } from './pod-worker';
import { podman } from './podman';

export type { Fault, PodTarget } from './faults';
export { POD_NETWORK_HOST_IP } from './network';

export interface StartKubeletOptions {
  /** Credentials the kubelet acts with (node identity from cluster.kubeletOptions(), or admin). */
  kubeconfigPath: string;
  /** Credentials for binding unscheduled pods (pods/binding); default: kubeconfigPath. Omit `bindUnscheduled` to turn binding off. */
  schedulerKubeconfigPath?: string;
  /** Bind pods that have no spec.nodeName to this node, as a scheduler would. Default true. */
  bindUnscheduled?: boolean;
  nodeName?: string;
  /** HTTPS for the log endpoint: serving cert for 127.0.0.1 and the CA that signs the apiserver's client cert. */
  tls: { certFile: string; keyFile: string; clientCaFile: string };
  /**
   * image → entrypoint argv on this host, e.g. { 'ghcr.io/x/agent:1': ['bash', '/abs/docker/agent-entrypoint.sh'] }.
   * A mapped image runs [...mapping, ...container.args] (the image's own paths do not exist here);
   * an unmapped one runs [...container.command, ...container.args] as given.
   */
  imageCommands?: Record<string, string[]>;
  /**
   * Materialise configMap/secret/emptyDir/downwardAPI/projected (incl. service-account token) volumes
   * under the pod dir and rewrite path-valued env under their mountPaths to the host paths; a mounted
   * service-account token also gets an in-cluster KUBECONFIG (see volumes.ts). Default false: volumes
   * are ignored and env is passed as written.
   */
  mountVolumes?: boolean;
  /**
   * Each pod in a network namespace of its own whose only way out is POD_NETWORK_HOST_IP, the host side
   * of its veth pair (network.ts): how the tests show "egress only through the proxy". Needs root. Default false.
   */
  isolateNetwork?: boolean;
  /**
   * How containers run: 'process' (default) as local processes (imageCommands, identities, isolateNetwork apply);
   * 'podman' as real containers of their images, one podman pod per pod on the host's network (podman.ts), with
   * the securityContext, volumes (mountVolumes is implied) and memory limits enforced by the runtime.
   */
  runtime?: 'process' | 'podman';
  /** Faults armed from the start (same as injectFault right after start). */
  faults?: Fault[];
  /**
   * Pod working directories and CRI logs. Default: a temp dir (mode 0711), removed by stop(). A given dir is used
   * as it is: pods that run as another uid (runAsUser) need it and its parents searchable by others (else StartError).
   */
  rootDir?: string;
  log?: (s: string) => void;
}

export interface KubeletPodInfo {
  namespace: string;
  name: string;
  uid: string;
  phase: string;
  /** The pod's working directory (each container's cwd; HOME too, except for non-root containers: <dir>/home/<container>). */
  dir: string;
  /** isolateNetwork: the pod's network namespace (`ip netns` name) and address. */
  network?: { namespace: string; podIp: string };
}

export interface TestKubelet {
  nodeName: string;
  /** Port of the HTTPS log endpoint on 127.0.0.1 (also in the Node's daemonEndpoints). */
  port: number;
  rootDir: string;
  /** Arms a fault (see Fault). Resolves once it is in effect (node status written, kills sent). */
  injectFault(fault: Fault): Promise<void>;
  /** Disarms every fault and reports the node Ready again; pods held Pending then start. */
  clearFaults(): Promise<void>;
  /** Drops every open log stream now, mid-way; returns how many it dropped. */
  cutLogStreams(): number;
  /** Pods this kubelet is running or holding. */
  pods(): KubeletPodInfo[];
  /** Watch requests opened against the apiserver so far (pods on this node + unscheduled pods). */
  watchRequests(): number;
  /** Kills every container process and stops serving; pods stay in the API as they are (a dead node). */
  stop(): Promise<void>;
}

function loadKubeConfig(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

export async function startKubelet(opts: StartKubeletOptions): Promise<TestKubelet> {
  const nodeName = opts.nodeName ?? 'sdlc-test-node';
  const log = opts.log ?? (() => undefined);
  const runtime = opts.runtime ?? 'process';
  if (runtime === 'podman') {
    // Fail loudly, never skip: the container backend needs podman (scripts/setup.sh installs it).
    const v = await podman(['version', '--format', '{{.Client.Version}}']);
    if (v.code !== 0) throw new Error(`startKubelet({ runtime: 'podman' }): podman does not run: ${v.stderr.trim()}`);
  }
  const ownsRoot = !opts.rootDir;
  const rootDir = opts.rootDir ?? mkdtempSync(path.join(os.tmpdir(), 'sdlc-kubelet-'));
  const podsDir = path.join(rootDir, 'pods');
  const logsDir = path.join(rootDir, 'logs');
  mkdirSync(podsDir, { recursive: true });
  mkdirSync(logsDir, { recursive: true });
  // Containers that run as another uid (securityContext.runAsUser) pass through to their pod dir: enter, not list.
  // The CRI logs are the kubelet's alone, as /var/log/pods on a node.
  if (ownsRoot) chmodSync(rootDir, 0o711);
  allowTraverse(path.dirname(rootDir));
  chmodSync(podsDir, 0o711);
  chmodSync(logsDir, 0o700);

  const kc = loadKubeConfig(opts.kubeconfigPath);
  const api = kc.makeApiClient(CoreV1Api);
  const schedulerKc = loadKubeConfig(opts.schedulerKubeconfigPath ?? opts.kubeconfigPath);
  const schedulerApi = schedulerKc.makeApiClient(CoreV1Api);
  const apiserver = new URL(kc.getCurrentCluster()!.server);

  let faults: Fault[] = [];
  let cutBudgets = new Map<Fault, number>();
  let readiness: { ready: boolean; message?: string } = { ready: true };
  const readySince = new Date();
  const workers = new Map<string, PodWorker>();
  const unscheduled = new Map<string, V1Pod>();
  let stopped = false;

  const workerFor = (ns: string, name: string) => workers.get(`${ns}/${name}`);
  // Container processes run in their own process groups; do not leave them behind if this process exits.
  const killAllOnExit = () =>
    workers.forEach((w) => {
      w.killNow();
      w.removeContainersNow();
    });
  process.on('exit', killAllOnExit);

  const logServer: LogServer = await startLogServer(opts.tls, {
    find: (ns, pod, container) => workerFor(ns, pod)?.logWriter(container),
    findPrevious: (ns, pod, container) => workerFor(ns, pod)?.previousLogWriter(container),
    noLogReason: (ns, pod, container) => workerFor(ns, pod)?.noLogReason(container),
    cutAfterLines(ns, podName, container) {
      const pod = workerFor(ns, podName)?.currentPod;
      if (!pod) return undefined;
      for (const [fault, left] of cutBudgets) {
        if (fault.kind !== 'cutLogStream' || !podMatches(fault.target, pod)) continue;
        if (left <= 1) cutBudgets.delete(fault);
        else cutBudgets.set(fault, left - 1);
        log(`cutting the log stream of ${ns}/${podName}/${container} after ${fault.afterLines} lines`);
        return fault.afterLines;
      }
      return undefined;
    },
  });

  const writeNodeStatus = async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await patchNodeStatus(api, nodeName, nodeStatus(logServer.port, readiness, readySince));
      } catch (err) {
        if (stopped || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 250 * Math.min(attempt + 1, 8)));
      }
    }
  };
  await registerNode(api, nodeName);
  await writeNodeStatus();
  const heartbeat = setInterval(() => void writeNodeStatus().catch((err: Error) => log(`node status: ${err.message}`)), 20_000);
  heartbeat.unref();

  const baseEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    KUBERNETES_SERVICE_HOST: apiserver.hostname,
    KUBERNETES_SERVICE_PORT: apiserver.port || '443',
  };
  const deps = {
    api,
    podsDir,
    logsDir,
    imageCommands: opts.imageCommands ?? {},
    baseEnv,
    mountVolumes: runtime === 'podman' ? true : (opts.mountVolumes ?? false),
    isolateNetwork: opts.isolateNetwork ?? false,
    runtime,
    // podman pod names: this kubelet's own, so two kubelets (or test files) never touch each other's.
    podmanPrefix: `sdlc-kubelet-${process.pid}-${nodeName}-`,
    armedFaults: () => faults,
    nodeReady: () => readiness.ready,
    log,
    onGone: (w: PodWorker) => {
      if (workers.get(w.key) === w) workers.delete(w.key);
    },
  };

  const handlePod = (pod: V1Pod) => {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    const existing = workers.get(key);
    if (existing && existing.uid !== pod.metadata?.uid) existing.removed(); // same name, new pod
    const current = workers.get(key);
    if (current) return current.update(pod);
    // A pod that already ended (e.g. before a kubelet restart) is not run again.
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      if (pod.metadata?.deletionTimestamp) void api.deleteNamespacedPod({ name: pod.metadata.name!, namespace: pod.metadata.namespace!, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid! } } }).catch(() => undefined);
      return;
    }
    const worker = new PodWorker(deps, pod);
    workers.set(key, worker);
    worker.start();
    if (pod.metadata?.deletionTimestamp) worker.update(pod);
  };

  const podLoop: WatchLoop = startWatchLoop<V1Pod>({
    kubeConfig: kc,
    path: '/api/v1/pods',
    query: { fieldSelector: `spec.nodeName=${nodeName}` },
    list: () => api.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` }),
    onSync(items) {
      const present = new Set(items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`));
      for (const [key, w] of workers) if (!present.has(key)) w.removed();
      items.forEach(handlePod);
    },
    onEvent(type, pod) {
      if (type === 'DELETED') workerFor(pod.metadata!.namespace!, pod.metadata!.name!)?.removed();
      else handlePod(pod);
    },
    log,
  });

  // The scheduler's job, reduced to "everything goes to this node" (skipped while NotReady).
  const bind = async (pod: V1Pod) => {
    if (!readiness.ready || stopped) return;
    const { name, namespace } = pod.metadata!;
    try {
      await schedulerApi.createNamespacedPodBinding({
        name: name!,
        namespace: namespace!,
        body: { metadata: { name: name!, namespace: namespace!, uid: pod.metadata!.uid }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } },
      });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 409 || code === 404) return; // bound meanwhile, or gone
      log(`binding ${namespace}/${name}: ${(err as Error).message}; retrying`);
      const retry = setTimeout(() => {
        const latest = unscheduled.get(pod.metadata!.uid!);
        if (latest) void bind(latest);
      }, 1000);
      retry.unref();
    }
  };
  let bindLoop: WatchLoop | undefined;
  if (opts.bindUnscheduled ?? true) {
    bindLoop = startWatchLoop<V1Pod>({
      kubeConfig: schedulerKc,
      path: '/api/v1/pods',
      query: { fieldSelector: 'spec.nodeName=' },
      list: () => schedulerApi.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=' }),
      onSync(items) {
        unscheduled.clear();
        for (const p of items) {
          unscheduled.set(p.metadata!.uid!, p);
          void bind(p);
        }
      },
      onEvent(type, pod) {
        if (type === 'DELETED' || pod.spec?.nodeName || pod.metadata?.deletionTimestamp) unscheduled.delete(pod.metadata!.uid!);
        else {
          unscheduled.set(pod.metadata!.uid!, pod);
          if (type === 'ADDED') void bind(pod);
        }
      },
      log,
    });
  }

  await podLoop.synced;
  await bindLoop?.synced;

  const arm = async (fault: Fault) => {
    faults = [...faults, fault];
    if (fault.kind === 'cutLogStream') cutBudgets.set(fault, fault.times ?? 1);
    if (fault.kind === 'nodeNotReady') {
      readiness = { ready: false, message: fault.message };
      await writeNodeStatus();
    }
    for (const w of workers.values()) w.applyFault(fault);
  };
  for (const f of opts.faults ?? []) await arm(f);

  return {
    nodeName,
    port: logServer.port,
    rootDir,
    injectFault: arm,
    async clearFaults() {
      faults = [];
      cutBudgets = new Map();
      if (!readiness.ready) {
        readiness = { ready: true };
        await writeNodeStatus();
        for (const p of unscheduled.values()) void bind(p);
      }
    },
    cutLogStreams: () => logServer.cutAll(),
    pods: () =>
      [...workers.values()].map((w) => ({ namespace: w.namespace, name: w.name, uid: w.uid, phase: w.phase(), dir: w.podDir, network: w.networkInfo() })),
    watchRequests: () => podLoop.watchRequests + (bindLoop?.watchRequests ?? 0),
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off('exit', killAllOnExit);
      clearInterval(heartbeat);
      podLoop.stop();
      bindLoop?.stop();
      await Promise.all([...workers.values()].map((w) => w.shutdown()));
      workers.clear();
      await logServer.close();
      if (ownsRoot) rmSync(rootDir, { recursive: true, force: true });
    },
  };
}

/**
 * Containers that run as non-root uids must get through every directory above the pod dirs: a test's
 * private TMPDIR (mkdtemp, 0700) would stop them. Adds only the search bit (o+x), never read or write.
 */
function allowTraverse(dir: string): void {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      const mode = statSync(d).mode & 0o7777;
      if (!(mode & 0o001)) chmodSync(d, mode | 0o001);
    } catch {
      // not ours to change (another owner, read-only): a container that needs it ends StartError, saying where
    }
    if (d === path.dirname(d)) return;
  }
}
