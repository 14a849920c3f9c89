/**
 * Follows a pod's log to its end the way the follow activity does: stream, and after every stream
 * end check the pod; reconnect from the last timestamp (deduplicating with LogResume, i.e.
 * compareLogTimestamps) until the pod has ended; retry retryable errors (apiserver down).
 */
import { KubernetesError, type KubernetesGateway, type LogLine, type PodStatus } from '../../../src/k8s/gateway';
import { LogResume } from '../../../src/k8s/log-resume';

export interface FollowResult {
  lines: LogLine[];
  /** Raw lines including the ones dropped as repeats. */
  received: number;
  streams: number;
  retriedErrors: string[];
  final: PodStatus | undefined;
}

const ended = (p: PodStatus | undefined) => !p || p.phase === 'Succeeded' || p.phase === 'Failed';

export async function followToEnd(
  gw: KubernetesGateway,
  name: string,
  opts: { timeoutMs?: number; onLine?: (line: LogLine) => void } = {},
): Promise<FollowResult> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const resume = new LogResume();
  const out: FollowResult = { lines: [], received: 0, streams: 0, retriedErrors: [], final: undefined };
  while (Date.now() < deadline) {
    try {
      const pod = await gw.waitForPod(name, (p) => !p || p.phase !== 'Pending', { timeoutMs: deadline - Date.now() });
      if (!pod) return { ...out, final: undefined };
      resume.beginStream();
      out.streams++;
      for await (const line of gw.followLogs(name, { sinceTime: resume.lastTs })) {
        out.received++;
        if (resume.accept(line)) {
          out.lines.push(line);
          opts.onLine?.(line);
        }
      }
      const after = await gw.waitForPod(name, ended, { timeoutMs: 1000 });
      if (ended(after)) {
        // One last read picks up lines written between a cut and the end.
        resume.beginStream();
        out.streams++;
        for await (const line of gw.followLogs(name, { sinceTime: resume.lastTs })) {
          out.received++;
          if (resume.accept(line)) out.lines.push(line);
        }
        return { ...out, final: after };
      }
    } catch (err) {
      if (!(err instanceof KubernetesError) || !err.retryable) throw err;
      out.retriedErrors.push(err.message);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw new Error(`pod ${name} did not end within the timeout; got ${out.lines.length} lines`);
}
