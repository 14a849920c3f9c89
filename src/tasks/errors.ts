import type { PlanError, TaskPlan } from './types';

/**
 * A tasks.md the runner cannot use. The message always names the file, the line(s) when known, and
 * what to change; the CLI prints it as is and exits non-zero.
 */
export class TasksFileError extends Error {
  readonly file: string;
  /** First offending line (1-based), when the problem has a place in the file. */
  readonly line?: number;
  /** How to fix it, in one or two sentences. */
  readonly hint: string;

  constructor(args: { file: string; problem: string; hint: string; line?: number; lines?: number[] }) {
    const lines = args.lines ?? (args.line !== undefined ? [args.line] : []);
    const where = lines.length === 0 ? args.file : `${args.file}:${lines[0]}`;
    const alsoAt = lines.length > 1 ? ` (lines ${lines.join(', ')})` : '';
    super(`${where}: ${args.problem}${alsoAt}. Fix: ${args.hint}`);
    this.name = 'TasksFileError';
    this.file = args.file;
    if (lines[0] !== undefined) this.line = lines[0];
    this.hint = args.hint;
  }
}

/** The error for one of a plan's {@link PlanError}s. */
export function planErrorToException(file: string, error: PlanError): TasksFileError {
  return new TasksFileError({ file, problem: error.problem, hint: error.hint, lines: error.lines });
}

/**
 * Returns the plan when it can be run, else throws its first error (the CLI prints it and exits
 * non-zero; the workflow fails with it, non-retryable).
 */
export function assertRunnablePlan(plan: TaskPlan): TaskPlan {
  const first = plan.errors[0];
  if (first) throw planErrorToException(plan.file, first);
  return plan;
}
