/**
 * ONE list+watch of the runner's pods in a namespace, shared by every task a worker holds, so a
 * worker with hundreds of tasks keeps one watch connection instead of hundreds.
 *
 * Protocol (the one client-go's reflector follows): list → remember the list's resourceVersion →
 * watch from it with bookmarks (so the resourceVersion keeps moving even when our pods do not) →
 * on a normal end, watch again from the last resourceVersion; on 410 Gone / "Expired", list again
 * and diff the cache (deletions missed while away are reported); on any other error, back off and retry.
 * client-node's ListWatch stops for good on the first error and cannot ask for bookmarks, hence our own.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { CoreV1Api, type KubeConfig } from './client-node';
import { KubernetesError } from './gateway';
import { openApiStream, readLines, type ApiStream } from './api-stream';
import { toKubernetesError, parseStatusBody } from './errors';
import { makePooledApiClient } from './shared-agents';

export interface GatewayLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

export const silentLogger: GatewayLogger = { info: () => undefined, warn: () => undefined };

export interface PodInformerOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  labelSelector: string;
  log?: GatewayLogger;
  /** Server-side watch timeout range; a random value spreads reconnects of many workers. */
  watchTimeoutSeconds?: [min: number, max: number];
  backoff?: { initialMs: number; maxMs: number };
}

export interface PodInformerStats {
  lists: number;
  /** Watch requests opened since start. */
  watches: number;
  /** Watch connections currently open (0 or 1). */
  openWatches: number;
  relistsAfterGone: number;
  errors: number;
  lastError?: string;
}

type PodListener = (pod: V1Pod | undefined) => void;

class GoneError extends Error {}

export class PodInformer {
  private readonly pods = new Map<string, V1Pod>();
  private readonly byName = new Map<string, Set<PodListener>>();
  private resourceVersion = '';
  private running = false;
  private stopped = false;
  private stream: ApiStream | undefined;
  /** Aborts a watch request still waiting for its response headers when the informer stops. */
  private readonly stopController = new AbortController();
  private sleepTimer: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private loop: Promise<void> | undefined;
  private syncedFlag = false;
  private readonly syncWaiters = new Set<() => void>();
  private readonly core: CoreV1Api;
  private readonly log: GatewayLogger;
  readonly stats: PodInformerStats = { lists: 0, watches: 0, openWatches: 0, relistsAfterGone: 0, errors: 0 };

  constructor(private readonly opts: PodInformerOptions) {
    this.core = makePooledApiClient(opts.kubeConfig, CoreV1Api);
    this.log = opts.log ?? silentLogger;
  }

