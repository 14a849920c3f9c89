/**
 * List-then-watch loop for the test control plane's own controllers (default service accounts,
 * the test kubelet): resumes from the last resourceVersion after any stream end, relists on
 * 410 Gone, and keeps retrying while the apiserver is down (crash tests restart it).
 */
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchLoopOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  /** fieldSelector / labelSelector for both list and watch. */
  query?: { fieldSelector?: string; labelSelector?: string };
  /** Lists the collection with the same selectors. */
  list(): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  /** After every (re)list: the complete current set. Objects not in it are gone. */
  onSync(items: T[]): void;
  onEvent(type: WatchEventType, obj: T): void;
  log?: (s: string) => void;
}

export interface WatchLoop {
  /** Watch requests opened so far (a relist does not count). */
  readonly watchRequests: number;
  /** Resolves after the first successful list. */
  readonly synced: Promise<void>;
  stop(): void;
}

const BACKOFF_MS = [200, 500, 1000, 2000];

export function startWatchLoop<T extends KubernetesObject>(opts: WatchLoopOptions<T>): WatchLoop {
  const watch = new Watch(opts.kubeConfig);
  let stopped = false;
  let resourceVersion: string | undefined;
  let current: AbortController | undefined;
  let watchRequests = 0;
  let failures = 0;
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));

  async function watchOnce(): Promise<void> {
    if (resourceVersion === undefined) {
      const listed = await opts.list();
      resourceVersion = listed.metadata?.resourceVersion;
      opts.onSync(listed.items);
      markSynced();
    }
    await new Promise<void>((resolve, reject) => {
      watchRequests++;
      const query = {
        ...opts.query,
        resourceVersion,
        allowWatchBookmarks: true,
        // Rotate streams now and then, as client-go does, so a silently dead one cannot linger.
        timeoutSeconds: 240 + Math.floor(Math.random() * 60),
      };
      watch
        .watch(
          opts.path,
          query,
          (type: string, obj: T & { code?: number }) => {
            if (type === 'ERROR') {
              // 410 Gone: our resourceVersion was compacted away; start over from a list.
              if (obj.code === 410) resourceVersion = undefined;
              return;
            }
            const rv = obj.metadata?.resourceVersion;
            if (rv) resourceVersion = rv;
            if (type === 'BOOKMARK') return;
            failures = 0;
            opts.onEvent(type as WatchEventType, obj);
          },
          (err: (Error & { statusCode?: number }) | null) => {
            if (err?.statusCode === 410) resourceVersion = undefined;
            if (err && err.name !== 'AbortError') reject(err);
            else resolve();
          },
        )
        .then((controller) => {
          current = controller;
          if (stopped) controller.abort();
        }, reject);
    });
  }

  void (async () => {
    while (!stopped) {
      const started = Date.now();
      try {
        await watchOnce();
        // A stream that ends at once without an error would otherwise spin.
        if (Date.now() - started < 100) await new Promise((r) => setTimeout(r, 200));
      } catch (err) {
        if (stopped) break;
        const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
        failures++;
        if (failures === 1 || failures % 20 === 0) opts.log?.(`watch ${opts.path}: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  })();

  return {
    get watchRequests() {
      return watchRequests;
    },
    synced,
    stop() {
      stopped = true;
      current?.abort();
    },
  };
}
