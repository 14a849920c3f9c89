#!/usr/bin/env node
'use strict';
/**
 * The model gateway: the agent pod's `gateway` container (its own uid; the only container that mounts
 * the LLM provider keys). OpenCode in the agent container talks to it over the pod's loopback as if it
 * were the provider; the gateway forwards each request with the provider's real key, meters the tokens
 * of every response and keeps the task inside its token and cost budget. The agent holds no key.
 * Node builtins only: it runs in the agent image. `node model-gateway.js`, or startGateway(env).
 *
 * ## Environment (src/contract/agent-env.ts; the gateway container only)
 * - SDLC_GATEWAY_PROVIDERS (required): JSON array, one entry per provider:
 *     {"id":"openai","api":"openai","baseURL":"https://api.openai.com/v1","keyFile":"/var/run/secrets/sdlc-llm/openai"}
 *     {"id":"anthropic","api":"anthropic","baseURL":"https://api.anthropic.com/v1","keyFile":"/var/run/secrets/sdlc-llm/anthropic"}
 *   id: [A-Za-z0-9_-], the first path segment clients use; api: "openai" or "anthropic" (the wire
 *   format); baseURL: the API's base as its SDKs take it (http: allowed; a bare origin gets /v1; no
 *   credentials in it); keyFile: the mounted Secret file with the key — a relative path is taken in
 *   SDLC_GATEWAY_KEYS_DIR (default /var/run/secrets/sdlc-llm) — (read on every request, so a
 *   rotated Secret applies; surrounding whitespace ignored); headers (optional): extra static headers
 *   for that provider (e.g. OpenAI-Organization); never authorization headers.
 * - SDLC_GATEWAY_KEYS_DIR: the directory relative keyFiles are in (the mounted provider-keys Secret).
 * - SDLC_GATEWAY_LISTEN: host:port (default 127.0.0.1:4318; port 0 = any free port, see gateway.json).
 * - SDLC_GATEWAY_PRICING: JSON {"<model>": {"input":3,"output":15,"cacheRead":0.3,"cacheWrite":3.75}, "*": {...}}:
 *   USD per million tokens; looked up as "<provider id>/<model>", then "<model>", then "*"; cacheRead and
 *   cacheWrite default to the input price. The model is the request's `model`. No table: cost 0.
 * - SDLC_GATEWAY_BUDGET: JSON {"maxTokens": 200000, "maxCost": 5} (either or both; USD; unset = no limit).
 *   Tokens count all five kinds (gateway-meter.js). With a maxCost, a request for a model the pricing
 *   table has no price for is refused (model_not_priced): its cost could not be counted.
 *   (One JSON variable, not SDLC_GATEWAY_MAX_TOKENS: redact.js treats the value of any variable whose
 *   name contains TOKEN as a secret, and would mask the number in every log line.)
 * - SDLC_GATEWAY_STATE_DIR: the trusted state directory (default /sdlc-gateway): an emptyDir the
 *   gateway writes and publish reads (read-only); the agent container must not mount it.
 * - SDLC_GATEWAY_READY_FILE (optional): a second path for gateway.json, e.g. in the workspace, so the
 *   agent's supervisor can wait for the gateway (its content is not a secret and not trusted by anyone).
 * - SDLC_TASK_ID, SDLC_RUN_ID, SDLC_ATTEMPT (optional): copied into usage.json's `task`.
 *
 * ## Routes (client baseURL http://127.0.0.1:4318/<id>/v1)
 * openai:    POST /<id>/v1/chat/completions, POST /<id>/v1/responses (metered), GET /<id>/v1/models[/<model>]
 * anthropic: POST /<id>/v1/messages (metered), POST /<id>/v1/messages/count_tokens, GET /<id>/v1/models[/<model>]
 * (the /v1 is optional; the query string is passed on). GET /healthz answers 200. Anything else: 404 —
 * the key opens no other endpoint (files, batches, fine-tuning, admin) to the agent.
 * The client's authorization headers (Authorization, x-api-key, anything naming a key, token, secret,
 * auth or cookie) are dropped; the gateway sets the provider's own: OpenAI `Authorization: Bearer <key>`,
 * Anthropic `x-api-key: <key>` and `anthropic-version` (the client's, default 2023-06-01). Streamed
 * chat completions get `stream_options.include_usage: true`, so the last chunk carries the usage.
 * Responses pass through as they arrive; an upstream error body is passed on with the key masked.
 *
 * ## Files in SDLC_GATEWAY_STATE_DIR (written atomically: tmp file + rename; mode 0644)
 * - gateway.json, once listening (a stale one is removed at start): {"v":1,"url":"http://127.0.0.1:4318",
 *   "host","port","pid","providers":[{"id","api","baseURL":"<url>/<id>/v1"}]}; also at SDLC_GATEWAY_READY_FILE.
 * - usage.json, at start and after every metered response and every refusal:
 *     {"v":1, "task":{"id","runId","attempt"}, "requests":N, "errors":N, "unmetered":N, "refused":N,
 *      "tokens":{"input","output","reasoning","cacheRead","cacheWrite"}, "totalTokens":N, "cost":USD,
 *      "byModel":{"<provider>/<model>":{"requests","tokens":{…},"totalTokens","cost","errors"?,"unmetered"?,"unpriced"?}},
 *      "budget":{"maxTokens":N|null,"maxCost":USD|null},
 *      "exceeded"?:{"limit":"tokens"|"cost","used":N,"max":N,"at":ISO}, "updatedAt":ISO}
 *   requests: metered requests forwarded and answered (any status); errors: those answered with an
 *   error status (nothing billed); unmetered: 2xx answers that carried no usage (a stream cut short
 *   before its usage, a provider ignoring include_usage) — the totals are then a lower bound; a response
 *   cut short counts what it reported so far. usage.json is written before the client has a response's
 *   last event (or last byte), so the next request is checked against it. exceeded: set when the totals
 *   reach a limit (tokens checked first); from then on every metered request is refused (refused counts
 *   them, and model_not_priced refusals). A usage.json already there at start (the container restarted)
 *   is continued, not reset; exceeded is recomputed against the current budget.
 *
 * ## Budget refusal
 * Checked before forwarding: once a limit is reached the request is answered at once, HTTP 402,
 *   OpenAI:    {"error":{"type":"budget_exceeded","code":"budget_exceeded","param":null,"message":"task budget exhausted: 10234 of 10000 tokens used"}}
 *   Anthropic: {"type":"error","error":{"type":"budget_exceeded","message":"task budget exhausted: $5.0132 of $5 spent"}}
 * 402, not 429: OpenCode (and most SDKs) retry a 429 — five more refusals with back-off (~1 min)
 * before the agent hears of it. OpenCode also retries any error whose text contains "429", "500", …
 * (a figure can), so the refusal carries `retry-after-ms: 50`, which keeps such retries short.
 * Requests in flight when a limit is crossed complete and are counted.
 *
 * ## Output
 * stdout: `[sdlc-gateway] openai/gpt-x: in=… out=… cost $… (task total … tokens, $…)` per response,
 * refusals, budget and upstream errors; everything through redact.js with the keys registered.
 * SIGTERM/SIGINT: stop accepting, finish the requests in flight, write usage.json, exit 0.
 * Exit 30 (config_error) when the environment or a key file is unusable at start.
 */
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const zlib = require('node:zlib');
const { ENV, EXIT } = require('./contract');
const { Redactor } = require('./redact');
const { writeJson, readJson } = require('./handoff');
const { requestFor } = require('./proxy-agent');
const { UsageMeter, TOKEN_KINDS, zeroTokens, totalOf, priceFor, costOf } = require('./gateway-meter');

