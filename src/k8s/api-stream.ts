/**
 * Long-lived GET streams against the API server (watches, followed logs). client-node's Watch and
 * Log classes hide the end of a stream (Log pipes without forwarding errors, so a cut connection
 * would never end the consumer), so we open the request ourselves and let the KubeConfig supply
 * TLS material and credentials (applyToHTTPSOptions), exactly as the generated API client does.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { errorForStatus, toKubernetesError, type ApiCallContext } from './errors';
import { applyPooledHTTPSOptions } from './shared-agents';

export interface ApiStream {
  response: IncomingMessage;
  /** Ends the request; the line iterator then finishes. */
  close(): void;
}

/**
 * Opens `GET path?query` and resolves once the server answered 200; any other status becomes a
 * KubernetesError carrying the API's Status message.
 */
export async function openApiStream(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | undefined>,
  ctx: ApiCallContext,
  signal?: AbortSignal,
): Promise<ApiStream> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw toKubernetesError(new Error('the kubeconfig has no current cluster'), ctx);
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);

  const opts: https.RequestOptions = {};
  await applyPooledHTTPSOptions(kc, opts);
  const transport = url.protocol === 'http:' ? http : https;
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) controller.abort();

  return new Promise<ApiStream>((resolve, reject) => {
    const req = transport.request(url, { ...opts, method: 'GET', signal: controller.signal, headers: { ...opts.headers, Accept: 'application/json' } });
    const close = () => {
      signal?.removeEventListener('abort', onAbort);
      controller.abort();
    };
    req.once('error', (err) => {
      close();
      reject(toKubernetesError(err, ctx));
    });
    req.once('response', (res) => {
      if (res.statusCode === 200) {
        // Keep the socket alive-probed: a half-dead connection must end the stream, not hang it.
        res.socket?.setKeepAlive(true, 30_000);
        res.once('close', () => signal?.removeEventListener('abort', onAbort));
        resolve({ response: res, close });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 64_000) body += chunk;
      });
      res.once('end', () => {
        close();
        reject(errorForStatus(res.statusCode ?? 0, body, ctx));
      });
      res.once('error', (err) => {
        close();
        reject(toKubernetesError(err, ctx));
      });
    });
    req.end();
  });
}

/**
 * The stream's lines, without their newline. A trailing fragment without a newline is yielded only
 * when the response ended cleanly: after a cut it may be half a line, which the resumed stream
 * repeats whole. Ends (without throwing) when the stream ends for any reason; `ended.clean` tells which.
 */
export async function* readLines(stream: ApiStream, ended: { clean: boolean } = { clean: false }): AsyncGenerator<string> {
  const res = stream.response;
  res.setEncoding('utf8');
  let buffer = '';
  let failed = false;
  try {
    for await (const chunk of res as AsyncIterable<string>) {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        yield line.endsWith('\r') ? line.slice(0, -1) : line;
      }
    }
  } catch {
    failed = true; // reset/aborted: the caller sees a non-clean end and reconnects
  } finally {
    stream.close();
  }
  ended.clean = !failed && res.complete;
  if (buffer && ended.clean) yield buffer;
}
