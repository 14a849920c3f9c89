/** Repository defaults from the local checkout: `git remote get-url origin` and the current branch. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { gitUrlProblem } from '../security/git-policy';
import { CliError } from './errors';

const run = promisify(execFile);

async function git(cwd: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run('git', args, { cwd });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses URLs with embedded credentials: they would land in workflow history and pod specs. `where` names
 * the source (`--repo`, git remote 'origin' of …); the URL itself is never echoed.
 */
export function assertNoCredentials(url: string, where?: string): void {
  if (/^[a-z+]+:\/\/[^/]*@/i.test(url) && !/^ssh:\/\/[^/:@]+@/i.test(url)) {
    throw new CliError(`${where ? `${where}: ` : ''}the repository URL carries credentials (user:token@host). Fix: remove them from the URL (https://host/owner/repo.git): agents read git credentials from a mounted Secret, and a URL is stored in workflow history`);
  }
}

/** `--repo <url>` where it enters: no credentials in it (never echoed), and a URL git clones from a server. */
export function repoUrlArg(url: string): string {
  assertNoCredentials(url, '--repo');
  if (url !== url.trim()) throw new CliError(`--repo ${JSON.stringify(url)} starts or ends with whitespace (pasted with a space or newline?). Fix: pass the URL alone, e.g. --repo ${url.trim() || 'https://host/owner/repo.git'}`);
  const problem = gitUrlProblem(url);
  if (problem) throw new CliError(`--repo ${problem}`);
  return url;
}

export async function resolveRepository(tasksFile: string, flags: { repo?: string; base?: string }): Promise<{ url: string; baseBranch: string; root?: string }> {
  const dir = path.dirname(path.resolve(tasksFile));
  const root = await git(dir, ['rev-parse', '--show-toplevel']);
  if (flags.repo !== undefined) repoUrlArg(flags.repo);
  const url = flags.repo ?? (await git(dir, ['remote', 'get-url', 'origin']));
  if (!url) throw new CliError(`no repository URL: ${dir} has no git remote 'origin'. Pass --repo <url>.`);
  if (flags.repo === undefined) assertNoCredentials(url, `git remote 'origin' of ${root ?? dir}`);
  const problem = gitUrlProblem(url);
  if (problem) throw new CliError(`git remote 'origin' of ${root ?? dir}: ${problem}. Fix: pass --repo with the repository's URL on its server, or set origin to it ('git remote set-url origin <url>')`);
  const baseBranch = flags.base ?? (await currentBranch(dir));
  if (!baseBranch) throw new CliError(`no base branch: ${dir} is not on a branch. Pass --base <branch>.`);
  return { url, baseBranch, root };
}

/**
 * When `branch` is `<remote>/<name>` for a remote of the checkout in `dir` and no local branch has that
 * whole name: the remote-tracking name a user copied from `git branch -a`, not a branch the remote has.
 */
export async function remoteTrackingName(dir: string, branch: string): Promise<{ remote: string; branch: string } | undefined> {
  const slash = branch.indexOf('/');
  if (slash <= 0) return undefined;
  const remote = branch.slice(0, slash);
  const remotes = (await git(dir, ['remote']))?.split('\n') ?? [];
  if (!remotes.includes(remote)) return undefined;
  if (await git(dir, ['rev-parse', '--verify', '-q', `refs/heads/${branch}`])) return undefined;
  return { remote, branch: branch.slice(slash + 1) };
}

/** The branch checked out in `dir`, or undefined (not a checkout, or a detached HEAD). */
export async function currentBranch(dir: string): Promise<string | undefined> {
  const branch = await git(dir, ['symbolic-ref', '--short', '-q', 'HEAD']);
  return branch === 'HEAD' ? undefined : branch;
}

/** `sdlc-<repo name>-<feature>`: one running run per repository and feature (Temporal enforces it). */
export function runWorkflowId(repoUrl: string, feature: string): string {
  const name = repoUrl.replace(/\.git$/, '').split(/[/:]/).filter(Boolean).pop() ?? 'repo';
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return `sdlc-${slug(name)}-${slug(feature)}`;
}

/** The URL of `origin` of the checkout around `dir`, when there is one (no check: only to narrow a search). */
export function originUrl(dir: string): Promise<string | undefined> {
  return git(dir, ['remote', 'get-url', 'origin']);
}
