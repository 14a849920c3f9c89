/**
 * Branch checks of one repository answered by one `git ls-remote`: a run's agents often end together, and
 * each ended task checks its pushed branch. One listing per repository is in flight at a time; the checks
 * asked meanwhile wait and are listed together as soon as it ends. A check never joins a listing that has
 * already started, so every answer was read after its check was asked (no staler than a call of its own).
 * At N = 150 tasks ending at once this is a handful of git processes (and remote requests) instead of 150.
 */

/** Lists the heads of `branches` in `repoUrl` (branch → sha; a branch that does not exist is absent). */
export type ListHeads = (repoUrl: string, branches: string[]) => Promise<Map<string, string>>;

/** Most branches one listing asks for (its argv); more wait for the next listing. */
export const MAX_BRANCHES_PER_LISTING = 100;

interface Waiter {
  branch: string;
  resolve(sha: string | undefined): void;
  reject(err: unknown): void;
}

export function coalesceBranchHeads(list: ListHeads): (repoUrl: string, branch: string) => Promise<string | undefined> {
  const queued = new Map<string, Waiter[]>();
  const listing = new Set<string>();

  function next(repoUrl: string): void {
    const waiting = queued.get(repoUrl);
    if (listing.has(repoUrl) || !waiting?.length) return;
    const batch: Waiter[] = [];
    const branches = new Set<string>();
    while (waiting.length > 0 && (branches.size < MAX_BRANCHES_PER_LISTING || branches.has(waiting[0]!.branch))) {
      const w = waiting.shift()!;
      batch.push(w);
      branches.add(w.branch);
    }
    if (waiting.length === 0) queued.delete(repoUrl);
    listing.add(repoUrl);
    list(repoUrl, [...branches]).then(
      (heads) => batch.forEach((w) => w.resolve(heads.get(w.branch))),
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    ).finally(() => {
      listing.delete(repoUrl);
      next(repoUrl);
    });
  }

  return (repoUrl, branch) =>
    new Promise((resolve, reject) => {
      const waiting = queued.get(repoUrl) ?? [];
      waiting.push({ branch, resolve, reject });
      queued.set(repoUrl, waiting);
      // The checks asked in the same turn of the event loop start together.
      queueMicrotask(() => next(repoUrl));
    });
}
