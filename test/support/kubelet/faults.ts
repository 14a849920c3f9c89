/**
 * Faults a test can inject into the test kubelet. Pod-targeted faults are armed: they hit pods that
 * match now and pods that appear later, each matching pod at most once (image pull failures hold
 * for as long as the fault is armed).
 */
import type { V1Pod } from '@kubernetes/client-node';

/** A pod matches when every given field matches (an empty target matches every pod). */
export interface PodTarget {
  namespace?: string;
  /** Pod name. */
  name?: string;
  /** Any container's image (init containers included). */
  image?: string;
  /** Every given label must be present with this value. */
  labels?: Record<string, string>;
}

export type Fault =
  /** Pods stay Pending: waiting reason ErrImagePull, then ImagePullBackOff, alternating, while armed. */
  | { kind: 'imagePullFailure'; target: PodTarget; message?: string }
  /**
   * The container is killed as the kernel OOM killer would: terminated reason OOMKilled, exit code 137.
   * `container` (an init container too) is killed afterMs after it starts, if it has not started yet; without
   * it, whichever container is running afterMs after the pod's first container started (or after arming), a regular
   * or init container before a sidecar. A sidecar (restartPolicy Always) killed so is restarted.
   */
  | { kind: 'oomKill'; target: PodTarget; container?: string; afterMs?: number }
  /** The kubelet evicts the pod: processes killed, phase Failed, reason Evicted (the pod object stays). */
  | { kind: 'evict'; target: PodTarget; afterMs?: number; message?: string }
  /**
   * The next `times` (default 1) log streams of matching pods drop after `afterLines` lines, without
   * an orderly end — the next request gets the log normally (resume with sinceTime).
   */
  | { kind: 'cutLogStream'; target: PodTarget; afterLines: number; times?: number }
  /** Node condition Ready=False; no new pods are bound or started until clearFaults(). */
  | { kind: 'nodeNotReady'; message?: string };

export function podMatches(target: PodTarget, pod: V1Pod): boolean {
  const meta = pod.metadata ?? {};
  if (target.namespace !== undefined && target.namespace !== meta.namespace) return false;
  if (target.name !== undefined && target.name !== meta.name) return false;
  if (target.image !== undefined && ![...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => c.image === target.image)) return false;
  for (const [k, v] of Object.entries(target.labels ?? {})) if (meta.labels?.[k] !== v) return false;
  return true;
}
