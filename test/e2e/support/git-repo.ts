/**
 * A real bare git repository on the local disk, reachable as a file:// URL: the remote the fake
 * agents push to and the worker's git gateway (`git ls-remote`) verifies against.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export async function git(args: string[], cwd?: string, input?: string): Promise<string> {
  const child = execFileP('git', args, { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  if (input !== undefined) child.child.stdin?.end(input);
  const { stdout } = await child;
  return stdout.trim();
}

export interface BareRepo {
  /** file:// URL the agents clone and push to. */
  url: string;
  dir: string;
  baseBranch: string;
  /** The base branch's commit when the repo was made. */
  baseSha: string;
  /** Commit the remote branch points at, or undefined when it does not exist. */
  branchHead(branch: string): Promise<string | undefined>;
  /** Every branch and its commit. */
  heads(): Promise<Map<string, string>>;
  /** Creates (or moves) branches in one transaction, as if agents had pushed them already. */
  setBranches(branches: string[], sha: string): Promise<void>;
  remove(): void;
}

/** A bare repo with one commit on `baseBranch` holding a spec-kit feature folder. */
/**
 * A global git config that lets non-root uids use the test's bare repository, which root owns (git's
 * safe.directory; only a global or system config counts for the upload-pack of a file:// remote). Point
 * GIT_CONFIG_GLOBAL at the file it returns (written in `dir`, readable by everyone).
 */
export function sharedRepoGitConfig(dir: string): string {
  const file = path.join(dir, 'shared-repo.gitconfig');
  writeFileSync(file, '[safe]\n\tdirectory = *\n', { mode: 0o644 });
  return file;
}

export async function createBareRepo(feature: string, baseBranch = 'main'): Promise<BareRepo> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sdlc-e2e-git-'));
  const dir = path.join(root, 'app.git');
  const seed = path.join(root, 'seed');
  // Readable and writable by the non-root uids of a chart-shaped stack (worker, checkout, publish), which
  // also need safe.directory for a repository another user owns (sharedRepoGitConfig).
  chmodSync(root, 0o755);
  await git(['init', '-q', '--bare', '--shared=0777', '--initial-branch', baseBranch, dir]);
  await git(['init', '-q', '--initial-branch', baseBranch, seed]);
  writeFileSync(path.join(seed, 'README.md'), '# app\n');
  await git(['-c', 'user.name=e2e', '-c', 'user.email=e2e@example.invalid', 'commit', '-q', '--allow-empty', '-m', `seed ${feature}`], seed);
  await git(['add', 'README.md'], seed);
  await git(['-c', 'user.name=e2e', '-c', 'user.email=e2e@example.invalid', 'commit', '-q', '-m', 'README'], seed);
  await git(['push', '-q', dir, `HEAD:refs/heads/${baseBranch}`], seed);
  const baseSha = await git(['rev-parse', 'HEAD'], seed);
  rmSync(seed, { recursive: true, force: true });

  const heads = async () => {
    const out = await git(['for-each-ref', '--format=%(refname:lstrip=2) %(objectname)', 'refs/heads'], dir);
    return new Map(out.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
  };
  return {
    url: `file://${dir}`,
    dir,
    baseBranch,
    baseSha,
    heads,
    async branchHead(branch) {
      return (await heads()).get(branch);
    },
    async setBranches(branches, sha) {
      await git(['update-ref', '--stdin'], dir, branches.map((b) => `update refs/heads/${b} ${sha}\n`).join(''));
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
