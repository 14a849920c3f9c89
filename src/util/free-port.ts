import net from 'node:net';

/**
 * Ports are picked below Linux's ephemeral range (32768–60999 by default). A port the OS handed out for
 * `listen(0)` and that was closed again goes back to the pool that outgoing connections and other
 * processes' `listen(0)` draw from, so on a busy machine it could be taken before the server that was
 * given it binds. Below the range only another process picking the same random port can collide.
 */
const LOW = 20_000;
const HIGH = 32_767;

/** Ports this process handed out already: never twice (two servers started at once). */
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function osPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A TCP port free on 127.0.0.1 right now, for a server started next (a small race with other processes remains). */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (handedOut.has(port)) continue;
    // Reserved before the check, so a call running at the same time cannot take it too.
    handedOut.add(port);
    if (await canListen(port)) return port;
    handedOut.delete(port);
  }
  // Everything we tried is in use (a very busy host): let the OS choose.
  const port = await osPort();
  handedOut.add(port);
  return port;
}
