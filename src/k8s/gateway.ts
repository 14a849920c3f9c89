/**
 * The Kubernetes side of the runner, as the activities see it. Two implementations:
 * - src/k8s/client-gateway.ts: the real one on @kubernetes/client-node (one shared pod informer per namespace);
 * - test/support/memory-gateway.ts: an in-memory model of a pod's life for workflow tests.
 * A gateway is bound to one namespace.
 */

/** Labels every agent pod carries; `listPods` selects on them. */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
  run: 'sdlc-runner.dev/run',
  /** The run's first execution ID: tells apart successive runs of the same feature (same run label). */
  runUid: 'sdlc-runner.dev/run-uid',
  task: 'sdlc-runner.dev/task',
  attempt: 'sdlc-runner.dev/attempt',
} as const;
export const MANAGED_BY = 'agentic-sdlc-runner';

export const ANNOTATIONS = {
  workflowId: 'sdlc-runner.dev/workflow-id',
  runId: 'sdlc-runner.dev/run-id',
  taskTitle: 'sdlc-runner.dev/task-title',
  /** The task workflow's own run ID: with workflowId, names the one execution that owns the pod. */
  taskRunId: 'sdlc-runner.dev/task-run-id',
} as const;

export interface AgentPodRequest {
  /** Deterministic DNS-1123 name (see podName in src/k8s/names.ts). */
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Plain env for the agent container (never secrets; those come from the pod template's secretKeyRefs). */
  env: Record<string, string>;
  activeDeadlineSeconds: number;
}

export interface CreatePodResult {
  name: string;
  /** false when a pod with the same name and the same run/task/attempt labels already existed (adopted). */
  created: boolean;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodStatus {
  name: string;
  phase: PodPhase;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Set once deletion has started (graceful deletion in progress). */
  deleting: boolean;
  /** Container waiting reason while Pending (ContainerCreating, ErrImagePull, ImagePullBackOff, ...). */
  waitingReason?: string;
  waitingMessage?: string;
  /** Pod-level reason (DeadlineExceeded, Evicted, ...). */
  reason?: string;
  /**
   * The pod's DisruptionTarget condition, when Kubernetes is taking it away (Eviction API / drain,
   * preemption, taint manager, node pressure): `reason: message`. Infrastructure, never the agent's fault.
   */
  disruption?: string;
  message?: string;
  startedAt?: string;
  /**
   * The container whose log tells the task and ends with the result line: `publish` in a pod of the
   * three phases (it relays checkout's and the agent's lines), else `agent`.
   */
  logContainer?: string;
  /** From the log container's terminated state. */
  exitCode?: number;
  /** The log container's terminated reason; OOMKilled when any of the pod's containers was. */
  terminatedReason?: string;
  finishedAt?: string;
}

export interface LogLine {
  /** RFC3339Nano timestamp the runtime stamped on the line. */
  ts: string;
  text: string;
}

export interface FollowLogsOptions {
  /** Resume point: only lines at or after this timestamp (the caller drops the ones it has seen). */
  sinceTime?: string;
  signal?: AbortSignal;
  /** Whose log; default: the pod's log container (PodStatus.logContainer). */
  container?: string;
}

export interface KubernetesGateway {
  readonly namespace: string;
  createPod(req: AgentPodRequest): Promise<CreatePodResult>;
  /** Current state (from the shared watch cache where there is one); undefined when the pod does not exist. */
  /**
   * A pod's last state once it is gone, when the gateway saw it deleted recently (the watch's DELETED
   * event): how a follower learns that Kubernetes took it away (DisruptionTarget) after it vanished.
   */
  deletedPod?(name: string): PodStatus | undefined;
  getPod(name: string): Promise<PodStatus | undefined>;
  /**
   * Resolves with the pod's state as soon as `until` holds (checked on every change), or when the
   * signal aborts / timeoutMs passes (then with the latest state). undefined state = pod is gone.
   */
  waitForPod(
    name: string,
    until: (pod: PodStatus | undefined) => boolean,
    opts?: { signal?: AbortSignal; timeoutMs?: number },
  ): Promise<PodStatus | undefined>;
  /**
   * Streams the pod's log container's lines with timestamps (follow mode). The iterable ends when the
   * stream ends — because the container ended, or because the connection was cut: the caller checks
   * the pod and reconnects from the last timestamp.
   */
  followLogs(name: string, opts?: FollowLogsOptions): AsyncIterable<LogLine>;
  /** Deletes with a grace period (at least 1 s: never a force delete); a missing pod is not an error. */
  deletePod(name: string, opts?: { gracePeriodSeconds?: number }): Promise<void>;
  listPods(labelSelector: Record<string, string>): Promise<PodStatus[]>;
}

/**
 * Errors the gateway throws carry a classification so activities can tell Temporal what to retry.
 * Retryable: network errors, 5xx, 429, 410. Not retryable: 400/422 invalid spec, 403, 404 namespace.
 */
export class KubernetesError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'KubernetesError';
  }
}
