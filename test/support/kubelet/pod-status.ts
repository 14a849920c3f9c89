/**
 * Pod status as a kubelet reports it, derived from the containers' states: phase, conditions,
 * initContainerStatuses and containerStatuses (waiting → running → terminated).
 *
 * Init containers (restartPolicy Never): Pending while they run (Initialized False,
 * ContainersNotInitialized); one that ends non-zero makes the pod Failed, and the regular containers
 * stay waiting PodInitializing — they never ran.
 *
 * Sidecars (KEP-753: an init container with restartPolicy Always) count as the kubelet's getPhase counts
 * them: a running sidecar is "started" (no probes here), one that exited is left out of the phase; the
 * pod's Succeeded/Failed comes from the regular containers alone. As the kubelet's status manager does,
 * a pod is never reported terminal while one of its containers still runs (a sidecar being stopped after
 * the regular containers ended, or after an init container failed): it stays Running until then.
 * Initialized is True once every regular init container completed and every sidecar runs, and stays True
 * once a regular container has started (a restarting sidecar does not take it back). Ready / ContainersReady
 * need the sidecars running too.
 */
import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: Date }
  | { kind: 'terminated'; exitCode: number; reason: string; message?: string; startedAt?: Date; finishedAt: Date };

export interface ContainerSnapshot {
  name: string;
  image: string;
  containerId?: string;
  state: ContainerState;
  /** An init container with restartPolicy Always (a sidecar). */
  sidecar?: boolean;
  /** Times the kubelet restarted it (sidecars only; 0 otherwise). */
  restartCount?: number;
  /** The previous instance's end, once it was restarted. */
  lastState?: ContainerState;
}

export interface PodSnapshot {
  startTime: Date;
  /** spec.initContainers, run one after another before `containers`. */
  initContainers?: ContainerSnapshot[];
  containers: ContainerSnapshot[];
  /** Pod-level failure the kubelet decided (DeadlineExceeded, Evicted); the phase is then Failed. */
  failure?: { reason: string; message: string };
}

export type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

const succeeded = (st: ContainerState) => st.kind === 'terminated' && st.exitCode === 0;
const isRunning = (c: ContainerSnapshot) => c.state.kind === 'running';

/** A regular container (spec.containers) has run: the pod got past initialization once. */
function regularStarted(s: PodSnapshot): boolean {
  return s.containers.some((c) => c.containerId !== undefined && c.state.kind !== 'waiting');
}

/** Init containers that still keep the pod from initializing: regular ones not completed, sidecars not running. */
function incompleteInits(s: PodSnapshot): ContainerSnapshot[] {
  return (s.initContainers ?? []).filter((c) => (c.sidecar ? !isRunning(c) : !succeeded(c.state)));
}

/**
 * Every regular init container ended with exit code 0 and every sidecar runs (true when there are none);
 * or a regular container has already started.
 */
export function initialized(s: PodSnapshot): boolean {
  return incompleteInits(s).length === 0 || regularStarted(s);
}

/** A regular init container ended non-zero: with restartPolicy Never nothing after it runs. Sidecars never count. */
export function initFailed(s: PodSnapshot): boolean {
  return (s.initContainers ?? []).some((c) => !c.sidecar && c.state.kind === 'terminated' && c.state.exitCode !== 0);
}

/** Some container (init, sidecar or regular) is running now. */
export function anyRunning(s: PodSnapshot): boolean {
  return [...(s.initContainers ?? []), ...s.containers].some(isRunning);
}

/** The phase getPhase gives, before the "nothing runs any more" check of the status manager. */
function terminalPhase(s: PodSnapshot): 'Succeeded' | 'Failed' | undefined {
  const states = s.containers.map((c) => c.state);
  const allTerminated = [...(s.initContainers ?? []), ...s.containers].every((c) => c.state.kind === 'terminated');
  if (s.failure && allTerminated) return 'Failed';
  if (initFailed(s)) return 'Failed';
  if (initialized(s) && states.every((st) => st.kind === 'terminated')) return states.every(succeeded) ? 'Succeeded' : 'Failed';
  return undefined;
}

export function podPhase(s: PodSnapshot): Phase {
  const terminal = terminalPhase(s);
  // Not terminal while anything still runs (the kubelet's status manager holds a pod Running until then).
  if (terminal) return anyRunning(s) ? 'Running' : terminal;
  if (!initialized(s)) return 'Pending';
  if (s.containers.some((c) => c.state.kind === 'running' || c.state.kind === 'terminated')) return 'Running';
  return 'Pending';
}

function containerState(st: ContainerState): V1ContainerState {
  switch (st.kind) {
    case 'waiting':
      return { waiting: { reason: st.reason, ...(st.message ? { message: st.message } : {}) } };
    case 'running':
      return { running: { startedAt: st.startedAt } };
    case 'terminated':
      return {
        terminated: {
          exitCode: st.exitCode,
          reason: st.reason,
          ...(st.message ? { message: st.message } : {}),
          ...(st.startedAt ? { startedAt: st.startedAt } : {}),
          finishedAt: st.finishedAt,
        },
      };
  }
}

export function buildPodStatus(s: PodSnapshot, now = new Date()): V1PodStatus {
  const phase = podPhase(s);
  const inits = s.initContainers ?? [];
  // Sidecars have no readiness probe here: ready while running; ContainersReady needs them as the regular containers.
  const ready = phase === 'Running' && s.containers.every(isRunning) && inits.filter((c) => c.sidecar).every(isRunning);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const cond = (type: string, status: boolean, reason?: string): V1PodCondition => ({
    type,
    status: status ? 'True' : 'False',
    lastTransitionTime: now,
    ...(reason ? { reason } : {}),
  });
  const notReadyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const toStatus = (c: ContainerSnapshot, init: boolean): V1ContainerStatus => ({
    name: c.name,
    image: c.image,
    imageID: c.state.kind === 'waiting' && !c.containerId ? '' : `testkubelet://image/${c.image}`,
    ...(c.containerId ? { containerID: `testkubelet://${c.containerId}` } : {}),
    // An init container is ready once it has completed successfully (what the kubelet reports); a sidecar while it runs.
    ready: init && !c.sidecar ? succeeded(c.state) : isRunning(c),
    started: isRunning(c),
    restartCount: c.restartCount ?? 0,
    state: containerState(c.state),
    lastState: c.lastState ? containerState(c.lastState) : {},
  });
  const containerStatuses = s.containers.map((c) => toStatus(c, false));
  const isInitialized = initialized(s);
  const incomplete = incompleteInits(s).map((c) => c.name);
  const initializedCond: V1PodCondition = isInitialized
    ? cond('Initialized', true)
    : { ...cond('Initialized', false, 'ContainersNotInitialized'), message: `containers with incomplete status: [${incomplete.join(' ')}]` };
  return {
    phase,
    ...(s.failure ? { reason: s.failure.reason, message: s.failure.message } : {}),
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: '127.0.0.1',
    podIPs: [{ ip: '127.0.0.1' }],
    startTime: s.startTime,
    conditions: [
      // No sandbox to set up here: the pod is always ready to start its containers.
      cond('PodReadyToStartContainers', true),
      initializedCond,
      cond('Ready', ready, ready ? undefined : notReadyReason),
      cond('ContainersReady', ready, ready ? undefined : notReadyReason),
      cond('PodScheduled', true),
    ],
    ...(inits.length ? { initContainerStatuses: inits.map((c) => toStatus(c, true)) } : {}),
    containerStatuses,
  };
}
