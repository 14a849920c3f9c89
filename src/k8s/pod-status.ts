/**
 * V1Pod → the gateway's PodStatus. Pods reach us two ways: deserialised by client-node (timestamps
 * as Date) and as raw JSON from the watch stream (timestamps as strings); both are accepted.
 */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { PodPhase, PodStatus } from './gateway';
import { AGENT_CONTAINER, PUBLISH_CONTAINER } from './pod-manifest';

const PHASES: ReadonlySet<string> = new Set(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

function iso(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value === 'string' && value) return value;
  return undefined;
}

/** `publish` when the pod runs the three phases (docker/agent/README.md), else `agent`. */
export function logContainerOf(pod: V1Pod): string {
  const names = (pod.spec?.containers ?? pod.status?.containerStatuses ?? []).map((c) => c.name);
  return names.includes(PUBLISH_CONTAINER) ? PUBLISH_CONTAINER : AGENT_CONTAINER;
}

/** Waiting reasons that only say "not yet": any other (ErrImagePull, CreateContainerConfigError, …) is the news. */
const NOT_YET = new Set(['PodInitializing', 'ContainerCreating']);

export function toPodStatus(pod: V1Pod): PodStatus {
  const phase = pod.status?.phase ?? 'Pending';
  const logContainer = logContainerOf(pod);
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const container: V1ContainerStatus | undefined = statuses.find((s) => s.name === logContainer) ?? pod.status?.containerStatuses?.[0];
  const state = container?.state;
  // An init container that cannot start, or any container's real trouble, says more than "PodInitializing".
  const waiting = statuses.map((s) => s.state?.waiting).find((w) => w?.reason && !NOT_YET.has(w.reason)) ?? state?.waiting;
  const oomKilled = statuses.some((s) => (s.state?.terminated ?? s.lastState?.terminated)?.reason === 'OOMKilled');
  // After the agent ended, `state.terminated` holds the exit; a kubelet that already moved on
  // (e.g. eviction cleanup) may leave it only in lastState.
  const terminated = state?.terminated ?? container?.lastState?.terminated;
  const out: PodStatus = {
    name: pod.metadata?.name ?? '',
    phase: (PHASES.has(phase) ? phase : 'Unknown') as PodPhase,
    labels: { ...(pod.metadata?.labels ?? {}) },
    annotations: { ...(pod.metadata?.annotations ?? {}) },
    deleting: Boolean(pod.metadata?.deletionTimestamp),
    logContainer,
  };
  if (waiting?.reason) out.waitingReason = waiting.reason;
  if (waiting?.message) out.waitingMessage = waiting.message;
  if (pod.status?.reason) out.reason = pod.status.reason;
  const disruption = pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  if (disruption) out.disruption = [disruption.reason, disruption.message].filter(Boolean).join(': ') || 'DisruptionTarget';
  if (pod.status?.message) out.message = pod.status.message;
  const startedAt = iso(state?.running?.startedAt) ?? iso(terminated?.startedAt) ?? iso(pod.status?.startTime);
  if (startedAt) out.startedAt = startedAt;
  if (terminated) {
    out.exitCode = terminated.exitCode;
    if (terminated.reason) out.terminatedReason = terminated.reason;
    const finishedAt = iso(terminated.finishedAt);
    if (finishedAt) out.finishedAt = finishedAt;
  }
  // The agent killed for memory is the pod's story, whichever container reports the exit.
  if (oomKilled) out.terminatedReason = 'OOMKilled';
  return out;
}
