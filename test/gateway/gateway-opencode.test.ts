import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { repoRoot } from '../../src/tools';
import {
  anthropicProviderConfig,
  scriptedProviderConfig,
  SCRIPTED_MODEL_ID,
  startModelServer,
  type ModelServer,
  type ScriptedUsage,
  type Turn,
} from '../support/model-server';
import { AGENT_DUMMY_KEY, ANTHROPIC_KEY, PROVIDER_KEY, runOpencodeWith, startGatewayProcess, tempDir, writeKey, type GatewayProcess, type Usage } from './gateway-harness';

/*
 * The real `opencode run` (the way the agent phase runs it) talks to the model gateway as if it were the
 * provider; the gateway forwards to the scripted model with the key from its key file and meters every
 * response. OpenCode is given a dummy key only.
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { EventTracker } = require(path.join(repoRoot, 'docker', 'agent', 'events.js'));

/** The gateway's split of a scripted usage (gateway-meter.js): five disjoint kinds. */
function expectedTokens(usages: ScriptedUsage[]): Usage['tokens'] {
  const t = { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
  for (const u of usages) {
    t.input += u.prompt - (u.cachedPrompt ?? 0) - (u.cacheWrite ?? 0);
    t.output += u.completion - (u.reasoning ?? 0);
    t.reasoning += u.reasoning ?? 0;
    t.cacheRead += u.cachedPrompt ?? 0;
    t.cacheWrite += u.cacheWrite ?? 0;
  }
  return t;
}

/** OpenCode's own totals from its step_finish events. */
function opencodeTotals(events: Record<string, unknown>[]): { tokens: Usage['tokens']; cost: number } {
  const tracker = new EventTracker(() => undefined);
  for (const e of events) tracker.handle(e);
  return { tokens: tracker.tokens, cost: tracker.cost };
}

const sum = (t: Usage['tokens']) => t.input + t.output + t.reasoning + t.cacheRead + t.cacheWrite;

interface Setup {
  model: ModelServer;
  gw: GatewayProcess;
  dir: string;
}

const open: Setup[] = [];

async function setup(opts: {
  turns: Turn[];
  usage?: ScriptedUsage;
  api: 'openai' | 'anthropic';
  budget?: { maxTokens?: number; maxCost?: number };
  pricing?: Record<string, unknown>;
}): Promise<Setup> {
  const model = await startModelServer({ turns: opts.turns, usage: opts.usage, streamUsage: 'whenRequested' });
  const dir = tempDir('sdlc-gateway-test-');
  const key = opts.api === 'anthropic' ? ANTHROPIC_KEY : PROVIDER_KEY;
  const providers = [{ id: opts.api === 'anthropic' ? 'anthropic' : 'scripted', api: opts.api, baseURL: model.baseURL, keyFile: writeKey(dir, 'provider-key', key) }];
  const gw = await startGatewayProcess({
    [AGENT_ENV.GATEWAY_STATE_DIR]: path.join(dir, 'gateway-state'),
    [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify(providers),
    ...(opts.pricing ? { [AGENT_ENV.GATEWAY_PRICING]: JSON.stringify(opts.pricing) } : {}),
    ...(opts.budget ? { [AGENT_ENV.GATEWAY_BUDGET]: JSON.stringify(opts.budget) } : {}),
    [AGENT_ENV.TASK_ID]: 'T012',
    [AGENT_ENV.RUN_ID]: 'run-7f3a',
    [AGENT_ENV.ATTEMPT]: '2',
  });
  const s = { model, gw, dir };
  open.push(s);
  return s;
}

afterEach(async () => {
  for (const s of open.splice(0)) {
    await s.gw.stop();
    await s.model.stop();
    rmSync(s.dir, { recursive: true, force: true });
  }
});

/** Nothing the gateway wrote or printed holds a provider key. */
function expectNoKeys(s: Setup): void {
  const written = [s.gw.output(), readFileSync(path.join(s.gw.stateDir, 'usage.json'), 'utf8'), readFileSync(path.join(s.gw.stateDir, 'gateway.json'), 'utf8')].join('\n');
  for (const key of [PROVIDER_KEY, ANTHROPIC_KEY, Buffer.from(PROVIDER_KEY).toString('base64'), Buffer.from(ANTHROPIC_KEY).toString('base64')]) {
    expect(written.includes(key)).toBe(false);
  }
}

/** Keeps asking for a tool call (a different command each time: OpenCode denies identical repeats). */
const endlessToolCalls = (n: number): Turn[] => Array.from({ length: n }, (_, i) => ({ toolCalls: [{ name: 'bash', args: { command: `echo step ${i}`, description: `step ${i}` } }] }));

const PRICES = { input: 3, output: 15, cacheRead: 0, cacheWrite: 0 }; // what scriptedProviderConfig tells OpenCode (no cache prices)

describe('model gateway: the real OpenCode through it', () => {
  test('OpenAI-compatible: the provider gets the gateway\'s key, never the agent\'s; streamed requests ask for usage; usage.json sums every response, streamed or not', async () => {
    const turns: Turn[] = [
      { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome!\n' } }], usage: { prompt: 1200, completion: 340, cachedPrompt: 400, reasoning: 40 } },
      { toolCalls: [{ name: 'bash', args: { command: 'cat welcome.txt', description: 'check' } }], usage: { prompt: 1900, completion: 120, cachedPrompt: 1100 } },
      { text: 'Wrote welcome.txt.', usage: { prompt: 2100, completion: 60, reasoning: 25 } },
      // answered to the non-streamed request below
      { text: 'plain answer', usage: { prompt: 77, completion: 11 } },
    ];
    const s = await setup({ turns, api: 'openai', pricing: { [SCRIPTED_MODEL_ID]: PRICES } });
    const run = await runOpencodeWith({
      config: scriptedProviderConfig(`${s.gw.url}/scripted/v1`),
      model: `scripted/${SCRIPTED_MODEL_ID}`,
      prompt: 'Create welcome.txt',
      env: { SCRIPTED_MODEL_API_KEY: AGENT_DUMMY_KEY },
    });
    expect({ errors: run.errors, last: run.lastFinishReason, exit: run.exitCode }).toEqual({ errors: [], last: 'stop', exit: 0 });

    // A client that sends credentials of its own, not streaming.
    const res = await fetch(`${s.gw.url}/scripted/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-own-secret-123456', 'x-api-key': 'client-x-api-key-123456', cookie: 'session=abcdef123456' },
      body: JSON.stringify({ model: SCRIPTED_MODEL_ID, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ choices: [{ message: { content: 'plain answer' } }], usage: { prompt_tokens: 77 } });

    const requests = s.model.requests;
    expect(requests.length).toBeGreaterThanOrEqual(4);
    expect(requests.map((r) => r.authorization)).toEqual(requests.map(() => `Bearer ${PROVIDER_KEY}`));
    const seen = JSON.stringify(requests.map((r) => r.headers));
    for (const foreign of [AGENT_DUMMY_KEY, 'client-own-secret', 'client-x-api-key', 'session=']) expect(seen).not.toContain(foreign);
    expect(requests.every((r) => r.headers['x-api-key'] === undefined && r.headers.cookie === undefined)).toBe(true);
    // OpenCode does not ask for usage in streams (the scripted model, like OpenAI, then sends none): the gateway asks.
    const streamed = requests.filter((r) => r.body.stream === true);
    expect(streamed.length).toBe(requests.length - 1);
    expect(streamed.map((r) => r.body.stream_options)).toEqual(streamed.map(() => ({ include_usage: true })));

    const answered = requests.map((r) => r.usage).filter((u): u is ScriptedUsage => u !== undefined);
    expect(answered.length).toBe(requests.length);
    const usage = s.gw.usage();
    const tokens = expectedTokens(answered);
    const cost = (tokens.input * 3 + (tokens.output + tokens.reasoning) * 15) / 1e6;
    expect(usage).toMatchObject({
      v: 1,
      task: { id: 'T012', runId: 'run-7f3a', attempt: 2 },
      requests: requests.length,
      errors: 0,
      unmetered: 0,
      refused: 0,
      tokens,
      totalTokens: sum(tokens),
      budget: { maxTokens: null, maxCost: null },
      byModel: { [`scripted/${SCRIPTED_MODEL_ID}`]: { requests: requests.length, tokens } },
    });
    expect(usage.cost).toBeCloseTo(cost, 10);
    expect(usage.exceeded).toBeUndefined();

    // The gateway and OpenCode count the streamed responses alike (OpenCode saw all but the fetch above).
    const oc = opencodeTotals(run.events);
    const fetched = expectedTokens([{ prompt: 77, completion: 11 }]);
    expect(oc.tokens).toEqual({
      input: tokens.input - fetched.input, output: tokens.output - fetched.output, reasoning: tokens.reasoning, cacheRead: tokens.cacheRead, cacheWrite: 0,
    });
    expect(oc.cost).toBeCloseTo(cost - (77 * 3 + 11 * 15) / 1e6, 10);

    expect(s.gw.output()).toMatch(new RegExp(`\\[sdlc-gateway\\] scripted/${SCRIPTED_MODEL_ID}: in=800 out=300 reasoning=40 cache r/w=400/0 cost \\$[0-9.]+ \\(task total 1540 tokens, \\$[0-9.]+\\)`));
    expectNoKeys(s);
  });

  test('Anthropic-compatible (OpenCode\'s @ai-sdk/anthropic): x-api-key is the gateway\'s, anthropic-version kept; message_start + cumulative message_delta usage metered, and a non-streamed message', async () => {
    const turns: Turn[] = [
      { toolCalls: [{ name: 'write', args: { filePath: 'hello.txt', content: 'hi\n' } }], usage: { prompt: 900, completion: 120, cachedPrompt: 300, cacheWrite: 100 } },
      { text: 'done', usage: { prompt: 1000, completion: 50, cachedPrompt: 600 } },
      { text: 'plain', usage: { prompt: 40, completion: 9, cacheWrite: 15 } },
    ];
    const s = await setup({ turns, api: 'anthropic', pricing: { '*': PRICES } });
    const run = await runOpencodeWith({
      config: anthropicProviderConfig(`${s.gw.url}/anthropic/v1`),
      model: `scripted-anthropic/${SCRIPTED_MODEL_ID}`,
      prompt: 'write hello',
      env: { SCRIPTED_MODEL_API_KEY: AGENT_DUMMY_KEY },
    });
    expect({ errors: run.errors, last: run.lastFinishReason, exit: run.exitCode }).toEqual({ errors: [], last: 'stop', exit: 0 });

    const res = await fetch(`${s.gw.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'client-x-api-key-123456', 'anthropic-version': '2023-06-01', authorization: 'Bearer client-own-secret-123456' },
      body: JSON.stringify({ model: SCRIPTED_MODEL_ID, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'plain' }], usage: { input_tokens: 25, cache_creation_input_tokens: 15 } });

    const requests = s.model.requests;
    expect(requests.map((r) => r.path)).toEqual(requests.map(() => '/v1/messages'));
    expect(requests.map((r) => [r.headers['x-api-key'], r.headers['anthropic-version'], r.authorization])).toEqual(requests.map(() => [ANTHROPIC_KEY, '2023-06-01', undefined]));
    expect(JSON.stringify(requests.map((r) => r.headers))).not.toMatch(/agent-holds-no-key|client-own-secret|client-x-api-key/);
    expect(requests.filter((r) => r.body.stream === true).length).toBe(requests.length - 1);

    const answered = requests.map((r) => r.usage).filter((u): u is ScriptedUsage => u !== undefined);
    expect(answered.length).toBe(requests.length);
    const tokens = expectedTokens(answered);
    const usage = s.gw.usage();
    expect(usage).toMatchObject({ requests: requests.length, unmetered: 0, tokens, totalTokens: sum(tokens) });
    expect(usage.cost).toBeCloseTo((tokens.input * 3 + tokens.output * 15) / 1e6, 10);
    const oc = opencodeTotals(run.events);
    expect(oc.tokens).toEqual({ input: tokens.input - 25, output: tokens.output - 9, reasoning: 0, cacheRead: tokens.cacheRead, cacheWrite: tokens.cacheWrite - 15 });
    expectNoKeys(s);
  });

  test('token budget: the request after the crossing is refused in the API\'s shape; OpenCode ends with an error event naming the budget; usage.json says exceeded with the figures', async () => {
    const s = await setup({ turns: endlessToolCalls(12), usage: { prompt: 1000, completion: 200 }, api: 'openai', budget: { maxTokens: 3000 } });
    const run = await runOpencodeWith({ config: scriptedProviderConfig(`${s.gw.url}/scripted/v1`), model: `scripted/${SCRIPTED_MODEL_ID}`, prompt: 'keep going', env: { SCRIPTED_MODEL_API_KEY: AGENT_DUMMY_KEY } });

    // Three answers (1200 tokens each) cross 3000; the fourth request never reaches the model.
    expect(s.model.turnsServed()).toBe(3);
    expect(s.model.requests.length).toBe(3);
    const message = 'task budget exhausted: 3600 of 3000 tokens used';
    const errors = run.events.filter((e) => e.type === 'error');
    expect(errors).toEqual([expect.objectContaining({
      error: { name: 'APIError', data: expect.objectContaining({ message, statusCode: 402, isRetryable: false, responseBody: JSON.stringify({ error: { type: 'budget_exceeded', code: 'budget_exceeded', param: null, message } }) }) },
    })]);
    expect(run.lines).toContain(`error: APIError: ${message}`);
    expect(run.exitCode).not.toBe(0);
    // The agent's verdict (events.js) reports it.
    const tracker = new EventTracker(() => undefined);
    for (const e of run.events) tracker.handle(e);
    expect(tracker.verdict({ exitCode: run.exitCode, signal: null, endedByWatchdogAfterFinish: false })).toEqual({ ok: false, reason: `OpenCode reported an error: APIError: ${message}` });

    const usage = s.gw.usage();
    expect(usage).toMatchObject({ requests: 3, refused: 1, totalTokens: 3600, budget: { maxTokens: 3000, maxCost: null }, exceeded: { limit: 'tokens', used: 3600, max: 3000 } });
    expect(s.gw.output()).toContain('[sdlc-gateway] task tokens budget reached: 3600 of 3000 tokens used; further model requests are refused');
    expect(s.gw.output()).toContain(`[sdlc-gateway] scripted/${SCRIPTED_MODEL_ID}: refused, ${message}`);
    expectNoKeys(s);
  });

  test('cost budget with a pricing table: refused once the task spent it; exceeded says cost and the dollars', async () => {
    // $3 and $15 per million: 1000 in + 200 out = $0.006 a response; the third reaches $0.018 >= $0.015.
    const s = await setup({ turns: endlessToolCalls(12), usage: { prompt: 1000, completion: 200 }, api: 'openai', budget: { maxCost: 0.015 }, pricing: { [`scripted/${SCRIPTED_MODEL_ID}`]: { input: 3, output: 15 } } });
    const run = await runOpencodeWith({ config: scriptedProviderConfig(`${s.gw.url}/scripted/v1`), model: `scripted/${SCRIPTED_MODEL_ID}`, prompt: 'keep going', env: { SCRIPTED_MODEL_API_KEY: AGENT_DUMMY_KEY } });

    expect(s.model.requests.length).toBe(3);
    const message = 'task budget exhausted: $0.018 of $0.015 spent';
    expect(run.errors).toEqual([`APIError: ${message}`]);
    expect(run.events.filter((e) => e.type === 'error')).toEqual([expect.objectContaining({ error: expect.objectContaining({ data: expect.objectContaining({ statusCode: 402, message }) }) })]);
    const usage = s.gw.usage();
    expect(usage).toMatchObject({ requests: 3, refused: 1, totalTokens: 3600, budget: { maxTokens: null, maxCost: 0.015 }, exceeded: { limit: 'cost', used: 0.018, max: 0.015 } });
    expect(usage.cost).toBeCloseTo(0.018, 10);
    expectNoKeys(s);
  });

  test('a refusal whose figures contain "500" is one OpenCode 1.18.33 takes for a transient error (its retry patterns): five quick retries, all refused, then the same error event', async () => {
    const s = await setup({ turns: endlessToolCalls(12), usage: { prompt: 1000, completion: 250 }, api: 'openai', budget: { maxTokens: 2500 } });
    const started = Date.now();
    const run = await runOpencodeWith({ config: scriptedProviderConfig(`${s.gw.url}/scripted/v1`), model: `scripted/${SCRIPTED_MODEL_ID}`, prompt: 'keep going', env: { SCRIPTED_MODEL_API_KEY: AGENT_DUMMY_KEY } });
    const elapsed = Date.now() - started;

    expect(s.model.requests.length).toBe(2);
    expect(run.errors).toEqual(['APIError: task budget exhausted: 2500 of 2500 tokens used']);
    // retry-after-ms: 50 keeps the retries short (OpenCode's own back-off would be 2, 4, 8, 16, 30 s).
    expect(s.gw.usage()).toMatchObject({ requests: 2, refused: 6, exceeded: { limit: 'tokens', used: 2500, max: 2500 } });
    expect(elapsed).toBeLessThan(60_000);
  });
});
