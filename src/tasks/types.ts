/** One task of a spec-kit tasks.md, as `sdlc-runner plan --json` prints it and the workflows consume it. */
export interface Task {
  /** As written, e.g. `T001`, `T-001`, `T001a`, `T001.1`. */
  id: string;
  /** 1-based line of the list item or heading that starts the task. */
  line: number;
  /** Text of the nearest preceding non-task level-2 heading, or null before the first one. */
  phase: string | null;
  status: TaskStatus;
  /** From `[ASYNC]`/`[SYNC]` (or a heading task's trailing `(ASYNC)`), else from the phase heading; null = unmarked. */
  mode: TaskMode | null;
  /** `[P]` was present. */
  parallel: boolean;
  /** `[US1]`, `[USX]` … or null. */
  story: string | null;
  /** Every other bracketed marker, e.g. `GREEN`, `FR-007, FR-013`, `Optional`. */
  labels: string[];
  /** The task's first paragraph without checkbox, status emoji, ID and markers. */
  title: string;
  /** The whole item as written (markdown source: wrapped lines, nested sub-bullets), dedented. */
  details: string;
  /** IDs named by `depends on …` anywhere in the item, in order of appearance. */
  dependsOn: string[];
  /** Backticked paths in the item (a hint for the agent, not a contract). */
  files: string[];
  /** Git branch the agent pushes to; set only for dispatched tasks. */
  branch: string | null;
  /**
   * Implicit dependencies of a dispatched task: earlier dispatched tasks that change the same files
   * and had no order with it (`fileOverlap: 'serialize'`). Dispatch honours them like `dependsOn`,
   * which stays as written; `files` are the paths both change. Empty for every other task.
   */
  orderedAfter: OrderedAfter[];
  /**
   * For an open task that is not dispatched (done by the session): the dispatched tasks it names in
   * `depends on`, whose agents' branches must exist before it is done. Empty for every other task.
   */
  waitsOnAgents: string[];
}

export interface OrderedAfter {
  id: string;
  files: string[];
}

export type TaskStatus = 'open' | 'done' | 'skipped';
export type TaskMode = 'async' | 'sync';
/** Dispatched tasks naming the same file with no order between them: `serialize` = the later waits for the earlier. */
export type FileOverlapMode = 'serialize' | 'ignore';

export interface PlanWarning {
  line: number;
  message: string;
}

/**
 * Something that makes the file unusable for a run: no task at all, two dispatched tasks with the
 * same ID, a dependency cycle, a task branch git cannot use. The parser reports it in the plan instead of throwing, so any file can
 * be inspected; {@link assertRunnablePlan} turns it into the error the CLI and the workflow raise.
 */
export interface PlanError {
  /** 1-based lines it concerns (empty when it has no place in the file). */
  lines: number[];
  /** What is wrong, e.g. "two open [ASYNC] tasks have the same ID T004 …". */
  problem: string;
  /** How to fix it. */
  hint: string;
}

export interface TaskPlan {
  /** The path the plan was parsed from, as given. */
  file: string;
  /** Name of the folder holding tasks.md (e.g. `001-login`). */
  feature: string;
  /** Every task in file order. */
  tasks: Task[];
  /** IDs of the tasks to run as agent pods: open `async` tasks, file order, then dependencies first. */
  dispatch: string[];
  warnings: PlanWarning[];
  /** Problems that make the plan unusable; when any is present `dispatch` is empty. */
  errors: PlanError[];
}

export interface ParseOptions {
  file: string;
  feature: string;
  /** Placeholders `{feature}`, `{taskId}`, `{taskIdLower}`; default {@link DEFAULT_BRANCH_PATTERN}. */
  branchPattern?: string;
  /** Default 'serialize': dispatched tasks that change the same files run one after the other. */
  fileOverlap?: FileOverlapMode;
  /** The run's base branch, when known: no task branch may be it. */
  baseBranch?: string;
  /** The feature's integration branch, filled (`none` = no integration branch): no task branch may be it. */
  integrationBranch?: string;
}

/** What the agentic-sdlc spec-kit fork passes to its runner. */
export const DEFAULT_BRANCH_PATTERN = 'specs/{feature}/{taskId}-async';
