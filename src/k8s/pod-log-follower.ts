/**
 * The one log follower: follows a pod's log to its end — waiting while it is Pending, streaming from a
 * resume cursor, reconnecting after any stream end, reading an ended container's log once more so a cut
 * never loses its last lines, and waiting out API outages — for the follow activity and `sdlc-runner logs`
 * alike. Callers decide what a pending pod, an outage and each line mean; this module only follows.
 */
import { KubernetesError, type KubernetesGateway, type LogLine, type PodStatus } from './gateway';
import { sleep } from '../util/sleep';

/** Where the follower is in the log: a LogResume or the activity's LogCursor (heartbeated). */
export interface LogPosition {
  readonly lastTs: string | undefined;
  beginStream(): void;
  /** True when the line is new (and records it). */
  accept(line: LogLine): boolean;
}

export interface PodLogFollowHooks {
  /** Each new line, once across reconnects. */
  onLine(line: LogLine): void;
  /** A stream ended (cut or complete): a moment to save progress. */
  onStreamEnd?(): void;
  /** The pod is Pending: how long to wait for it to start (ms), or 'stop' to give up. Default: poll interval. */
  onPending?(pod: PodStatus): number | 'stop';
  /** The API is down or overloaded (a retryable KubernetesError); the follower waits and tries again. */
  onOutage?(err: KubernetesError, tries: number): void;
  /**
   * Whether an ended container's log is worth reading (again): false skips the final read too (e.g. the
   * result line, the agent's last, is already in). Left out: the final read always happens, once.
   */
  wantsMore?(): boolean;
}

export type PodLogEnd =
  /** The pod vanished: deleted (by the runner, someone else, or Kubernetes — `disruption` then says why). */
  | { kind: 'gone'; disruption?: string }
  /** The pod ended (Succeeded/Failed) and its log was read to the end. */
  | { kind: 'ended'; pod: PodStatus; disruption?: string }
  /** onPending said stop. */
  | { kind: 'pending'; pod: PodStatus }
  | { kind: 'aborted' };

type FollowGateway = Pick<KubernetesGateway, 'getPod' | 'waitForPod' | 'followLogs' | 'deletedPod'>;

/** Further reads of an ended container's log while wantsMore() (each must bring new lines). */
const MAX_EXTRA_FINAL_READS = 3;

export function isTerminalPod(pod: PodStatus | undefined): boolean {
  return !pod || pod.phase === 'Succeeded' || pod.phase === 'Failed';
}

/**
 * Follows pod `name` from `position` until it ends or vanishes. A KubernetesError that is not retryable
 * (forbidden, invalid) is thrown; retryable ones are waited out, bounded only by the caller's signal.
 */
export async function followPodLog(
  k8s: FollowGateway,
  name: string,
  position: LogPosition,
  hooks: PodLogFollowHooks,
  opts: { signal?: AbortSignal; pollMs?: number } = {},
): Promise<PodLogEnd> {
  const { signal } = opts;
  const pollMs = opts.pollMs ?? 2000;
  /** The last DisruptionTarget seen on the pod: a pod that then vanishes was taken away by Kubernetes. */
  let disruption: string | undefined;
  const gone = (): PodLogEnd => ({ kind: 'gone', disruption: k8s.deletedPod?.(name)?.disruption ?? disruption });
  const stream = async (): Promise<number> => {
    position.beginStream();
    let fresh = 0;
    for await (const line of k8s.followLogs(name, { sinceTime: position.lastTs, signal })) {
      if (!position.accept(line)) continue;
      fresh++;
      hooks.onLine(line);
    }
    hooks.onStreamEnd?.();
    return fresh;
  };
  /** Consecutive failed reads of an API that is down: the wait between tries grows to 5 s. */
  let outage = 0;
  for (;;) {
    if (signal?.aborted) return { kind: 'aborted' };
    try {
      let pod = await k8s.getPod(name);
      if (!pod) return gone();
      disruption = pod.disruption ?? disruption;
      outage = 0;
      if (pod.phase === 'Pending' && !pod.deleting) {
        const wait = hooks.onPending?.(pod) ?? pollMs;
        if (wait === 'stop') return { kind: 'pending', pod };
        await k8s.waitForPod(name, (x) => !x || x.phase !== 'Pending', { signal, timeoutMs: wait });
        continue;
      }
      // Running or already finished: stream from the position.
      await stream();
      if (signal?.aborted) return { kind: 'aborted' };
      // The stream ended: the container ended, or the connection was cut (then: reconnect).
      pod = await k8s.waitForPod(name, isTerminalPod, { signal, timeoutMs: pollMs });
      if (!pod) return gone();
      disruption = pod.disruption ?? disruption;
      if (isTerminalPod(pod)) {
        // A cut stream and a clean end look the same: what was written between a cut and the exit (often
        // the result line) is read now (the log of an ended container stays readable) — unless the caller
        // already has what it wants (the agent's result line is its last: nothing after it matters, and the
        // read would cost every finished task a round trip to the kubelet). A read cut after the apiserver
        // had begun to answer also ends like a clean end: read again while wanted and fruitful.
        if (hooks.wantsMore?.() !== false) await stream();
        for (let extra = 0; extra < MAX_EXTRA_FINAL_READS && hooks.wantsMore?.() && !signal?.aborted; extra++) {
          if ((await stream()) === 0) break;
        }
        if (signal?.aborted) return { kind: 'aborted' };
        return { kind: 'ended', pod, disruption };
      }
      // Being deleted under us: wait for it to go.
      if (pod.deleting) await k8s.waitForPod(name, (x) => !x, { signal, timeoutMs: pollMs });
    } catch (err) {
      if (signal?.aborted) return { kind: 'aborted' };
      // Anything but an API outage (refused for good, or a bug) is the caller's to report.
      if (!(err instanceof KubernetesError && err.retryable)) throw err;
      outage++;
      hooks.onOutage?.(err, outage);
      await sleep(Math.min(5000, 250 * 2 ** Math.min(outage, 5)), signal);
    }
  }
}
