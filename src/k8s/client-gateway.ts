/**
 * The real KubernetesGateway, on @kubernetes/client-node, bound to one namespace.
 * - pods are built from the operator's pod template (pod-manifest.ts) and created idempotently;
 * - getPod/waitForPod are served by ONE shared list+watch per gateway (pod-informer.ts), so a
 *   worker following hundreds of tasks keeps one watch connection;
 * - followLogs streams the agent container's timestamped log (log-stream.ts);
 * - every API error becomes a KubernetesError that says whether to retry and what to fix (errors.ts).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { CoreV1Api, KubeConfig } from './client-node';
import {
  KubernetesError,
  LABELS,
  MANAGED_BY,
  type AgentPodRequest,
  type CreatePodResult,
  type FollowLogsOptions,
  type KubernetesGateway,
  type LogLine,
  type PodStatus,
} from './gateway';
import { httpStatusOf, toKubernetesError, type ApiCallContext } from './errors';
import { AGENT_CONTAINER, buildPodManifest, parsePodTemplate, type PodTemplate } from './pod-manifest';
import { PodInformer, silentLogger, type GatewayLogger, type PodInformerStats } from './pod-informer';
import { logContainerOf, toPodStatus } from './pod-status';
import { followPodLogs } from './log-stream';
import { GrantMemory } from './grant-memory';
import { makePooledApiClient } from './shared-agents';

/** Label that, besides run/task/attempt, must match for a 409 to be an adoption (when the request carries it). */
export const RUN_UID_LABEL = LABELS.runUid;
const IDENTITY_LABELS = [LABELS.run, LABELS.task, LABELS.attempt] as const;
/** How long a pod read from the API answers later reads of the same pod (ms). */
const READ_REUSE_MS = 1000;

export interface ClientGatewayOptions {
  namespace: string;
  /** Default: KubeConfig.loadFromDefault() (KUBECONFIG, ~/.kube/config, or the in-cluster service account). */
  kubeConfig?: KubeConfig;
  /** The pod template YAML (docs/pod-template.md). Required for createPod; read-only users (logs) may omit it. */
  podTemplate?: string;
  log?: GatewayLogger;
  /** How long getPod waits for the shared watch's first list before asking the API directly. */
  syncWaitMs?: number;
  /** While a waited-for pod is unknown to the watch cache (e.g. adopted without our labels), poll it this often. */
  uncachedPollMs?: number;
  /** Rights a start check proved (`"get pods"`, `"get pods/log"`, …): a 401/403 on them is an apiserver warming up (grant-memory.ts). */
  provenRights?: string[];
}

export interface ClientGateway extends KubernetesGateway {
  /** Stops the shared watch. */
  close(): Promise<void>;
  /** Counters of the shared watch (lists, watch requests, open watches), for tests and diagnostics. */
  watchStats(): PodInformerStats;
  /** The agent container's log up to now (no follow). */
  readLogs(name: string, opts?: FollowLogsOptions): AsyncIterable<LogLine>;
}

