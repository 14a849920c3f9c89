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
  close(): Promise<void>;
}

export async function startCountingProxy(upstream: string, caPem: string): Promise<CountingProxy> {
  const target = new URL(upstream);
  const requests: ProxiedRequest[] = [];
  let open = 0;
  const agent = new https.Agent({ ca: caPem, keepAlive: true });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    requests.push({ method: req.method ?? 'GET', path: url.pathname, watch });
    const headers = { ...req.headers, host: target.host };
    const upstreamReq = https.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
      (upstreamRes) => {
        if (watch && upstreamRes.statusCode === 200) {
          open++;
          let closed = false;
          const done = () => {
            if (!closed) {
              closed = true;
              open--;
            }
          };
          res.once('close', done);
          upstreamRes.once('close', done);
        }
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
