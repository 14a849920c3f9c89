/**
 * What the workflow needs from git: the truth about a remote branch (to verify the agent's result line),
 * and the merges that stack a task on its dependencies and integrate a finished run. The merges run on
 * the worker, never in an agent pod: the agent only ever pushes its own branch.
 */
export interface GitGateway {
  /** The commit the remote branch points at, or undefined when the branch does not exist. */
  branchHead(repoUrl: string, branch: string): Promise<string | undefined>;
  /**
   * Makes the task's branch hold every source: its existing head (or, when new, the first source's commit)
   * plus a merge of each source it lacks, pushed. Idempotent: the same request gives the same head.
   * A conflict pushes nothing and is returned, not thrown.
   */
  prepareTaskBranch(req: PrepareBranchRequest): Promise<PrepareBranchResult>;
  /**
   * Rebuilds the integration branch from the base head, merging each source in order and stopping before
   * the first that conflicts; pushes what was integrated (replacing the branch). Idempotent like prepareTaskBranch.
   */
  integrate(req: IntegrateRequest): Promise<IntegrateResult>;
}

/**
 * The remote could not be read. `retryable` is false when retrying cannot help (the credentials are refused,
 * the repository does not exist or is not readable with them): the task fails at once with the fix.
 */
export class GitRemoteError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'GitRemoteError';
  }
}

/** A task's verified work that another branch is built on (a dependency's, or a task's for integration). */
export interface BranchSource {
  taskId: string;
  title: string;
  /** The task's branch on the remote (fetched to reach `commit`). */
  branch: string;
  /** The commit to merge. Left out (integration on demand): the branch's current remote head. */
  commit?: string;
}

/** A file two or more merged sources changed in ways git could not merge, and the tasks that changed it. */
export interface ConflictingFile {
  path: string;
  /** Task IDs whose work changed the file since it left the base, in merge order (the task's own ID first, when its existing branch did). */
  tasks: string[];
}

/** Build a task's starting point: its branch (or, when new, the first source) plus a merge of every source it lacks. */
export interface PrepareBranchRequest {
  repoUrl: string;
  baseBranch: string;
  /** The task's own branch: kept when it exists (earlier work), created otherwise. */
  branch: string;
  taskId: string;
  /** Dependencies' verified commits in tasks.md order; at least one. */
  sources: BranchSource[];
  /** From the workflow: author/committer date of merge commits, so the same inputs always give the same sha. */
  timestamp: string;
}

export type PrepareBranchResult =
  | {
      kind: 'ready';
      /** The branch head the agent starts from (pushed). */
      head: string;
      /** True when the branch did not exist before. */
      created: boolean;
      /**
       * Sources merged (or, for a new branch, started from) by this call, and those the branch already held.
       * A repeated call finds its own earlier push: `created` false, every source contained, the same head.
       */
      merged: string[];
      contained: string[];
    }
  | { kind: 'conflict'; files: ConflictingFile[]; message: string };

/** Merge task branches onto the base into the integration branch, in order, stopping before a conflict. */
export interface IntegrateRequest {
  repoUrl: string;
  baseBranch: string;
  /** The integration branch (replaced: it is derived from the base and the task branches). */
  branch: string;
  sources: BranchSource[];
  timestamp: string;
  /** Recorded in the merge commits' trailers. */
  runId: string;
}

export interface IntegrateResult {
  /** Head of the pushed integration branch (the base head when nothing could be merged). */
  head: string;
  /** Tasks integrated, in order, with the commit each brought in. */
  included: { taskId: string; commit: string }[];
  /** The task integration stopped before, and why; the tasks after it are in `skipped`. */
  conflict?: { taskId: string; files: ConflictingFile[]; message: string };
  skipped: string[];
}

const MAX_NAMED_PATHS = 5;

/** "A", "A and B", "A, B and C". */
function listWords(words: string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

/**
 * The one-line story of a conflict for people: which tasks change which files, then `action`
 * (e.g. `merging T004 into T006's branch conflicts`). Files changed by the same tasks are named together.
 */
export function describeConflict(files: ConflictingFile[], action: string): string {
  const groups = new Map<string, { tasks: string[]; paths: string[] }>();
  for (const file of files) {
    const key = file.tasks.join('\0');
    const group = groups.get(key) ?? { tasks: file.tasks, paths: [] };
    group.paths.push(file.path);
    groups.set(key, group);
  }
  const parts = [...groups.values()].map(({ tasks, paths }) => {
    // A conflict over a generated tree can touch hundreds of files: name a few, count the rest.
    const where = paths.length > MAX_NAMED_PATHS ? `${paths.slice(0, MAX_NAMED_PATHS).join(', ')} and ${paths.length - MAX_NAMED_PATHS} more files` : listWords(paths);
    if (tasks.length === 0) return `${where} cannot be merged`;
    if (tasks.length === 1) return `${tasks[0]} changes ${where}`;
    return `${listWords(tasks)} ${tasks.length === 2 ? 'both' : 'all'} change ${where}`;
  });
  return `${parts.join('; ')}; ${action}`;
}
