import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A scripted OpenAI-compatible model on 127.0.0.1: `/v1/chat/completions` replays a scenario, one
 * turn per agent request, streaming (SSE chunks like OpenAI) or not, as the client asks. OpenCode
 * reaches it through a provider entry (`npm: @ai-sdk/openai-compatible`, `options.baseURL`).
 * `/v1/messages` replays the same scenario as Anthropic's Messages API (message_start, content_block_*,
 * message_delta, message_stop; or one JSON message), for `npm: @ai-sdk/anthropic` (anthropicProviderConfig).
 */
export type ToolCall =
  | { name: 'write'; args: { filePath: string; content: string } }
  | { name: 'edit'; args: { filePath: string; oldString: string; newString: string; replaceAll?: boolean } }
  | { name: 'bash'; args: { command: string; description: string; timeout?: number } }
  | { name: string; args: Record<string, unknown> };

/**
 * Token usage of one answer. `prompt` counts every prompt token, cached ones included (OpenAI's
 * prompt_tokens); `completion` every completion token, reasoning included (completion_tokens).
 * Anthropic answers report input_tokens = prompt - cachedPrompt - cacheWrite.
 */
export interface ScriptedUsage {
  prompt: number;
  completion: number;
  /** Prompt tokens read from the cache (OpenAI prompt_tokens_details.cached_tokens, Anthropic cache_read_input_tokens). */
  cachedPrompt?: number;
  /** Prompt tokens written to the cache (Anthropic cache_creation_input_tokens; OpenAI has none). */
  cacheWrite?: number;
  /** Reasoning tokens within completion (OpenAI completion_tokens_details.reasoning_tokens). */
  reasoning?: number;
}

export type Turn = TurnKind & {
  /** This answer's usage instead of the scenario's. */
  usage?: ScriptedUsage;
};

type TurnKind =
  /** The model asks for tool calls (OpenCode runs them and comes back for the next turn). */
  | { toolCalls: ToolCall[] }
  /** The model answers with text; `finishReason: 'length'` simulates truncated output. */
  | { text: string; finishReason?: 'stop' | 'length' }
  /** The model answers with text made from the last tool result it was sent: a prompt-injected model repeating what a tool printed. */
  | { textFromToolResult: (toolOutput: string) => string }
  /** An HTTP error response. OpenCode retries 5xx (this server asks for a 10 ms back-off). */
  | { httpError: { status: number; message: string } }
  /** HTTP 200 whose stream carries an error chunk, as some providers do mid-stream. */
  | { streamError: string }
  /** Accept the request and never answer (until the server stops). */
  | { hang: true };

export interface Scenario {
  turns: Turn[];
  /** Token usage reported with each answer (a turn's own `usage` wins). */
  usage?: ScriptedUsage;
  /**
   * When a streamed chat completion carries its usage chunk: 'always' (the default, as many compatible
   * servers do) or 'whenRequested' (only with `stream_options.include_usage`, as OpenAI does).
   */
  streamUsage?: 'always' | 'whenRequested';
  /**
   * Scripts per task, for runs of several tasks at once: a request belongs to the task its prompt names
   * (`## Task T002`, docker/agent/prompt.js). Each conversation of that task (a request with no assistant
   * message yet starts one: a new pod, or a retried first request) replays the next of its attempts, and
   * a conversation's n-th answer is its attempt's n-th turn (n = the assistant messages the request carries).
   * Requests of tasks not listed here replay `turns`.
   */
  tasks?: Record<string, Turn[][]>;
}

export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  body: { model?: string; stream?: boolean; messages?: { role: string; content: unknown }[]; tools?: unknown[] } & Record<string, unknown>;
  /** Whether this was OpenCode's session-title request (answered without consuming a turn). */
  title: boolean;
  /** The request's headers (x-api-key, anthropic-version, …). */
  headers: http.IncomingHttpHeaders;
  /** The usage the answer reported to the client (undefined: it reported none, e.g. an error). */
  usage?: ScriptedUsage;
}

export interface ModelServer {
  /** e.g. http://127.0.0.1:PORT/v1 — the provider's options.baseURL. */
  baseURL: string;
  requests: RecordedRequest[];
  /** Scenario turns answered so far. */
  turnsServed(): number;
  /** Conversations a task of `scenario.tasks` started so far (its pods that reached the model). */
  conversations(taskId: string): number;
  stop(): Promise<void>;
}

