/**
 * A scripted model for the real `opencode` binary: an OpenAI-compatible `/v1/chat/completions` server
 * on 127.0.0.1 that streams (SSE) the next turn of a scenario — a bash tool call or a final text. The
 * scenario sees the tool outputs so far, so a later call can use what an earlier one printed (the run
 * ID), as a model would. Requests without tools (opencode's title generation) get a short title.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Turn = { bash: { command: string; description: string; timeout?: number } } | { text: string };

export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: unknown[];
}
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  tools?: unknown[];
  stream?: boolean;
}

export interface ScenarioContext {
  /** Outputs of the tool calls made so far, in order. */
  toolOutputs: string[];
  request: ChatRequest;
}

export interface ScriptedModel {
  baseUrl: string;
  /** Every chat request received (the agent's turns only: title requests are not recorded). */
  requests: ChatRequest[];
  close(): Promise<void>;
}

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === 'object' && p && 'text' in p ? String((p as { text: unknown }).text) : '')).join('');
  return '';
}

export function messageText(m: ChatMessage): string {
  return text(m.content);
}

export async function startScriptedModel(scenario: (ctx: ScenarioContext) => Turn): Promise<ScriptedModel> {
  const requests: ChatRequest[] = [];
  let seq = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404).end();
        return;
      }
      const request = JSON.parse(body) as ChatRequest;
      let turn: Turn;
      if (!request.tools?.length) {
        turn = { text: 'Implement the async tasks' };
      } else {
        requests.push(request);
        const toolOutputs = request.messages.filter((m) => m.role === 'tool').map(messageText);
        try {
          turn = scenario({ toolOutputs, request });
        } catch (err) {
          turn = { text: `scenario error: ${(err as Error).message}` };
        }
      }
      const id = `chatcmpl-${++seq}`;
      const chunk = (delta: object, finish: string | null, usage?: object) =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: request.model, choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
      const usage = { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 };
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      if ('bash' in turn) {
        res.write(chunk({ role: 'assistant', content: '' }, null));
        res.write(chunk({ tool_calls: [{ index: 0, id: `call_${seq}`, type: 'function', function: { name: 'bash', arguments: JSON.stringify(turn.bash) } }] }, null));
        res.write(chunk({}, 'tool_calls', usage));
      } else {
        res.write(chunk({ role: 'assistant', content: turn.text }, null));
        res.write(chunk({}, 'stop', usage));
      }
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** OpenCode config for the scripted model: the only provider, bash allowed, nothing fetched or shared. */
export function opencodeConfig(baseUrl: string): object {
  return {
    $schema: 'https://opencode.ai/config.json',
    provider: {
      scripted: {
        npm: '@ai-sdk/openai-compatible',
        name: 'Scripted test model',
        options: { baseURL: baseUrl, apiKey: 'not-a-secret' },
        models: { 'scripted-1': { name: 'Scripted', tool_call: true, limit: { context: 100000, output: 4000 } } },
      },
    },
    model: 'scripted/scripted-1',
    small_model: 'scripted/scripted-1',
    permission: { bash: 'allow', edit: 'allow', external_directory: 'allow' },
    share: 'disabled',
    autoupdate: false,
  };
}
