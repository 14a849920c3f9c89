import { z } from 'zod';

/**
 * The agent's result line: the last thing an agent pod prints on stdout, one line:
 *
 *   ::sdlc-result::{"v":1,"status":"succeeded","taskId":"T012","branch":"specs/001-x/T012-async",
 *                  "sha":"<40 hex>","commits":1,"tokens":{"input":1200,"output":340},"cost":0.0123}
 *
 * The workflow trusts it only together with the pod's exit code and the remote branch head
 * (`sha` must equal the branch head after the run). Written by docker/agent-entrypoint.sh, parsed here.
 * Keep this file dependency-light: workflows import it too (zod is deterministic and bundle-safe).
 */
export const RESULT_LINE_PREFIX = '::sdlc-result::';

export const AgentResultStatus = z.enum(['succeeded', 'failed', 'timed_out', 'git_failed', 'config_error', 'budget_exceeded']);
export type AgentResultStatus = z.infer<typeof AgentResultStatus>;

export const TokenUsage = z.object({
  input: z.number().int().nonnegative().default(0),
  output: z.number().int().nonnegative().default(0),
  reasoning: z.number().int().nonnegative().default(0),
  cacheRead: z.number().int().nonnegative().default(0),
  cacheWrite: z.number().int().nonnegative().default(0),
});
export type TokenUsage = z.infer<typeof TokenUsage>;

export const AgentResult = z.object({
  v: z.literal(1),
  status: AgentResultStatus,
  taskId: z.string().min(1),
  branch: z.string().min(1),
  /** Commit the agent pushed to `branch` (absent when nothing was pushed). */
  sha: z.string().regex(/^[0-9a-f]{40}$/).optional(),
  /** Commits this attempt added on the task branch. */
  commits: z.number().int().nonnegative().default(0),
  tokens: TokenUsage.optional(),
  /** Cost in USD as reported by the model provider through OpenCode's step_finish events. */
  cost: z.number().nonnegative().optional(),
  /** Human-readable reason when status is not succeeded. */
  reason: z.string().max(2000).optional(),
  /** Whether partial work was pushed for a human to pick up (status != succeeded). */
  partialPushed: z.boolean().optional(),
});
export type AgentResult = z.infer<typeof AgentResult>;

export function formatResultLine(result: AgentResult): string {
  return RESULT_LINE_PREFIX + JSON.stringify(AgentResult.parse(result));
}

export type ParsedResultLine = { ok: true; result: AgentResult } | { ok: false; error: string };

/** Parses one log line; returns undefined when the line is not a result line at all. */
export function parseResultLine(line: string): ParsedResultLine | undefined {
  const idx = line.indexOf(RESULT_LINE_PREFIX);
  if (idx < 0) return undefined;
  const json = line.slice(idx + RESULT_LINE_PREFIX.length).trim();
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    return { ok: false, error: `result line is not valid JSON: ${(err as Error).message}` };
  }
  const parsed = AgentResult.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, error: `result line does not match the contract: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
  }
  return { ok: true, result: parsed.data };
}