export const SCRIPTED_MODEL_ID = 'scripted-coder';

/** Message sent when a client asks for more turns than the scenario has: the test must fail loudly. */
export const SCENARIO_EXHAUSTED = 'scripted model: scenario exhausted';

function isTitleRequest(body: RecordedRequest['body']): boolean {
  const system = body.messages?.find((m) => m.role === 'system');
  if (typeof system?.content === 'string' && /title generator/i.test(system.content)) return true;
  // Anthropic: the system prompt is a top-level string or list of text blocks.
  const top = body.system;
  const text = typeof top === 'string' ? top : Array.isArray(top) ? top.map((b: { text?: unknown }) => (typeof b?.text === 'string' ? b.text : '')).join('\n') : '';
  return /title generator/i.test(text);
}

/** `host`: the loopback address to listen on (default 127.0.0.1; see startGitServer). */
export async function startModelServer(scenario: Scenario, host = '127.0.0.1'): Promise<ModelServer> {
  const requests: RecordedRequest[] = [];
  const hanging = new Set<http.ServerResponse>();
  let next = 0;
  const usage = scenario.usage ?? { prompt: 1200, completion: 340 };
  const conversations = new Map<string, number>();
  /** The turn a request of a task in scenario.tasks gets, or undefined when the request is not one. */
  const taskTurn = (body: RecordedRequest['body']): Turn | undefined => {
    const taskId = scenario.tasks ? taskOf(body) : undefined;
    const attempts = taskId === undefined ? undefined : scenario.tasks![taskId];
    if (!attempts) return undefined;
    const answered = (body.messages ?? []).filter((m) => m.role === 'assistant').length;
    if (answered === 0) conversations.set(taskId!, (conversations.get(taskId!) ?? 0) + 1);
    const attempt = attempts[Math.max(0, (conversations.get(taskId!) ?? 1) - 1)];
    return attempt?.[answered] ?? { httpError: { status: 400, message: SCENARIO_EXHAUSTED } };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/v1/models') {
        json(res, 200, { object: 'list', data: [{ id: SCRIPTED_MODEL_ID, object: 'model', created: 0, owned_by: 'test' }] });
        return;
      }
      const anthropic = req.method === 'POST' && url.pathname === '/v1/messages';
      if (!anthropic && (req.method !== 'POST' || url.pathname !== '/v1/chat/completions')) {
        json(res, 404, { error: { message: `no route ${req.method} ${url.pathname}`, type: 'invalid_request_error' } });
        return;
      }
      let body: RecordedRequest['body'];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        json(res, 400, { error: { message: 'request body is not JSON', type: 'invalid_request_error' } });
        return;
      }
      const title = isTitleRequest(body);
      const recorded: RecordedRequest = { path: url.pathname, authorization: req.headers.authorization, body, title, headers: req.headers };
      requests.push(recorded);
      const scripted: Turn = title
        ? { text: 'Scripted task' }
        : (taskTurn(body) ?? scenario.turns[next++] ?? { httpError: { status: 400, message: SCENARIO_EXHAUSTED } });
      const turn: Turn = 'textFromToolResult' in scripted ? { text: scripted.textFromToolResult(lastToolResult(body)), usage: scripted.usage } : scripted;
      const turnUsage = turn.usage ?? usage;
      const reports = (sent: boolean) => {
        if (sent) recorded.usage = turnUsage;
      };
      if (anthropic) {
        answerAnthropic(res, turn, body.stream === true, turnUsage, body.model ?? SCRIPTED_MODEL_ID, hanging, reports);
        return;
      }
      const usageInStream = scenario.streamUsage !== 'whenRequested' || (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
      answer(res, turn, body.stream === true, turnUsage, body.model ?? SCRIPTED_MODEL_ID, hanging, reports, usageInStream);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseURL: `http://${host}:${port}/v1`,
    requests,
    turnsServed: () => Math.min(next, scenario.turns.length),
    conversations: (taskId) => conversations.get(taskId) ?? 0,
    async stop() {
      for (const res of hanging) res.destroy();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/** The task a request's prompt names (`## Task T002`), from its user messages (string or text parts). */
function taskOf(body: RecordedRequest['body']): string | undefined {
  for (const m of body.messages ?? []) {
    if (m.role !== 'user') continue;
    const text = typeof m.content === 'string' ? m.content : Array.isArray(m.content) ? m.content.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join('\n') : '';
    const id = /^## Task (\S+)/m.exec(text)?.[1];
    if (id) return id;
  }
  return undefined;
}

/** The content of the last tool message in a chat request ('' when there is none). */
function lastToolResult(body: RecordedRequest['body']): string {
  const messages = body.messages ?? [];
  let content = [...messages].reverse().find((m) => m.role === 'tool')?.content;
  if (content === undefined) {
    // Anthropic: tool results are tool_result blocks in a user message.
    const blocks = messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as { type?: string; content?: unknown }[]) : []));
    content = [...blocks].reverse().find((b) => b?.type === 'tool_result')?.content;
  }
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : '')).join('');
  return '';
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  // retry-after-ms keeps OpenCode's retry back-off for 5xx in milliseconds, so tests stay fast.
  res.writeHead(status, { 'content-type': 'application/json', 'retry-after-ms': '10' }).end(JSON.stringify(body));
}