const DEFAULT_LISTEN = '127.0.0.1:4318';
const DEFAULT_STATE_DIR = '/sdlc-gateway';
const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';
const BUDGET_STATUS = 402;
/** OpenCode waits this long before retrying a refusal it takes for a transient error (see above). */
const REFUSAL_RETRY_AFTER_MS = '50';
const MAX_REQUEST_BODY = 64 * 1024 * 1024;
const MAX_ERROR_BODY = 1024 * 1024;

class GatewayConfigError extends Error {}

// ---------------------------------------------------------------------------------------------------
// Configuration

function parseJsonEnv(env, name) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new GatewayConfigError(`${name} is not valid JSON: ${err.message}`);
  }
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseListen(raw) {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m || Number(m[3]) > 65535) throw new GatewayConfigError(`${ENV.GATEWAY_LISTEN} must be host:port (e.g. ${DEFAULT_LISTEN}), got '${raw}'`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) };
}

/** Where relative keyFiles are looked up (SDLC_GATEWAY_KEYS_DIR). */
const DEFAULT_KEYS_DIR = '/var/run/secrets/sdlc-llm';

const FORBIDDEN_HEADER = /auth|api[-_]?key|token|secret|cookie|^host$|^content-length$|^connection$|^transfer-encoding$/i;