export function selectorString(selector: Record<string, string>): string {
  return Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function createClientGateway(options: ClientGatewayOptions): ClientGateway {
  let kc = options.kubeConfig;
  if (!kc) {
    kc = new KubeConfig();
    kc.loadFromDefault();
  }
  const template: PodTemplate | undefined = options.podTemplate === undefined ? undefined : parsePodTemplate(options.podTemplate);
  return new ClientGatewayImpl(options.namespace, kc, template, options);
}

class ClientGatewayImpl implements ClientGateway {
  private readonly core: CoreV1Api;
  private readonly informer: PodInformer;
  private readonly log: GatewayLogger;
  private readonly syncWaitMs: number;
  private readonly uncachedPollMs: number;
  private readonly grants: GrantMemory;

  constructor(
    readonly namespace: string,
    private readonly kc: KubeConfig,
    private readonly template: PodTemplate | undefined,
    options: ClientGatewayOptions,
  ) {
    this.core = makePooledApiClient(kc, CoreV1Api);
    this.log = options.log ?? silentLogger;
    this.syncWaitMs = options.syncWaitMs ?? 5_000;
    this.uncachedPollMs = options.uncachedPollMs ?? 5_000;
    this.grants = new GrantMemory(undefined, options.provenRights);
    this.informer = new PodInformer({
      kubeConfig: kc,
      namespace,
      labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
      log: this.log,
    });
    // A read answered before the watch saw the pod change is stale: the next caller must not get it.
    this.informer.onAny((name) => this.recentReads.delete(name));
  }

  private ctx(verb: ApiCallContext['verb'], name?: string, resource = 'pods'): ApiCallContext {
    return { verb, resource, namespace: this.namespace, name };
  }

  async createPod(req: AgentPodRequest): Promise<CreatePodResult> {
    this.recentReads.delete(req.name);
    if (!this.template) {
      throw new KubernetesError('This gateway was created without a pod template, so it cannot create pods (pass podTemplate).', false);
    }
    let body: V1Pod;
    try {
      body = buildPodManifest(this.template, req, this.namespace);
    } catch (err) {
      throw new KubernetesError(`Cannot build pod "${req.name}": ${(err as Error).message}`, false);
    }
    try {
      await this.grants.call(this.ctx('create', req.name), () => this.core.createNamespacedPod({ namespace: this.namespace, body }));
      return { name: req.name, created: true };
    } catch (err) {
      if (httpStatusOf(err) !== 409) throw toKubernetesError(err, this.ctx('create', req.name));
    }
    return this.adopt(req);
  }

  /** The name is taken: it is ours to adopt only if it is the same run/task/attempt. */
  private async adopt(req: AgentPodRequest): Promise<CreatePodResult> {
    let existing: V1Pod;
    try {
      existing = await this.grants.call(this.ctx('get', req.name), () => this.core.readNamespacedPod({ name: req.name, namespace: this.namespace }));
    } catch (err) {
      if (httpStatusOf(err) === 404) {
        throw new KubernetesError(`Pod "${req.name}" existed at create time (409) but was gone when read back; retry the create.`, true, 409);
      }
      throw toKubernetesError(err, this.ctx('get', req.name));
    }
    const have = existing.metadata?.labels ?? {};
    const keys: string[] = [...IDENTITY_LABELS];
    if (req.labels[RUN_UID_LABEL] !== undefined || have[RUN_UID_LABEL] !== undefined) keys.push(RUN_UID_LABEL);
    const mismatched = keys.filter((k) => have[k] !== req.labels[k]);
    if (mismatched.length > 0) {
      const show = (labels: Record<string, string | undefined>) => keys.map((k) => `${k}=${labels[k] ?? '<unset>'}`).join(', ');
      throw new KubernetesError(
        `Pod "${req.name}" already exists in namespace "${this.namespace}" but belongs to another task attempt ` +
          `(${show(have)}; this request: ${show(req.labels)}). Delete that pod (kubectl -n ${this.namespace} delete pod ${req.name}) ` +
          `or use a different run id; the runner will not take over a pod it did not create for this attempt.`,
        false,
        409,
      );
    }
    if (existing.metadata?.deletionTimestamp) {
      throw new KubernetesError(`Pod "${req.name}" of this attempt is being deleted; retry once it is gone.`, true, 409);
    }
    this.log.info('adopting existing agent pod', { pod: req.name, namespace: this.namespace });
    return { name: req.name, created: false };
  }

  private firstSync: Promise<boolean> | undefined;

  /** Starts the shared watch; only the first caller waits (bounded) for its first list. */
  private async ensureInformer(): Promise<void> {
    this.informer.start();
    // If the watch cannot sync (apiserver down, list/watch forbidden), later calls go straight to
    // GETs instead of each waiting out syncWaitMs again.
    this.firstSync ??= this.informer.waitForSync(this.syncWaitMs);
    await this.firstSync;
  }

  /** Pod reads in flight or answered within READ_REUSE_MS, by name (see readPod). */
  private readonly recentReads = new Map<string, { at: number; result: Promise<PodStatus | undefined> }>();

  /**
   * Reads the pod from the API (not the cache); undefined on 404. Callers asking for the same pod at
   * about the same time share one request: while the watch is down every follow reads its pod, and a
   * struggling apiserver must not get one GET per caller per poll. Create and delete forget the entry.
   */
  private readPod(name: string): Promise<PodStatus | undefined> {
    const now = Date.now();
    const recent = this.recentReads.get(name);
    if (recent && now - recent.at < READ_REUSE_MS) return recent.result;
    const result = this.readPodNow(name);
    const entry = { at: now, result };
    this.recentReads.set(name, entry);
    const forget = () => {
      if (this.recentReads.get(name) === entry) this.recentReads.delete(name);
    };
    result.catch(forget); // a failed read is not shared after it failed
    setTimeout(forget, READ_REUSE_MS).unref();
    return result;
  }

  private async readPodNow(name: string): Promise<PodStatus | undefined> {
    try {
      return toPodStatus(await this.grants.call(this.ctx('get', name), () => this.core.readNamespacedPod({ name, namespace: this.namespace })));
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw toKubernetesError(err, this.ctx('get', name));
    }
  }

  /** The pod from the shared watch's cache, only while that cache follows the API (see PodInformer.current). */
  private cachedPod(name: string): V1Pod | undefined {
    return this.informer.current ? this.informer.get(name) : undefined;
  }

  deletedPod(name: string): PodStatus | undefined {
    const last = this.informer.deleted(name);
    return last && toPodStatus(last);
  }

  async getPod(name: string): Promise<PodStatus | undefined> {
    await this.ensureInformer();
    const cached = this.cachedPod(name);
    if (cached) return toPodStatus(cached);
    // Not (yet) in the cache (just created, gone), or the watch is down or still syncing: ask the API.
    return this.readPod(name);
  }

  async waitForPod(
    name: string,
    until: (pod: PodStatus | undefined) => boolean,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<PodStatus | undefined> {
    await this.ensureInformer();
    return new Promise<PodStatus | undefined>((resolve, reject) => {
      let latest: PodStatus | undefined;
      let settled = false;
      let sawEvent = false;
      const timers: NodeJS.Timeout[] = [];
      /** Settles once: stops listening and polling, then resolves or rejects. */
      const settle = (outcome: { state: PodStatus | undefined } | { err: unknown }) => {
        if (settled) return;
        settled = true;
        unsubscribe();
        timers.forEach(clearTimeout);
        clearInterval(poll);
        opts.signal?.removeEventListener('abort', onAbort);
        if ('err' in outcome) reject(outcome.err);
        else resolve(outcome.state);
      };
      const finish = (state: PodStatus | undefined) => settle({ state });
      const consider = (state: PodStatus | undefined) => {
        latest = state;
        if (until(state)) finish(state);
      };
      const onAbort = () => finish(latest);
      // Subscribe before the first read, so no change can slip between the two.
      const unsubscribe = this.informer.onPod(name, (pod) => {
        sawEvent = true;
        consider(pod ? toPodStatus(pod) : undefined);
      });
      // A pod the shared watch does not see (no managed-by label), or any pod while the watch is down,
      // would otherwise never change: read it from the API.
      const poll = setInterval(() => {
        if (settled || this.cachedPod(name)) return;
        this.readPod(name).then((s) => !settled && !this.cachedPod(name) && consider(s), () => undefined);
      }, this.uncachedPollMs);
      if (opts.timeoutMs !== undefined) timers.push(setTimeout(() => finish(latest), Math.max(0, opts.timeoutMs)));
      if (opts.signal?.aborted) return finish(undefined);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.getPod(name).then(
        (state) => {
          if (!settled && !sawEvent) consider(state);
        },
        (err: unknown) => settle({ err }),
      );
    });
  }

  followLogs(name: string, opts: FollowLogsOptions = {}): AsyncIterable<LogLine> {
    return this.logs(name, { ...opts, follow: true });
  }

  /** Non-follow read of the log (everything up to now), for `sdlc-runner logs` without --follow. */
  readLogs(name: string, opts: FollowLogsOptions = {}): AsyncIterable<LogLine> {
    return this.logs(name, { ...opts, follow: false });
  }

  /** Log container by pod name (a pod's containers never change). */
  private readonly logContainers = new Map<string, string>();

  /** The container whose log is the pod's (PodStatus.logContainer): from the watch cache, else one GET. */
  private async logContainer(name: string): Promise<string> {
    const known = this.logContainers.get(name);
    if (known) return known;
    const cached = this.cachedPod(name);
    const container = cached ? logContainerOf(cached) : (await this.readPod(name))?.logContainer;
    if (!container) return AGENT_CONTAINER; // gone: the read that follows says so
    if (this.logContainers.size > 10_000) this.logContainers.clear();
    this.logContainers.set(name, container);
    return container;
  }

  /**
   * The log endpoint answers 400 (real kubelet: "container … is waiting to start") or 404 (no log
   * yet / no pod) when there is nothing to stream. What that means depends on the pod: still
   * Pending → retryable "not started yet"; ended or gone → nothing more to read, the stream ends
   * (a pod whose deadline passed during an image pull has no log at all).
   */
  private async *logs(name: string, opts: FollowLogsOptions & { follow: boolean }): AsyncGenerator<LogLine> {
    try {
      const container = opts.container ?? (await this.logContainer(name));
      yield* followPodLogs(this.kc, this.namespace, name, { ...opts, container, grants: this.grants });
    } catch (err) {
      if (!(err instanceof KubernetesError) || (err.statusCode !== 400 && err.statusCode !== 404)) throw err;
      const pod = await this.readPod(name);
      if (!pod || pod.phase === 'Succeeded' || pod.phase === 'Failed') return;
      const why = pod.waitingReason ? ` (${pod.waitingReason}${pod.waitingMessage ? `: ${pod.waitingMessage}` : ''})` : '';
      throw new KubernetesError(
        `The agent container of pod "${name}" has not started yet${why}, so there is no log to follow yet; retry once it runs. API said: ${err.message}`,
        true,
        err.statusCode,
      );
    }
  }

  async deletePod(name: string, opts: { gracePeriodSeconds?: number } = {}): Promise<void> {
    // Grace 0 on a pod is a force delete: the API object vanishes at once while the node may still run
    // the agent (and push), so "gone" would lie. Like kubectl without --force, ask for 1 s instead: the
    // object stays, marked deleting, until the kubelet has stopped the containers.
    const gracePeriodSeconds = opts.gracePeriodSeconds === undefined ? undefined : Math.max(1, opts.gracePeriodSeconds);
    this.recentReads.delete(name);
    try {
      await this.grants.call(this.ctx('delete', name), () =>
        this.core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds }),
      );
    } catch (err) {
      if (httpStatusOf(err) === 404) return;
      throw toKubernetesError(err, this.ctx('delete', name));
    }
  }

  async listPods(labelSelector: Record<string, string>): Promise<PodStatus[]> {
    const selector = selectorString({ ...labelSelector, [LABELS.managedBy]: MANAGED_BY });
    try {
      const list = await this.grants.call(this.ctx('list'), () => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: selector }));
      return list.items.map(toPodStatus).sort((a, b) => a.name.localeCompare(b.name));
    } catch (err) {
      throw toKubernetesError(err, this.ctx('list'));
    }
  }

  async close(): Promise<void> {
    await this.informer.stop();
  }

  watchStats(): PodInformerStats {
    return { ...this.informer.stats };
  }
}