let callCounter = 0;

function answer(
  res: http.ServerResponse,
  turn: Turn,
  stream: boolean,
  usage: ScriptedUsage,
  model: string,
  hanging: Set<http.ServerResponse>,
  reports: (sent: boolean) => void = () => undefined,
  usageInStream = true,
): void {
  if ('hang' in turn) {
    hanging.add(res);
    return;
  }
  if ('httpError' in turn) {
    json(res, turn.httpError.status, { error: { message: turn.httpError.message, type: 'invalid_request_error' } });
    return;
  }
  const id = `chatcmpl-scripted-${++callCounter}`;
  const created = Math.floor(Date.now() / 1000);
  const usageBlock = {
    prompt_tokens: usage.prompt,
    completion_tokens: usage.completion,
    total_tokens: usage.prompt + usage.completion,
    ...(usage.cachedPrompt !== undefined ? { prompt_tokens_details: { cached_tokens: usage.cachedPrompt } } : {}),
    ...(usage.reasoning !== undefined ? { completion_tokens_details: { reasoning_tokens: usage.reasoning } } : {}),
  };
  const toolCalls = 'toolCalls' in turn
    ? turn.toolCalls.map((c, index) => ({ index, id: `call_${callCounter}_${index}`, type: 'function' as const, function: { name: c.name, arguments: JSON.stringify(c.args) } }))
    : [];
  const text = 'text' in turn ? turn.text : '';
  const finishReason = 'toolCalls' in turn ? 'tool_calls' : 'text' in turn ? (turn.finishReason ?? 'stop') : 'stop';

  if (!stream) {
    if ('streamError' in turn) {
      json(res, 400, { error: { message: turn.streamError, type: 'invalid_request_error' } });
      return;
    }
    reports(true);
    json(res, 200, {
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, finish_reason: finishReason, message: { role: 'assistant', content: text || null, ...(toolCalls.length ? { tool_calls: toolCalls.map(({ index: _i, ...c }) => c) } : {}) } }],
      usage: usageBlock,
    });
    return;
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => send({ id, object: 'chat.completion.chunk', created, model, choices, ...extra });
  if ('streamError' in turn) {
    send({ error: { message: turn.streamError, type: 'invalid_request_error' } });
    res.end();
    return;
  }
  chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  // Text and tool-call arguments arrive in pieces, as real providers stream them.
  for (const piece of text.match(/[\s\S]{1,16}/g) ?? []) chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]);
  for (const call of toolCalls) {
    chunk([{ index: 0, delta: { tool_calls: [{ index: call.index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }, finish_reason: null }]);
    for (const piece of call.function.arguments.match(/[\s\S]{1,32}/g) ?? []) {
      chunk([{ index: 0, delta: { tool_calls: [{ index: call.index, function: { arguments: piece } }] }, finish_reason: null }]);
    }
  }
  chunk([{ index: 0, delta: {}, finish_reason: finishReason }]);
  if (usageInStream) chunk([], { usage: usageBlock });
  reports(usageInStream);
  res.write('data: [DONE]\n\n');
  res.end();
}

/** The same turn as Anthropic's Messages API answers it: one JSON message, or its event stream. */
function answerAnthropic(
  res: http.ServerResponse,
  turn: Turn,
  stream: boolean,
  usage: ScriptedUsage,
  model: string,
  hanging: Set<http.ServerResponse>,
  reports: (sent: boolean) => void,
): void {
  const error = (status: number, type: string, message: string) =>
    json(res, status, { type: 'error', error: { type, message } });
  if ('hang' in turn) {
    hanging.add(res);
    return;
  }
  if ('httpError' in turn) {
    error(turn.httpError.status, 'invalid_request_error', turn.httpError.message);
    return;
  }
  const n = ++callCounter;
  const id = `msg_scripted_${n}`;
  const text = 'text' in turn ? turn.text : '';
  const toolUses = 'toolCalls' in turn ? turn.toolCalls.map((c, i) => ({ type: 'tool_use' as const, id: `toolu_scripted_${n}_${i}`, name: c.name, input: c.args })) : [];
  const content: ({ type: 'text'; text: string } | (typeof toolUses)[number])[] = [...(text ? [{ type: 'text' as const, text }] : []), ...toolUses];
  const stopReason = 'toolCalls' in turn ? 'tool_use' : 'text' in turn && turn.finishReason === 'length' ? 'max_tokens' : 'end_turn';
  const cacheRead = usage.cachedPrompt ?? 0;
  const cacheWrite = usage.cacheWrite ?? 0;
  const usageBlock = {
    input_tokens: usage.prompt - cacheRead - cacheWrite,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    output_tokens: usage.completion,
  };
  if (!stream) {
    if ('streamError' in turn) {
      error(400, 'invalid_request_error', turn.streamError);
      return;
    }
    reports(true);
    json(res, 200, { id, type: 'message', role: 'assistant', model, content, stop_reason: stopReason, stop_sequence: null, usage: usageBlock });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (event: string, payload: Record<string, unknown>) => res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...payload })}\n\n`);
  if ('streamError' in turn) {
    send('error', { error: { type: 'api_error', message: turn.streamError } });
    res.end();
    return;
  }
  // message_start reports the prompt and a first output token; message_delta's usage is cumulative.
  send('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usageBlock, output_tokens: 1 } } });
  send('ping', {});
  content.forEach((block, index) => {
    if (block.type === 'text') {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const piece of block.text.match(/[\s\S]{1,16}/g) ?? []) send('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
    } else {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      for (const piece of JSON.stringify(block.input).match(/[\s\S]{1,32}/g) ?? []) send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
    }
    send('content_block_stop', { index });
  });
  send('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.completion } });
  reports(true);
  send('message_stop', {});
  res.end();
}

/**
 * The OpenCode provider entry that points at this server (merged into the agent's OpenCode config
 * through SDLC_OPENCODE_CONFIG_FILE). Costs are per million tokens, so step_finish reports a cost.
 */
export function scriptedProviderConfig(baseURL: string, apiKeyEnv = 'SCRIPTED_MODEL_API_KEY'): Record<string, unknown> {
  return {
    provider: {
      scripted: {
        npm: '@ai-sdk/openai-compatible',
        name: 'Scripted test model',
        options: { baseURL, apiKey: `{env:${apiKeyEnv}}` },
        models: {
          [SCRIPTED_MODEL_ID]: { name: 'Scripted coder', tool_call: true, cost: { input: 3, output: 15 }, limit: { context: 200000, output: 8192 } },
        },
      },
    },
  };
}

/**
 * An OpenCode provider entry for the Anthropic-compatible side of this server (`/v1/messages`), through
 * OpenCode's bundled `@ai-sdk/anthropic`: baseURL as that SDK takes it (…/v1).
 */
export function anthropicProviderConfig(baseURL: string, apiKeyEnv = 'SCRIPTED_MODEL_API_KEY', providerId = 'scripted-anthropic'): Record<string, unknown> {
  return {
    provider: {
      [providerId]: {
        npm: '@ai-sdk/anthropic',
        name: 'Scripted test model (Anthropic API)',
        options: { baseURL, apiKey: `{env:${apiKeyEnv}}` },
        models: {
          [SCRIPTED_MODEL_ID]: { name: 'Scripted coder', tool_call: true, cost: { input: 3, output: 15 }, limit: { context: 200000, output: 8192 } },
        },
      },
    },
  };
}
