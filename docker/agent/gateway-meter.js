'use strict';
/**
 * The model gateway's metering (model-gateway.js): reading token usage out of provider responses as
 * they pass through, streamed (server-sent events) or not, and pricing it. Node builtins only.
 *
 * Tokens are counted in five disjoint kinds, the same as OpenCode's step_finish and the result line:
 * - input: prompt tokens not read from or written to the cache;
 * - cacheRead / cacheWrite: prompt tokens read from / written to the provider's prompt cache;
 * - output: completion tokens other than reasoning;
 * - reasoning: the completion's reasoning tokens (OpenAI reports them inside completion_tokens).
 * Their sum is what a token budget counts. OpenAI's prompt_tokens include the cached ones, Anthropic's
 * input_tokens exclude the cache's, so the split differs per API; the sum is the tokens billed.
 */
const { StringDecoder } = require('node:string_decoder');

const TOKEN_KINDS = ['input', 'output', 'reasoning', 'cacheRead', 'cacheWrite'];

function zeroTokens() {
  return { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
}

function count(v) {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.round(v) : 0;
}

function totalOf(tokens) {
  return TOKEN_KINDS.reduce((sum, k) => sum + tokens[k], 0);
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** OpenAI chat completions `usage` (prompt_tokens, completion_tokens and their details). */
function fromOpenAIChatUsage(u) {
  if (!isObject(u)) return undefined;
  const prompt = count(u.prompt_tokens);
  const completion = count(u.completion_tokens);
  const cached = Math.min(prompt, count(u.prompt_tokens_details?.cached_tokens));
  const reasoning = Math.min(completion, count(u.completion_tokens_details?.reasoning_tokens));
  return { input: prompt - cached, output: completion - reasoning, reasoning, cacheRead: cached, cacheWrite: 0 };
}

/** OpenAI responses API `usage` (input_tokens, output_tokens and their details). */
function fromOpenAIResponsesUsage(u) {
  if (!isObject(u)) return undefined;
  const prompt = count(u.input_tokens);
  const completion = count(u.output_tokens);
  const cached = Math.min(prompt, count(u.input_tokens_details?.cached_tokens));
  const reasoning = Math.min(completion, count(u.output_tokens_details?.reasoning_tokens));
  return { input: prompt - cached, output: completion - reasoning, reasoning, cacheRead: cached, cacheWrite: 0 };
}

/** Anthropic messages `usage`: input_tokens exclude the cache's tokens, output_tokens include thinking. */
function fromAnthropicUsage(u) {
  if (!isObject(u)) return undefined;
  return {
    input: count(u.input_tokens),
    output: count(u.output_tokens),
    reasoning: 0,
    cacheRead: count(u.cache_read_input_tokens),
    cacheWrite: count(u.cache_creation_input_tokens),
  };
}

/**
 * Server-sent events, fed chunk by chunk: calls onEvent(name, data) for each complete event (data
 * lines joined with '\n'). Bytes are decoded as UTF-8 across chunk boundaries.
 */
class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.decoder = new StringDecoder('utf8');
    this.buf = '';
  }

  push(chunk) {
    this.buf += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let m;
    while ((m = /\r\n\r\n|\n\n|\r\r/.exec(this.buf))) {
      const block = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.dispatch(block);
    }
    // A provider that never ends an event must not make the gateway hold an unbounded buffer.
    if (this.buf.length > 16 * 1024 * 1024) this.buf = '';
  }

  end() {
    this.buf += this.decoder.end();
    if (this.buf.trim()) this.dispatch(this.buf);
    this.buf = '';
  }

  dispatch(block) {
    let name = 'message';
    const data = [];
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line.startsWith(':')) continue;
      const idx = line.indexOf(':');
      const field = idx < 0 ? line : line.slice(0, idx);
      let value = idx < 0 ? '' : line.slice(idx + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') name = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) this.onEvent(name, data.join('\n'));
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Larger non-streamed bodies are passed on but not metered (no provider answers that much JSON). */
const MAX_METERED_BODY = 32 * 1024 * 1024;

/**
 * Reads one response's usage as its bytes pass: `push(chunk)` for every chunk (in order), `end()` when
 * the body ended. `usage` is the tokens the response reported so far (undefined: none), `complete` turns
 * true at the stream's terminal event ([DONE], response.completed, message_stop) or at the end of a
 * non-streamed body: from then on the response's usage is final.
 * @param {'chat'|'responses'|'messages'} kind the endpoint
 * @param {boolean} streamed the response is text/event-stream
 */
class UsageMeter {
  constructor(kind, streamed) {
    this.kind = kind;
    this.streamed = streamed;
    this.usage = undefined;
    this.complete = false;
    this.responseModel = undefined;
    if (streamed) {
      this.anthropic = {};
      this.sse = new SseParser((name, data) => this.onEvent(name, data));
    } else {
      this.chunks = [];
      this.size = 0;
    }
  }

  push(chunk) {
    if (this.sse) {
      this.sse.push(chunk);
      return;
    }
    this.size += chunk.length;
    if (this.size <= MAX_METERED_BODY) this.chunks.push(chunk);
  }

  end() {
    if (this.sse) {
      this.sse.end();
    } else if (this.size <= MAX_METERED_BODY) {
      const body = parseJson(Buffer.concat(this.chunks).toString('utf8'));
      this.chunks = [];
      if (isObject(body)) {
        if (typeof body.model === 'string') this.responseModel = body.model;
        this.usage = this.kind === 'chat' ? fromOpenAIChatUsage(body.usage) : this.kind === 'responses' ? fromOpenAIResponsesUsage(body.usage) : fromAnthropicUsage(body.usage);
      }
    }
    this.complete = true;
  }

  onEvent(name, data) {
    if (this.kind === 'chat' && data.trim() === '[DONE]') {
      this.complete = true;
      return;
    }
    const ev = parseJson(data);
    if (!isObject(ev)) return;
    if (this.kind === 'chat') {
      if (typeof ev.model === 'string') this.responseModel = ev.model;
      // The usage chunk comes last (stream_options.include_usage); a server that repeats a running usage in every chunk is read by its last one.
      const u = fromOpenAIChatUsage(ev.usage);
      if (u) this.usage = u;
    } else if (this.kind === 'responses') {
      const type = typeof ev.type === 'string' ? ev.type : name;
      if (isObject(ev.response) && typeof ev.response.model === 'string') this.responseModel = ev.response.model;
      if (/^response\.(completed|incomplete|failed)$/.test(type)) {
        const u = fromOpenAIResponsesUsage(ev.response?.usage);
        if (u) this.usage = u;
        this.complete = true;
      }
    } else {
      // Anthropic: message_start carries the prompt's usage (and an output count of 1 or so);
      // message_delta's usage fields are cumulative and replace those they name.
      const type = typeof ev.type === 'string' ? ev.type : name;
      let fields;
      if (type === 'message_start' && isObject(ev.message)) {
        if (typeof ev.message.model === 'string') this.responseModel = ev.message.model;
        fields = ev.message.usage;
      } else if (type === 'message_delta') {
        fields = ev.usage;
      } else if (type === 'message_stop') {
        this.complete = true;
      }
      if (isObject(fields)) {
        for (const [k, v] of Object.entries(fields)) if (typeof v === 'number') this.anthropic[k] = v;
        this.usage = fromAnthropicUsage(this.anthropic);
      }
    }
  }
}

/**
 * The pricing table (SDLC_GATEWAY_PRICING): USD per million tokens, per model id. A model is looked up
 * as `<provider>/<model>`, then `<model>`, then `*`. cacheRead and cacheWrite default to the input price.
 * @returns {{input:number, output:number, cacheRead:number, cacheWrite:number} | undefined}
 */
function priceFor(pricing, providerId, model) {
  const entry = pricing[`${providerId}/${model}`] ?? pricing[model] ?? pricing['*'];
  if (!entry) return undefined;
  return { input: entry.input, output: entry.output, cacheRead: entry.cacheRead ?? entry.input, cacheWrite: entry.cacheWrite ?? entry.input };
}

/** USD for these tokens; reasoning is billed as output. */
function costOf(tokens, price) {
  if (!price) return 0;
  return (
    tokens.input * price.input +
    (tokens.output + tokens.reasoning) * price.output +
    tokens.cacheRead * price.cacheRead +
    tokens.cacheWrite * price.cacheWrite
  ) / 1e6;
}

module.exports = {
  TOKEN_KINDS,
  zeroTokens,
  totalOf,
  UsageMeter,
  SseParser,
  priceFor,
  costOf,
  fromOpenAIChatUsage,
  fromOpenAIResponsesUsage,
  fromAnthropicUsage,
};
