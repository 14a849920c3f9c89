/**
 * `plan`: tasks.md read as a run would plan it. A module of its own so that `plan` loads no Temporal
 * or Kubernetes SDK (commands.ts, which `implement` uses, re-exports it).
 */
import path from 'node:path';
import { featureOf, loadTasksFile } from '../tasks/load';
import { unknownPlaceholders } from '../tasks/dispatch';
import { refNameProblem } from '../tasks/ref-name';
import type { FileOverlapMode, TaskPlan } from '../tasks/types';
import { DEFAULT_RUN_OPTIONS, integrationBranchName } from '../../workflows/types';
import { CliError } from './errors';
import { branchNameArg } from './input';
import { currentBranch, remoteTrackingName } from './repo';

/** What `plan` and `implement` both take: how tasks.md becomes a plan, and the branches around it. */
export interface PlanFlags {
  base?: string;
  branchPattern?: string;
  fileOverlap?: FileOverlapMode;
  /** A pattern with {feature}, or `none`. */
  integrationBranch?: string;
}

/**
 * Reads tasks.md as the run will plan it, so `plan` refuses exactly what `implement` would (exit 2):
 * the parser gets the file-overlap mode and the base and integration branches no task branch may
 * be, and the CLI checks that git can use those two names itself.
 */
export async function loadPlan(tasksPath: string, flags: PlanFlags): Promise<{ text: string; plan: TaskPlan }> {
  const dir = path.dirname(path.resolve(tasksPath));
  if (flags.base !== undefined) {
    // The flag's own check (as its argParser), for callers that build the flags themselves.
    branchNameArg('--base', 'the branch the agents start from, e.g. --base main')(flags.base);
    const tracked = await remoteTrackingName(dir, flags.base);
    if (tracked) {
      throw new CliError(
        `--base '${flags.base}' is this checkout's name for the branch '${tracked.branch}' of the remote '${tracked.remote}'; the agents clone the repository and start from a branch by its own name. Fix: --base ${tracked.branch}`,
      );
    }
  }
  const integrationPattern = flags.integrationBranch ?? DEFAULT_RUN_OPTIONS.integrationBranch;
  const unknown = unknownPlaceholders(integrationPattern, ['{feature}']);
  if (unknown.length > 0) {
    throw new CliError(
      `--integration-branch '${integrationPattern}' has the unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: a feature has one integration branch, so only {feature} is filled. Fix: e.g. --integration-branch '${DEFAULT_RUN_OPTIONS.integrationBranch}', or none`,
    );
  }
  const feature = featureOf(tasksPath);
  const integrationBranch = integrationBranchName({ integrationBranch: integrationPattern }, feature) ?? 'none';
  const baseBranch = flags.base ?? (await currentBranch(dir));
  const loaded = await loadTasksFile(tasksPath, { branchPattern: flags.branchPattern, fileOverlap: flags.fileOverlap, baseBranch, integrationBranch });
  // After the file: a feature folder git refuses is reported first on the tasks' own branches, with their lines.
  const problem = integrationBranch === 'none' ? undefined : refNameProblem(integrationBranch);
  if (problem) {
    const fromFeature = integrationPattern.includes('{feature}') && refNameProblem(integrationPattern.replace(/\{feature\}/g, 'feature')) === undefined;
    const fix = fromFeature
      ? `rename the feature folder "${feature}", or pass --integration-branch without {feature} (or none)`
      : `pass a valid --integration-branch, e.g. '${DEFAULT_RUN_OPTIONS.integrationBranch}', or none`;
    throw new CliError(`the integration branch "${integrationBranch}" (--integration-branch '${integrationPattern}') is not a valid git branch name: ${problem}. Fix: ${fix}`);
  }
  return loaded;
}