  /** Starts the list+watch loop once; later calls are no-ops. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.loop = this.run();
  }

  get synced(): boolean {
    return this.syncedFlag;
  }

  /** Resolves true once the first list has landed, false on timeout. */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.syncedFlag) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.syncWaiters.delete(done);
        resolve(this.syncedFlag);
      };
      const timer = setTimeout(done, timeoutMs);
      this.syncWaiters.add(done);
    });
  }

  get(name: string): V1Pod | undefined {
    return this.pods.get(name);
  }

  /**
   * Whether the cache follows the API right now: synced and a watch connection open. While the watch
   * is down (refused, being re-established) a cached pod may be stale — e.g. deleted, or ended —
   * and only a read from the API tells.
   */
  get current(): boolean {
    return this.syncedFlag && this.stats.openWatches > 0;
  }

  list(): V1Pod[] {
    return [...this.pods.values()];
  }

  /** Calls `listener` on every change of the named pod (undefined = deleted). Returns the unsubscribe. */
  onPod(name: string, listener: PodListener): () => void {
    let set = this.byName.get(name);
    if (!set) this.byName.set(name, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0 && this.byName.get(name) === set) this.byName.delete(name);
    };
  }

  private readonly anyListeners = new Set<(name: string, pod: V1Pod | undefined) => void>();

  /** Calls `listener` on every change of any pod the informer sees. */
  onAny(listener: (name: string, pod: V1Pod | undefined) => void): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.stream?.close();
    if (this.sleepTimer) {
      clearTimeout(this.sleepTimer.timer);
      this.sleepTimer.wake();
    }
    await this.loop;
  }

  private emit(name: string, pod: V1Pod | undefined): void {
    for (const l of [...(this.byName.get(name) ?? [])]) this.safely(() => l(pod));
    for (const l of [...this.anyListeners]) this.safely(() => l(name, pod));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.warn('pod informer listener threw', { error: (err as Error).message });
    }
  }

  private upsert(pod: V1Pod): void {
    const name = pod.metadata?.name;
    if (!name) return;
    const old = this.pods.get(name);
    if (old && old.metadata?.resourceVersion === pod.metadata?.resourceVersion) return;
    this.pods.set(name, pod);
    this.emit(name, pod);
  }

  /** Pods the watch saw deleted, with their last state (their DisruptionTarget, exit), newest last; bounded. */
  private readonly tombstones = new Map<string, V1Pod>();

  /** A recently deleted pod's last state, as the watch's DELETED event carried it. */
  deleted(name: string): V1Pod | undefined {
    return this.tombstones.get(name);
  }

  private remove(name: string, last?: V1Pod): void {
    const final = last ?? this.pods.get(name);
    if (final) {
      this.tombstones.delete(name);
      this.tombstones.set(name, final);
      // A follower asks right after the pod went: the last thousand deletions are plenty.
      if (this.tombstones.size > 1000) this.tombstones.delete(this.tombstones.keys().next().value!);
    }
    if (this.pods.delete(name)) this.emit(name, undefined);
  }

  private async run(): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 250, maxMs: 10_000 };
    let delay = initialMs;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        const progressed = await this.watchOnce();
        if (progressed) delay = initialMs;
        else {
          // A watch that ended without delivering anything (e.g. the server is shutting down):
          // do not spin on it.
          await this.sleep(delay);
          delay = Math.min(maxMs, delay * 2);
        }
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof GoneError) {
          this.stats.relistsAfterGone++;
          this.log.info('pod watch: resourceVersion expired (410), relisting', { namespace: this.opts.namespace });
          this.resourceVersion = '';
          continue;
        }
        const kerr = toKubernetesError(err, { verb: 'watch', resource: 'pods', namespace: this.opts.namespace });
        this.stats.errors++;
        this.stats.lastError = kerr.message;
        this.log.warn('pod watch failed; retrying', { namespace: this.opts.namespace, error: kerr.message, retryInMs: delay });
        await this.sleep(delay);
        delay = Math.min(maxMs, delay * 2);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.sleepTimer = undefined;
        resolve();
      };
      this.sleepTimer = { timer: setTimeout(wake, ms), wake };
    });
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    let list;
    try {
      list = await this.core.listNamespacedPod({ namespace: this.opts.namespace, labelSelector: this.opts.labelSelector });
    } catch (err) {
      throw toKubernetesError(err, { verb: 'list', resource: 'pods', namespace: this.opts.namespace });
    }
    const seen = new Set<string>();
    for (const pod of list.items) {
      if (pod.metadata?.name) seen.add(pod.metadata.name);
      this.upsert(pod);
    }
    for (const name of [...this.pods.keys()]) if (!seen.has(name)) this.remove(name);
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    if (!this.syncedFlag) {
      this.syncedFlag = true;
      for (const w of [...this.syncWaiters]) w();
    }
  }

  /** One watch connection; resolves when it ends normally, with whether it delivered any event. */
  private async watchOnce(): Promise<boolean> {
    const [min, max] = this.opts.watchTimeoutSeconds ?? [240, 360];
    const timeoutSeconds = Math.floor(min + Math.random() * (max - min + 1));
    this.stats.watches++;
    const stream = await openApiStream(
      this.opts.kubeConfig,
      `/api/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/pods`,
      {
        watch: 'true',
        labelSelector: this.opts.labelSelector,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(timeoutSeconds),
      },
      { verb: 'watch', resource: 'pods', namespace: this.opts.namespace },
      this.stopController.signal,
    ).catch((err: unknown) => {
      if (err instanceof KubernetesError && err.statusCode === 410) throw new GoneError();
      throw err;
    });
    if (this.stopped) {
      stream.close();
      return false;
    }
    this.stream = stream;
    this.stats.openWatches++;
    let progressed = false;
    try {
      for await (const line of readLines(stream)) {
        if (!line.trim()) continue;
        let event: { type?: string; object?: V1Pod & { code?: number; reason?: string } };
        try {
          event = JSON.parse(line);
        } catch {
          this.log.warn('pod watch: unparseable event skipped', { line: line.slice(0, 200) });
          continue;
        }
        const obj = event.object;
        switch (event.type) {
          case 'ADDED':
          case 'MODIFIED':
            if (obj) this.upsert(obj);
            break;
          case 'DELETED':
            if (obj?.metadata?.name) this.remove(obj.metadata.name, obj);
            break;
          case 'BOOKMARK':
            break;
          case 'ERROR': {
            const status = parseStatusBody(obj);
            if (status?.code === 410 || status?.reason === 'Expired' || status?.reason === 'Gone') throw new GoneError();
            throw new KubernetesError(`pod watch error event: ${status?.message ?? line.slice(0, 200)}`, true, status?.code);
          }
          default:
            continue;
        }
        if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        progressed = true;
      }
    } finally {
      this.stats.openWatches--;
      if (this.stream === stream) this.stream = undefined;
    }
    return progressed;
  }
}
