'use strict';
/**
 * OpenCode's `run --format json` events (one JSON object a line: step_start, text, tool_use,
 * step_finish, error) turned into readable progress lines, plus what the verdict needs: errors,
 * failed tool calls, the last step's finish reason, and the token/cost totals from step_finish.
 */

const MAX_TEXT = 400;

function oneLine(text, max = MAX_TEXT) {
  const flat = String(text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function describeToolInput(tool, input, clip = oneLine) {
  if (!input || typeof input !== 'object') return '';
  if (typeof input.filePath === 'string') return input.filePath;
  if (typeof input.command === 'string') return clip(input.command, 200);
  if (typeof input.pattern === 'string') return input.pattern;
  if (typeof input.path === 'string') return input.path;
  if (typeof input.url === 'string') return input.url;
  return clip(JSON.stringify(input), 120);
}

function errorMessage(error, clip = oneLine) {
  if (!error) return 'unknown error';
  const data = error.data ?? {};
  const message = typeof data.message === 'string' ? data.message : typeof error.message === 'string' ? error.message : JSON.stringify(error);
  return `${error.name ?? 'Error'}: ${clip(message, 300)}`;
}

class EventTracker {
  /**
   * @param {(line: string) => void} progress prints one line (the caller redacts it too)
   * @param {(text: string) => string} [redact] applied to event text before it is shortened: a secret
   *   cut in half by the shortening would no longer match, and its first part would be printed
   */
  constructor(progress, redact = (text) => text) {
    this.progress = progress;
    this.clip = (text, max) => oneLine(redact(String(text ?? '')), max);
    this.steps = 0;
    this.errors = [];
    this.toolErrors = [];
    this.lastFinishReason = undefined;
    this.sawFinalStep = false;
    this.tokens = { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
    this.cost = 0;
    this.textParts = 0;
  }

  /** One stdout line from opencode: an event, or anything else (printed as is). */
  handleLine(line) {
    if (!line.trim()) return;
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      this.progress(`[opencode] ${this.clip(line, 1000)}`);
      return;
    }
    if (!event || typeof event !== 'object') return;
    this.handle(event);
  }

  handle(event) {
    const part = event.part ?? {};
    switch (event.type) {
      case 'step_start':
        this.steps++;
        // A new step after a "final" one means OpenCode went on (e.g. after compaction).
        this.sawFinalStep = false;
        this.progress(`step ${this.steps} started`);
        break;
      case 'text':
        this.textParts++;
        this.progress(`assistant: ${this.clip(part.text)}`);
        break;
      case 'reasoning':
        this.progress(`thinking: ${this.clip(part.text, 200)}`);
        break;
      case 'tool_use': {
        const state = part.state ?? {};
        const target = describeToolInput(part.tool, state.input, this.clip);
        const what = `${part.tool ?? 'tool'}${target ? ` ${target}` : ''}`;
        if (state.status === 'error') {
          const detail = this.clip(state.error, 300);
          this.toolErrors.push(`${what}: ${detail}`);
          this.progress(`tool ${what}: ERROR ${detail}`);
        } else {
          this.progress(`tool ${what}: ${state.status ?? 'unknown'}`);
        }
        break;
      }
      case 'step_finish': {
        const t = part.tokens ?? {};
        this.tokens.input += nonNegInt(t.input);
        this.tokens.output += nonNegInt(t.output);
        this.tokens.reasoning += nonNegInt(t.reasoning);
        this.tokens.cacheRead += nonNegInt(t.cache?.read);
        this.tokens.cacheWrite += nonNegInt(t.cache?.write);
        if (typeof part.cost === 'number' && Number.isFinite(part.cost) && part.cost > 0) this.cost += part.cost;
        this.lastFinishReason = part.reason;
        // tool-calls means the loop continues with the tool results; anything else ends the run.
        this.sawFinalStep = part.reason !== 'tool-calls';
        this.progress(
          `step ${this.steps} finished (${part.reason ?? 'unknown'}): tokens in=${nonNegInt(t.input)} out=${nonNegInt(t.output)}` +
            ` reasoning=${nonNegInt(t.reasoning)} cache r/w=${nonNegInt(t.cache?.read)}/${nonNegInt(t.cache?.write)}, cost $${(part.cost ?? 0).toFixed(6)}`,
        );
        break;
      }
      case 'error': {
        const message = errorMessage(event.error, this.clip);
        this.errors.push(message);
        // After an error OpenCode has nothing left to do: treat it like a final step for the watchdog.
        this.sawFinalStep = true;
        this.progress(`error: ${message}`);
        break;
      }
      default:
        this.progress(`event ${this.clip(event.type ?? 'unknown', 60)}`);
    }
  }

  /**
   * Whether the agent's run itself succeeded, from the events and the way the process ended.
   * The working tree check comes on top (agent-runner.js).
   * @param {{ exitCode: number|null, signal: string|null, endedByWatchdogAfterFinish: boolean }} end
   * @returns {{ ok: true } | { ok: false, reason: string }}
   */
  verdict(end) {
    if (this.errors.length) return { ok: false, reason: `OpenCode reported an error: ${this.errors.join('; ')}` };
    if (this.toolErrors.length) return { ok: false, reason: `a tool call failed or was rejected: ${this.toolErrors.join('; ')}` };
    if (this.lastFinishReason === undefined) return { ok: false, reason: 'OpenCode finished no step (no step_finish event)' };
    if (this.lastFinishReason === 'length') return { ok: false, reason: 'the model output was truncated (finish reason "length")' };
    if (this.lastFinishReason !== 'stop') return { ok: false, reason: `the last step ended with finish reason "${this.lastFinishReason}", not "stop"` };
    if (!end.endedByWatchdogAfterFinish && end.exitCode !== 0) {
      return { ok: false, reason: `opencode exited with ${end.exitCode === null ? `signal ${end.signal}` : `code ${end.exitCode}`}` };
    }
    return { ok: true };
  }
}

function nonNegInt(v) {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.round(v) : 0;
}

module.exports = { EventTracker, oneLine };
