/**
 * A plain-HTTP reverse proxy on 127.0.0.1 in front of the test apiserver that counts what passes
 * through: every request, and watch requests (opened so far, open right now) per path. Tests point
 * a kubeconfig at it to check how many watch connections the gateway really holds.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  watch: boolean;
}

export interface CountingProxy {
  url: string;
  requests: ProxiedRequest[];
  /** Watch requests opened so far. */
  watchRequests(): ProxiedRequest[];
  /** Watch connections open right now. */
  openWatches(): number;
  /** The most watch connections that were open at the same time. */
  peakOpenWatches(): number;
  /** Drops every open watch connection mid-stream. */
  cutWatches(): void;
  /** While true, new watch requests get 503 (an apiserver that is not serving watches). */
  blockWatches(blocked: boolean): void;
  /**
   * The next watch request gets what the apiserver sends when the requested resourceVersion has
   * been compacted away: 200, then one ERROR event with a 410 Expired Status, then the end.
   */
  expireNextWatch(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(upstream: string, caPem: string): Promise<CountingProxy> {
  const target = new URL(upstream);
  const requests: ProxiedRequest[] = [];
  let open = 0;
  let peak = 0;
  let blocked = false;
  let expireNext = false;
  const openWatchResponses = new Set<http.ServerResponse>();
  const agent = new https.Agent({ ca: caPem, keepAlive: true });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    requests.push({ method: req.method ?? 'GET', path: url.pathname, watch });
    if (watch && blocked) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'watches are unavailable (test fault)', reason: 'ServiceUnavailable', code: 503 }));
      return;
    }
    if (watch && expireNext) {
      expireNext = false;
      res.writeHead(200, { 'content-type': 'application/json' });
      const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (999999)', reason: 'Expired', code: 410 };
      res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
      return;
    }
    const headers = { ...req.headers, host: target.host };
    const upstreamReq = https.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
      (upstreamRes) => {
        if (watch && upstreamRes.statusCode === 200) {
          open++;
          peak = Math.max(peak, open);
          let closed = false;
          const done = () => {
            if (!closed) {
              closed = true;
              open--;
            }
          };
          openWatchResponses.add(res);
          res.once('close', () => openWatchResponses.delete(res));
          res.once('close', done);
          upstreamRes.once('close', done);
        }
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        // A watch answers its headers at once and may then be silent for a minute: pass them on now.
        res.flushHeaders();
        upstreamRes.pipe(res);
        upstreamRes.once('error', () => res.destroy());
      },
    );
    upstreamReq.once('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.once('close', () => upstreamReq.destroy());
    req.pipe(upstreamReq);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    watchRequests: () => requests.filter((r) => r.watch),
    openWatches: () => open,
    peakOpenWatches: () => peak,
    cutWatches() {
      for (const res of openWatchResponses) res.destroy();
    },
    blockWatches(b: boolean) {
      blocked = b;
    },
    expireNextWatch() {
      expireNext = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
