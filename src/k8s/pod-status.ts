/**
 * V1Pod → the gateway's PodStatus. Pods reach us two ways: deserialised by client-node (timestamps
 * as Date) and as raw JSON from the watch stream (timestamps as strings); both are accepted.
 */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { PodPhase, PodStatus } from './gateway';
import { AGENT_CONTAINER } from './pod-manifest';

const PHASES: ReadonlySet<string> = new Set(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

function iso(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value === 'string' && value) return value;
  return undefined;
}

function agentStatus(pod: V1Pod): V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === AGENT_CONTAINER) ?? statuses[0];
}

export function toPodStatus(pod: V1Pod): PodStatus {
  const phase = pod.status?.phase ?? 'Pending';
  const container = agentStatus(pod);
  const state = container?.state;
  // After the agent ended, `state.terminated` holds the exit; a kubelet that already moved on
  // (e.g. eviction cleanup) may leave it only in lastState.
  const terminated = state?.terminated ?? container?.lastState?.terminated;
  const out: PodStatus = {
    name: pod.metadata?.name ?? '',
    phase: (PHASES.has(phase) ? phase : 'Unknown') as PodPhase,
    labels: { ...(pod.metadata?.labels ?? {}) },
    annotations: { ...(pod.metadata?.annotations ?? {}) },
    deleting: Boolean(pod.metadata?.deletionTimestamp),
  };
  if (state?.waiting?.reason) out.waitingReason = state.waiting.reason;
  if (state?.waiting?.message) out.waitingMessage = state.waiting.message;
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
  return out;
}
