/**
 * GitGateway on the git CLI: `git ls-remote` against the remote, and merges (task stacking, feature
 * integration) in a scratch clone on the worker. A token, when given, is read from a file by a credential
 * helper at call time: never in the URL, argv, or the environment of other processes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentialOrigin } from '../../docker/agent/git';
import { addKnownSecretFile, redactText } from '../security/redact';
import { execFileOffThread } from '../util/exec-off-thread';
import { coalesceBranchHeads } from './coalesced-heads';
import {
  describeConflict,
  GitRemoteError,
  type BranchSource,
  type ConflictingFile,
  type GitGateway,
  type IntegrateRequest,
  type IntegrateResult,
  type PrepareBranchRequest,
  type PrepareBranchResult,
} from './gateway';

// Off the main thread: the worker runs its follows, heartbeats and local activities there (exec-off-thread.ts).
const run = execFileOffThread;

/** What git prints when the remote refuses us for good (HTTP 401/403/404, SSH key refused, no such repo). */
const PERMANENT_GIT_FAILURE = /Authentication failed|could not read (Username|Password)|terminal prompts disabled|Permission denied|Repository not found|repository '[^']*' not found|does not appear to be a git repository|returned error: 40[134]|Invalid username or password|Host key verification failed/i;

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@\s]+@/g, '//***@');
}

/** A username the credential protocol carries as is: no whitespace (a newline would add protocol lines), ':' or '@'. */
export const PLAIN_GIT_USERNAME = /^[A-Za-z0-9._~+-]+$/;

/** Who the worker's merge commits are by: fixed, so that the same inputs always give the same commit sha. */
const MERGE_IDENTITY = { name: 'sdlc-runner', email: 'sdlc-runner@users.noreply.invalid' };

/**
 * Config for every git run in a scratch clone. Repository content is untrusted: no hooks (not even from a
 * hooksPath the worker's global config points into the work tree), no fsmonitor command, file:// only
 * for the remote itself (`user`, git's default: never from submodules); and nothing from the worker's own config that would change a merge commit
 * (signing, a shortlog in the message, message cleanup) or run more than asked (submodules, gc).
 */
const SCRATCH_CONFIG = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  // Which remote URLs are allowed at all is decided where the URL enters (the CLI), not here.
  'protocol.file.allow=user',
  'commit.gpgsign=false',
  'commit.cleanup=whitespace',
  'merge.log=false',
  'merge.verifySignatures=false',
  'core.autocrlf=false',
  'submodule.recurse=false',
  'gc.auto=0',
  'maintenance.auto=false',
].flatMap((setting) => ['-c', setting]);

/** Variables that would point git at another repository than the scratch clone. */
const REPO_LOCATION_ENV = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_COMMON_DIR', 'GIT_NAMESPACE'];

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Subjects longer than this are clipped (git log --oneline stays readable). */
const MAX_SUBJECT = 100;

/** Text from tasks.md on one line: a newline in a title must not add lines (or trailers) to a commit message. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function subject(text: string): string {
  const line = oneLine(text);
  return line.length > MAX_SUBJECT ? `${line.slice(0, MAX_SUBJECT - 1)}…` : line;
}

/** The workflow's ISO timestamp as git's raw date (whole seconds, UTC): parsed here, not by git's guesser. */
function gitDate(timestamp: string): string {
  const ms = Date.parse(timestamp);
  if (Number.isNaN(ms)) throw new GitRemoteError(`timestamp ${JSON.stringify(timestamp)} is not a date`, false);
  return `@${Math.floor(ms / 1000)} +0000`;
}

function nulList(stdout: string): string[] {
  return stdout.split('\0').filter((entry) => entry !== '');
}

interface GitRun {
  stdout: string;
  stderr: string;
  code: number;
}

/** The last lines of what a failed git run said (or why it did not run), without anything credential-shaped. */
function failureDetail(err: unknown, timeoutMs: number): string {
  const e = err as { stderr?: string; message?: string; killed?: boolean; signal?: string };
  if (e.killed && e.signal) return `timed out after ${timeoutMs} ms`;
  const stderr = String(e.stderr ?? '').trim().split('\n').slice(-2).join(' ');
  return redactText(redactUrl(stderr || String(e.message ?? err)));
}

