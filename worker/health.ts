/**
 * /healthz (the process is alive) and /readyz (the Temporal worker is polling) for Kubernetes probes.
 * While the worker is not ready, /readyz answers 503 with the reason (`not ready: …`).
 */
import http from 'node:http';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** true when ready; otherwise false or the reason it is not (shown in the 503 body). */
export type Readiness = () => boolean | string;

export async function startHealthServer(port: number, isReady: Readiness, host = '0.0.0.0'): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = isReady();
      res.writeHead(ready === true ? 200 : 503, { 'content-type': 'text/plain' }).end(ready === true ? 'ready\n' : `not ready${typeof ready === 'string' && ready ? `: ${ready}` : ''}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    // Probes keep connections alive: close them too, or close() waits for their idle timeout.
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
