/**
 * The kubelet's log endpoint, GET /containerLogs/{namespace}/{pod}/{container}, over HTTPS with
 * client-certificate authentication (only the apiserver, holding a CA-signed client cert, may
 * read). The apiserver proxies `pods/log` here, so kubectl logs and client libraries exercise the
 * real API path. Query parameters as the kubelet reads them: follow, timestamps, sinceTime,
 * sinceSeconds, tailLines, limitBytes, previous (the instance before a restarted sidecar's current one).
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseRfc3339, readCriLog, type CriLogWriter, type LogEntry } from './cri-log';

export interface LogSource {
  /** The container's log writer, or undefined when the kubelet has no such container. */
  find(namespace: string, pod: string, container: string): CriLogWriter | undefined;
  /** The log of the container's previous instance (restarted sidecars), for previous=true. */
  findPrevious?(namespace: string, pod: string, container: string): CriLogWriter | undefined;
  /**
   * For a container the pod has but that has no log (never started): the kubelet's answer, e.g.
   * `container "agent" in pod "p" is waiting to start: PodInitializing` (sent as 400, as the kubelet does).
   */
  noLogReason?(namespace: string, pod: string, container: string): string | undefined;
  /** Lines to send before cutting this stream (fault injection), or undefined for no cut. */
  cutAfterLines(namespace: string, pod: string, container: string): number | undefined;
}

export interface LogServer {
  port: number;
  /** Open log responses right now. */
  activeStreams(): number;
  /** Drops every open log stream mid-way, as a network fault would; returns how many it dropped. */
  cutAll(): number;
  close(): Promise<void>;
}

export interface LogServerTls {
  certFile: string;
  keyFile: string;
  clientCaFile: string;
}

interface LogQuery {
  follow: boolean;
  timestamps: boolean;
  sinceNs?: bigint;
  tailLines?: number;
  limitBytes?: number;
}

function parseQuery(url: URL): LogQuery | string {
  const q = url.searchParams;
  const int = (name: string): number | undefined | string => {
    const v = q.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 ? n : `invalid ${name}: ${v}`;
  };
  const tailLines = int('tailLines');
  const limitBytes = int('limitBytes');
  const sinceSeconds = int('sinceSeconds');
  for (const v of [tailLines, limitBytes, sinceSeconds]) if (typeof v === 'string') return v;
  let sinceNs: bigint | undefined;
  const sinceTime = q.get('sinceTime');
  if (sinceTime) {
    sinceNs = parseRfc3339(sinceTime);
    if (sinceNs === undefined) return `invalid sinceTime: ${sinceTime}`;
  } else if (typeof sinceSeconds === 'number') {
    sinceNs = (BigInt(Date.now()) - BigInt(sinceSeconds) * 1000n) * 1_000_000n;
  }
  return {
    follow: q.get('follow') === 'true' || q.get('follow') === '1',
    timestamps: q.get('timestamps') === 'true' || q.get('timestamps') === '1',
    sinceNs,
    tailLines: tailLines as number | undefined,
    limitBytes: limitBytes as number | undefined,
  };
}

export async function startLogServer(tls: LogServerTls, source: LogSource): Promise<LogServer> {
  const active = new Set<ServerResponse>();

  const serve = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const [namespace, pod, container] = [m[1]!, m[2]!, m[3]!].map(decodeURIComponent) as [string, string, string];
    const query = parseQuery(url);
    if (typeof query === 'string') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(query + '\n');
      return;
    }
    if (url.searchParams.get('previous') === 'true') {
      // Only restarted sidecars have a previous instance; otherwise the kubelet's own answer.
      const previous = source.findPrevious?.(namespace, pod, container);
      if (previous) return streamLog(res, previous, query, undefined);
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`previous terminated container "${container}" in pod "${pod}" not found\n`);
      return;
    }
    const writer = source.find(namespace, pod, container);
    const notStarted = writer ? undefined : source.noLogReason?.(namespace, pod, container);
    if (notStarted) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(notStarted + '\n');
      return;
    }
    if (!writer) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`container ${container} of pod ${namespace}/${pod} not found\n`);
      return;
    }
    streamLog(res, writer, query, source.cutAfterLines(namespace, pod, container));
  };

  const streamLog = (res: ServerResponse, writer: CriLogWriter, q: LogQuery, cutAfter: number | undefined) => {
    active.add(res);
    res.socket?.setNoDelay(true);
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    let bytesLeft = q.limitBytes ?? Infinity;
    let sent = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      writer.off('line', onLine);
      writer.off('end', onEnd);
      active.delete(res);
      if (!res.destroyed) res.end();
    };
    const send = (e: LogEntry): void => {
      if (done) return;
      if (q.sinceNs !== undefined && e.ns < q.sinceNs) return;
      if (cutAfter !== undefined && sent >= cutAfter) {
        // The fault: the connection drops mid-stream, with no orderly end.
        done = true;
        writer.off('line', onLine);
        writer.off('end', onEnd);
        active.delete(res);
        res.destroy();
        return;
      }
      let out = Buffer.from(`${q.timestamps ? e.ts + ' ' : ''}${e.text}\n`);
      if (out.length > bytesLeft) out = out.subarray(0, bytesLeft);
      bytesLeft -= out.length;
      sent++;
      res.write(out);
      if (bytesLeft <= 0) finish();
    };
    const onLine = (e: LogEntry) => send(e);
    const onEnd = () => finish();

    // Same tick: read what is on disk, then subscribe, so no line falls in between.
    let existing = readCriLog(writer.file);
    if (q.tailLines !== undefined) existing = q.tailLines === 0 ? [] : existing.slice(-q.tailLines);
    for (const e of existing) send(e);
    if (done) return;
    if (!q.follow || writer.ended) {
      finish();
      return;
    }
    writer.on('line', onLine);
    writer.on('end', onEnd);
    res.on('close', finish);
  };

  const server = https.createServer(
    {
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      ca: readFileSync(tls.clientCaFile),
      requestCert: true,
      rejectUnauthorized: true,
    },
    serve,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    activeStreams: () => active.size,
    cutAll() {
      const n = active.size;
      for (const res of active) res.destroy();
      active.clear();
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of active) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
