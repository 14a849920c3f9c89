/**
 * Pod status as a kubelet reports it, derived from the containers' states: phase, conditions and
 * containerStatuses (waiting → running → terminated).
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
  containers: ContainerSnapshot[];
  /** Pod-level failure the kubelet decided (DeadlineExceeded, Evicted); the phase is then Failed. */
  failure?: { reason: string; message: string };
}

export type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export function podPhase(s: PodSnapshot): Phase {
  const states = s.containers.map((c) => c.state);
  const allTerminated = states.every((st) => st.kind === 'terminated');
  if (s.failure && allTerminated) return 'Failed';
  if (allTerminated) return states.every((st) => st.kind === 'terminated' && st.exitCode === 0) ? 'Succeeded' : 'Failed';
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
  const containerStatuses: V1ContainerStatus[] = s.containers.map((c) => ({
    name: c.name,
    image: c.image,
    imageID: c.state.kind === 'waiting' && !c.containerId ? '' : `testkubelet://image/${c.image}`,
    ...(c.containerId ? { containerID: `testkubelet://${c.containerId}` } : {}),
    ready: c.state.kind === 'running',
    started: c.state.kind === 'running',
    restartCount: 0,
    state: containerState(c.state),
    lastState: {},
  }));
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
      cond('Initialized', true),
      cond('Ready', ready, ready ? undefined : notReadyReason),
      cond('ContainersReady', ready, ready ? undefined : notReadyReason),
      cond('PodScheduled', true),
    ],
    containerStatuses,
  };
}
