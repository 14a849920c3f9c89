/**
 * One pod's life on the test kubelet: containers as local processes (each in its own process
 * group, in a working directory per pod), CRI log files, status patches through the phases,
 * activeDeadlineSeconds, graceful deletion and the pod-level faults (OOM kill, eviction, image
 * pull failure). The pod's restartPolicy is treated as Never.
 *
 * initContainers run one after another before the regular containers, each only after the one
 * before exited 0; one that exits non-zero fails the pod and nothing after it starts (the regular
 * containers stay waiting PodInitializing). Deletion, activeDeadlineSeconds and faults reach a
 * running init container as any other.
 *
 * Sidecars (KEP-753, stable in 1.33): an init container with restartPolicy Always starts in its place in
 * the initContainers order, and the next init container starts as soon as the sidecar's process runs
 * (the spawn succeeded) — startupProbe / readinessProbe are not run here: a sidecar counts as started
 * and ready while its process runs. It keeps running alongside the regular containers; when it exits
 * (any code, OOM kill included) while the pod is not being stopped, it is started again after a short
 * delay (500 ms, doubling per restart up to 10 s — a simple CrashLoopBackOff): restartCount + 1, lastState
 * the previous end, a new CRI log file (<restartCount>.log; `previous=true` serves the one before).
 * Between exit and restart its state stays terminated. The pod is stopped as the kubelet's termination
 * ordering does it: once every regular container has ended (or a regular init container failed), the
 * sidecars get SIGTERM in reverse order of declaration, each once the sidecars declared after it have
 * exited, SIGKILL after terminationGracePeriodSeconds; on deletion / activeDeadlineSeconds / eviction the
 * regular (and init) containers get SIGTERM first, and each sidecar only once every regular container and
 * every later sidecar has exited, all within one grace period (what is left of it, at least 2 s, once its
 * turn comes). The phase ignores sidecars (pod-status.ts): a sidecar ending 143 on SIGTERM does not fail the
 * pod, but the pod is not reported Succeeded/Failed before they have stopped.
 *
 * Identity (identity.ts): a pod that sets runAsUser anywhere runs every container through setpriv
 * with its effective uid/gid/groups, no_new_privs and dropped capabilities, a private HOME
 * (<podDir>/home/<container>, 0700, when not uid 0), and — with mountVolumes — one group per
 * volume granted only to the containers that mount it (volumes.ts), so a container cannot read a
 * volume it does not mount. readOnly mounts become read-only bind mounts in a mount namespace of the
 * container's own (`unshare -m`; skipped, with a log line, when unshare is missing). A pod without
 * runAsUser runs as the kubelet's own user (root), as before.
 *
 * Runtime podman (podman.ts): the same life, but each container is a real container of its image in one podman
 * pod per pod (`podman run` attached: its stdout/stderr feed the same CRI log writer, so /containerLogs serves
 * them as for a process). The securityContext, the volumes (bind mounts of what volumes.ts materialises, owned
 * by the pod's fsGroup as the kubelet makes them) and the memory limit are the runtime's; imageCommands, the
 * host PATH, setpriv/unshare, path remapping and isolateNetwork do not apply. Signals go through `podman kill`,
 * a graceful stop is `podman stop -t <grace>`, and the podman pod is removed with the pod.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { CriLogWriter } from './cri-log';
import { apiEnvSources, ContainerConfigError, expandVars, resolveContainerEnv } from './env';
import { podMatches, type Fault } from './faults';
import { createPodNetwork, type PodNetwork } from './network';
import { allocateGids, containerIdentity, gidsNamedBy, lookPath, podSetsRunAsUser, releaseGids, setprivArgv, untraversableAncestor, type ContainerIdentity } from './identity';
import { apiTokenSource, containerMounts, isMaterialised, makeSubPathDirs, mountVolumes, remapEnvPaths, writeInClusterKubeconfig, type MountedVolumes } from './volumes';
import { containerEnd, podman, podmanSync, runArgs, spawnPodman } from './podman';
import { buildPodStatus, initFailed, initialized, podPhase, type ContainerSnapshot, type ContainerState, type PodSnapshot } from './pod-status';

// Strategic merge, as the real kubelet patches status: conditions merge by type, so one another component set
// (the apiserver's DisruptionTarget on an eviction) survives the kubelet's next status update.
const statusPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PodWorkerDeps {
  /** Client with the node's own credentials. */
  api: CoreV1Api;
  podsDir: string;
  logsDir: string;
  /** image → argv of its entrypoint on this host (replaces the container's `command`; `args` are appended). */
  imageCommands: Record<string, string[]>;
  /** Environment every container gets under its own (PATH of this host, KUBERNETES_SERVICE_HOST/PORT). */
  baseEnv: Record<string, string>;
  /** Materialise volumes under the pod dir and remap path-valued env (volumes.ts). Off: volumes are ignored. */
  mountVolumes: boolean;
  /** Each pod in a network namespace of its own whose only way out is the host's POD_NETWORK_HOST_IP (network.ts). */
  isolateNetwork: boolean;
  /** Containers as local processes (default) or as podman containers (podman.ts). */
  runtime?: 'process' | 'podman';
  /** podman: the prefix of this kubelet's podman pod names (so a kubelet removes only its own). */
  podmanPrefix?: string;
  armedFaults(): readonly Fault[];
  nodeReady(): boolean;
  log(s: string): void;
  /** The pod is gone from the API (final delete done or seen deleted): drop the worker. */
  onGone(worker: PodWorker): void;
}

interface ContainerRun {
  spec: V1Container;
  /** An init container (spec.initContainers). */
  init: boolean;
  /** An init container with restartPolicy Always. */
  sidecar: boolean;
  /** Its env, kept for restarts (sidecars). */
  env?: Record<string, string>;
  /** The current instance's process has been spawned (and not ended since): a sidecar counts as started. */
  spawned?: boolean;
  /** The kubelet sent it its stop (sidecar termination ordering): never again, never restarted. */
  stopSent?: boolean;
  /** The previous instance's log (restarted sidecars): served for previous=true. */
  previousWriter?: CriLogWriter;
  snapshot: ContainerSnapshot;
  /** Who its processes are (pods that set runAsUser only). */
  identity?: ContainerIdentity;
  /** Host paths of its readOnly volume mounts (pods that set runAsUser only). */
  readOnlyPaths?: string[];
  /** oomKill faults naming this container, armed before it started: scheduled when it starts. */
  pendingFaults: Fault[];
  writer?: CriLogWriter;
  proc?: ChildProcess;
  /** Why the kubelet killed it, when that should show as the terminated reason (OOMKilled). */
  killReason?: string;
  killTimer?: NodeJS.Timeout;
  closed?: Promise<void>;
  /** podman: the container's name (one per instance). */
  containerName?: string;
}

