/** The `sdlc-runner init` command: plan, print, and (unless --dry-run or conflicts) write. */
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { CliError } from '../cli/errors';
import { applyInit, conflicts, formatPlan, planInit } from './install';

export interface InitFlags {
  force?: boolean;
  dryRun?: boolean;
  dir?: string;
}

/**
 * The spec-kit project (the nearest folder with .specify/, from `dir` up to the repository root: a
 * spec-kit project may sit in a subfolder of a larger repository), else the repository root (so running
 * init from a subfolder installs at the top), else the folder itself.
 */
function projectRoot(given: string): string {
  const dir = existsSync(given) ? realpathSync(given) : given; // git answers with the real path (e.g. macOS /var → /private/var)
  let top: string;
  try {
    top = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || dir;
  } catch {
    // The installed commands run `sdlc-runner implement`, which takes the repository from git (origin, branch).
    throw new CliError(`${dir} is not in a git repository: the commands init installs start runs of the repository's origin. Fix: run 'sdlc-runner init' inside your repository (after 'git init' for a new one), or pass --dir <repository>`);
  }
  const rel = path.relative(top, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return top; // e.g. a symlinked path: the repository root as before
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, '.specify'))) return d;
    if (d === top || path.dirname(d) === d) return top;
  }
}

export function initCommand(flags: InitFlags, io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream }): number {
  const root = projectRoot(path.resolve(flags.dir ?? process.cwd()));
  const plan = planInit(root, { force: flags.force });
  // What was done is said once it is done: a failed write claims nothing.
  if (flags.dryRun || conflicts(plan).length) io.out.write(formatPlan(plan, !!flags.dryRun));
  const conflicting = conflicts(plan);
  if (conflicting.length) {
    throw new CliError(
      `not written: ${conflicting.map((f) => `${f.file} (${f.why})`).join('; ')}. ` +
        `Keep your version, or run 'sdlc-runner init --force' to replace ${conflicting.length > 1 ? 'them' : 'it'} with ours (your edits there are lost).` +
        (flags.dryRun ? '' : ' Nothing was written.'),
    );
  }
  if (flags.dryRun) {
    io.out.write('dry run: nothing written\n');
    return 0;
  }
  try {
    applyInit(plan);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CliError(`cannot write in ${root}: ${e.code ?? e.message}${e.path ? ` (${e.path})` : ''}. Fix: run init where you may write (check the folder's permissions and that nothing there is a file where a folder is needed). Nothing was written.`);
  }
  io.out.write(formatPlan(plan, false));
  const changed = plan.files.filter((f) => f.kind !== 'unchanged').length;
  io.out.write(changed ? `sdlc-runner init: ${changed} file(s) written in ${root}. In OpenCode: /implement-async${plan.specKit.present ? ' (or /speckit.implement, which now hands the [ASYNC] tasks to sdlc-runner first)' : ''}\n` : `sdlc-runner init: already installed in ${root}; nothing to do\n`);
  return 0;
}
