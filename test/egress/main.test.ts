/**
 * The proxy as it ships: main.ts compiled and run as its own node process, configured by env only.
 * Covers what the in-process tests cannot: the env contract, the listening line, and SIGTERM (stop
 * accepting, let open tunnels finish within the grace, exit 0).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { signTicket } from '../../src/egress/ticket';
import { KEY, basic, curl, proxyUrl, startInternet, waitFor, type Internet } from './harness';

const repo = path.resolve(__dirname, '../..');
let outDir: string;
let keyFile: string;
let internet: Internet;
/** main.ts compiled with its imports (src/egress and src/security/git-policy.ts) under outDir, as in dist/src. */
const mainJs = (): string => path.join(outDir, 'egress', 'main.js');

interface Proxy {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const started: Proxy[] = [];

async function startProxy(env: Record<string, string>): Promise<Proxy> {
  const child = spawn(process.execPath, [mainJs()], {
    env: { PATH: process.env.PATH, NODE_PATH: path.join(repo, 'node_modules'), EGRESS_LISTEN: '127.0.0.1:0', EGRESS_TICKET_KEY_FILES: keyFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const proxy: Proxy = { child, port: 0, stdout: () => out, stderr: () => err, exited };
  started.push(proxy);
  // either log format: event=listening ... port=N, or {"event":"listening",...,"port":N}
  const listening = /event"?[=:]"?listening"?.*?\bport"?[=:](\d+)/;
  await waitFor('the listening line', () => listening.test(out) || child.exitCode !== null);
  const m = listening.exec(out);
  if (!m) throw new Error(`proxy did not start: ${err}`);
  proxy.port = Number(m[1]);
  return proxy;
}

function ticketFor(hosts: string[]): string {
  return signTicket({ run: 'run-main', task: 'T001', attempt: 3, hosts, exp: Math.floor(Date.now() / 1000) + 600 }, KEY);
}

/** Opens a CONNECT tunnel and resolves once the proxy answered 200. */
function openTunnel(port: number, target: string, ticket: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = '';
    const onData = (c: Buffer): void => {
      head += c.toString();
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 200')) resolve(socket);
      else reject(new Error(head));
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nProxy-Authorization: ${basic('ticket', ticket)}\r\n\r\n`);
  });
}

/** One HTTP/1.0 request over an open tunnel; resolves with the whole response once the server closes. */
function requestOverTunnel(socket: net.Socket, pathName: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => resolve(text));
    socket.write(`GET ${pathName} HTTP/1.0\r\nHost: tunnelled\r\n\r\n`);
  });
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

beforeAll(() => {
  outDir = mkdtempSync(path.join(os.tmpdir(), 'egress-dist-'));
  execFileSync(path.join(repo, 'node_modules/.bin/tsc'), ['--ignoreConfig', '--outDir', outDir, '--rootDir', path.join(repo, 'src'), '--module', 'node16', '--moduleResolution', 'node16', '--target', 'ES2022', '--strict', '--esModuleInterop', '--skipLibCheck', '--types', 'node', path.join(repo, 'src/egress/main.ts')], { cwd: repo, stdio: 'pipe' });
  keyFile = path.join(outDir, 'ticket-keys');
  writeFileSync(keyFile, `# rotation: first signs\n${'n'.repeat(40)}\n${KEY.toString()}\n`);
}, 120_000);

beforeAll(async () => {
  internet = await startInternet('127.0.0.2', 'internet');
});

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await internet?.stop();
});

describe('egress proxy process (node main.js, env config)', () => {
  test('serves an always-allowed IP literal with allow-loopback, refuses the metadata literal, logs key=value lines without the ticket', async () => {
    const p = await startProxy({ EGRESS_ALLOW_LOOPBACK: 'true', EGRESS_ALWAYS_ALLOW: `127.0.0.2:${internet.port}`, EGRESS_LOG_FORMAT: 'kv', EGRESS_DENIED_CIDRS: '10.96.0.0/12' });
    expect(p.stdout()).toContain('denied=169.254.0.0/16,fe80::/10,0.0.0.0/8,::/128,fd00:ec2::254/128,10.96.0.0/12');
    // signed with the second key of the ring: still verifies
    const ticket = ticketFor(['169.254.169.254', '10.100.0.1']);
    const ok = await curl(proxyUrl(p.port, ticket), `http://127.0.0.2:${internet.port}/from-process`);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('hello from internet GET /from-process');
    const metadata = await curl(proxyUrl(p.port, ticket), 'http://169.254.169.254/latest/meta-data/');
    expect(metadata.status).toBe(403);
    expect(metadata.body).toContain('in the denied range 169.254.0.0/16');
    const cluster = await curl(proxyUrl(p.port, ticket), 'http://10.100.0.1/');
    expect(cluster.status).toBe(403);
    expect(cluster.body).toContain('in the denied range 10.96.0.0/12');
    await waitFor('the log lines', () => p.stdout().includes('decision=deny_address') && p.stdout().includes('decision=allow'));
    expect(p.stdout()).toMatch(new RegExp(`event=egress kind=http method=GET run=run-main task=T001 attempt=3 host=127.0.0.2 port=${internet.port} bytes_up=0 bytes_down=\\d+ decision=allow status=200 address=127.0.0.2 duration_ms=\\d+`));
    expect(p.stdout()).not.toContain(ticket);
    expect(p.stdout()).not.toContain(ticket.split('.')[2]);
    const health = await curl(proxyUrl(p.port), `http://127.0.0.1:${p.port}/healthz`, ['--noproxy', '*']);
    expect(health.body).toBe('ok\n');
  });

  test('loopback is refused by default', async () => {
    const p = await startProxy({ EGRESS_ALWAYS_ALLOW: `127.0.0.2:${internet.port}` });
    const r = await curl(proxyUrl(p.port, ticketFor([])), `http://127.0.0.2:${internet.port}/loopback`);
    expect(r.status).toBe(403);
    expect(r.body).toContain('in the denied range 127.0.0.0/8');
    expect(internet.seen).not.toContain('GET /loopback');
  });

  test('SIGTERM: stops accepting, an open tunnel still finishes, exit 0', async () => {
    const p = await startProxy({ EGRESS_ALLOW_LOOPBACK: 'true', EGRESS_ALWAYS_ALLOW: `127.0.0.2:${internet.port}`, EGRESS_SHUTDOWN_GRACE_MS: '60000' });
    const tunnel = await openTunnel(p.port, `127.0.0.2:${internet.port}`, ticketFor([]));
    p.child.kill('SIGTERM');
    await waitFor('draining', () => p.stdout().includes('"event":"draining"'));
    expect(p.stdout()).toContain('"active":1');
    await waitFor('the listener to close', () => refusesConnections(p.port));
    expect(p.child.exitCode).toBeNull();
    const response = await requestOverTunnel(tunnel, '/after-sigterm');
    expect(response).toContain('hello from internet GET /after-sigterm');
    expect(await p.exited).toBe(0);
    expect(p.stdout()).toMatch(/"event":"egress","kind":"connect".*"decision":"allow","status":200/);
    expect(p.stdout()).toContain('"event":"stopped"');
  });

  test('SIGTERM: a tunnel still open after the grace is cut, exit 0', async () => {
    const p = await startProxy({ EGRESS_ALLOW_LOOPBACK: 'true', EGRESS_ALWAYS_ALLOW: `127.0.0.2:${internet.port}`, EGRESS_SHUTDOWN_GRACE_MS: '200' });
    const tunnel = await openTunnel(p.port, `127.0.0.2:${internet.port}`, ticketFor([]));
    const closed = new Promise<void>((resolve) => tunnel.on('close', () => resolve()));
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    await closed;
  });

  test('EGRESS_GIT_HOSTS and EGRESS_PROVIDER_URLS (what the chart passes) join the always-allowed list; `:*` fails at start', async () => {
    const p = await startProxy({ EGRESS_ALWAYS_ALLOW: 'registry.npmjs.org', EGRESS_GIT_HOSTS: 'github.com,*.corp.example', EGRESS_PROVIDER_URLS: 'https://api.anthropic.com/v1' });
    expect(p.stdout()).toContain('"always_allow":"registry.npmjs.org,github.com:443,github.com:22,*.corp.example:443,*.corp.example:22,api.anthropic.com:443"');
    const child = spawn(process.execPath, [mainJs()], { env: { PATH: process.env.PATH, NODE_PATH: path.join(repo, 'node_modules'), EGRESS_TICKET_KEY_FILES: keyFile, EGRESS_GIT_HOSTS: 'http://127.0.0.1:*' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    expect(await new Promise<number | null>((resolve) => child.on('exit', resolve))).toBe(1);
    expect(err).toContain("EGRESS_GIT_HOSTS: 'http://127.0.0.1:*' allows any port, which the egress proxy cannot grant");
  });

  test('bad configuration fails at start with the variable named', async () => {
    const child = spawn(process.execPath, [mainJs()], { env: { PATH: process.env.PATH, NODE_PATH: path.join(repo, 'node_modules'), EGRESS_TICKET_KEY_FILES: keyFile, EGRESS_ALWAYS_ALLOW: '*.com' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('EGRESS_ALWAYS_ALLOW: wildcard too broad');
  });
});