/** A scratch clone of one repository: git runs in it with the scratch config; removed (with everything in it) by its owner. */
interface Scratch {
  /** Runs a local git command; exit codes in `allow` are returned, others throw (retryable). */
  git(args: string[], allow?: number[]): Promise<GitRun>;
  /** Runs a command that talks to the remote; failures are GitRemoteErrors, permanent when the remote refuses us. */
  remote(operation: 'ls-remote' | 'fetch' | 'push', args: string[]): Promise<string>;
}

export function createCliGitGateway(opts: { tokenFile?: string; username?: string; timeoutMs?: number } = {}): GitGateway {
  const username = opts.username ?? 'x-access-token';
  if (!PLAIN_GIT_USERNAME.test(username)) {
    throw new Error(`git username ${JSON.stringify(username)} is not a plain username: use letters, digits and . _ ~ + - only`);
  }
  // From the start, not only from the first git run: agent log lines the worker stores come before that.
  if (opts.tokenFile) addKnownSecretFile(opts.tokenFile);
  const remoteReadTimeoutMs = opts.timeoutMs ?? 30_000;
  // A fetch of a large repository or a checkout takes longer than a ref listing.
  const scratchTimeoutMs = opts.timeoutMs ?? 300_000;

  /** What every git run gets: no prompts, and the token (when set) from a helper that only the repository's origin asks. */
  function credentialEnv(repoUrl: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
    const origin = credentialOrigin(repoUrl);
    if (opts.tokenFile && origin) {
      // Masked (also encoded) in whatever the worker stores or prints; re-read here, so a rotated token is too.
      addKnownSecretFile(opts.tokenFile);
      // git runs this helper itself; the helper reads the file. The token never appears in argv.
      // Scoped to the repository's scheme://host[:port], so a redirect to another host gets no token.
      // The username also comes from the environment, never spliced into the shell text.
      env.GIT_CONFIG_COUNT = '2';
      env.GIT_CONFIG_KEY_0 = 'credential.helper';
      env.GIT_CONFIG_VALUE_0 = '';
      env.GIT_CONFIG_KEY_1 = `credential.${origin}.helper`;
      env.GIT_CONFIG_VALUE_1 = `!f() { test "$1" = get || exit 0; printf 'username=%s\\n' "$SDLC_GIT_USERNAME"; printf 'password=%s\\n' "$(cat "$SDLC_GIT_TOKEN_FILE")"; }; f`;
      env.SDLC_GIT_TOKEN_FILE = opts.tokenFile;
      env.SDLC_GIT_USERNAME = username;
    }
    return env;
  }

  /** A remote operation's failure: permanent (fail the task now, with the fix) when the remote refuses us for good. */
  function remoteFailure(operation: string, repoUrl: string, err: unknown, timeoutMs: number): GitRemoteError {
    const detail = failureDetail(err, timeoutMs);
    const message = `git ${operation} ${redactUrl(repoUrl)} failed: ${detail}`;
    if (PERMANENT_GIT_FAILURE.test(String((err as { stderr?: string }).stderr ?? ''))) {
      return new GitRemoteError(
        `${message}. Fix: check that the repository URL is right and that the worker's git credentials ` +
          `(SDLC_GIT_TOKEN_FILE${opts.tokenFile ? '' : ', not set'}) can ${operation === 'push' ? 'push to' : 'read'} it`,
        false,
      );
    }
    return new GitRemoteError(message, true);
  }

  /** Runs `body` in a fresh scratch clone of `repoUrl` (only `origin` set up, nothing fetched), removed afterwards whatever happens. */
  async function inScratch<T>(repoUrl: string, timestamp: string, body: (s: Scratch) => Promise<T>): Promise<T> {
    const date = gitDate(timestamp);
    const env = credentialEnv(repoUrl);
    for (const name of REPO_LOCATION_ENV) delete env[name];
    Object.assign(env, {
      GIT_AUTHOR_NAME: MERGE_IDENTITY.name,
      GIT_AUTHOR_EMAIL: MERGE_IDENTITY.email,
      GIT_COMMITTER_NAME: MERGE_IDENTITY.name,
      GIT_COMMITTER_EMAIL: MERGE_IDENTITY.email,
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sdlc-git-merge-'));
    const exec = (args: string[]) => run('git', [...SCRATCH_CONFIG, ...args], { cwd: dir, env, timeout: scratchTimeoutMs, maxBuffer: 64 * 1024 * 1024 });
    const scratch: Scratch = {
      async git(args, allow = []) {
        try {
          const { stdout, stderr } = await exec(args);
          return { stdout, stderr, code: 0 };
        } catch (err) {
          const e = err as { code?: unknown; stdout?: string; stderr?: string };
          if (typeof e.code === 'number' && allow.includes(e.code)) return { stdout: String(e.stdout ?? ''), stderr: String(e.stderr ?? ''), code: e.code };
          throw new GitRemoteError(`git ${args[0]} in the worker's scratch clone of ${redactUrl(repoUrl)} failed: ${failureDetail(err, scratchTimeoutMs)}`, true);
        }
      },
      async remote(operation, args) {
        try {
          return (await exec(args)).stdout;
        } catch (err) {
          throw remoteFailure(operation, repoUrl, err, scratchTimeoutMs);
        }
      },
    };
    try {
      await scratch.git(['init', '-q']);
      await scratch.git(['remote', 'add', 'origin', repoUrl]);
      return await body(scratch);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Heads of the given branches on the remote (absent: no such branch), in one round trip. */
  async function remoteHeads(s: Scratch, branches: string[]): Promise<Map<string, string>> {
    const stdout = await s.remote('ls-remote', ['ls-remote', '--heads', '--', 'origin', ...branches.map((b) => `refs/heads/${b}`)]);
    return parseHeads(stdout, branches);
  }

  /**
   * Fetches what a merge needs: the base and `own` branch (when they exist) and every source's branch,
   * and resolves each source's commit (given, or its branch's head), which its branch must contain.
   */
  async function fetchForMerge(s: Scratch, repoUrl: string, req: { baseBranch: string; sources: BranchSource[] }, own: string) {
    const names = [...new Set([req.baseBranch, own, ...req.sources.map((src) => src.branch)])];
    for (const name of names) {
      const valid = await s.git(['check-ref-format', `refs/heads/${name}`], [1]);
      if (valid.code !== 0) throw new GitRemoteError(`${JSON.stringify(name)} is not a valid branch name`, false);
    }
    for (const src of req.sources) {
      if (src.commit !== undefined && !FULL_SHA.test(src.commit)) throw new GitRemoteError(`task ${src.taskId}: ${JSON.stringify(src.commit)} is not a full commit sha`, false);
    }
    const listed = await remoteHeads(s, names);
    if (!listed.has(req.baseBranch)) throw new GitRemoteError(`the base branch ${req.baseBranch} does not exist on ${redactUrl(repoUrl)}`, false);
    for (const src of req.sources) {
      if (!listed.has(src.branch)) throw new GitRemoteError(`task ${src.taskId}'s branch ${src.branch} does not exist on ${redactUrl(repoUrl)}`, false);
    }
    // Numbered local refs: branch names never meet each other (or git's own ref namespaces) in the scratch clone.
    const localRef = new Map(names.filter((name) => listed.has(name)).map((name, i) => [name, `refs/sdlc/${i}`]));
    await s.remote('fetch', ['fetch', '-q', '--no-tags', '--no-recurse-submodules', '--no-write-fetch-head', 'origin', ...[...localRef].map(([name, ref]) => `+refs/heads/${name}:${ref}`)]);
    const fetched = new Map<string, string>();
    for (const [name, ref] of localRef) fetched.set(name, (await s.git(['rev-parse', '--verify', `${ref}^{commit}`])).stdout.trim());
    const commits: string[] = [];
    for (const src of req.sources) {
      const head = fetched.get(src.branch)!;
      if (src.commit === undefined || src.commit === head) {
        commits.push(head);
        continue;
      }
      // Exit 1: not an ancestor; 128: no such object here (the fetched branch does not reach it).
      const onBranch = await s.git(['merge-base', '--is-ancestor', src.commit, localRef.get(src.branch)!], [1, 128]);
      if (onBranch.code !== 0) {
        throw new GitRemoteError(
          `task ${src.taskId}'s commit ${src.commit} is not on its branch ${src.branch} (now at ${head}): the branch was moved after the task was verified`,
          false,
        );
      }
      commits.push(src.commit);
    }
    return { base: fetched.get(req.baseBranch)!, own: fetched.get(own), commits };
  }

  async function isAncestor(s: Scratch, commit: string, of: string): Promise<boolean> {
    return (await s.git(['merge-base', '--is-ancestor', commit, of], [1])).code === 0;
  }

  /** Merges `commit` into HEAD with a merge commit. On a conflict: the unmerged paths, the merge aborted (clean tree). */
  async function merge(s: Scratch, commit: string, message: string): Promise<string[] | undefined> {
    const result = await s.git(['merge', '--no-ff', '--no-edit', '-m', message, commit], [1, 128]);
    if (result.code === 0) return undefined;
    const unmerged = nulList((await s.git(['diff', '--name-only', '-z', '--diff-filter=U'])).stdout);
    if (unmerged.length === 0) {
      const detail = redactText((result.stderr || result.stdout).trim().split('\n').slice(-2).join(' '));
      // Unrelated histories stay unrelated: retrying cannot help.
      throw new GitRemoteError(`git merge ${commit} failed: ${detail}`, !/unrelated histories/.test(detail));
    }
    await s.git(['merge', '--abort']);
    return unmerged;
  }

  /** For each conflicting path, the tasks whose work changed it: what each `changers` commit changed since it left the base. */
  async function attribute(s: Scratch, paths: string[], base: string, changers: { taskId: string; commit: string }[]): Promise<ConflictingFile[]> {
    const changedBy: { taskId: string; files: Set<string> }[] = [];
    for (const { taskId, commit } of changers) {
      const forkPoint = await s.git(['merge-base', base, commit], [1]);
      if (forkPoint.code !== 0) continue;
      const files = nulList((await s.git(['diff', '--name-only', '--no-renames', '-z', forkPoint.stdout.trim(), commit])).stdout);
      changedBy.push({ taskId, files: new Set(files) });
    }
    return paths.map((file) => ({ path: file, tasks: [...new Set(changedBy.filter((c) => c.files.has(file)).map((c) => c.taskId))] }));
  }

  /**
   * Points the remote branch at `head`, if only it is still at `old` (undefined: must not exist). A refused push
   * whose branch is already at `head` is this same call retried: done. Checked with ls-remote afterwards.
   */
  async function publish(s: Scratch, branch: string, head: string, old: string | undefined): Promise<void> {
    if (head === old) return;
    try {
      await s.remote('push', ['push', '-q', '--no-verify', '--no-signed', '--recurse-submodules=no', `--force-with-lease=refs/heads/${branch}:${old ?? ''}`, 'origin', `${head}:refs/heads/${branch}`]);
    } catch (err) {
      const now = await remoteHeads(s, [branch]).then((heads) => heads.get(branch), () => undefined);
      if (now === head) return;
      throw err;
    }
    const now = (await remoteHeads(s, [branch])).get(branch);
    if (now !== head) throw new GitRemoteError(`pushed ${head} to ${branch}, but the remote branch is at ${now ?? 'nothing'} (moved by someone else)`, true);
  }

  return {
    branchHead: coalesceBranchHeads(async (repoUrl, branches) => {
      try {
        const { stdout } = await run('git', ['ls-remote', '--heads', '--', repoUrl, ...branches.map((b) => `refs/heads/${b}`)], { env: credentialEnv(repoUrl), timeout: remoteReadTimeoutMs });
        return parseHeads(stdout, branches);
      } catch (err) {
        throw remoteFailure('ls-remote', repoUrl, err, remoteReadTimeoutMs);
      }
    }),

    async prepareTaskBranch(req: PrepareBranchRequest): Promise<PrepareBranchResult> {
      if (req.sources.length === 0) throw new GitRemoteError(`prepareTaskBranch for ${req.taskId}: no sources (a task without dependencies starts from the base)`, false);
      return inScratch(req.repoUrl, req.timestamp, async (s) => {
        const { base, own, commits } = await fetchForMerge(s, req.repoUrl, req, req.branch);
        await s.git(['checkout', '-q', '--detach', own ?? commits[0]!]);
        const merged: string[] = [];
        const contained: string[] = [];
        for (const [i, src] of req.sources.entries()) {
          const commit = commits[i]!;
          if (!own && i === 0) {
            merged.push(src.taskId);
            continue;
          }
          if (await isAncestor(s, commit, 'HEAD')) {
            contained.push(src.taskId);
            continue;
          }
          const message = `${subject(`Stack ${src.taskId} into ${req.taskId}: ${src.title}`)}\n\nSdlc-Stack-For: ${oneLine(req.taskId)}\nSdlc-Stack-Source: ${oneLine(src.taskId)} ${commit}\n`;
          const unmerged = await merge(s, commit, message);
          if (unmerged) {
            const changers = [...(own ? [{ taskId: req.taskId, commit: own }] : []), ...req.sources.slice(0, i + 1).map((x, j) => ({ taskId: x.taskId, commit: commits[j]! }))];
            const files = await attribute(s, unmerged, base, changers);
            return { kind: 'conflict', files, message: describeConflict(files, `merging ${src.taskId} into ${req.taskId}'s branch conflicts`) };
          }
          merged.push(src.taskId);
        }
        const head = (await s.git(['rev-parse', 'HEAD'])).stdout.trim();
        await publish(s, req.branch, head, own);
        return { kind: 'ready', head, created: !own, merged, contained };
      });
    },

    async integrate(req: IntegrateRequest): Promise<IntegrateResult> {
      return inScratch(req.repoUrl, req.timestamp, async (s) => {
        const { base, own, commits } = await fetchForMerge(s, req.repoUrl, req, req.branch);
        await s.git(['checkout', '-q', '--detach', base]);
        const included: IntegrateResult['included'] = [];
        /**
         * Tasks whose own merge conflicted but whose work a later task's branch holds (where the user resolved
         * the conflict, as the blocked task's reason says): that later merge brings them in, resolved.
         */
        let deferred: { taskId: string; commit: string }[] = [];
        let conflict: IntegrateResult['conflict'];
        let stoppedAt = req.sources.length;
        for (const [i, src] of req.sources.entries()) {
          const commit = commits[i]!;
          if (!(await isAncestor(s, commit, 'HEAD'))) {
            const also = (await Promise.all(deferred.map(async (d) => ((await isAncestor(s, d.commit, commit)) ? d : undefined)))).filter((d) => d !== undefined);
            const trailers = [src, ...also].map((x) => `Sdlc-Integrate: ${oneLine(x.taskId)} ${x === src ? commit : (x as { commit: string }).commit}`).join('\n');
            const message = `${subject(`Integrate ${src.taskId}: ${src.title}`)}\n\n${trailers}\nSdlc-Run-Id: ${oneLine(req.runId)}\n`;
            const unmerged = await merge(s, commit, message);
            if (unmerged) {
              let holder = false;
              for (const j of req.sources.keys()) if (j > i && (await isAncestor(s, commit, commits[j]!))) holder = true;
              if (holder) {
                deferred.push({ taskId: src.taskId, commit });
                continue;
              }
              const files = await attribute(s, unmerged, base, req.sources.slice(0, i + 1).map((x, j) => ({ taskId: x.taskId, commit: commits[j]! })));
              conflict = { taskId: src.taskId, files, message: describeConflict(files, `integrating ${src.taskId} into ${req.branch} conflicts`) };
              stoppedAt = i;
              break;
            }
          }
          // Deferred tasks this merge brought in count as integrated, in tasks order (before the task that held them).
          const held = await Promise.all(deferred.map((d) => isAncestor(s, d.commit, 'HEAD')));
          included.push(...deferred.filter((_, k) => held[k]), { taskId: src.taskId, commit });
          deferred = deferred.filter((_, k) => !held[k]);
        }
        const head = (await s.git(['rev-parse', 'HEAD'])).stdout.trim();
        // Derived from the base and the task branches: replaced, as long as nobody moved it since we looked.
        await publish(s, req.branch, head, own);
        const skipped = [...deferred.map((d) => d.taskId), ...req.sources.slice(stoppedAt + 1).map((x) => x.taskId)];
        return { head, included, ...(conflict ? { conflict } : {}), skipped };
      });
    },
  };
}

/** `git ls-remote` output as branch → sha, for exactly the branches asked (its patterns also match longer names). */
function parseHeads(stdout: string, branches: string[]): Map<string, string> {
  const heads = new Map<string, string>();
  const asked = new Set(branches);
  for (const line of stdout.split('\n')) {
    const [sha, ref] = line.split('\t');
    const branch = ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
    if (sha && branch !== undefined && asked.has(branch)) heads.set(branch, sha);
  }
  return heads;
}