function parseProviders(env) {
  const name = ENV.GATEWAY_PROVIDERS;
  const list = parseJsonEnv(env, name);
  if (list === undefined) throw new GatewayConfigError(`${name} is required`);
  if (!Array.isArray(list) || list.length === 0) throw new GatewayConfigError(`${name} must be a non-empty JSON array of providers`);
  const providers = new Map();
  for (const [i, p] of list.entries()) {
    const where = `${name}[${i}]`;
    if (!isObject(p)) throw new GatewayConfigError(`${where} is not an object`);
    if (typeof p.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(p.id)) throw new GatewayConfigError(`${where}.id must match [A-Za-z0-9][A-Za-z0-9_-]*`);
    if (providers.has(p.id)) throw new GatewayConfigError(`${where}.id '${p.id}' is not unique`);
    if (p.api !== 'openai' && p.api !== 'anthropic') throw new GatewayConfigError(`${where}.api must be "openai" or "anthropic"`);
    let base;
    try {
      base = new URL(p.baseURL);
    } catch {
      throw new GatewayConfigError(`${where}.baseURL is not a URL`);
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new GatewayConfigError(`${where}.baseURL must be http(s)`);
    if (base.username || base.password) throw new GatewayConfigError(`${where}.baseURL must not hold credentials (use keyFile)`);
    if (base.search || base.hash) throw new GatewayConfigError(`${where}.baseURL must not have a query or fragment`);
    let basePath = base.pathname.replace(/\/+$/, '');
    if (basePath === '') basePath = '/v1';
    if (typeof p.keyFile !== 'string' || p.keyFile === '') throw new GatewayConfigError(`${where}.keyFile is required (the path of the mounted key)`);
    const headers = {};
    if (p.headers !== undefined) {
      if (!isObject(p.headers)) throw new GatewayConfigError(`${where}.headers must be an object`);
      for (const [h, v] of Object.entries(p.headers)) {
        if (typeof v !== 'string' || FORBIDDEN_HEADER.test(h)) throw new GatewayConfigError(`${where}.headers.${h} is not allowed (string values only, no auth headers)`);
        headers[h.toLowerCase()] = v;
      }
    }
    // A relative keyFile names a key in the mounted keys directory (the chart's form: the Secret's key).
    const keyFile = path.resolve(env[ENV.GATEWAY_KEYS_DIR] || DEFAULT_KEYS_DIR, p.keyFile);
    let send;
    try {
      // Through the pod's egress proxy when the worker gave it one (HTTPS_PROXY with the attempt's ticket).
      send = requestFor(base, env);
    } catch (err) {
      throw new GatewayConfigError(`${where}: ${err.message}`);
    }
    providers.set(p.id, { id: p.id, api: p.api, origin: base.origin, basePath, baseURL: `${base.origin}${basePath}`, keyFile, headers, send });
  }
  return providers;
}

function nonNegative(v) {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function parsePricing(env) {
  const name = ENV.GATEWAY_PRICING;
  const table = parseJsonEnv(env, name) ?? {};
  if (!isObject(table)) throw new GatewayConfigError(`${name} must be a JSON object of model id → prices`);
  for (const [model, price] of Object.entries(table)) {
    const ok = isObject(price) && nonNegative(price.input) && nonNegative(price.output) &&
      (price.cacheRead === undefined || nonNegative(price.cacheRead)) && (price.cacheWrite === undefined || nonNegative(price.cacheWrite));
    if (!ok) throw new GatewayConfigError(`${name}["${model}"] must be {input, output, cacheRead?, cacheWrite?}, non-negative USD per million tokens`);
  }
  return table;
}

function parseBudget(env) {
  const name = ENV.GATEWAY_BUDGET;
  const budget = parseJsonEnv(env, name) ?? {};
  if (!isObject(budget)) throw new GatewayConfigError(`${name} must be a JSON object {maxTokens?, maxCost?}`);
  const unknown = Object.keys(budget).filter((k) => k !== 'maxTokens' && k !== 'maxCost');
  if (unknown.length) throw new GatewayConfigError(`${name} has unknown fields: ${unknown.join(', ')}`);
  const positive = (v, what) => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new GatewayConfigError(`${name}.${what} must be a positive number`);
    return v;
  };
  return { maxTokens: positive(budget.maxTokens, 'maxTokens'), maxCost: positive(budget.maxCost, 'maxCost') };
}

function loadGatewayConfig(env) {
  return {
    listen: parseListen(env[ENV.GATEWAY_LISTEN] || DEFAULT_LISTEN),
    providers: parseProviders(env),
    pricing: parsePricing(env),
    budget: parseBudget(env),
    stateDir: path.resolve(env[ENV.GATEWAY_STATE_DIR] || DEFAULT_STATE_DIR),
    readyFile: env[ENV.GATEWAY_READY_FILE] ? path.resolve(env[ENV.GATEWAY_READY_FILE]) : undefined,
    task: {
      ...(env[ENV.TASK_ID] ? { id: env[ENV.TASK_ID] } : {}),
      ...(env[ENV.RUN_ID] ? { runId: env[ENV.RUN_ID] } : {}),
      ...(env[ENV.ATTEMPT] ? { attempt: Number(env[ENV.ATTEMPT]) || env[ENV.ATTEMPT] } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Routes and the API's own error shapes

/** What a path after /<id> is for this API, or undefined (404). */
function routeFor(api, method, rest) {
  const p = rest.replace(/^\/v1(?=\/|$)/, '') || '/';
  if (method === 'GET' && /^\/models(\/[^/]+)?$/.test(p)) return { path: p, kind: 'models', metered: false };
  if (method !== 'POST') return undefined;
  if (api === 'openai' && p === '/chat/completions') return { path: p, kind: 'chat', metered: true };
  if (api === 'openai' && p === '/responses') return { path: p, kind: 'responses', metered: true };
  if (api === 'anthropic' && p === '/messages') return { path: p, kind: 'messages', metered: true };
  if (api === 'anthropic' && p === '/messages/count_tokens') return { path: p, kind: 'count_tokens', metered: false };
  return undefined;
}

function errorBody(api, type, message) {
  return api === 'anthropic'
    ? { type: 'error', error: { type, message } }
    : { error: { type, code: type, param: null, message } };
}

function sendError(res, api, status, type, message, headers = {}) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(api, type, message));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function formatUsd(v) {
  return `$${Number(v.toFixed(6))}`;
}

function budgetMessage(reached) {
  return reached.limit === 'tokens'
    ? `task budget exhausted: ${reached.used} of ${reached.max} tokens used`
    : `task budget exhausted: ${formatUsd(reached.used)} of ${formatUsd(reached.max)} spent`;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'proxy-authorization']);
/** Client headers never passed on: credentials of any name, and what the gateway sets itself. */
const DROPPED_REQUEST_HEADER = /auth|api[-_]?key|token|secret|cookie|session|^host$|^content-length$|^accept-encoding$|^expect$|^forwarded$|^via$|^x-forwarded-|^x-real-ip$|^openai-organization$|^openai-project$/i;

function upstreamHeaders(provider, incoming, key, bodyLength) {
  const out = {};
  for (const [name, value] of Object.entries(incoming)) {
    const n = name.toLowerCase();
    if (HOP_BY_HOP.has(n) || DROPPED_REQUEST_HEADER.test(n) || value === undefined) continue;
    out[n] = value;
  }
  Object.assign(out, provider.headers);
  // The meter reads the body: ask for it uncompressed (a provider that compresses anyway is decoded for the meter).
  out['accept-encoding'] = 'identity';
  if (bodyLength !== undefined) out['content-length'] = String(bodyLength);
  if (provider.api === 'anthropic') {
    out['x-api-key'] = key;
    if (!out['anthropic-version']) out['anthropic-version'] = DEFAULT_ANTHROPIC_VERSION;
  } else {
    out.authorization = `Bearer ${key}`;
  }
  return out;
}

function responseHeaders(incoming) {
  const out = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (HOP_BY_HOP.has(name) || name === 'set-cookie' || value === undefined) continue;
    out[name] = value;
  }
  return out;
}

function decoderFor(encoding) {
  switch ((encoding || '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      return null; // unknown: not metered
  }
}

// ---------------------------------------------------------------------------------------------------
// The gateway

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { tooLarge: true }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function round(v, digits = 10) {
  return Number(v.toFixed(digits));
}

/**
 * Starts the gateway. Resolves once it listens and gateway.json is written.
 * @param {Record<string,string|undefined>} env
 * @param {{ out?: (line: string) => void }} [opts] where progress lines go (default stdout)
 * @returns {Promise<{ url: string, port: number, host: string, stateDir: string, usage: () => object, stop: () => Promise<void> }>}
 */
async function startGateway(env, opts = {}) {
  const cfg = loadGatewayConfig(env);
  const redactor = new Redactor();
  // Our own variables are not secrets (and a number masked everywhere would garble the lines).
  redactor.addSecretsFromEnv(Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('SDLC_GATEWAY_'))));
  const write = opts.out ?? ((line) => process.stdout.write(`${line}\n`));
  const say = (line) => write(`[sdlc-gateway] ${redactor.redact(line)}`);

  const keyOf = (provider) => {
    let key;
    try {
      key = fs.readFileSync(provider.keyFile, 'utf8').trim();
    } catch (err) {
      throw new GatewayConfigError(`the key file of provider '${provider.id}' cannot be read: ${provider.keyFile} (${err.code || err.message})`);
    }
    if (!key) throw new GatewayConfigError(`the key file of provider '${provider.id}' is empty: ${provider.keyFile}`);
    if (/[\r\n]/.test(key)) throw new GatewayConfigError(`the key file of provider '${provider.id}' holds more than one line: ${provider.keyFile}`);
    redactor.addSecret(key);
    return key;
  };
  for (const provider of cfg.providers.values()) keyOf(provider); // fail at start, not at the first request

  try {
    fs.mkdirSync(cfg.stateDir, { recursive: true });
    fs.accessSync(cfg.stateDir, fs.constants.W_OK);
    // A gateway.json left by an earlier process must not send anyone to its port.
    for (const stale of [path.join(cfg.stateDir, 'gateway.json'), cfg.readyFile]) if (stale) fs.rmSync(stale, { force: true });
  } catch (err) {
    throw new GatewayConfigError(`${ENV.GATEWAY_STATE_DIR} ${cfg.stateDir} is not a writable directory (${err.code || err.message})`);
  }
  const usageFile = path.join(cfg.stateDir, 'usage.json');
  const state = {
    v: 1,
    task: cfg.task,
    requests: 0,
    errors: 0,
    unmetered: 0,
    refused: 0,
    tokens: zeroTokens(),
    totalTokens: 0,
    cost: 0,
    byModel: {},
    budget: cfg.budget,
    exceeded: undefined,
    updatedAt: new Date().toISOString(),
  };
  let earlier;
  try {
    earlier = readJson(usageFile);
  } catch {
    earlier = undefined;
  }
  if (isObject(earlier) && earlier.v === 1 && isObject(earlier.tokens)) {
    for (const k of ['requests', 'errors', 'unmetered', 'refused']) if (Number.isSafeInteger(earlier[k]) && earlier[k] >= 0) state[k] = earlier[k];
    for (const k of TOKEN_KINDS) if (Number.isSafeInteger(earlier.tokens[k]) && earlier.tokens[k] >= 0) state.tokens[k] = earlier.tokens[k];
    state.totalTokens = totalOf(state.tokens);
    if (nonNegative(earlier.cost)) state.cost = earlier.cost;
    if (isObject(earlier.byModel)) state.byModel = earlier.byModel;
    say(`continuing the task's usage from ${usageFile}: ${state.totalTokens} tokens, ${formatUsd(state.cost)}`);
  }
  const saveUsage = () => {
    state.updatedAt = new Date().toISOString();
    const out = { ...state, cost: round(state.cost) };
    if (!out.exceeded) delete out.exceeded;
    writeJson(usageFile, out, 0o644);
  };

  /** The limit the totals have reached, if any (tokens first). */
  const reachedLimit = () => {
    const { maxTokens, maxCost } = cfg.budget;
    if (maxTokens !== null && state.totalTokens >= maxTokens) return { limit: 'tokens', used: state.totalTokens, max: maxTokens };
    if (maxCost !== null && state.cost >= maxCost) return { limit: 'cost', used: round(state.cost), max: maxCost };
    return undefined;
  };
  const noteLimit = () => {
    if (state.exceeded) return;
    const reached = reachedLimit();
    if (!reached) return;
    state.exceeded = { ...reached, at: new Date().toISOString() };
    say(`task ${reached.limit} budget reached: ${budgetMessage(reached).replace(/^task budget exhausted: /, '')}; further model requests are refused`);
  };
  noteLimit();
  saveUsage();

  /** Counts one answered metered request. */
  const record = (provider, model, status, tokens) => {
    const name = `${provider.id}/${model}`;
    const entry = (state.byModel[name] ??= { requests: 0, tokens: zeroTokens(), totalTokens: 0, cost: 0 });
    state.requests++;
    entry.requests++;
    if (!tokens && status >= 400) {
      state.errors++;
      entry.errors = (entry.errors ?? 0) + 1;
    } else if (!tokens) {
      state.unmetered++;
      entry.unmetered = (entry.unmetered ?? 0) + 1;
      say(`${name}: HTTP ${status} without usage; not metered (task total ${state.totalTokens} tokens, ${formatUsd(state.cost)})`);
    } else {
      const price = priceFor(cfg.pricing, provider.id, model);
      const cost = costOf(tokens, price);
      if (!price) entry.unpriced = true;
      for (const k of TOKEN_KINDS) {
        state.tokens[k] += tokens[k];
        entry.tokens[k] += tokens[k];
      }
      state.totalTokens = totalOf(state.tokens);
      entry.totalTokens = totalOf(entry.tokens);
      state.cost += cost;
      entry.cost = round(entry.cost + cost);
      const extra = [tokens.reasoning ? ` reasoning=${tokens.reasoning}` : '', tokens.cacheRead || tokens.cacheWrite ? ` cache r/w=${tokens.cacheRead}/${tokens.cacheWrite}` : ''].join('');
      say(`${name}: in=${tokens.input} out=${tokens.output}${extra} cost ${formatUsd(cost)}${price ? '' : ' (no price)'}${status >= 400 ? ` (HTTP ${status})` : ''} (task total ${state.totalTokens} tokens, ${formatUsd(state.cost)})`);
    }
    noteLimit();
    saveUsage();
  };

  let stopping = false;
  const inFlight = new Set();
  const idleWaiters = [];
  const settle = (token) => {
    inFlight.delete(token);
    if (inFlight.size === 0) while (idleWaiters.length) idleWaiters.shift()();
  };

  async function handle(req, res) {
    const url = new URL(req.url || '/', 'http://gateway.invalid');
    if (req.method === 'GET' && url.pathname === '/healthz') {
      res.writeHead(stopping ? 503 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: stopping ? 'stopping' : 'ok' }));
      return;
    }
    const m = /^\/([^/]+)(\/.*)?$/.exec(url.pathname);
    const provider = m ? cfg.providers.get(m[1]) : undefined;
    if (!provider) {
      sendError(res, 'openai', 404, 'not_found', `no provider for ${url.pathname}; the gateway serves /<provider>/v1/... for ${[...cfg.providers.keys()].join(', ')}`);
      return;
    }
    const route = routeFor(provider.api, req.method, m[2] || '/');
    if (!route) {
      sendError(res, provider.api, 404, 'not_found', `the gateway does not forward ${req.method} ${url.pathname}`);
      return;
    }
    if (stopping) {
      sendError(res, provider.api, 503, 'gateway_stopping', 'the model gateway is shutting down', { connection: 'close' });
      return;
    }

    let body;
    try {
      body = await readBody(req, MAX_REQUEST_BODY);
    } catch (err) {
      if (err.tooLarge) sendError(res, provider.api, 413, 'request_too_large', `request body over ${MAX_REQUEST_BODY} bytes`, { connection: 'close' });
      return;
    }
    let model;
    if (route.metered || route.kind === 'count_tokens') {
      let json;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        json = undefined;
      }
      if (!isObject(json) || typeof json.model !== 'string' || json.model === '') {
        sendError(res, provider.api, 400, 'invalid_request_error', 'the request body must be a JSON object with a "model"');
        return;
      }
      model = json.model;
      if (route.metered) {
        const reached = reachedLimit();
        if (reached) {
          const message = budgetMessage(reached);
          state.refused++;
          noteLimit();
          saveUsage();
          say(`${provider.id}/${model}: refused, ${message}`);
          sendError(res, provider.api, BUDGET_STATUS, 'budget_exceeded', message, { 'retry-after-ms': REFUSAL_RETRY_AFTER_MS });
          return;
        }
        if (cfg.budget.maxCost !== null && !priceFor(cfg.pricing, provider.id, model)) {
          state.refused++;
          saveUsage();
          const message = `model ${provider.id}/${model} has no price in ${ENV.GATEWAY_PRICING}, so the task's cost budget cannot be kept`;
          say(`${provider.id}/${model}: refused, ${message}`);
          sendError(res, provider.api, 400, 'model_not_priced', message);
          return;
        }
        if (route.kind === 'chat' && json.stream === true) {
          json.stream_options = { ...(isObject(json.stream_options) ? json.stream_options : {}), include_usage: true };
          body = Buffer.from(JSON.stringify(json));
        }
      }
    }

    let key;
    try {
      key = keyOf(provider);
    } catch (err) {
      say(err.message);
      sendError(res, provider.api, 502, 'gateway_error', `the model gateway has no usable key for provider '${provider.id}'`);
      return;
    }
    await forward(req, res, provider, route, model, url.search, body, key);
  }

  function forward(req, res, provider, route, model, search, body, key) {
    return new Promise((resolve) => {
      const target = new URL(`${provider.origin}${provider.basePath}${route.path}${search}`);
      const upstream = provider.send(target, { method: req.method, headers: upstreamHeaders(provider, req.headers, key, req.method === 'GET' ? undefined : body.length) });
      let finished = false;
      let recorded = false;
      let meter;
      const done = () => {
        if (finished) return;
        finished = true;
        resolve();
      };
      const recordOnce = (status) => {
        if (recorded || !route.metered) return;
        recorded = true;
        record(provider, model, status, meter?.usage);
      };
      // The client went away (OpenCode aborted): stop the provider generating (and billing) further.
      res.on('close', () => {
        if (!res.writableFinished) {
          upstream.destroy();
          recordOnce(res.statusCode || 499);
          done();
        }
      });
      upstream.on('error', (err) => {
        if (finished) return;
        const why = err.code === 'EPROXYREFUSED' ? err.message : err.code || err.message;
        say(`${provider.id}${model ? `/${model}` : ''}: upstream ${target.origin} failed: ${why}`);
        if (res.headersSent) {
          recordOnce(res.statusCode);
          res.destroy();
        } else {
          sendError(res, provider.api, 502, 'upstream_error', `the model gateway could not reach provider '${provider.id}': ${err.code === 'EPROXYREFUSED' ? err.message : err.code || 'connection failed'}`);
        }
        done();
      });
      upstream.on('response', (up) => {
        const status = up.statusCode || 502;
        const headers = responseHeaders(up.headers);
        if (status >= 400) {
          // An error body is small: read it whole and mask the key before the agent sees it (some providers echo part of it).
          relayError(up, res, status, headers, provider, model, recordOnce, done);
          return;
        }
        const streamed = /text\/event-stream/i.test(String(up.headers['content-type'] || ''));
        const decoder = route.metered ? decoderFor(up.headers['content-encoding']) : undefined;
        if (route.metered && decoder !== null) meter = new UsageMeter(route.kind, streamed);
        if (decoder) decoder.on('data', (c) => meter.push(c)).on('error', () => { meter = undefined; });
        res.writeHead(status, headers);
        res.flushHeaders();
        // Usage is counted before the client has the response's last byte, so its next request is checked
        // against it: a stream's at its terminal event; a plain body's last chunk waits for its end.
        let held;
        up.on('data', (chunk) => {
          if (meter && !decoder) {
            meter.push(chunk);
            if (meter.complete) recordOnce(status);
          } else if (decoder) {
            decoder.write(chunk);
          }
          if (streamed || !route.metered) {
            res.write(chunk);
          } else {
            if (held) res.write(held);
            held = chunk;
          }
        });
        up.on('end', () => {
          const finish = () => {
            if (meter) meter.end();
            recordOnce(status);
            if (held) res.write(held);
            res.end(done);
          };
          if (decoder) decoder.end(finish);
          else finish();
        });
        up.on('error', () => {
          recordOnce(status);
          res.destroy();
          done();
        });
      });
      if (req.method === 'GET') upstream.end();
      else upstream.end(body);
    });
  }

  function relayError(up, res, status, headers, provider, model, recordOnce, done) {
    const chunks = [];
    let size = 0;
    up.on('data', (c) => {
      size += c.length;
      if (size <= MAX_ERROR_BODY) chunks.push(c);
    });
    up.on('error', () => {
      recordOnce(status);
      res.destroy();
      done();
    });
    up.on('end', () => {
      let raw = Buffer.concat(chunks);
      const enc = String(up.headers['content-encoding'] || '').toLowerCase();
      try {
        if (enc === 'gzip' || enc === 'x-gzip') raw = zlib.gunzipSync(raw);
        else if (enc === 'deflate') raw = zlib.inflateSync(raw);
        else if (enc === 'br') raw = zlib.brotliDecompressSync(raw);
      } catch {
        raw = Buffer.from('');
      }
      const text = redactor.redact(raw.toString('utf8'));
      const out = { ...headers };
      delete out['content-encoding'];
      delete out['content-length'];
      out['content-length'] = Buffer.byteLength(text);
      say(`${provider.id}${model ? `/${model}` : ''}: provider answered HTTP ${status}`);
      recordOnce(status);
      res.writeHead(status, out);
      res.end(text, done);
    });
  }

  const server = http.createServer((req, res) => {
    const token = {};
    inFlight.add(token);
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      settle(token);
    };
    res.on('close', finish);
    handle(req, res).catch((err) => {
      say(`internal error: ${err && err.message}`);
      if (!res.headersSent) sendError(res, 'openai', 500, 'gateway_error', 'internal error in the model gateway');
      else res.destroy();
    }).finally(() => {
      if (res.writableFinished || res.destroyed) finish();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.requestTimeout = 0; // streams of a long answer may take many minutes
  server.headersTimeout = 60_000;

  await new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new GatewayConfigError(`cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${err.code || err.message}`)));
    server.listen(cfg.listen.port, cfg.listen.host, resolve);
  });
  const address = server.address();
  const hostForUrl = address.family === 'IPv6' || address.family === 6 ? `[${address.address}]` : address.address;
  const url = `http://${hostForUrl}:${address.port}`;
  const ready = {
    v: 1,
    url,
    host: address.address,
    port: address.port,
    pid: process.pid,
    providers: [...cfg.providers.values()].map((p) => ({ id: p.id, api: p.api, baseURL: `${url}/${p.id}/v1` })),
  };
  writeJson(path.join(cfg.stateDir, 'gateway.json'), ready, 0o644);
  if (cfg.readyFile) {
    try {
      writeJson(cfg.readyFile, ready, 0o644);
    } catch (err) {
      server.close();
      throw new GatewayConfigError(`${ENV.GATEWAY_READY_FILE} ${cfg.readyFile} cannot be written (${err.code || err.message})`);
    }
  }
  const budgetText = [cfg.budget.maxTokens !== null ? `${cfg.budget.maxTokens} tokens` : '', cfg.budget.maxCost !== null ? formatUsd(cfg.budget.maxCost) : ''].filter(Boolean).join(', ') || 'none';
  say(`listening on ${url} for ${[...cfg.providers.values()].map((p) => `${p.id} (${p.api}, ${p.baseURL})`).join(', ')}; task budget: ${budgetText}`);

  let stopped;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      say(`stopping: ${inFlight.size} request(s) in flight`);
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      if (inFlight.size) await new Promise((resolve) => idleWaiters.push(resolve));
      server.closeAllConnections();
      await closed;
      saveUsage();
      say(`stopped; task total ${state.totalTokens} tokens, ${formatUsd(state.cost)} in ${state.requests} request(s)${state.refused ? `, ${state.refused} refused` : ''}`);
    })();
    return stopped;
  };

  return { url, host: address.address, port: address.port, stateDir: cfg.stateDir, usage: () => JSON.parse(JSON.stringify(state)), stop };
}

function main() {
  const started = startGateway(process.env);
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      started.then((gw) => gw.stop()).then(() => process.exit(0), () => process.exit(0));
    });
  }
  started.then(
    () => undefined,
    (err) => {
      if (err instanceof GatewayConfigError) {
        const redactor = new Redactor();
        process.stdout.write(`[sdlc-gateway] config_error: ${redactor.redact(err.message)}\n`, () => process.exit(EXIT.CONFIG_ERROR));
      } else {
        process.stderr.write(`[sdlc-gateway] internal error: ${err && err.stack ? err.stack : String(err)}\n`, () => process.exit(1));
      }
    },
  );
}

if (require.main === module) main();

module.exports = { startGateway, loadGatewayConfig, GatewayConfigError, routeFor, BUDGET_STATUS, main };