let containerSeq = 0;

/**
 * Set in every container's environment to its container id: how the kubelet finds the container's processes
 * that left both its process group and its process tree (setsid, then the parent exited), as a runtime's
 * cgroup would. A process that clears its environment escapes this.
 */
export const CONTAINER_ID_ENV = 'TESTKUBELET_CONTAINER_ID';

/**
 * Runs argv in a mount namespace of its own where each of the first $1 paths after it is bind-mounted
 * read-only onto itself (unshare, sh and setpriv exec: the pid stays the one spawned).
 */
const READ_ONLY_MOUNTS =
  'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

export class PodWorker {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly podDir: string;
  private pod: V1Pod;
  private readonly initContainers: ContainerRun[];
  private readonly containers: ContainerRun[];
  /** The pod sets runAsUser somewhere: containers get identities (identity.ts). */
  private readonly identities: boolean;
  /** Volume name → its group (identities + mountVolumes). */
  private volumeGids = new Map<string, number>();
  /** The pod's own network namespace (isolateNetwork), from its start until it is removed. */
  private network?: PodNetwork;
  private readonly startTime: Date;
  private failure?: { reason: string; message: string };
  private deadlineTimer?: NodeJS.Timeout;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly appliedFaults = new Set<Fault>();
  private started = false;
  /**
   * Settles when run() has returned. run() checks stopping() after every await, but what it is awaiting
   * (mounting volumes, resolving env) may still write into the pod dir after a kill: remove the dir only
   * after this, or it comes back.
   */
  private setUp: Promise<void> = Promise.resolve();
  private terminating = false;
  private gone = false;
  private syncing = false;
  private dirty = false;
  private idleWaiters: Array<() => void> = [];
  /** Resolved when their condition holds; re-checked on every container start, spawn and end (wake()). */
  private conditionWaiters: Array<{ until: () => boolean; resolve: () => void }> = [];
  /** Sidecars are being stopped (or must not run again): no more restarts. */
  private sidecarsStopping = false;
  /** When the sidecars' shared grace period ends (ms since the epoch), and its length in seconds. */
  private sidecarDeadline?: number;
  private sidecarGrace = 0;
  /** podman: the podman pod's name, once created (removed with the pod). */
  private podmanPod?: string;
  /** podman: volume name → host directory, for the containers' bind mounts. */
  private mounted?: MountedVolumes;

  constructor(
    private readonly deps: PodWorkerDeps,
    pod: V1Pod,
  ) {
    this.pod = pod;
    this.namespace = pod.metadata!.namespace!;
    this.name = pod.metadata!.name!;
    this.uid = pod.metadata!.uid!;
    this.podDir = path.join(deps.podsDir, this.uid);
    // Keep the API's startTime (activeDeadlineSeconds counts from it) when a pod is picked up again.
    this.startTime = pod.status?.startTime ? new Date(pod.status.startTime) : new Date();
    // With init containers every container starts out waiting PodInitializing, as the kubelet reports it.
    const hasInit = (pod.spec?.initContainers ?? []).length > 0;
    const run = (spec: V1Container, init: boolean): ContainerRun => {
      const sidecar = init && spec.restartPolicy === 'Always';
      return {
        spec,
        init,
        sidecar,
        pendingFaults: [],
        snapshot: { name: spec.name, image: spec.image ?? '', state: { kind: 'waiting', reason: hasInit ? 'PodInitializing' : 'ContainerCreating' }, ...(sidecar ? { sidecar, restartCount: 0 } : {}) },
      };
    };
    this.initContainers = (pod.spec?.initContainers ?? []).map((spec) => run(spec, true));
    this.containers = (pod.spec?.containers ?? []).map((spec) => run(spec, false));
    this.identities = podSetsRunAsUser(pod);
  }

  /** Init containers first, in order, then the regular ones. */
  private all(): ContainerRun[] {
    return [...this.initContainers, ...this.containers];
  }

  private snapshot(): PodSnapshot {
    return {
      startTime: this.startTime,
      initContainers: this.initContainers.map((c) => c.snapshot),
      containers: this.containers.map((c) => c.snapshot),
      failure: this.failure,
    };
  }

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  get currentPod(): V1Pod {
    return this.pod;
  }

  logWriter(container: string): CriLogWriter | undefined {
    return this.all().find((c) => c.spec.name === container)?.writer;
  }

  /** The log of the container's previous instance (a restarted sidecar), for previous=true. */
  previousLogWriter(container: string): CriLogWriter | undefined {
    return this.all().find((c) => c.spec.name === container)?.previousWriter;
  }

  /** Why a container of this pod has no log (the kubelet's 400 answer), or undefined when it has one or does not exist. */
  noLogReason(container: string): string | undefined {
    const c = this.all().find((x) => x.spec.name === container);
    if (!c || c.writer) return undefined;
    const st = c.snapshot.state;
    return st.kind === 'waiting' ? `container "${container}" in pod "${this.name}" is waiting to start: ${st.reason}` : `container "${container}" in pod "${this.name}" is terminated`;
  }

  start(): void {
    if (this.wasStartedElsewhere()) return this.reportLost();
    this.setUp = this.run().catch((err: Error) => this.deps.log(`pod ${this.key}: ${err.stack ?? err.message}`));
  }

