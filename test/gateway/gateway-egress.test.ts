/**
 * The model gateway behind the egress proxy, as in an agent pod of the proxy mode: the gateway process
 * gets the pod's proxy variables (signed by the worker's egressEnv) and reaches its providers only
 * through the real proxy (in-process, with a lookup the test controls): https through a CONNECT tunnel,
 * plain http as absolute-URI requests. The proxy's ticket never reaches a provider; a provider host the
 * ticket does not grant is refused with the proxy's reason, and its server sees nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { parseEntries } from '../../src/egress/allowlist';
import type { LogRecord } from '../../src/egress/log';
import { egressEnv } from '../../src/egress/pod-env';
import { startEgressProxy, type EgressProxy } from '../../src/egress/proxy';
import { deniedRanges } from '../../src/egress/ranges';
import type { Lookup } from '../../src/egress/resolve';
import { KEY, startInternet, startTlsInternet, type Answer, type Internet } from '../egress/harness';
import { PROVIDER_KEY, startGatewayProcess, tempDir, waitFor, writeKey, type GatewayProcess } from './gateway-harness';

const NAMES: Record<string, string> = { 'model.test': '127.0.0.2', 'plain.test': '127.0.0.3', 'blocked.test': '127.0.0.4' };
const lookup: Lookup = async (host) => {
  const address = NAMES[host];
  if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};

/** Answers like an OpenAI chat completion, echoing what reached the provider. */
const completion: Answer = (req, body) => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    id: 'c1',
    object: 'chat.completion',
    model: (JSON.parse(body || '{}') as { model?: string }).model ?? 'm',
    choices: [{ index: 0, message: { role: 'assistant', content: `auth=${req.headers.authorization} proxy-auth=${req.headers['proxy-authorization'] ?? 'none'} host=${req.headers.host}` }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
  }),
});

let tls: Internet & { caFile: string };
let plain: Internet;
let blocked: Internet & { caFile: string };
let proxy: EgressProxy;
let gw: GatewayProcess;
let dir: string;
let ticket: string;
const logs: LogRecord[] = [];

beforeAll(async () => {
  tls = await startTlsInternet('127.0.0.2', 'model.test', completion);
  plain = await startInternet('127.0.0.3', 'plain', completion);
  blocked = await startTlsInternet('127.0.0.4', 'blocked.test', completion);
  proxy = await startEgressProxy({ host: '127.0.0.1', port: 0, keys: [KEY], alwaysAllow: [], denied: deniedRanges({ allowLoopback: true }), lookup, log: (r) => logs.push(r) });
  dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-gateway-egress-'));
  const keyFile = path.join(dir, 'ticket-keys');
  writeFileSync(keyFile, `# current\n${KEY.toString()}\n`);
  // What the worker puts in every container of the attempt's pod: only these two providers are granted.
  const podEnv = egressEnv(
    { proxy: { host: '127.0.0.1', port: proxy.port }, keyFiles: [keyFile] },
    { run: 'run-egress', task: 'T007', attempt: 2, hosts: `model.test:${tls.port},plain.test:${plain.port}`, activeDeadlineSeconds: 600 },
  );
  // The gateway trusts both self-signed servers: only the proxy stands between it and blocked.test.
  writeFileSync(path.join(dir, 'ca.pem'), readFileSync(tls.caFile, 'utf8') + readFileSync(blocked.caFile, 'utf8'));
  ticket = decodeURIComponent(new URL(podEnv.HTTPS_PROXY!).password);
  const gwDir = tempDir('sdlc-gateway-egress-gw-');
  const providerKey = writeKey(gwDir, 'key', PROVIDER_KEY);
  gw = await startGatewayProcess({
    ...podEnv,
    NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem'),
    [AGENT_ENV.GATEWAY_STATE_DIR]: path.join(gwDir, 'state'),
    [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify([
      { id: 'tls', api: 'openai', baseURL: `https://model.test:${tls.port}/v1`, keyFile: providerKey },
      { id: 'plain', api: 'openai', baseURL: `http://plain.test:${plain.port}/v1`, keyFile: providerKey },
      { id: 'blocked', api: 'openai', baseURL: `https://blocked.test:${blocked.port}/v1`, keyFile: providerKey },
    ]),
  });
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  await proxy?.close(0);
  await Promise.all([tls?.stop(), plain?.stop(), blocked?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function chat(provider: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${gw.url}/${provider}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer agent-holds-no-key' },
    body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.status, body: await res.text() };
}

test('https providers are reached through a CONNECT tunnel of the proxy: the key inside TLS, the ticket never at the provider, usage metered', async () => {
  const r = await chat('tls');
  expect(r.status).toBe(200);
  expect(r.body).toContain(`auth=Bearer ${PROVIDER_KEY} proxy-auth=none host=model.test:${tls.port}`);
  expect(tls.seen).toEqual(['POST /v1/chat/completions']);
  expect(proxy.active()).toBe(1); // the tunnel, kept alive for the next call
  await waitFor('the usage of the tunnelled call', () => gw.usage().totalTokens === 18);
});

test('plain http providers go to the proxy as absolute-URI requests; the proxy drops its credential before the provider', async () => {
  const r = await chat('plain');
  expect(r.status).toBe(200);
  expect(r.body).toContain(`proxy-auth=none host=plain.test:${plain.port}`);
  expect(logs.find((l) => l.kind === 'http' && l.host === 'plain.test')).toMatchObject({ decision: 'allow', run: 'run-egress' });
});

test('a provider host the ticket does not grant: refused by the proxy, the agent told why, the server never reached', async () => {
  const r = await chat('blocked');
  expect(r.status).toBe(502);
  expect(r.body).toContain(`egress proxy refused blocked.test:${blocked.port}: 403 (egress to blocked.test:${blocked.port} is not allowed for this run; grant it with: sdlc-runner implement --allow-egress blocked.test:${blocked.port})`);
  expect(blocked.seen).toEqual([]);
  expect(logs.find((l) => l.host === 'blocked.test')).toMatchObject({ decision: 'deny_host', run: 'run-egress' });
  expect(gw.output()).toContain(`upstream https://blocked.test:${blocked.port} failed: egress proxy refused`);
});

test('the proxy logged the tunnel, once closed, under the attempt the worker signed for', async () => {
  await gw.stop();
  await waitFor('the tunnel closed', () => proxy.active() === 0);
  const line = logs.find((l) => l.kind === 'connect' && l.host === 'model.test');
  expect(line).toMatchObject({ decision: 'allow', run: 'run-egress', task: 'T007', port: tls.port, status: 200 });
  expect(JSON.stringify(logs)).not.toContain(ticket);
  expect(gw.output()).not.toContain(ticket);
});
