/**
 * The egress proxy: an HTTP proxy that lets an agent pod reach only the hosts of its run.
 *
 * - `CONNECT host:port` opens a byte tunnel (https, git over https): TLS stays end to end, the
 *   proxy sees only the name and port, which is all it needs to decide.
 * - An absolute-URI request (`GET http://host:port/path`) is forwarded (plain http targets).
 *
 * Every request carries a ticket (see ticket.ts) as its proxy credential; the run's allowlist is the
 * proxy's always-allowed entries plus the ticket's hosts. The proxy resolves names itself, refuses
 * when any address is in a denied range, and connects to the very address it checked.
 * Relative requests are not proxying: `GET /healthz` answers probes on the same port.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { isAllowed, DEFAULT_PORT, canonicalIp, normaliseHost, parseEntries, splitHostPort, type AllowEntry, type RequestKind } from './allowlist';
import { PROXY_REALM, ticketFromHeader } from './auth';
import type { LogRecord, LogSink } from './log';
import type { DeniedRanges } from './ranges';
import { resolveChecked, systemLookup, type Lookup, type ResolvedAddress } from './resolve';
import { TicketError, verifyTicket, type TicketClaims } from './ticket';

export interface EgressProxyOptions {
  host: string;
  port: number;
  /** Ticket key ring: verify with any. */
  keys: readonly Buffer[];
  /** Allowed for every run (git host, model providers). */
  alwaysAllow: readonly AllowEntry[];
  denied: DeniedRanges;
  lookup?: Lookup;
  log: LogSink;
  /** Unix seconds; injectable so expiry can be tested without waiting. */
  now?: () => number;
  /** Per-address connect timeout. */
  connectTimeoutMs?: number;
}

export interface EgressProxy {
  readonly host: string;
  readonly port: number;
  /** Tunnels and forwarded requests in flight. */
  active(): number;
  /** Stops accepting, lets in-flight traffic finish for up to `graceMs`, then cuts what is left. */
  close(graceMs: number): Promise<void>;
}

type Refusal = { status: 400 | 403 | 407 | 502; decision: string; body: string; claims?: TicketClaims; reason?: string; address?: string };
type Admission = { claims: TicketClaims; addresses: ResolvedAddress[] };

const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 407: 'Proxy Authentication Required', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/** How a denied host is granted: the exact CLI flag, with the port only when it is not the default one. */
function grantHint(host: string, port: number, kind: RequestKind): string {
  const name = canonicalIp(host)?.includes(':') ? `[${canonicalIp(host)}]` : host;
  return port === DEFAULT_PORT[kind] ? name : `${name}:${port}`;
}

function refusalHeaders(refusal: Refusal): Record<string, string> {
  const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(refusal.body)), Connection: 'close' };
  if (refusal.status === 407) headers['Proxy-Authenticate'] = `Basic realm="${PROXY_REALM}"`;
  return headers;
}

