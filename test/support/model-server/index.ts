import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A scripted OpenAI-compatible model on 127.0.0.1: `/v1/chat/completions` replays a scenario, one
 * turn per agent request, streaming (SSE chunks like OpenAI) or not, as the client asks. OpenCode
 * reaches it through a provider entry (`npm: @ai-sdk/openai-compatible`, `options.baseURL`).
 */
export type ToolCall =
  | { name: 'write'; args: { filePath: string; content: string } }
  | { name: 'edit'; args: { filePath: string; oldString: string; newString: string; replaceAll?: boolean } }
  | { name: 'bash'; args: { command: string; description: string; timeout?: number } }
  | { name: string; args: Record<string, unknown> };

export type Turn =
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
  /** Token usage reported with each streamed answer. */
  usage?: { prompt: number; completion: number };
}

export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  body: { model?: string; stream?: boolean; messages?: { role: string; content: unknown }[]; tools?: unknown[] } & Record<string, unknown>;
  /** Whether this was OpenCode's session-title request (answered without consuming a turn). */
  title: boolean;
}

export interface ModelServer {
  /** e.g. http://127.0.0.1:PORT/v1 — the provider's options.baseURL. */
  baseURL: string;
  requests: RecordedRequest[];
  /** Scenario turns answered so far. */
  turnsServed(): number;
  stop(): Promise<void>;
}

export const SCRIPTED_MODEL_ID = 'scripted-coder';

/** Message sent when a client asks for more turns than the scenario has: the test must fail loudly. */
export const SCENARIO_EXHAUSTED = 'scripted model: scenario exhausted';

function isTitleRequest(body: RecordedRequest['body']): boolean {
  const system = body.messages?.find((m) => m.role === 'system');
  return typeof system?.content === 'string' && /title generator/i.test(system.content);
}

export async function startModelServer(scenario: Scenario): Promise<ModelServer> {
  const requests: RecordedRequest[] = [];
  const hanging = new Set<http.ServerResponse>();
  let next = 0;
  const usage = scenario.usage ?? { prompt: 1200, completion: 340 };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'GET' && url.pathname === '/v1/models') {
        json(res, 200, { object: 'list', data: [{ id: SCRIPTED_MODEL_ID, object: 'model', created: 0, owned_by: 'test' }] });
        return;
      }
      if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
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
      requests.push({ path: url.pathname, authorization: req.headers.authorization, body, title });
      const scripted: Turn = title
        ? { text: 'Scripted task' }
        : (scenario.turns[next++] ?? { httpError: { status: 400, message: SCENARIO_EXHAUSTED } });
      const turn = 'textFromToolResult' in scripted ? { text: scripted.textFromToolResult(lastToolResult(body)) } : scripted;
      answer(res, turn, body.stream === true, usage, body.model ?? SCRIPTED_MODEL_ID, hanging);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    turnsServed: () => Math.min(next, scenario.turns.length),
    async stop() {
      for (const res of hanging) res.destroy();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/** The content of the last tool message in a chat request ('' when there is none). */
function lastToolResult(body: RecordedRequest['body']): string {
  const content = [...(body.messages ?? [])].reverse().find((m) => m.role === 'tool')?.content;
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
  usage: { prompt: number; completion: number },
  model: string,
  hanging: Set<http.ServerResponse>,
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
  const usageBlock = { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion };
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
  chunk([], { usage: usageBlock });
  res.write('data: [DONE]\n\n');
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
