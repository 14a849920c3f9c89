/**
 * The egress proxy in-process (startEgressProxy) with a lookup the test controls, so names can
 * "resolve" to the metadata address without touching DNS. Clients are the real curl and git.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseEntries } from '../../src/egress/allowlist';
import type { LogRecord } from '../../src/egress/log';
import { startEgressProxy, type EgressProxy } from '../../src/egress/proxy';
import { deniedRanges } from '../../src/egress/ranges';
import type { Lookup } from '../../src/egress/resolve';
import { signTicket } from '../../src/egress/ticket';
import { startGitServer, type GitServer } from '../support/git-server';
import { KEY, basic, curl, proxyUrl, rawConnect, run, startInternet, startTlsInternet, waitFor, type Internet } from './harness';

const NAMES: Record<string, string[]> = {
  'allowed.test': ['127.0.0.2'],
  'other.test': ['127.0.0.3'],
  'tls.test': ['127.0.0.2'],
  'git.test': ['127.0.0.1'],
  'metadata.test': ['169.254.169.254'],
  // a name with one harmless and one metadata address: any denied address refuses the name
  'rebind.test': ['127.0.0.2', '169.254.169.254'],
};
const lookups: string[] = [];
const lookup: Lookup = async (host) => {
  lookups.push(host);
  const addresses = NAMES[host];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: 4 }));
};

const now = () => Math.floor(Date.now() / 1000);

let allowed: Internet;
let other: Internet;
let tls: Internet & { caFile: string };
let git: GitServer;
let proxy: EgressProxy;
const logs: LogRecord[] = [];
let ticket: string;

function ticketFor(hosts: string[], exp = now() + 600): string {
  return signTicket({ run: 'run-7', task: 'T042', attempt: 1, hosts, exp }, KEY);
}

beforeAll(async () => {
  allowed = await startInternet('127.0.0.2', 'allowed');
  other = await startInternet('127.0.0.3', 'other');
  tls = await startTlsInternet('127.0.0.2', 'tls.test');
  git = await startGitServer({ token: 'git-token' });
  git.createRepo('greeting', { 'README.md': 'hello through the egress proxy\n' });
  const gitPort = Number(new URL(git.url('greeting')).port);
  proxy = await startEgressProxy({
    host: '127.0.0.1',
    port: 0,
    keys: [KEY],
    // the git host is always allowed (the proxy's env); the rest comes from the ticket
    alwaysAllow: parseEntries(`git.test:${gitPort}`),
    denied: deniedRanges({ allowLoopback: true }),
    lookup,
    log: (r) => logs.push(r),
  });
  ticket = ticketFor([`allowed.test:${allowed.port}`, `tls.test:${tls.port}`, `*.meta.test`, 'metadata.test', `metadata.test:${allowed.port}`, `rebind.test:${allowed.port}`, '169.254.169.254', `169.254.169.254:${allowed.port}`, '[::ffff:169.254.169.254]']);
});

afterAll(async () => {
  await proxy?.close(0);
  await Promise.all([allowed?.stop(), other?.stop(), tls?.stop(), git?.stop()]);
});

describe('egress proxy (in-process, real curl and git)', () => {
  test('plain http to an allowed host is forwarded, without the proxy credential, and logged without the ticket', async () => {
    const r = await curl(proxyUrl(proxy.port, ticket), `http://allowed.test:${allowed.port}/hello?x=1`, ['-d', 'payload']);
    expect(r.status).toBe(200);
    expect(r.body).toContain(`hello from allowed POST /hello?x=1 host=allowed.test:${allowed.port} proxy-auth=none body=payload`);
    await waitFor('the log line', () => logs.some((l) => l.kind === 'http' && l.host === 'allowed.test' && l.decision === 'allow'));
    const line = logs.find((l) => l.kind === 'http' && l.host === 'allowed.test' && l.decision === 'allow')!;
    expect(line).toMatchObject({ run: 'run-7', task: 'T042', attempt: 1, port: allowed.port, address: '127.0.0.2', status: 200, bytes_up: 7 });
    expect(line.bytes_down).toBeGreaterThan(0);
    expect(typeof line.duration_ms).toBe('number');
    expect(JSON.stringify(logs)).not.toContain(ticket.split('.')[2]);
  });

  test('CONNECT tunnels to an allowed host: plain http over the tunnel and real TLS end to end', async () => {
    const tunnelled = await curl(proxyUrl(proxy.port, ticket), `http://allowed.test:${allowed.port}/via-tunnel`, ['--proxytunnel']);
    expect(tunnelled.connectStatus).toBe(200);
    expect(tunnelled.body).toContain('hello from allowed GET /via-tunnel');
    const secure = await curl(proxyUrl(proxy.port, ticket), `https://tls.test:${tls.port}/secure`, ['--cacert', tls.caFile]);
    expect(secure.stderr).toBe('');
    expect(secure.connectStatus).toBe(200);
    expect(secure.body).toContain('hello from tls tls.test GET /secure');
    await waitFor('the tunnel log line', () => logs.some((l) => l.kind === 'connect' && l.host === 'tls.test' && l.decision === 'allow'));
    const line = logs.find((l) => l.kind === 'connect' && l.host === 'tls.test')!;
    expect(line).toMatchObject({ run: 'run-7', task: 'T042', status: 200, address: '127.0.0.2' });
    expect(line.bytes_up).toBeGreaterThan(100); // a TLS client hello at least
    expect(line.bytes_down).toBeGreaterThan(100);
  });

  test('git clone of a real repo through the proxy (always-allowed git host; git answers the 407 challenge itself)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'egress-clone-'));
    const gitPort = new URL(git.url('greeting')).port;
    const r = await run('git', ['-c', `http.proxy=${proxyUrl(proxy.port, ticket)}`, 'clone', '-q', `http://x:git-token@git.test:${gitPort}/greeting.git`, path.join(dir, 'greeting')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, 'greeting', 'README.md'), 'utf8')).toBe('hello through the egress proxy\n');
    expect(git.requests.some((q) => q.url.includes('git-upload-pack') && q.authorized)).toBe(true);
    expect(logs.some((l) => l.host === 'git.test' && l.decision === 'auth_required' && l.status === 407)).toBe(true);
    // the same through the environment, as the pods will be configured
    const viaEnv = await run('git', ['clone', '-q', `http://x:git-token@git.test:${gitPort}/greeting.git`, path.join(dir, 'via-env')], { env: { http_proxy: proxyUrl(proxy.port, ticket) } });
    expect(viaEnv.code).toBe(0);
    expect(readFileSync(path.join(dir, 'via-env', 'README.md'), 'utf8')).toBe('hello through the egress proxy\n');
    // and without a ticket in the proxy URL git cannot clone at all
    const refused = await run('git', ['clone', '-q', `http://x:git-token@git.test:${gitPort}/greeting.git`, path.join(dir, 'refused')], { env: { http_proxy: proxyUrl(proxy.port) } });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('407');
    expect(logs.some((l) => l.host === 'git.test' && l.decision === 'allow' && l.run === 'run-7')).toBe(true);
  });

  test('a host not in the run list: 403 naming the host and how to grant it', async () => {
    const plain = await curl(proxyUrl(proxy.port, ticket), `http://other.test:${other.port}/`);
    expect(plain.status).toBe(403);
    expect(plain.body).toBe(`egress to other.test:${other.port} is not allowed for this run; grant it with: sdlc-runner implement --allow-egress other.test:${other.port}\n`);
    const tunnel = await curl(proxyUrl(proxy.port, ticket), `https://other.test/`);
    expect(tunnel.connectStatus).toBe(403);
    const raw = await rawConnect(proxy.port, 'other.test:443', basic('ticket', ticket));
    expect(raw).toMatch(/^HTTP\/1.1 403 Forbidden\r\n/);
    expect(raw).toContain('egress to other.test is not allowed for this run; grant it with: sdlc-runner implement --allow-egress other.test\n');
    // *.meta.test grants subdomains only
    expect(await rawConnect(proxy.port, 'meta.test:443', basic('ticket', ticket))).toContain('--allow-egress meta.test\n');
    expect(other.seen).toEqual([]);
    expect(lookups).not.toContain('other.test'); // refused before any resolution
  });

  test('no, expired, tampered, wrongly keyed or wrongly named ticket: 407 with the Basic challenge', async () => {
    const url = `http://allowed.test:${allowed.port}/`;
    const [v, payload, mac] = ticket.split('.');
    const tampered = `${v}.${Buffer.from(JSON.stringify({ run: 'run-7', task: 'T042', attempt: 1, hosts: [`other.test:${other.port}`], exp: now() + 600 })).toString('base64url')}.${mac}`;
    const expired = ticketFor([`allowed.test:${allowed.port}`], now() - 1);
    const wrongKey = signTicket({ run: 'r', task: 't', attempt: 1, hosts: [`allowed.test:${allowed.port}`], exp: now() + 600 }, Buffer.from('another-key-0123456789abcdef0123456789'));
    for (const proxyArg of [proxyUrl(proxy.port), proxyUrl(proxy.port, expired), proxyUrl(proxy.port, tampered), proxyUrl(proxy.port, wrongKey), `http://someone:${ticket}@127.0.0.1:${proxy.port}`, proxyUrl(proxy.port, `${v}.${payload}`)]) {
      const r = await curl(proxyArg, url, ['-i']);
      expect(r.status).toBe(407);
      expect(r.body).toMatch(/Proxy-Authenticate: Basic realm="sdlc-egress"\r\n/);
      expect(r.body).toContain('proxy authentication required');
    }
    // garbage credentials of every shape are a 407, and the proxy keeps serving
    for (const header of [basic('ticket', '%E0%A4%A'), basic('ticket', ''), 'Basic !!!', 'Bearer x', basic('ticket', `${ticket}.extra`)]) {
      expect(await rawConnect(proxy.port, `allowed.test:${allowed.port}`, header)).toMatch(/^HTTP\/1.1 407 /);
    }
    const expiredBody = (await curl(proxyUrl(proxy.port, expired), url)).body;
    expect(expiredBody).toContain('(expired)');
    expect((await curl(proxyUrl(proxy.port, tampered), url)).body).toContain('(signature)');
    const raw = await rawConnect(proxy.port, `allowed.test:${allowed.port}`);
    expect(raw).toMatch(/^HTTP\/1.1 407 Proxy Authentication Required\r\n/);
    expect(raw).toContain('Proxy-Authenticate: Basic realm="sdlc-egress"');
    expect(allowed.seen.filter((s) => s === 'GET /')).toEqual([]);
  });

  test('an allowlisted name resolving to the metadata address is refused, also when only one of its addresses is', async () => {
    const r = await curl(proxyUrl(proxy.port, ticket), `http://metadata.test/latest/meta-data/`);
    expect(r.status).toBe(403);
    expect(r.body).toContain('egress to metadata.test refused: it resolves to 169.254.169.254, in the denied range 169.254.0.0/16');
    expect((await rawConnect(proxy.port, 'metadata.test:443', basic('ticket', ticket)))).toMatch(/^HTTP\/1.1 403 [^]*169\.254\.169\.254/);
    // rebind.test also has 127.0.0.2, which serves: refusing proves every address is checked
    const rebind = await curl(proxyUrl(proxy.port, ticket), `http://rebind.test:${allowed.port}/`);
    expect(rebind.status).toBe(403);
    expect(rebind.body).toContain('resolves to 169.254.169.254');
    expect(allowed.seen.some((s) => s.includes('meta-data'))).toBe(false);
    expect(logs.some((l) => l.decision === 'deny_address' && l.host === 'rebind.test' && l.reason === '169.254.0.0/16')).toBe(true);
  });

  test('IP literals in a denied range are refused even when explicitly allowlisted', async () => {
    const r = await curl(proxyUrl(proxy.port, ticket), `http://169.254.169.254/latest/meta-data/`);
    expect(r.status).toBe(403);
    expect(r.body).toContain('resolves to 169.254.169.254, in the denied range 169.254.0.0/16');
    const raw = await rawConnect(proxy.port, '169.254.169.254:443', basic('ticket', ticket));
    expect(raw).toMatch(/^HTTP\/1.1 403 /);
    // numeric spellings are the same address
    const numeric = await curl(proxyUrl(proxy.port, ticket), `http://2852039166/`);
    expect(numeric.status).toBe(403);
    expect(numeric.body).toContain('egress to 169.254.169.254 refused');
    const mapped = await rawConnect(proxy.port, '[::ffff:169.254.169.254]:443', basic('ticket', ticket));
    expect(mapped).toMatch(/^HTTP\/1.1 403 [^]*in the denied range 169\.254\.0\.0\/16/);
  });

  test('loopback is denied unless the proxy opts in', async () => {
    const strict = await startEgressProxy({ host: '127.0.0.1', port: 0, keys: [KEY], alwaysAllow: [], denied: deniedRanges({}), lookup, log: () => undefined });
    try {
      const r = await curl(proxyUrl(strict.port, ticket), `http://allowed.test:${allowed.port}/strict`);
      expect(r.status).toBe(403);
      expect(r.body).toContain('resolves to 127.0.0.2, in the denied range 127.0.0.0/8');
      const literal = await curl(proxyUrl(strict.port, ticketFor([`127.0.0.2:${allowed.port}`])), `http://127.0.0.2:${allowed.port}/strict`);
      expect(literal.status).toBe(403);
      expect(allowed.seen).not.toContain('GET /strict');
      // the same request through the opted-in proxy is served
      const ok = await curl(proxyUrl(proxy.port, ticketFor([`127.0.0.2:${allowed.port}`])), `http://127.0.0.2:${allowed.port}/strict`);
      expect(ok.status).toBe(200);
    } finally {
      await strict.close(0);
    }
  });

  test('a client hanging up mid-request or mid-tunnel releases the upstream connection', async () => {
    await waitFor('earlier traffic to settle', () => proxy.active() === 0);
    const client = net.connect(proxy.port, '127.0.0.1');
    client.on('error', () => undefined);
    client.write(`GET http://allowed.test:${allowed.port}/hang HTTP/1.1\r\nHost: allowed.test:${allowed.port}\r\nProxy-Authorization: ${basic('ticket', ticket)}\r\n\r\n`);
    await waitFor('the upstream to see the request', () => allowed.seen.includes('GET /hang'));
    expect(proxy.active()).toBe(1);
    client.destroy();
    await waitFor('the upstream connection to be closed', () => allowed.seen.includes('closed /hang'));
    await waitFor('the proxy to forget it', () => proxy.active() === 0);
    expect(logs.some((l) => l.kind === 'http' && l.reason === 'client_closed')).toBe(true);

    const before = allowed.seen.filter((s) => s === 'closed /hang').length;
    const tunnel = net.connect(proxy.port, '127.0.0.1');
    let head = '';
    tunnel.on('data', (c: Buffer) => (head += c.toString()));
    tunnel.write(`CONNECT allowed.test:${allowed.port} HTTP/1.1\r\nProxy-Authorization: ${basic('ticket', ticket)}\r\n\r\n`);
    await waitFor('the tunnel', () => head.startsWith('HTTP/1.1 200'));
    tunnel.write(`GET /hang HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
    await waitFor('the upstream to see the tunnelled request', () => allowed.seen.filter((s) => s === 'GET /hang').length === 2);
    expect(proxy.active()).toBe(1);
    tunnel.destroy();
    await waitFor('the tunnelled upstream connection to be closed', () => allowed.seen.filter((s) => s === 'closed /hang').length === before + 1);
    await waitFor('the proxy to forget the tunnel', () => proxy.active() === 0);
  });

  test('health endpoint on the proxy port; an unresolvable allowed name is a 502, not a hang', async () => {
    const health = await run('curl', ['-sS', `http://127.0.0.1:${proxy.port}/healthz`]);
    expect(health.stdout).toBe('ok\n');
    const r = await curl(proxyUrl(proxy.port, ticketFor(['nowhere.test'])), 'http://nowhere.test/');
    expect(r.status).toBe(502);
    expect(r.body).toContain('cannot resolve');
    expect(existsSync(tls.caFile)).toBe(true);
  });
});