/** A CONNECT socket has no ServerResponse: the refusal is written as raw HTTP. */
function writeRawRefusal(socket: Duplex, refusal: Refusal): void {
  const head = Object.entries(refusalHeaders(refusal)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status]}\r\n${head}\r\n${refusal.body}`);
}

/** Tries each checked address in order (v4/v6 dual stack), never anything that was not checked. */
function connectFirst(addresses: readonly ResolvedAddress[], port: number, timeoutMs: number): Promise<{ socket: net.Socket; address: string }> {
  return new Promise((resolve, reject) => {
    let i = 0;
    let lastError: Error = new Error('no address');
    const next = (): void => {
      const target = addresses[i++];
      if (!target) return reject(lastError);
      const socket = net.connect({ host: target.address, port, family: target.family });
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`connect timeout after ${timeoutMs} ms`)));
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.removeAllListeners('error');
        resolve({ socket, address: target.address });
      });
      socket.once('error', (err) => {
        lastError = err;
        next();
      });
    };
    next();
  });
}

export async function startEgressProxy(opts: EgressProxyOptions): Promise<EgressProxy> {
  const lookup = opts.lookup ?? systemLookup;
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const inFlight = new Set<{ cut(): void }>();
  let draining = false;
  let drained: (() => void) | undefined;

  function track(cut: () => void): () => void {
    const entry = { cut };
    inFlight.add(entry);
    return () => {
      inFlight.delete(entry);
      if (draining && inFlight.size === 0) drained?.();
    };
  }

  /** Authentication, allowlist, resolution and range check: the whole decision, shared by both request kinds. */
  async function admit(kind: RequestKind, requested: string, port: number, authorization: string | undefined): Promise<Admission | Refusal> {
    let host: string;
    try {
      // The one spelling used for matching, resolving and messages (case, IDN, numeric IPv4 forms).
      host = normaliseHost(requested);
    } catch {
      return { status: 400, decision: 'bad_request', reason: 'bad host', body: `not a valid host: ${JSON.stringify(requested.slice(0, 255))}\n` };
    }
    const ticket = ticketFromHeader(authorization);
    if (!ticket) return { status: 407, decision: 'auth_required', reason: 'no ticket', body: 'proxy authentication required: no egress ticket (Proxy-Authorization: Basic ticket:<ticket>)\n' };
    let claims: TicketClaims;
    let granted: AllowEntry[];
    try {
      claims = verifyTicket(ticket, opts.keys, now());
      granted = parseEntries(claims.hosts);
    } catch (err) {
      const code = err instanceof TicketError ? err.code : 'format';
      return { status: 407, decision: 'auth_invalid', reason: code, body: `proxy authentication required: egress ticket refused (${code})\n` };
    }
    if (!isAllowed([...opts.alwaysAllow, ...granted], host, port, kind)) {
      const hint = grantHint(host, port, kind);
      return { status: 403, decision: 'deny_host', claims, body: `egress to ${hint} is not allowed for this run; grant it with: sdlc-runner implement --allow-egress ${hint}\n` };
    }
    const resolution = await resolveChecked(host, lookup, opts.denied);
    if (!resolution.ok && resolution.reason === 'denied') {
      return { status: 403, decision: 'deny_address', claims, address: resolution.address, reason: resolution.cidr, body: `egress to ${host} refused: it resolves to ${resolution.address}, in the denied range ${resolution.cidr} (metadata, link-local, loopback or cluster-internal)\n` };
    }
    if (!resolution.ok) return { status: 502, decision: 'unresolved', claims, reason: resolution.error, body: `egress to ${host} failed: cannot resolve it (${resolution.error})\n` };
    return { claims, addresses: resolution.addresses };
  }

  function logLine(base: { kind: RequestKind; method: string; host: string; port: number; started: number }, claims: TicketClaims | undefined, fields: LogRecord): void {
    opts.log({
      event: 'egress',
      kind: base.kind,
      method: base.method,
      run: claims?.run,
      task: claims?.task,
      attempt: claims?.attempt,
      host: base.host,
      port: base.port,
      ...fields,
      duration_ms: Date.now() - base.started,
    });
  }

  async function onConnect(req: http.IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const started = Date.now();
    client.on('error', () => undefined);
    let host = '';
    let port = NaN;
    try {
      const split = splitHostPort(req.url ?? '');
      host = split.host.replace(/^\[(.*)\]$/, '$1');
      port = Number(split.port);
    } catch {
      // fall through to the port check
    }
    const base = { kind: 'connect' as const, method: 'CONNECT', host, port, started };
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
      const refusal: Refusal = { status: 400, decision: 'bad_request', body: 'CONNECT needs host:port\n' };
      writeRawRefusal(client, refusal);
      return logLine(base, undefined, { decision: refusal.decision, status: 400 });
    }
    if (draining) {
      client.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return logLine(base, undefined, { decision: 'draining', status: 503 });
    }
    const untrack = track(() => client.destroy());
    const result = await admit('connect', host, port, req.headers['proxy-authorization']);
    if ('status' in result) {
      writeRawRefusal(client, result);
      untrack();
      return logLine(base, result.claims, { decision: result.decision, status: result.status, address: result.address, reason: result.reason });
    }
    let upstream: { socket: net.Socket; address: string };
    try {
      upstream = await connectFirst(result.addresses, port, connectTimeoutMs);
    } catch (err) {
      writeRawRefusal(client, { status: 502, decision: 'upstream_error', body: `egress to ${host}:${port} failed: ${(err as Error).message}\n` });
      untrack();
      return logLine(base, result.claims, { decision: 'upstream_error', status: 502, reason: (err as Error).message });
    }
    const { socket, address } = upstream;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      socket.destroy();
      client.destroy();
      untrack();
      logLine(base, result.claims, { decision: 'allow', status: 200, address, bytes_up: socket.bytesWritten, bytes_down: socket.bytesRead });
    };
    socket.on('error', finish).on('close', finish);
    client.on('close', finish);
    // The client may have hung up while we resolved and connected: its 'close' has already fired.
    if (client.destroyed) return finish();
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.write(head);
    client.pipe(socket);
    socket.pipe(client);
  }

  async function onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const raw = req.url ?? '/';
    if (raw.startsWith('/')) {
      // Not a proxy request: the probe endpoint, or a client that talks to the proxy as an origin.
      if (raw === '/healthz') res.writeHead(draining ? 503 : 200, { 'Content-Type': 'text/plain' }).end(draining ? 'draining\n' : 'ok\n');
      else res.writeHead(400, { 'Content-Type': 'text/plain' }).end('this is an egress proxy: send absolute-URI requests or CONNECT\n');
      return;
    }
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    const host = url ? url.hostname.replace(/^\[(.*)\]$/, '$1') : '';
    const port = url ? Number(url.port || 80) : NaN;
    const base = { kind: 'http' as const, method: req.method ?? 'GET', host, port, started };
    const refuse = (refusal: Refusal): void => {
      res.writeHead(refusal.status, refusalHeaders(refusal)).end(refusal.body);
      logLine(base, refusal.claims, { decision: refusal.decision, status: refusal.status, address: refusal.address, reason: refusal.reason });
    };
    if (!url || url.protocol !== 'http:' || !host) {
      // https:// must go through CONNECT: the proxy never terminates TLS.
      return refuse({ status: 400, decision: 'bad_request', body: 'only http:// URLs are forwarded; use CONNECT for https\n' });
    }
    const untrack = track(() => req.socket.destroy());
    const result = await admit('http', host, port, req.headers['proxy-authorization']);
    if ('status' in result) {
      untrack();
      req.resume();
      return refuse(result);
    }
    const connectionListed = new Set(String(req.headers.connection ?? '').toLowerCase().split(/\s*,\s*/));
    const headers: Record<string, string[]> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || connectionListed.has(lower)) continue;
      (headers[name] ??= []).push(req.rawHeaders[i + 1]!);
    }
    if (!req.headers.host) headers.Host = [url.host];
    let bytesUp = 0;
    let bytesDown = 0;
    let done = false;
    const finish = (fields: LogRecord): void => {
      if (done) return;
      done = true;
      untrack();
      logLine(base, result.claims, { bytes_up: bytesUp, bytes_down: bytesDown, ...fields });
    };
    let upstreamSocket: { socket: net.Socket; address: string };
    try {
      upstreamSocket = await connectFirst(result.addresses, port, connectTimeoutMs);
    } catch (err) {
      untrack();
      req.resume();
      return refuse({ status: 502, decision: 'upstream_error', claims: result.claims, reason: (err as Error).message, body: `egress to ${host}:${port} failed: ${(err as Error).message}\n` });
    }
    const { socket, address } = upstreamSocket;
    if (res.destroyed) {
      // The client hung up while we resolved and connected.
      socket.destroy();
      return finish({ decision: 'allow', address, reason: 'client_closed' });
    }
    // The request rides on the socket already connected to the checked address: no second lookup.
    const upstream = http.request({ method: req.method, path: url.pathname + url.search, headers, setHost: false, createConnection: () => socket });
    let status: number | undefined;
    // A client that hangs up mid-request or mid-response must not leave the upstream request running.
    res.on('close', () => {
      if (done) return;
      upstream.destroy();
      finish({ decision: 'allow', status, address, reason: res.writableFinished ? undefined : 'client_closed' });
    });
    upstream.on('response', (up) => {
      status = up.statusCode;
      const out: Record<string, string[]> = {};
      for (let i = 0; i < up.rawHeaders.length; i += 2) {
        const name = up.rawHeaders[i]!;
        if (HOP_BY_HOP.has(name.toLowerCase())) continue;
        (out[name] ??= []).push(up.rawHeaders[i + 1]!);
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, out);
      up.on('data', (c: Buffer) => (bytesDown += c.length));
      up.pipe(res);
      res.on('finish', () => finish({ decision: 'allow', status: up.statusCode, address }));
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`egress to ${host}:${port} failed: ${err.message}\n`);
      else res.destroy();
      finish({ decision: 'upstream_error', status: 502, address, reason: err.message });
    });
    req.on('data', (c: Buffer) => (bytesUp += c.length));
    req.pipe(upstream);
  }

  const server = http.createServer();
  // A bug in one request must cost that request, never the proxy every pod depends on.
  const contain = (what: string, socket: Duplex) => (err: unknown) => {
    socket.destroy();
    opts.log({ event: 'error', kind: what, reason: err instanceof Error ? err.message : String(err) });
  };
  server.on('request', (req, res) => onRequest(req, res).catch(contain('http', req.socket)));
  server.on('connect', (req, socket, head) => onConnect(req, socket, head).catch(contain('connect', socket)));
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;

  return {
    host: address.address,
    port: address.port,
    active: () => inFlight.size,
    async close(graceMs) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight.size > 0) {
        const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
        await Promise.race([new Promise<void>((resolve) => (drained = resolve)), timer]);
        for (const entry of inFlight) entry.cut();
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