  /** A newer version of the pod from the watch. */
  update(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp && !this.terminating) this.beginGracefulDeletion();
  }

  /** The pod was removed from the API (force delete, or our own final delete): kill what is left. */
  removed(): void {
    if (this.gone) return;
    this.gone = true;
    this.sidecarsStopping = true;
    this.clearTimers();
    for (const c of this.all()) this.signal(c, 'SIGKILL');
    this.wake();
    void Promise.all([this.setUp, ...this.all().map((c) => c.closed)]).then(async () => {
      await this.removePodmanPod();
      rmSync(this.podDir, { recursive: true, force: true });
      rmSync(this.logDir(), { recursive: true, force: true });
      releaseGids(this.volumeGids.values());
      this.network?.release();
    });
    this.deps.onGone(this);
  }

  /** Kubelet shutdown: processes die, the pod stays in the API as it is (as when a node dies). */
  async shutdown(): Promise<void> {
    this.killNow();
    await this.setUp;
    await Promise.all(this.all().map((c) => c.closed));
    this.network?.release();
    await this.removePodmanPod();
    if (this.volumeGids.size) {
      // The dir stays (a dead node's disk); its groups go back to the pool, so nobody may enter its volumes any more.
      const volumes = path.join(this.podDir, 'volumes');
      if (existsSync(volumes)) chmodSync(volumes, 0o700);
      releaseGids(this.volumeGids.values());
    }
  }

  /** Synchronous SIGKILL of every container (for process exit hooks). */
  killNow(): void {
    this.gone = true;
    this.sidecarsStopping = true;
    this.clearTimers();
    for (const c of this.all()) this.signal(c, 'SIGKILL');
    this.wake();
  }

  /** podman, at process exit: the pod's containers must not outlive this process (synchronous). */
  removeContainersNow(): void {
    if (this.podmanPod) podmanSync(['pod', 'rm', '--force', '--time', '0', this.podmanPod]);
    this.podmanPod = undefined;
  }

  private get podmanRuntime(): boolean {
    return this.deps.runtime === 'podman';
  }

  /** podman: the pod's containers and their pod are removed (after they ended: their state was read). */
  private async removePodmanPod(): Promise<void> {
    const pod = this.podmanPod;
    if (!pod) return;
    this.podmanPod = undefined;
    const r = await podman(['pod', 'rm', '--force', '--time', '0', pod]);
    if (r.code !== 0) this.deps.log(`pod ${this.key}: podman pod rm ${pod}: ${r.stderr.trim()}`);
  }

  /** Applies an armed pod fault once, if it targets this pod. */
  applyFault(fault: Fault): void {
    if (this.gone || this.appliedFaults.has(fault)) return;
    if (fault.kind !== 'oomKill' && fault.kind !== 'evict') return;
    if (!podMatches(fault.target, this.pod)) return;
    this.appliedFaults.add(fault);
    if (this.started) this.scheduleFault(fault);
  }

  /**
   * Called once the pod's first container started (or when armed later). An oomKill that names a container
   * not started yet (one after the init containers) waits for it: its afterMs counts from that start.
   */
  private scheduleFault(fault: Fault): void {
    if (fault.kind !== 'oomKill' && fault.kind !== 'evict') return;
    if (fault.kind === 'oomKill' && fault.container) {
      const named = this.all().find((c) => c.spec.name === fault.container);
      if (named?.snapshot.state.kind === 'waiting' && !named.proc) {
        named.pendingFaults.push(fault);
        return;
      }
    }
    this.later(fault.afterMs ?? 0, () => {
      if (fault.kind === 'oomKill') {
        // Without a container named: a running regular (or init) container before a sidecar.
        const candidates = [...this.containers, ...this.initContainers.filter((c) => !c.sidecar), ...this.initContainers.filter((c) => c.sidecar)];
        const target = candidates.find((c) => (fault.container ? c.spec.name === fault.container : c.snapshot.state.kind === 'running'));
        if (target?.snapshot.state.kind === 'running') {
          this.deps.log(`pod ${this.key}: OOM-killing container ${target.spec.name}`);
          target.killReason = 'OOMKilled';
          this.signal(target, 'SIGKILL');
        }
      } else {
        this.deps.log(`pod ${this.key}: evicting`);
        this.fail('Evicted', fault.message ?? 'The node was low on resource: memory. ', 0);
      }
    });
  }

  /** The API says containers already ran: a previous kubelet process started this pod. */
  private wasStartedElsewhere(): boolean {
    return [...(this.pod.status?.initContainerStatuses ?? []), ...(this.pod.status?.containerStatuses ?? [])].some((cs) => cs.state?.running || cs.state?.terminated);
  }

  /**
   * Its processes died with the previous kubelet. restartPolicy Never: the pod fails the way
   * Kubernetes reports containers that vanished (ContainerStatusUnknown, 137) — never run twice.
   */
  private reportLost(): void {
    this.deps.log(`pod ${this.key}: started by an earlier kubelet; its containers are gone`);
    this.started = true;
    const statuses = [...(this.pod.status?.initContainerStatuses ?? []), ...(this.pod.status?.containerStatuses ?? [])];
    const previous = new Map(statuses.map((cs) => [cs.name, cs.state]));
    this.sidecarsStopping = true;
    for (const c of this.all()) {
      const before = previous.get(c.spec.name);
      if (c.sidecar) c.snapshot.restartCount = statuses.find((cs) => cs.name === c.spec.name)?.restartCount ?? 0;
      if (before?.terminated) {
        const t = before.terminated;
        c.snapshot.state = { kind: 'terminated', exitCode: t.exitCode, reason: t.reason ?? 'Error', message: t.message, startedAt: t.startedAt, finishedAt: t.finishedAt ?? new Date() };
      } else if (initFailed(this.snapshot())) {
        c.snapshot.state = { kind: 'waiting', reason: 'PodInitializing' }; // after a failed init container: never ran
      } else {
        c.snapshot.state = { kind: 'terminated', exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', startedAt: before?.running?.startedAt, finishedAt: new Date() };
      }
      c.closed = Promise.resolve();
    }
    this.onContainerEnded();
    if (this.pod.metadata?.deletionTimestamp) this.update(this.pod);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.gone) fn();
    }, ms);
    this.timers.add(t);
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
  }

  private logDir(): string {
    return path.join(this.deps.logsDir, `${this.namespace}_${this.name}_${this.uid}`);
  }

  private stopping(): boolean {
    return this.gone || this.terminating || this.failure !== undefined;
  }

  /** The containers being set up now: the init containers until they all succeeded, then the regular ones. */
  private current(): ContainerRun[] {
    return initialized(this.snapshot()) ? this.containers : this.initContainers;
  }

  private setWaiting(reason: string, message?: string): void {
    for (const c of this.current()) if (c.snapshot.state.kind === 'waiting') c.snapshot.state = { kind: 'waiting', reason, message };
    this.requestSync();
  }

  private async run(): Promise<void> {
    mkdirSync(this.podDir, { recursive: true });
    this.requestSync(); // Pending / ContainerCreating, startTime

    const deadline = this.pod.spec?.activeDeadlineSeconds;
    if (deadline !== undefined && deadline !== null) {
      this.deadlineTimer = setTimeout(
        () => this.fail('DeadlineExceeded', 'Pod was active on the node longer than the specified deadline', this.gracePeriod()),
        Math.max(0, this.startTime.getTime() + deadline * 1000 - Date.now()),
      );
    }

    for (const f of this.deps.armedFaults()) this.applyFault(f);

    // "Image pull": fails for as long as a matching fault is armed, like a registry that says no.
    let pullAttempts = 0;
    while (!this.stopping()) {
      const fault = this.deps.armedFaults().find((f) => f.kind === 'imagePullFailure' && podMatches(f.target, this.pod));
      if (!fault || fault.kind !== 'imagePullFailure') break;
      const image = this.current()[0]?.snapshot.image ?? '';
      if (pullAttempts++ % 2 === 0) {
        this.setWaiting('ErrImagePull', fault.message ?? `failed to pull and unpack image "${image}": not found`);
      } else {
        this.setWaiting('ImagePullBackOff', `Back-off pulling image "${image}"`);
      }
      await sleep(1000);
    }
    while (!this.stopping() && !this.deps.nodeReady()) await sleep(250);

    if (this.identities && !this.podmanRuntime) {
      chmodSync(this.podDir, 0o711); // non-root containers pass through it (their HOME, the volumes), without listing it
      if (this.deps.mountVolumes && this.volumeGids.size === 0) {
        const names = (this.pod.spec?.volumes ?? []).filter(isMaterialised).map((v) => v.name);
        const gids = allocateGids(names.length, gidsNamedBy(this.pod));
        this.volumeGids = new Map(names.map((n, i) => [n, gids[i]!]));
      }
    }
    const volumes = this.deps.mountVolumes ? await this.prepareVolumes() : undefined;
    if (this.stopping() || (this.deps.mountVolumes && !volumes)) return;
    if (this.deps.isolateNetwork && !this.network && !this.podmanRuntime) {
      try {
        this.network = await createPodNetwork();
      } catch (err) {
        // As a CNI failure: the sandbox is not created, the pod stays Pending with the reason.
        this.setWaiting('ContainerCreating', `failed to set up the pod network: ${(err as Error).message}`);
        this.deps.log(`pod ${this.key}: ${(err as Error).message}`);
        return;
      }
      if (this.gone) return this.network.release();
    }
    let envs = await this.resolveEnvs();
    if (!envs || this.stopping()) return;
    const all = this.all();
    if (this.podmanRuntime) {
      this.mounted = volumes;
      if (!(await this.createPodmanPod())) return;
    } else if (volumes) envs = all.map((c, i) => this.withMounts(c, envs![i]!, volumes));
    const envOf = (c: ContainerRun) => envs![all.indexOf(c)]!;

    // Faults armed before the start take effect from the first container's start on.
    this.started = true;
    let faultsScheduled = false;
    const scheduleFaults = () => {
      if (faultsScheduled) return;
      faultsScheduled = true;
      for (const f of this.appliedFaults) this.scheduleFault(f);
    };
    for (const c of this.initContainers) {
      if (this.stopping()) return;
      c.env = envOf(c);
      this.startContainer(c, c.env);
      this.requestSync();
      scheduleFaults();
      if (c.sidecar) {
        // Not awaited to exit: the next init container starts once the sidecar's process runs (probes are not run).
        // One that could not start is restarted (restartAfterExit) and waited for again.
        await this.waitFor(() => this.stopping() || c.spawned === true);
        continue;
      }
      await c.closed;
      const st = c.snapshot.state;
      if (st.kind !== 'terminated' || st.exitCode !== 0) return; // the pod has failed: nothing after it runs
    }
    if (this.stopping()) return;
    for (const c of this.containers) {
      c.env = envOf(c);
      this.startContainer(c, c.env);
    }
    this.requestSync();
    scheduleFaults();
  }

  /** Resolves once `until()` holds (checked now and on every wake()). */
  private waitFor(until: () => boolean): Promise<void> {
    if (until()) return Promise.resolve();
    return new Promise((resolve) => this.conditionWaiters.push({ until, resolve }));
  }

  private wake(): void {
    const ready = this.conditionWaiters.filter((w) => this.gone || w.until());
    if (!ready.length) return;
    this.conditionWaiters = this.conditionWaiters.filter((w) => !ready.includes(w));
    ready.forEach((w) => w.resolve());
  }

  /** Volumes as directories under the pod dir; retries (ContainerCreating) while referenced objects are missing. */
  private async prepareVolumes(): Promise<MountedVolumes | undefined> {
    let forbidden = 0;
    while (!this.stopping()) {
      const sources = { ...apiEnvSources(this.deps.api, this.namespace), serviceAccountToken: apiTokenSource(this.deps.api, this.pod) };
      try {
        const gids = this.podmanRuntime ? this.fsGroupOwnership() : this.identities ? this.volumeGids : undefined;
        const mounted = await mountVolumes(this.pod, this.podDir, sources, gids);
        for (const c of this.all()) makeSubPathDirs(this.pod, c.spec, mounted, gids);
        // As the kubelet makes an emptyDir: writable by every uid (with an fsGroup: its group, setgid, as volumes.ts makes it).
        if (this.podmanRuntime && !gids) for (const v of this.pod.spec?.volumes ?? []) if (v.emptyDir && mounted.has(v.name)) chmodSync(mounted.get(v.name)!, 0o777);
        return mounted;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 403 && ++forbidden < 40) {
          // As for env: the Node authorizer learns the pod's references from its own informer.
          await sleep(250);
          continue;
        }
        this.setWaiting('ContainerCreating', (err as Error).message);
        if (!(err instanceof ContainerConfigError)) this.deps.log(`pod ${this.key}: mounting volumes: ${(err as Error).message}`);
        await sleep(1000);
      }
    }
    return undefined;
  }

  /** The container's env with mounted paths remapped, and KUBECONFIG for a mounted service-account token. */
  private withMounts(c: ContainerRun, env: Record<string, string>, volumes: MountedVolumes): Record<string, string> {
    const container = c.spec;
    const mounts = containerMounts(container, volumes);
    if (this.identities) c.readOnlyPaths = [...new Set(mounts.filter((m) => m.readOnly).map((m) => m.hostPath))];
    const out = remapEnvPaths(env, mounts);
    if (out.KUBECONFIG === undefined) {
      const host = this.deps.baseEnv.KUBERNETES_SERVICE_HOST;
      const port = this.deps.baseEnv.KUBERNETES_SERVICE_PORT;
      const kubeconfig = writeInClusterKubeconfig(this.podDir, container.name, mounts, `https://${host}:${port}`, c.identity);
      if (kubeconfig) out.KUBECONFIG = kubeconfig;
    }
    return out;
  }

  /** Env for every container; retries while referenced objects are missing or not yet readable. */
  private async resolveEnvs(): Promise<Record<string, string>[] | undefined> {
    let forbidden = 0;
    while (!this.stopping()) {
      const sources = apiEnvSources(this.deps.api, this.namespace);
      try {
        const out: Record<string, string>[] = [];
        for (const c of this.all()) {
          if (this.identities && !this.podmanRuntime) c.identity = containerIdentity(this.pod, c.spec, this.volumeGids);
          out.push(await resolveContainerEnv(this.pod, c.spec, sources));
        }
        return out;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (err instanceof ContainerConfigError) {
          this.setWaiting('CreateContainerConfigError', err.message);
          await sleep(1000);
        } else if (code === 403 && ++forbidden < 40) {
          // The Node authorizer learns pod → secret edges from its own informer; give it a moment.
          await sleep(250);
        } else {
          this.deps.log(`pod ${this.key}: resolving env: ${(err as Error).message}`);
          if (code === 403) this.setWaiting('CreateContainerConfigError', (err as Error).message);
          await sleep(1000);
        }
      }
    }
    return undefined;
  }

  private argv(c: V1Container, env: Record<string, string>): string[] {
    const mapped = this.deps.imageCommands[c.image ?? ''];
    const args = (c.args ?? []).map((a) => expandVars(a, env));
    if (mapped) return [...mapped, ...args];
    return [...(c.command ?? []).map((a) => expandVars(a, env)), ...args];
  }

  /**
   * argv wrapped so that the process runs as the container's identity (setpriv), inside a mount namespace
   * with its read-only mounts (unshare) and in the pod's network namespace (nsenter); or a reason it cannot start.
   */
  private wrap(c: ContainerRun, argv: string[], env: Record<string, string>): string[] | string {
    const wrapped = this.asIdentity(c, argv, env);
    return typeof wrapped === 'string' || !this.network ? wrapped : [...this.network.enter, ...wrapped];
  }

  /** argv as the container's identity (setpriv) with its read-only mounts (unshare); unchanged for a pod without runAsUser. */
  private asIdentity(c: ContainerRun, argv: string[], env: Record<string, string>): string[] | string {
    const id = c.identity;
    if (!id) return argv;
    const setpriv = lookPath('setpriv', '/usr/bin:/bin:/usr/sbin:/sbin');
    if (!setpriv) return 'setpriv (util-linux) not found: it applies the securityContext on the test kubelet';
    // As the runtime does: a command that is not there is a start error, not an exit code of the wrapper.
    const exe = lookPath(argv[0]!, env.PATH);
    if (!exe) return `exec: "${argv[0]}": executable file not found in $PATH`;
    if (id.uid !== 0) {
      const blocked = untraversableAncestor(this.podDir);
      if (blocked) return `uid ${id.uid} cannot reach the pod directory ${this.podDir}: ${blocked} is not searchable by others (give the kubelet a rootDir under traversable directories)`;
    }
    let out = setprivArgv(setpriv, id, [exe, ...argv.slice(1)]);
    const ro = c.readOnlyPaths ?? [];
    if (ro.length) {
      const unshare = lookPath('unshare', '/usr/bin:/bin:/usr/sbin:/sbin');
      if (!unshare) this.deps.log(`pod ${this.key}: unshare not found; readOnly mounts of container ${c.spec.name} stay writable`);
      else out = [unshare, '--mount', '--propagation', 'private', '--', 'sh', '-c', READ_ONLY_MOUNTS, 'sh', String(ro.length), ...ro, ...out];
    }
    return out;
  }

  /** A private HOME for a container that does not run as root: <podDir>/home/<container>, its own, 0700. */
  private homeOf(c: ContainerRun): string {
    const id = c.identity;
    if (!id || id.uid === 0) return this.podDir;
    const homes = path.join(this.podDir, 'home');
    mkdirSync(homes, { recursive: true, mode: 0o711 });
    const home = path.join(homes, c.spec.name);
    mkdirSync(home, { recursive: true });
    chownSync(home, id.uid, id.gid);
    chmodSync(home, 0o700);
    return home;
  }

  /** podman: volumes owned by the pod's fsGroup (every volume), as the kubelet's ownership management does. */
  private fsGroupOwnership(): Map<string, number> | undefined {
    const g = this.pod.spec?.securityContext?.fsGroup;
    if (g === undefined || g === null) return undefined;
    return new Map((this.pod.spec?.volumes ?? []).map((v) => [v.name, g]));
  }

  /** podman: the pod's sandbox (a podman pod on the host's network, see podman.ts); false when it could not be made. */
  private async createPodmanPod(): Promise<boolean> {
    const name = `${this.deps.podmanPrefix ?? 'sdlc-kubelet-'}${this.namespace}-${this.name}-${this.uid.slice(0, 8)}`;
    // The pod's hostname is its name, as in Kubernetes (the podman pod's own name can exceed the 64 bytes a hostname may have).
    const r = await podman(['pod', 'create', '--name', name, '--network', 'host', '--hostname', this.name.slice(0, 63)]);
    if (r.code !== 0) {
      // As a failed sandbox: the pod stays Pending with the reason.
      this.setWaiting('ContainerCreating', `failed to create the pod sandbox: ${r.stderr.trim()}`);
      this.deps.log(`pod ${this.key}: podman pod create: ${r.stderr.trim()}`);
      return false;
    }
    this.podmanPod = name;
    return !this.stopping();
  }

  /** podman: one container of the pod, attached (its output feeds the CRI log); its end read from podman (containerEnd). */
  private startPodmanContainer(c: ContainerRun, podEnv: Record<string, string>): void {
    const name = `${this.podmanPod}-${c.spec.name}-${c.snapshot.restartCount ?? 0}`;
    c.containerName = name;
    c.snapshot.containerId = `podman://${name}`;
    const writer = this.openContainerLog(c);
    const startedAt = new Date();
    const env = { KUBERNETES_SERVICE_HOST: this.deps.baseEnv.KUBERNETES_SERVICE_HOST!, KUBERNETES_SERVICE_PORT: this.deps.baseEnv.KUBERNETES_SERVICE_PORT!, HOSTNAME: this.name, ...podEnv };
    let argv: string[];
    try {
      if (!c.spec.image) throw new ContainerConfigError('the container has no image');
      const spec = { ...c.spec, command: c.spec.command?.map((a) => expandVars(a, podEnv)) };
      argv = [...runArgs({ pod: this.pod, podName: this.podmanPod!, name, spec, env, mounted: this.mounted ?? new Map() }), c.spec.image, ...(c.spec.args ?? []).map((a) => expandVars(a, podEnv))];
    } catch (err) {
      writer.end();
      c.snapshot.state = { kind: 'terminated', exitCode: 128, reason: 'StartError', message: (err as Error).message, finishedAt: new Date() };
      c.closed = Promise.resolve();
      this.onContainerEnded(c);
      return;
    }
    // conmon's working directory: where it leaves its OOM marker (podman.ts).
    const conmonDir = path.join(this.podDir, 'podman', name);
    mkdirSync(conmonDir, { recursive: true });
    const proc = spawnPodman(argv, conmonDir);
    c.proc = proc;
    c.snapshot.state = { kind: 'running', startedAt };
    for (const f of c.pendingFaults.splice(0)) this.scheduleFault(f);
    let stderrTail = '';
    proc.stdout!.on('data', (d: Buffer) => writer.write('stdout', d));
    proc.stderr!.on('data', (d: Buffer) => {
      writer.write('stderr', d);
      stderrTail = (stderrTail + d.toString('utf8')).slice(-4096);
    });
    proc.once('spawn', () => {
      if (c.proc !== proc) return;
      c.spawned = true;
      this.wake();
    });
    c.closed = new Promise<void>((resolve) => {
      proc.once('close', (code) => {
        void containerEnd(name, code, stderrTail, conmonDir).then((end) => {
          if (c.killTimer) clearTimeout(c.killTimer);
          writer.end();
          const finishedAt = new Date();
          c.snapshot.state = end.started
            ? { kind: 'terminated', exitCode: c.killReason === 'OOMKilled' ? 137 : end.exitCode, reason: c.killReason ?? end.reason, startedAt, finishedAt }
            : { kind: 'terminated', exitCode: 128, reason: 'StartError', message: end.message, startedAt, finishedAt };
          if (!end.started) this.deps.log(`pod ${this.key}: container ${c.spec.name} did not start: podman ${argv.join(' ')}\n${stderrTail}`);
          c.proc = undefined;
          c.spawned = false;
          resolve();
          this.onContainerEnded(c);
        });
      });
    });
  }

  /**
   * podman: `podman kill` / `podman stop` of the container's current instance. A container still being created
   * (its `podman run` has not made it yet) is asked again until it exists or has ended.
   */
  private podmanSignal(c: ContainerRun, args: string[]): void {
    const proc = c.proc;
    const name = c.containerName;
    if (!proc || !name) return;
    void (async () => {
      for (let attempt = 0; attempt < 100 && c.proc === proc; attempt++) {
        const r = await podman([...args, name]);
        if (r.code === 0 || c.proc !== proc) return;
        // Not created yet, or created and not yet running: ask again.
        if (!/no such container|can only kill running containers|not running/i.test(r.stderr)) {
          this.deps.log(`pod ${this.key}: podman ${args[0]} ${name}: ${r.stderr.trim()}`);
        }
        await sleep(100);
      }
    })();
  }

  /** A new instance's log, named as the kubelet names them: <restartCount>.log, one file per instance (the last one kept as previous). */
  private openContainerLog(c: ContainerRun): CriLogWriter {
    const logDir = path.join(this.logDir(), c.spec.name);
    mkdirSync(logDir, { recursive: true });
    if (c.writer) c.previousWriter = c.writer;
    c.writer = new CriLogWriter(path.join(logDir, `${c.snapshot.restartCount ?? 0}.log`));
    c.spawned = false;
    return c.writer;
  }

  private startContainer(c: ContainerRun, podEnv: Record<string, string>): void {
    if (this.podmanRuntime) return this.startPodmanContainer(c, podEnv);
    const id = `${this.uid.slice(0, 8)}-${c.spec.name}-${++containerSeq}`;
    c.snapshot.containerId = id;
    const writer = this.openContainerLog(c);
    const env = { ...this.deps.baseEnv, HOSTNAME: this.name, HOME: this.homeOf(c), ...podEnv, [CONTAINER_ID_ENV]: id };
    const cmd = this.argv(c.spec, podEnv);
    const argv = cmd.length === 0 ? `no command for image ${c.spec.image} (set command, or map the image in imageCommands)` : this.wrap(c, cmd, env);
    const startedAt = new Date();
    if (typeof argv === 'string') {
      writer.end();
      c.snapshot.state = { kind: 'terminated', exitCode: 128, reason: 'StartError', message: argv, finishedAt: new Date() };
      c.closed = Promise.resolve();
      this.onContainerEnded(c);
      return;
    }
    const proc = spawn(argv[0]!, argv.slice(1), { cwd: this.podDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    c.proc = proc;
    c.snapshot.state = { kind: 'running', startedAt };
    for (const f of c.pendingFaults.splice(0)) this.scheduleFault(f);
    proc.stdout!.on('data', (d: Buffer) => writer.write('stdout', d));
    proc.stderr!.on('data', (d: Buffer) => writer.write('stderr', d));
    let spawnError: Error | undefined;
    proc.once('error', (err) => (spawnError = err));
    proc.once('spawn', () => {
      if (c.proc !== proc) return;
      c.spawned = true;
      this.wake();
    });
    c.closed = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        // The container's other processes die with it, as in a PID namespace.
        this.signal(c, 'SIGKILL');
      });
      proc.once('close', (code, signal) => {
        if (c.killTimer) clearTimeout(c.killTimer);
        writer.end();
        const finishedAt = new Date();
        if (spawnError) {
          c.snapshot.state = { kind: 'terminated', exitCode: 128, reason: 'StartError', message: spawnError.message, startedAt, finishedAt };
        } else {
          const exitCode = c.killReason === 'OOMKilled' ? 137 : (code ?? 128 + (signal ? (osConstants.signals[signal] ?? 9) : 9));
          const reason = c.killReason ?? (exitCode === 0 ? 'Completed' : 'Error');
          c.snapshot.state = { kind: 'terminated', exitCode, reason, startedAt, finishedAt };
        }
        c.proc = undefined;
        c.spawned = false;
        resolve();
        this.onContainerEnded(c);
      });
    });
  }

  private signal(c: ContainerRun, sig: NodeJS.Signals): void {
    if (this.podmanRuntime) return this.podmanSignal(c, ['kill', '--signal', sig.replace(/^SIG/, '')]);
    const pid = c.proc?.pid;
    if (!pid) return;
    // A runtime's SIGKILL reaches every process of the container (its cgroup), also those that started a
    // session of their own (the agent runs opencode detached): found while their parents still live, or by
    // the container id in their environment once their parent is gone (the main process exited first).
    const all = sig === 'SIGKILL' ? [...new Set([...descendantsOf(pid), ...markedWith(c.snapshot.containerId!)])] : [];
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
    for (const p of all) {
      try {
        process.kill(p, sig);
      } catch {
        // already gone
      }
    }
  }

  /**
   * SIGTERM to the container's main process now (as a runtime signals PID 1 only; forwarding is the
   * entrypoint's job), SIGKILL to all its processes after graceSeconds (0: at once).
   */
  private kill(c: ContainerRun, graceSeconds: number): void {
    if (!c.proc) return;
    if (graceSeconds <= 0) return this.signal(c, 'SIGKILL');
    // podman sends the image's stop signal (SIGTERM) and SIGKILL after the grace itself.
    if (this.podmanRuntime) return this.podmanSignal(c, ['stop', '--time', String(graceSeconds)]);
    try {
      c.proc.kill('SIGTERM');
    } catch {
      // already gone
    }
    if (!c.killTimer) c.killTimer = setTimeout(() => this.signal(c, 'SIGKILL'), graceSeconds * 1000);
  }

  private gracePeriod(): number {
    return this.pod.spec?.terminationGracePeriodSeconds ?? 30;
  }

  /** Nothing runs and nothing will: every container ended, or an init container failed and the rest never start. */
  private allDone(): boolean {
    const stoppedByInit = initFailed(this.snapshot());
    return this.all().every((c) => c.snapshot.state.kind === 'terminated' || (stoppedByInit && c.snapshot.state.kind === 'waiting' && !c.proc));
  }

  private onContainerEnded(ended?: ContainerRun): void {
    if (this.started && !this.sidecarsStopping) {
      // The pod is done with its work: every regular container ended (they had started), or a regular init container failed.
      const regularDone = this.containers.every((c) => c.snapshot.state.kind === 'terminated' && c.snapshot.containerId !== undefined);
      if (regularDone || initFailed(this.snapshot())) {
        // Its outcome is decided: activeDeadlineSeconds no longer applies while the sidecars stop.
        if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
        this.stopSidecars(this.gracePeriod());
      }
    }
    if (ended?.sidecar) this.restartAfterExit(ended);
    this.advanceSidecarShutdown();
    const allDone = this.allDone();
    if (allDone && this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.requestSync();
    this.wake();
    if (allDone && this.terminating) void this.finishDeletion();
  }

  /** A sidecar that exited while the pod still runs is started again (restartPolicy Always), after a short delay. */
  private restartAfterExit(c: ContainerRun): void {
    if (this.sidecarsStopping || this.stopping() || c.stopSent || !c.env) return;
    const restarts = c.snapshot.restartCount ?? 0;
    const delay = Math.min(500 * 2 ** restarts, 10_000);
    const st = c.snapshot.state;
    this.deps.log(`pod ${this.key}: sidecar ${c.spec.name} exited (${st.kind === 'terminated' ? `${st.exitCode} ${st.reason}` : st.kind}); restarting in ${delay} ms`);
    this.later(delay, () => {
      if (this.sidecarsStopping || this.stopping() || c.proc || c.snapshot.state.kind !== 'terminated') return;
      c.snapshot.lastState = c.snapshot.state;
      c.snapshot.restartCount = restarts + 1;
      c.killReason = undefined;
      if (c.killTimer) clearTimeout(c.killTimer);
      c.killTimer = undefined;
      this.startContainer(c, c.env!);
      this.requestSync();
      this.wake();
    });
  }

  /**
   * Stops the sidecars as the kubelet's termination ordering does: one grace period for all of them (the shortest
   * asked for wins); each gets SIGTERM once every regular container and every sidecar declared after it have
   * exited, or when the grace period is over; grace 0 is SIGKILL at once.
   */
  private stopSidecars(graceSeconds: number): void {
    this.sidecarsStopping = true;
    if (!this.initContainers.some((c) => c.sidecar)) return;
    const deadline = Date.now() + Math.max(0, graceSeconds) * 1000;
    if (this.sidecarDeadline === undefined || deadline < this.sidecarDeadline) {
      this.sidecarDeadline = deadline;
      this.sidecarGrace = Math.max(0, graceSeconds);
      if (graceSeconds > 0) this.later(graceSeconds * 1000, () => this.advanceSidecarShutdown());
    }
    this.advanceSidecarShutdown();
  }

  private advanceSidecarShutdown(): void {
    const deadline = this.sidecarDeadline;
    if (deadline === undefined) return;
    const sidecars = this.initContainers.filter((c) => c.sidecar);
    const expired = Date.now() >= deadline - 10; // a timer may fire a millisecond early
    const regularRunning = this.containers.some((c) => c.proc);
    for (let i = sidecars.length - 1; i >= 0; i--) {
      const c = sidecars[i]!;
      if (!c.proc || c.stopSent) continue;
      const laterRunning = sidecars.slice(i + 1).some((x) => x.proc);
      if (!expired && (regularRunning || laterRunning)) continue;
      c.stopSent = true;
      if (this.sidecarGrace <= 0) {
        this.signal(c, 'SIGKILL');
        continue;
      }
      // What is left of the grace period, in whole seconds as the kubelet counts it, at least 2 s.
      const waited = Math.floor((Date.now() - (deadline - this.sidecarGrace * 1000)) / 1000);
      const remaining = Math.max(2, this.sidecarGrace - waited);
      this.deps.log(`pod ${this.key}: stopping sidecar ${c.spec.name} (grace ${remaining} s)`);
      this.kill(c, remaining);
    }
  }

  /** Containers that never ran end as Kubernetes reports them when a pod is killed before start. */
  private markUnstartedTerminated(): void {
    if (this.allDone()) return; // after a failed init container the rest stay waiting, as reported
    for (const c of this.all()) {
      if (c.snapshot.state.kind === 'waiting') {
        c.snapshot.state = { kind: 'terminated', exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', finishedAt: new Date() };
        c.closed ??= Promise.resolve();
      }
    }
  }

  /** Pod-level failure (DeadlineExceeded, Evicted): kill everything, phase Failed with the reason. */
  private fail(reason: string, message: string, graceSeconds: number): void {
    if (this.failure || this.gone || this.isTerminal()) return;
    this.failure = { reason, message };
    this.markUnstartedTerminated();
    this.stopAll(graceSeconds);
    this.onContainerEnded();
  }

  private isTerminal(): boolean {
    return this.allDone() && this.started;
  }

  private beginGracefulDeletion(): void {
    this.terminating = true;
    const grace = this.pod.metadata?.deletionGracePeriodSeconds ?? this.gracePeriod();
    this.markUnstartedTerminated();
    this.stopAll(grace);
    this.onContainerEnded();
  }

  /** Init and regular containers get SIGTERM now, sidecars after them (stopSidecars); SIGKILL after graceSeconds. */
  private stopAll(graceSeconds: number): void {
    for (const c of this.all()) if (!c.sidecar) this.kill(c, graceSeconds);
    this.stopSidecars(graceSeconds);
  }

  /** All containers are dead: report the final status, then confirm the deletion (grace 0, same UID). */
  private async finishDeletion(): Promise<void> {
    await this.syncIdle();
    for (let attempt = 0; !this.gone; attempt++) {
      try {
        await this.deps.api.deleteNamespacedPod({
          name: this.name,
          namespace: this.namespace,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
        });
        return; // the watch's DELETED event calls removed()
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404 || code === 409) return this.removed();
        await sleep(Math.min(2000, 200 * (attempt + 1)));
      }
    }
  }

  // --- status reporting: coalesced, always the latest state, retried until the apiserver takes it ---

  private requestSync(): void {
    this.dirty = true;
    if (!this.syncing) void this.syncLoop();
  }

  private syncIdle(): Promise<void> {
    if (!this.syncing && !this.dirty) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async syncLoop(): Promise<void> {
    this.syncing = true;
    let failures = 0;
    while (this.dirty && !this.gone) {
      this.dirty = false;
      const status = buildPodStatus(this.snapshot());
      try {
        await this.deps.api.patchNamespacedPodStatus(
          // metadata.uid makes the patch conditional: never write onto a recreated pod of the same name.
          { name: this.name, namespace: this.namespace, body: { metadata: { uid: this.uid }, status } },
          statusPatch,
        );
        failures = 0;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404 || code === 409) {
          this.removed();
          break;
        }
        failures++;
        if (failures === 1 || failures % 10 === 0) this.deps.log(`pod ${this.key}: status update failed (${code ?? ''} ${(err as Error).message}); retrying`);
        this.dirty = true;
        await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)));
      }
    }
    this.syncing = false;
    if (!this.dirty || this.gone) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      waiters.forEach((w) => w());
    }
  }

  /** The pod's network namespace and address (isolateNetwork), once made. */
  networkInfo(): { namespace: string; podIp: string } | undefined {
    return this.network && { namespace: this.network.namespace, podIp: this.network.podIp };
  }

  /** For the kubelet's bookkeeping and tests. */
  phase(): string {
    return podPhase(this.snapshot());
  }
}

export type { ContainerState };

/** Every process whose environment says it belongs to container `id` (CONTAINER_ID_ENV). */
function markedWith(id: string): number[] {
  const needle = Buffer.from(`\0${CONTAINER_ID_ENV}=${id}\0`);
  const first = Buffer.from(`${CONTAINER_ID_ENV}=${id}\0`);
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`);
      if (environ.includes(needle) || environ.subarray(0, first.length).equals(first)) found.push(Number(entry));
    } catch {
      // exited while we read, or a kernel thread
    }
  }
  return found;
}

/** Every process below `root` (children, grandchildren, …), from /proc: each process's parent is the 4th field of its stat. */
function descendantsOf(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(entry), ppid);
    } catch {
      // exited while we read
    }
  }
  const found: number[] = [];
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!below.has(pid) && below.has(ppid)) {
        below.add(pid);
        found.push(pid);
        grew = true;
      }
    }
  }
  return found;
}
