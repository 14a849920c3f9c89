/**
 * Test pieces for the egress proxy: stand-in "internet" servers on loopback addresses other than
 * 127.0.0.1, curl and git run as real child processes (asynchronously: an in-process proxy must keep
 * serving while they run), and a raw CONNECT client to read refusal bodies curl does not print.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { egressProxyUrl } from '../../src/egress/auth';

export const KEY = Buffer.from('egress-test-key-0123456789abcdef0123456789');

export interface Internet {
  host: string;
  port: number;
  /** Requests seen: method and path. */
  seen: string[];
  stop(): Promise<void>;
}

/** How a stand-in server answers (default: a text line echoing what it received). */
export type Answer = (req: http.IncomingMessage, body: string) => { status: number; headers: Record<string, string>; body: string };

const echo = (name: string): Answer => (req, body) => ({
  status: 200,
  headers: { 'content-type': 'text/plain', 'x-served-by': name },
  body: `hello from ${name} ${req.method} ${req.url} host=${req.headers.host} proxy-auth=${req.headers['proxy-authorization'] ?? 'none'} body=${body}\n`,
});

function handler(name: string, seen: string[], answer: Answer = echo(name)) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/hang') {
      // never answers: for client hang-up tests; records when the proxy lets go of it
      req.socket.on('close', () => seen.push('closed /hang'));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a = answer(req, Buffer.concat(chunks).toString());
      res.writeHead(a.status, a.headers);
      res.end(a.body);
    });
  };
}

async function listen(server: http.Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

function stopper(server: http.Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

/** A plain http server standing for a host on the internet. */
export async function startInternet(host: string, name: string, answer?: Answer): Promise<Internet> {
  const seen: string[] = [];
  const server = http.createServer(handler(name, seen, answer));
  const port = await listen(server, host);
  return { host, port, seen, stop: stopper(server) };
}

/** An https server with a fresh self-signed certificate for `dnsName`; its CA file for curl --cacert. */
export async function startTlsInternet(host: string, dnsName: string, answer?: Answer): Promise<Internet & { caFile: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'egress-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${dnsName}`, '-addext', `subjectAltName=DNS:${dnsName}`], { stdio: 'ignore' });
  const seen: string[] = [];
  const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, handler(`tls ${dnsName}`, seen, answer));
  const port = await listen(server, host);
  return { host, port, seen, caFile: cert, stop: stopper(server) };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A child process with a clean proxy environment (no inherited http_proxy / no_proxy). */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', ...opts.env };
    const child = spawn(cmd, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The proxy URL as the pods will get it (egressProxyUrl), or without credentials. */
export function proxyUrl(port: number, ticket?: string): string {
  return ticket === undefined ? `http://127.0.0.1:${port}` : egressProxyUrl({ host: '127.0.0.1', port }, ticket);
}

/** curl through the proxy; stdout ends with a line `<http_code> <http_connect>`. */
export async function curl(proxy: string, url: string, extra: string[] = []): Promise<Run & { status: number; connectStatus: number; body: string }> {
  const r = await run('curl', ['-sS', '--max-time', '30', '--proxy', proxy, '-w', '\n%{http_code} %{http_connect}', ...extra, url]);
  const lines = r.stdout.split('\n');
  const [status = '0', connectStatus = '0'] = (lines.pop() ?? '').split(' ');
  return { ...r, status: Number(status), connectStatus: Number(connectStatus), body: lines.join('\n') };
}

/** Sends a raw CONNECT and returns everything the proxy answered until it closed (refusals) or the first response head (success). */
export function rawConnect(proxyPort: number, target: string, authorization?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.startsWith('HTTP/1.1 200')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    const auth = authorization ? `Proxy-Authorization: ${authorization}\r\n` : '';
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
  });
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Resolves when `predicate` holds, polling on a short interval; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
