import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { repoRoot } from '../../src/tools';
import { ANTHROPIC_KEY, GATEWAY, PROVIDER_KEY, startGatewayProcess, tempDir, waitFor, writeKey, type GatewayProcess } from './gateway-harness';

/*
 * The model gateway as a process, spoken to over HTTP, in front of small upstreams that answer the way
 * the providers do (and can hold a response open, to see what passes when).
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports
const meterModule = require(path.join(repoRoot, 'docker', 'agent', 'gateway-meter.js'));

interface UpstreamRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Set once the gateway closed its side (finished or aborted). */
  closed: boolean;
}

interface Upstream {
  baseURL: string;
  requests: UpstreamRequest[];
  stop(): Promise<void>;
}

async function startUpstream(handler: (req: UpstreamRequest, res: http.ServerResponse) => void): Promise<Upstream> {
  const requests: UpstreamRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const r: UpstreamRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, closed: false };
      requests.push(r);
      res.on('close', () => (r.closed = true));
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    requests,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const sse = (payload: unknown, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`;

/** A request through the gateway whose body arrives chunk by chunk; `text()` is what arrived so far. */
function streamRequest(url: string, body: unknown, headers: Record<string, string> = {}) {
  let text = '';
  let status = 0;
  let ended = false;
  let failed: Error | undefined;
  const onData: ((soFar: string) => void)[] = [];
  const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
    status = res.statusCode ?? 0;
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
      for (const f of onData) f(text);
    });
    res.on('end', () => (ended = true));
    res.on('error', (e) => (failed = e));
  });
  req.on('error', (e) => (failed = e));
  req.end(JSON.stringify(body));
  return { text: () => text, status: () => status, ended: () => ended, failed: () => failed, onData: (f: (soFar: string) => void) => onData.push(f), abort: () => req.destroy() };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function gatewayFor(upstream: Upstream, opts: { api?: 'openai' | 'anthropic'; id?: string; extraEnv?: Record<string, string>; headers?: Record<string, string>; stateDir?: string } = {}): Promise<GatewayProcess> {
  const dir = tempDir('sdlc-gateway-http-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const api = opts.api ?? 'openai';
  const key = api === 'anthropic' ? ANTHROPIC_KEY : PROVIDER_KEY;
  const gw = await startGatewayProcess({
    [AGENT_ENV.GATEWAY_STATE_DIR]: opts.stateDir ?? path.join(dir, 'state'),
    [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify([{ id: opts.id ?? api, api, baseURL: upstream.baseURL, keyFile: writeKey(dir, 'key', key), ...(opts.headers ? { headers: opts.headers } : {}) }]),
    ...opts.extraEnv,
  });
  cleanups.push(async () => {
    await gw.stop();
  });
  return gw;
}

async function upstreamFor(handler: Parameters<typeof startUpstream>[0]): Promise<Upstream> {
  const up = await startUpstream(handler);
  cleanups.push(() => up.stop());
  return up;
}

/** Resolves the returned promise's resolver from outside. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

const CHAT_USAGE = { prompt_tokens: 500, completion_tokens: 80, prompt_tokens_details: { cached_tokens: 100 }, completion_tokens_details: { reasoning_tokens: 30 } };

describe('model gateway over HTTP', () => {
  test('an OpenAI stream reaches the client as it arrives (the upstream waits until the client has its first event); usage.json is written before the client sees [DONE]', async () => {
    const released = gate();
    const up = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse({ choices: [{ index: 0, delta: { role: 'assistant', content: 'first' } }] }));
      void released.opened.then(() => {
        res.write(sse({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
        res.write(sse({ choices: [], usage: CHAT_USAGE }));
        res.end(sse('[DONE]'));
      });
    });
    const gw = await gatewayFor(up, { extraEnv: { [AGENT_ENV.GATEWAY_PRICING]: JSON.stringify({ m1: { input: 2, output: 10 } }) } });
    const usageAtDone: unknown[] = [];
    const r = streamRequest(`${gw.url}/openai/v1/chat/completions`, { model: 'm1', stream: true, stream_options: { other: 1 }, messages: [] });
    r.onData((soFar) => {
      if (soFar.includes('[DONE]') && !usageAtDone.length) usageAtDone.push(gw.usage().totalTokens);
    });
    await waitFor('the first event at the client while the upstream holds the rest', () => r.text().includes('"first"'));
    expect(r.text()).not.toContain('[DONE]');
    released.open();
    await waitFor('the end of the stream', () => r.ended());
    expect(usageAtDone).toEqual([580]);
    expect(JSON.parse(up.requests[0]!.body)).toMatchObject({ stream: true, stream_options: { other: 1, include_usage: true } });
    // in = 500 - 100 cached; out = 80 - 30 reasoning; cache read priced as input (no cacheRead price).
    expect(gw.usage()).toMatchObject({ requests: 1, tokens: { input: 400, output: 50, reasoning: 30, cacheRead: 100, cacheWrite: 0 }, totalTokens: 580 });
    expect(gw.usage().cost).toBeCloseTo((400 * 2 + 80 * 10 + 100 * 2) / 1e6, 12);
  });

  test('an Anthropic stream: usage from message_start and the cumulative message_delta, recorded before the client sees message_stop', async () => {
    const released = gate();
    const up = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse({ type: 'message_start', message: { id: 'msg_1', model: 'claude-x', content: [], usage: { input_tokens: 300, cache_read_input_tokens: 1000, cache_creation_input_tokens: 200, output_tokens: 1 } } }, 'message_start'));
      void released.opened.then(() => {
        res.write(sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start'));
        res.write(sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hé' } }, 'content_block_delta'));
        res.write(sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'));
        res.write(sse({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 42 } }, 'message_delta'));
        res.end(sse({ type: 'message_stop' }, 'message_stop'));
      });
    });
    const gw = await gatewayFor(up, { api: 'anthropic' });
    const usageAtStop: unknown[] = [];
    const r = streamRequest(`${gw.url}/anthropic/v1/messages`, { model: 'claude-x', stream: true, max_tokens: 10, messages: [] }, { 'anthropic-version': '2099-01-01', 'anthropic-beta': 'something-2025', 'x-api-key': 'client-key-123456' });
    r.onData((soFar) => {
      if (soFar.includes('message_stop') && !usageAtStop.length) usageAtStop.push(gw.usage().tokens);
    });
    await waitFor('message_start at the client while the upstream holds the rest', () => r.text().includes('message_start'));
    released.open();
    await waitFor('the end of the stream', () => r.ended());
    const tokens = { input: 300, output: 42, reasoning: 0, cacheRead: 1000, cacheWrite: 200 };
    expect(usageAtStop).toEqual([tokens]);
    expect(gw.usage()).toMatchObject({ requests: 1, tokens, totalTokens: 1542, byModel: { 'anthropic/claude-x': { tokens, unpriced: true } } });
    expect(up.requests[0]!.headers).toMatchObject({ 'x-api-key': ANTHROPIC_KEY, 'anthropic-version': '2099-01-01', 'anthropic-beta': 'something-2025' });
    expect(up.requests[0]!.headers.authorization).toBeUndefined();
  });

  test('OpenAI responses API, streamed and not; a gzip answer (a provider ignoring accept-encoding: identity) is passed on compressed and metered', async () => {
    const usage = { input_tokens: 700, input_tokens_details: { cached_tokens: 200 }, output_tokens: 90, output_tokens_details: { reasoning_tokens: 60 } };
    const up = await upstreamFor((req, res) => {
      const body = JSON.parse(req.body) as { stream?: boolean };
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(sse({ type: 'response.created', response: { id: 'resp_1', model: 'gpt-r', status: 'in_progress', usage: null } }, 'response.created'));
        res.write(sse({ type: 'response.output_text.delta', delta: 'ok' }, 'response.output_text.delta'));
        res.end(sse({ type: 'response.completed', response: { id: 'resp_1', model: 'gpt-r', status: 'completed', usage } }, 'response.completed'));
        return;
      }
      const json = Buffer.from(JSON.stringify({ id: 'resp_2', object: 'response', model: 'gpt-r', output: [], usage }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(zlib.gzipSync(json));
    });
    const gw = await gatewayFor(up);
    const streamed = streamRequest(`${gw.url}/openai/v1/responses`, { model: 'gpt-r', stream: true, input: 'hi' });
    await waitFor('the streamed response', () => streamed.ended());
    expect(streamed.text()).toContain('response.completed');
    const plain = await fetch(`${gw.url}/openai/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-r', input: 'hi' }) });
    expect(plain.headers.get('content-encoding')).toBe('gzip');
    expect(await plain.json()).toMatchObject({ id: 'resp_2', usage });
    expect(up.requests.map((r) => [r.url, r.headers['accept-encoding']])).toEqual([['/v1/responses', 'identity'], ['/v1/responses', 'identity']]);
    const one = { input: 500, output: 30, reasoning: 60, cacheRead: 200, cacheWrite: 0 };
    expect(gw.usage()).toMatchObject({ requests: 2, unmetered: 0, tokens: { input: 1000, output: 60, reasoning: 120, cacheRead: 400, cacheWrite: 0 }, totalTokens: 2 * 790 });
    expect(gw.output()).toContain(`openai/gpt-r: in=${one.input} out=${one.output} reasoning=60 cache r/w=200/0`);
  });

  test('keys: the client\'s credentials are dropped, the provider\'s set; an upstream error that echoes the key reaches the client masked; neither output nor state files hold it', async () => {
    const up = await upstreamFor((req, res) => {
      const sent = String(req.headers.authorization ?? '');
      const body = JSON.stringify({ error: { message: `Incorrect API key provided: ${sent.replace(/^Bearer /, '')} (base64 ${Buffer.from(sent).toString('base64')})`, type: 'invalid_request_error', code: 'invalid_api_key' } });
      res.writeHead(401, { 'content-type': 'application/json', 'set-cookie': 'upstream=1' });
      res.end(body);
    });
    const gw = await gatewayFor(up, { headers: { 'OpenAI-Organization': 'org-from-config' } });
    const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer client-own-secret-123456',
        'x-api-key': 'client-x-api-key-123456',
        'openai-organization': 'org-from-agent',
        'proxy-authorization': 'Basic Y2xpZW50OnNlY3JldA==',
        'x-session-token': 'client-session-token-1234',
        'x-custom': 'kept',
      },
      body: JSON.stringify({ model: 'gpt-x', messages: [] }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    const text = await res.text();
    expect(text).toContain('[REDACTED]');
    expect(text).not.toContain(PROVIDER_KEY);
    expect(text).not.toContain(Buffer.from(`Bearer ${PROVIDER_KEY}`).toString('base64').slice(12, 40));
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'invalid_api_key' } });

    const h = up.requests[0]!.headers;
    expect(h.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(h['openai-organization']).toBe('org-from-config');
    expect(h['x-custom']).toBe('kept');
    for (const dropped of ['x-api-key', 'proxy-authorization', 'x-session-token']) expect(h[dropped]).toBeUndefined();
    expect(JSON.stringify(h)).not.toMatch(/client-own-secret|client-x-api-key|client-session-token|org-from-agent/);

    expect(gw.usage()).toMatchObject({ requests: 1, errors: 1, unmetered: 0, totalTokens: 0 });
    expect(gw.output()).toContain('[sdlc-gateway] openai/gpt-x: provider answered HTTP 401');
    const files = readdirSync(gw.stateDir).map((f) => readFileSync(path.join(gw.stateDir, f), 'utf8'));
    for (const written of [gw.output(), ...files]) {
      expect(written).not.toContain(PROVIDER_KEY);
      expect(written).not.toContain(Buffer.from(PROVIDER_KEY).toString('base64'));
    }
  });

  test('routes: only the model endpoints are forwarded (404 in the API\'s own shape for anything else); models and count_tokens pass unmetered; /healthz', async () => {
    const up = await upstreamFor((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url.startsWith('/v1/messages/count_tokens') ? { input_tokens: 12 } : { object: 'list', data: [{ id: 'm' }] }));
    });
    const gw = await gatewayFor(up, { api: 'anthropic', id: 'claude' });
    const post = (p: string, body: unknown = { model: 'm' }) => fetch(`${gw.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const unknownProvider = await post('/openai/v1/chat/completions');
    expect(unknownProvider.status).toBe(404);
    expect(await unknownProvider.json()).toMatchObject({ error: { type: 'not_found', code: 'not_found' } });
    for (const p of ['/claude/v1/chat/completions', '/claude/v1/files', '/claude/v1/messages/batches', '/claude/v1/organizations/api_keys']) {
      const r = await post(p);
      expect([p, r.status]).toEqual([p, 404]);
      expect(await r.json()).toMatchObject({ type: 'error', error: { type: 'not_found' } });
    }
    expect((await fetch(`${gw.url}/claude/v1/messages`)).status).toBe(404); // GET
    const bad = await post('/claude/v1/messages', { messages: [] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(up.requests).toEqual([]);

    const models = await fetch(`${gw.url}/claude/v1/models?limit=5`, { headers: { 'x-api-key': 'client-key-123456' } });
    expect(await models.json()).toMatchObject({ data: [{ id: 'm' }] });
    const counted = await post('/claude/v1/messages/count_tokens', { model: 'm', messages: [] });
    expect(await counted.json()).toEqual({ input_tokens: 12 });
    expect(up.requests.map((r) => [r.method, r.url, r.headers['x-api-key']])).toEqual([
      ['GET', '/v1/models?limit=5', ANTHROPIC_KEY],
      ['POST', '/v1/messages/count_tokens', ANTHROPIC_KEY],
    ]);
    expect(gw.usage()).toMatchObject({ requests: 0, refused: 0, totalTokens: 0 });
    const health = await fetch(`${gw.url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
  });

  test('with a cost budget, a model without a price is refused before it is forwarded (its cost could not be counted)', async () => {
    const up = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 5 } }));
    });
    const gw = await gatewayFor(up, { extraEnv: { [AGENT_ENV.GATEWAY_PRICING]: JSON.stringify({ 'openai/priced': { input: 1, output: 2 } }), [AGENT_ENV.GATEWAY_BUDGET]: JSON.stringify({ maxCost: 1 }) } });
    const post = (model: string) => fetch(`${gw.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [] }) });
    const refused = await post('unpriced');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { type: 'model_not_priced', code: 'model_not_priced', message: expect.stringContaining('openai/unpriced has no price') } });
    const priced = await post('priced');
    expect([priced.status, await priced.json()]).toEqual([200, expect.objectContaining({ usage: { prompt_tokens: 10, completion_tokens: 5 } })]);
    expect(up.requests.map((r) => JSON.parse(r.body).model)).toEqual(['priced']);
    expect(gw.usage()).toMatchObject({ requests: 1, refused: 1, totalTokens: 15, budget: { maxTokens: null, maxCost: 1 } });
    expect(gw.usage().cost).toBeCloseTo((10 + 10) / 1e6, 12);
  });

  test('an Anthropic refusal has Anthropic\'s error shape; a restarted gateway continues the task\'s usage.json (the budget is not reset)', async () => {
    const up = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'message', content: [], usage: { input_tokens: 800, output_tokens: 400 } }));
    });
    const dir = tempDir('sdlc-gateway-restart-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const stateDir = path.join(dir, 'state');
    const budget = { [AGENT_ENV.GATEWAY_BUDGET]: JSON.stringify({ maxTokens: 1000 }) };
    const post = (gw: GatewayProcess) => fetch(`${gw.url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'c', max_tokens: 5, messages: [] }) });

    const first = await gatewayFor(up, { api: 'anthropic', stateDir, extraEnv: budget });
    const answered = await post(first);
    expect([answered.status, await answered.json()]).toEqual([200, expect.objectContaining({ type: 'message' })]);
    expect(await first.stop()).toEqual({ code: 0, signal: null });

    const second = await gatewayFor(up, { api: 'anthropic', stateDir, extraEnv: budget });
    expect(second.output()).toContain('continuing the task\'s usage');
    const refused = await post(second);
    expect(refused.status).toBe(402);
    expect(refused.headers.get('retry-after-ms')).toBe('50');
    expect(await refused.json()).toEqual({ type: 'error', error: { type: 'budget_exceeded', message: 'task budget exhausted: 1200 of 1000 tokens used' } });
    expect(up.requests.length).toBe(1);
    expect(second.usage()).toMatchObject({ requests: 1, refused: 1, totalTokens: 1200, exceeded: { limit: 'tokens', used: 1200, max: 1000 } });
  });

  test('a client that goes away mid-stream: the upstream request is aborted too, and what the stream reported so far is counted', async () => {
    const up = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse({ type: 'message_start', message: { id: 'msg_1', model: 'c', content: [], usage: { input_tokens: 640, output_tokens: 1 } } }, 'message_start'));
      // …and never more
    });
    const gw = await gatewayFor(up, { api: 'anthropic' });
    const r = streamRequest(`${gw.url}/anthropic/v1/messages`, { model: 'c', stream: true, max_tokens: 5, messages: [] });
    await waitFor('message_start at the client', () => r.text().includes('message_start'));
    r.abort();
    await waitFor('the upstream request to be closed by the gateway', () => up.requests[0]?.closed);
    await waitFor('the partial response in usage.json', () => gw.usage().requests === 1);
    expect(gw.usage()).toMatchObject({ requests: 1, unmetered: 0, tokens: { input: 640, output: 1 } });
  });

  test('SIGTERM: stops accepting, finishes the response in flight (and counts it), exits 0', async () => {
    const released = gate();
    const up = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse({ choices: [{ index: 0, delta: { content: 'partial' } }] }));
      void released.opened.then(() => {
        res.write(sse({ choices: [], usage: { prompt_tokens: 21, completion_tokens: 4 } }));
        res.end(sse('[DONE]'));
      });
    });
    const gw = await gatewayFor(up);
    const r = streamRequest(`${gw.url}/openai/v1/chat/completions`, { model: 'm', stream: true, messages: [] });
    await waitFor('the stream to start', () => r.text().includes('partial'));
    gw.child.kill('SIGTERM');
    await waitFor('the gateway to stop listening', () => gw.output().includes('stopping: 1 request(s) in flight'));
    await expect(fetch(`${gw.url}/healthz`)).rejects.toThrow();
    released.open();
    await waitFor('the response in flight to complete', () => r.ended());
    expect(r.text()).toContain('[DONE]');
    expect(await gw.exited).toEqual({ code: 0, signal: null });
    expect(gw.usage()).toMatchObject({ requests: 1, totalTokens: 25 });
    expect(gw.output()).toContain('[sdlc-gateway] stopped; task total 25 tokens, $0 in 1 request(s)');
  });

  test.each([
    ['no providers', {}, 'config_error: SDLC_GATEWAY_PROVIDERS is required'],
    ['an unknown api', { [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify([{ id: 'x', api: 'gemini', baseURL: 'http://127.0.0.1:1', keyFile: '/k' }]) }, 'SDLC_GATEWAY_PROVIDERS[0].api must be "openai" or "anthropic"'],
    ['credentials in the base URL', { [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify([{ id: 'x', api: 'openai', baseURL: 'https://user:pw-secret-123@api.example.test/v1', keyFile: '/k' }]) }, 'must not hold credentials'],
    ['a missing key file', { [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify([{ id: 'x', api: 'openai', baseURL: 'http://127.0.0.1:1/v1', keyFile: '/nonexistent/sdlc-key' }]) }, "the key file of provider 'x' cannot be read: /nonexistent/sdlc-key (ENOENT)"],
    ['a zero budget', { [AGENT_ENV.GATEWAY_BUDGET]: '{"maxTokens":0}' }, 'SDLC_GATEWAY_BUDGET.maxTokens must be a positive number'],
    ['a bad listen address', { [AGENT_ENV.GATEWAY_LISTEN]: 'localhost' }, 'SDLC_GATEWAY_LISTEN must be host:port'],
  ])('config error (%s): exit 30 with the reason, before listening', async (_what, env, reason) => {
    const dir = tempDir('sdlc-gateway-cfg-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const keyFile = writeKey(dir, 'key', PROVIDER_KEY);
    const base = 'SDLC_GATEWAY_PROVIDERS' in env || _what === 'no providers' ? {} : { [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify([{ id: 'x', api: 'openai', baseURL: 'http://127.0.0.1:1/v1', keyFile }]) };
    const child = spawn(process.execPath, [GATEWAY], { env: { PATH: process.env.PATH, [AGENT_ENV.GATEWAY_STATE_DIR]: path.join(dir, 'state'), [AGENT_ENV.GATEWAY_LISTEN]: '127.0.0.1:0', ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(AGENT_EXIT.CONFIG_ERROR);
    expect(out).toContain(reason);
    expect(out).not.toContain('pw-secret-123');
    expect(out).not.toContain('listening');
  });
});

describe('model gateway: metering units', () => {
  const { UsageMeter } = meterModule;

  test('an event stream split at every byte (CRLF line ends, a multi-byte character cut in two) is read the same', () => {
    const stream = Buffer.from(
      [
        sse({ type: 'message_start', message: { model: 'c', usage: { input_tokens: 11, cache_read_input_tokens: 7, output_tokens: 1 } } }, 'message_start'),
        sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'héllo €' } }, 'content_block_delta'),
        ': a comment\n\n',
        sse({ type: 'message_delta', usage: { output_tokens: 9 } }, 'message_delta'),
        sse({ type: 'message_delta', usage: { output_tokens: 13, input_tokens: 12 } }, 'message_delta'),
        sse({ type: 'message_stop' }, 'message_stop'),
      ].join('').replace(/\n/g, '\r\n'),
    );
    const meter = new UsageMeter('messages', true);
    for (let i = 0; i < stream.length; i++) meter.push(stream.subarray(i, i + 1));
    expect(meter.complete).toBe(true);
    meter.end();
    expect(meter.usage).toEqual({ input: 12, output: 13, reasoning: 0, cacheRead: 7, cacheWrite: 0 });
    expect(meter.responseModel).toBe('c');
  });

  test('OpenAI chat: a server repeating a running usage in every chunk is read by its last one; no usage at all stays undefined', () => {
    const meter = new UsageMeter('chat', true);
    meter.push(Buffer.from(sse({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 1 } }) + sse({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 6 } })));
    expect(meter.complete).toBe(false);
    meter.push(Buffer.from(sse('[DONE]')));
    expect(meter.complete).toBe(true);
    expect(meter.usage).toEqual({ input: 5, output: 6, reasoning: 0, cacheRead: 0, cacheWrite: 0 });
    const none = new UsageMeter('chat', true);
    none.push(Buffer.from(sse({ choices: [{ delta: { content: 'x' } }] }) + sse('[DONE]')));
    none.end();
    expect(none.usage).toBeUndefined();
  });
});
