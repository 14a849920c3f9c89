/**
 * A run's input as a schema: what any client that starts implementFeature (the CLI, Temporal UI, `temporal
 * workflow start`, another program) must send. The worker checks it at the run's first step (the
 * checkRunInput activity, so zod stays out of the workflow bundle): a bad field fails the run at once,
 * non-retryably, naming the field — never a half-started run or a workflow task retried forever.
 */
import { z } from 'zod';
import { MAX_PARALLEL_LIMIT } from '../../workflows/run-table';
import { parseEntry } from '../egress/allowlist';

const DAY = 24 * 60 * 60;
/** Grants per run (`--allow-egress`): a list longer than this is no longer a list of what the task needs. */
export const MAX_EGRESS_HOSTS = 100;
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const name = z.string().min(1).max(255);
const filePath = z.string().min(1).max(1024);

const OptionsSchema = z
  .object({
    maxParallel: int(1, MAX_PARALLEL_LIMIT),
    branchPattern: name,
    taskTimeoutSeconds: int(1, 7 * DAY),
    pendingTimeoutSeconds: int(1, DAY),
    decisionTimeoutSeconds: int(1, 30 * DAY),
    keepFailedPodsSeconds: int(0, 7 * DAY),
    retry: z.object({ infraRetries: int(0, 10), agentRetries: int(0, 10) }).partial(),
    model: z.string().regex(/^[^/\s]+\/\S+$/, 'must be provider/model, e.g. anthropic/claude-sonnet-4-5'),
    heartbeatTimeoutSeconds: int(1, DAY),
    maxHistoryEvents: int(20, 50_000),
    stack: z.enum(['dependencies', 'none']),
    fileOverlap: z.enum(['serialize', 'ignore']),
    integrationBranch: name,
    budget: z
      .object({
        maxTokensPerTask: int(1, 1_000_000_000),
        maxCostPerTask: z.number().positive().max(1_000_000),
        maxCostPerRun: z.number().positive().max(1_000_000),
      })
      .partial(),
    allowEgress: z
      .array(
        z.string().superRefine((entry, ctx) => {
          try {
            parseEntry(entry);
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: `${(err as Error).message} (use host, *.domain or host:port)` });
          }
        }),
      )
      .max(MAX_EGRESS_HOSTS, `at most ${MAX_EGRESS_HOSTS} hosts per run`),
  })
  .partial();

/** The input without tasks.md's text (checked by its length: the text itself stays out of the activity's history). */
export const RunInputSchema = z.object({
  repository: z.object({ url: z.string().min(1), baseBranch: name }),
  feature: z.object({ name, dir: filePath }),
  tasksFile: filePath,
  // The CLI refuses files over 5 MB before reading them; the same bound here (-1: not a string).
  tasksMarkdownLength: z.number().int().min(0, 'tasksMarkdown must be the text of tasks.md').max(5 * 1024 * 1024, 'tasksMarkdown is over 5 MB'),
  options: OptionsSchema.optional(),
});

export type CheckedRunInput = z.input<typeof RunInputSchema>;

/** Every problem as `field: what is wrong`, one line, or undefined when the input is valid. */
export function runInputProblems(input: unknown): string | undefined {
  const parsed = RunInputSchema.safeParse(input);
  if (parsed.success) return undefined;
  return parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
}
