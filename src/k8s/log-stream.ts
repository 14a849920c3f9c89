/**
 * Follows a container's log (the pod's log container: PodStatus.logContainer) through the API server:
 *   GET /api/v1/namespaces/{ns}/pods/{name}/log?container=publish&follow=true&timestamps=true&sinceTime=…
 * Each line arrives as `<RFC3339Nano> <text>`. The iterable ends whenever the stream ends (container
 * ended, or the connection was cut); resuming without repeats is the caller's job (see log-cursor.ts),
 * because `sinceTime` only has second precision on its way to the kubelet.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { FollowLogsOptions, LogLine } from './gateway';
import { openApiStream, readLines } from './api-stream';
import { isLogTimestamp } from './timestamps';
import { GrantMemory } from './grant-memory';

export function parseLogLine(raw: string): LogLine | undefined {
  const space = raw.indexOf(' ');
  const ts = space < 0 ? raw : raw.slice(0, space);
  if (!isLogTimestamp(ts)) return undefined;
  return { ts, text: space < 0 ? '' : raw.slice(space + 1) };
}

export async function* followPodLogs(
  kc: KubeConfig,
  namespace: string,
  name: string,
  opts: FollowLogsOptions & { follow?: boolean; grants?: GrantMemory; container: string },
): AsyncGenerator<LogLine> {
  const ctx = { verb: 'get', resource: 'pods/log', namespace, name } as const;
  const grants = opts.grants ?? new GrantMemory();
  let stream;
  try {
    stream = await grants.call(ctx, () => openApiStream(
      kc,
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/log`,
      {
        container: opts.container,
        follow: String(opts.follow ?? true),
        timestamps: 'true',
        sinceTime: opts.sinceTime,
      },
      ctx,
      opts.signal,
    ), opts.signal);
  } catch (err) {
    if (opts.signal?.aborted) return;
    throw err; // 400/404 ("not started yet", "no such pod") are interpreted by the gateway, which can look at the pod
  }
  // A line the runtime did not stamp (never expected with timestamps=true) keeps the previous
  // stamp, so the line order stays deterministic for the caller's resume logic.
  let lastTs = opts.sinceTime ?? '';
  for await (const raw of readLines(stream)) {
    const line = parseLogLine(raw) ?? { ts: lastTs, text: raw };
    if (!line.ts) continue;
    lastTs = line.ts;
    yield line;
  }
}
