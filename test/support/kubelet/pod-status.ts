/**
 * Pod status as a kubelet reports it, derived from the containers' states: phase, conditions,
 * initContainerStatuses and containerStatuses (waiting → running → terminated).
 *
 * Init containers (restartPolicy Never): Pending while they run (Initialized False,
 * ContainersNotInitialized); one that ends non-zero makes the pod Failed, and the regular containers
 * stay waiting PodInitializing — they never ran.
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

/** Every init container ended with exit code 0 (true when there are none). */
export function initialized(s: PodSnapshot): boolean {
  return (s.initContainers ?? []).every((c) => succeeded(c.state));
}

/** An init container ended non-zero: with restartPolicy Never nothing after it runs. */
export function initFailed(s: PodSnapshot): boolean {
  return (s.initContainers ?? []).some((c) => c.state.kind === 'terminated' && c.state.exitCode !== 0);
}

export function podPhase(s: PodSnapshot): Phase {
  const states = s.containers.map((c) => c.state);
  const allTerminated = [...(s.initContainers ?? []).map((c) => c.state), ...states].every((st) => st.kind === 'terminated');
  if (s.failure && allTerminated) return 'Failed';
  if (initFailed(s) && !(s.initContainers ?? []).some((c) => c.state.kind === 'running')) return 'Failed';
  if (!initialized(s)) return 'Pending';
  if (allTerminated) return states.every(succeeded) ? 'Succeeded' : 'Failed';
  if (states.some((st) => st.kind === 'running' || st.kind === 'terminated')) return 'Running';
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
  const ready = phase === 'Running' && s.containers.every((c) => c.state.kind === 'running');
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
    // An init container is ready once it has completed successfully (what the kubelet reports).
    ready: init ? succeeded(c.state) : c.state.kind === 'running',
    started: c.state.kind === 'running',
    restartCount: 0,
    state: containerState(c.state),
    lastState: {},
  });
  const containerStatuses = s.containers.map((c) => toStatus(c, false));
  const inits = s.initContainers ?? [];
  const isInitialized = initialized(s);
  const incomplete = inits.filter((c) => !succeeded(c.state)).map((c) => c.name);
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
