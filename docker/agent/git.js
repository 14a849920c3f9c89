'use strict';
/**
 * Git for the checkout and publish phases: clone, commit, push. Credentials never appear in the remote
 * URL, in argv or in output: an HTTPS token is handed to git by a credential helper that reads the
 * mounted token file when git asks; an SSH key goes through GIT_SSH_COMMAND with strict known_hosts
 * checking. Helper configuration travels in GIT_CONFIG_* environment variables, not on the command line.
 *
 * The phases' git directory lives in a volume the agent does not mount (SDLC_GIT_STATE_DIR); the agent
 * gets a clone of its own in the workspace. Publish reads only the worktree's files from there, never
 * its .git: hooks, core.fsmonitor, filters, includes and remotes the agent writes are never seen.
 * Command-line config (GIT_CONFIG_*) also turns hooks and fsmonitor off for every command, as a second wall.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

class GitError extends Error {}

/** Failures that another attempt cannot fix: retrying them only delays the report. */
const PERMANENT_FAILURE = /Authentication failed|HTTP (401|403)|could not read (Username|Password)|Permission denied \(publickey|Host key verification failed|Repository not found|not found: did you run|does not appear to be a git repository|couldn't find remote ref|\[rejected\]|\[remote rejected\]|non-fast-forward|egress proxy refused|HTTP code 40[37] from proxy/i;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `scheme://host[:port]` of an http(s) repository URL (the scope of its credential helper); else undefined. The worker's branch check (src/git/cli-gateway.ts) uses this same function. */
function credentialOrigin(repoUrl) {
  try {
    const url = new URL(repoUrl);
    return /^https?:$/.test(url.protocol) ? `${url.protocol}//${url.host}` : undefined;
  } catch {
    return undefined;
  }
}

/** Shell-quotes one word for GIT_SSH_COMMAND / helper commands (paths we control, still quoted). */
function shq(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

class Git {
  /**
   * @param {object} cfg validated config (config.js)
   * @param {{ info(line: string): void }} log redacting logger
   * @param {string} privateDir directory only this process uses (a copy of the SSH key lands here)
   */
  constructor(cfg, log, privateDir, retryDelaysMs = [1000, 3000]) {
    this.cfg = cfg;
    this.log = log;
    this.retryDelaysMs = retryDelaysMs;
    this.stopped = false;
    this.env = this.buildEnv(privateDir);
    /** The phases' own git directory (bare), in the volume the agent does not mount. */
    this.gitDir = path.join(cfg.gitStateDir, 'repo.git');
  }

  /** The pod is stopping: an operation under way may finish, but failed ones are not retried. */
  stopRetrying() {
    this.stopped = true;
  }

  buildEnv(privateDir) {
    const env = {
      ...process.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '',
      SSH_ASKPASS: '',
      GIT_AUTHOR_NAME: this.cfg.authorName,
      GIT_AUTHOR_EMAIL: this.cfg.authorEmail,
      GIT_COMMITTER_NAME: this.cfg.authorName,
      GIT_COMMITTER_EMAIL: this.cfg.authorEmail,
      // Ignore the machine's and user's git config (helpers, rewrites): only what is set here applies.
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      // Never look for a repository above the phases' own directory.
      GIT_CEILING_DIRECTORIES: path.dirname(this.cfg.gitStateDir),
    };
    const config = [
      // An empty value resets any inherited helper list before ours.
      ['credential.helper', ''],
      ['commit.gpgsign', 'false'],
      ['init.defaultBranch', 'main'],
      // Nothing from a repository runs with the credential: no hooks, no fsmonitor command.
      ['core.hooksPath', '/dev/null'],
      ['core.fsmonitor', 'false'],
    ];
    const origin = credentialOrigin(this.cfg.repoUrl);
    if (this.cfg.tokenFile && origin) {
      const helper = path.join(__dirname, 'git-credential-token-file.js');
      // Scoped to the repository's scheme://host[:port]: a redirect or a submodule on another host gets no token.
      config.push([`credential.${origin}.helper`, `!${shq(process.execPath)} ${shq(helper)}`]);
      env.SDLC_GIT_TOKEN_FILE = this.cfg.tokenFile;
      env.SDLC_GIT_USERNAME = this.cfg.gitUsername;
    }
    if (this.cfg.sshKeyFile) {
      // ssh refuses keys readable by others; Secret mounts are often 0644, so use a private copy.
      fs.mkdirSync(privateDir, { recursive: true, mode: 0o700 });
      const key = path.join(privateDir, 'ssh-key');
      fs.copyFileSync(this.cfg.sshKeyFile, key);
      fs.chmodSync(key, 0o600);
      env.GIT_SSH_COMMAND = [
        'ssh', '-i', shq(key), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
        '-o', `UserKnownHostsFile=${shq(this.cfg.knownHostsFile)}`, '-o', 'StrictHostKeyChecking=yes',
        // The pod's egress goes through the proxy (its NetworkPolicy allows nothing else): ssh tunnels
        // through it with CONNECT, as git's https does by itself; NO_PROXY hosts are reached directly.
        ...(env.HTTPS_PROXY || env.https_proxy ? ['-o', shq(`ProxyCommand=${shq(process.execPath)} ${shq(path.join(__dirname, 'proxy-agent.js'))} connect %h %p`)] : []),
      ].join(' ');
    }
    env.GIT_CONFIG_COUNT = String(config.length);
    config.forEach(([key, value], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = key;
      env[`GIT_CONFIG_VALUE_${i}`] = value;
    });
    return env;
  }

  /**
   * Runs git; resolves { code, stdout, stderr } (never rejects on a non-zero exit). With `opts.deadline`
   * (epoch ms) git is killed then and the result says so.
   */
  run(args, opts = {}) {
    return new Promise((resolve, reject) => {
      // Default cwd: the phases' own directory, so no repository the agent wrote is ever discovered.
      const child = spawn('git', args, { cwd: opts.cwd ?? this.cfg.gitStateDir, env: this.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = opts.deadline === undefined ? undefined : setTimeout(() => {
        stderr += `\nkilled: no answer within the time allowed`;
        child.kill('SIGKILL');
      }, Math.max(0, opts.deadline - Date.now()));
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout, stderr });
      });
      if (opts.input !== undefined) child.stdin.end(opts.input);
    });
  }

  /** Runs git and throws GitError (with git's own, redacted-on-print message) on failure. */
  async must(what, args, opts) {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new GitError(`${what} failed: ${lastLines(r.stderr || r.stdout)}`);
    return r.stdout.trim();
  }

  /** Network operations get retries with back-off, except failures a retry cannot fix (and none past `opts.deadline`). */
  async withRetries(what, args, opts = {}) {
    for (let attempt = 1; ; attempt++) {
      const r = await this.run(args, opts);
      if (r.code === 0) return r.stdout.trim();
      const message = lastLines(r.stderr || r.stdout);
      const delay = this.retryDelaysMs[attempt - 1];
      if (PERMANENT_FAILURE.test(`${r.stderr}\n${r.stdout}`) || delay === undefined || this.stopped || (opts.deadline !== undefined && Date.now() + delay >= opts.deadline)) {
        throw new GitError(`${what} failed${attempt > 1 ? ` after ${attempt} attempts` : ''}: ${message}`);
      }
      this.log.info(`${what} failed (attempt ${attempt}), retrying in ${delay} ms: ${message}`);
      await sleep(delay);
      if (this.stopped) throw new GitError(`${what} failed (not retried: the pod is stopping): ${message}`);
    }
  }

  async remoteBranchSha(branch) {
    const out = await this.withRetries(`git ls-remote ${branch}`, ['ls-remote', '--heads', this.cfg.repoUrl, `refs/heads/${branch}`]);
    const sha = out.split(/\s+/)[0];
    return sha && /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
  }

  /** git on the phases' own git directory, with `workTree` as its work tree when given. */
  inGitDir(what, args, workTree, opts = {}) {
    const pre = ['--git-dir', this.gitDir, ...(workTree ? ['--work-tree', workTree] : [])];
    return this.must(what, [...pre, ...args], { ...opts, cwd: workTree ?? this.cfg.gitStateDir });
  }

  /**
   * Checkout: clones the task branch when it exists (a retry continues on top of earlier work), else the
   * base branch and creates the task branch from it, into the phases' own bare git directory; then gives
   * the agent a clone of its own at `workTree` (group-writable, origin = the repository URL, no credential).
   * @returns {{ resumed: boolean, startSha: string, previousCommit?: string }}
   */
  async checkout(workTree) {
    const { taskBranch, baseBranch, repoUrl } = this.cfg;
    const existing = await this.remoteBranchSha(taskBranch);
    const source = existing ? taskBranch : baseBranch;
    if (!existing && !(await this.remoteBranchSha(baseBranch))) {
      throw new GitError(`base branch '${baseBranch}' does not exist in the remote repository`);
    }
    fs.rmSync(this.gitDir, { recursive: true, force: true });
    await this.withRetries('git clone', ['clone', '--quiet', '--bare', '--single-branch', '--branch', source, '--config', 'core.sharedRepository=group', '--', repoUrl, this.gitDir]);
    const ref = `refs/heads/${taskBranch}`;
    if (!existing) await this.inGitDir('git update-ref', ['update-ref', ref, `refs/heads/${source}`]);
    await this.inGitDir('git symbolic-ref', ['symbolic-ref', 'HEAD', ref]);
    const startSha = await this.inGitDir('git rev-parse', ['rev-parse', 'HEAD']);
    await this.must('git clone', ['clone', '--quiet', '--no-hardlinks', '--branch', taskBranch, '--config', 'core.sharedRepository=group', '--', this.gitDir, workTree]);
    await this.must('git remote', ['remote', 'set-url', 'origin', repoUrl], { cwd: workTree });
    if (!existing) return { resumed: false, startSha };
    // A stacked branch may hold only its dependencies' work (merged by the runner): the agent resumes
    // only when it also holds a commit of this task's own (its Sdlc-Task-Id trailer).
    const stacked = Boolean(this.cfg.stackedOn && this.cfg.stackedOn.length);
    const own = await this.inGitDir('git log', ['log', '-1', '--format=%s', '--fixed-strings', `--grep=Sdlc-Task-Id: ${this.cfg.taskId}`]);
    if (stacked && !own) return { resumed: false, startSha };
    const previousCommit = own || (await this.inGitDir('git log', ['log', '-1', '--format=%s']));
    return { resumed: true, startSha, previousCommit };
  }

  /**
   * Publish: stages the agent's worktree files (not its .git) in the phases' own index, from the task
   * branch's head. @returns the changed paths against `sinceSha` (name-status lines).
   */
  async stageWorktree(workTree, sinceSha) {
    await this.inGitDir('git read-tree', ['read-tree', 'HEAD'], workTree);
    await this.inGitDir('git add', ['add', '--all'], workTree);
    const out = await this.inGitDir('git diff', ['diff', '--cached', '--name-status', sinceSha], workTree);
    return out ? out.split('\n') : [];
  }

  /** Commits what stageWorktree staged, with the message on stdin (no size limit, nothing in argv). */
  async commitStaged(workTree, message) {
    await this.inGitDir('git commit', ['commit', '--quiet', '--no-verify', '--file', '-'], workTree, { input: message });
    return this.inGitDir('git rev-parse', ['rev-parse', 'HEAD']);
  }

  async countCommits(sinceSha) {
    return Number(await this.inGitDir('git rev-list', ['rev-list', '--count', `${sinceSha}..HEAD`]));
  }

  /** Pushes the task branch, and only it, to the repository URL itself; then reads the remote head back. */
  async pushTaskBranch() {
    const ref = `refs/heads/${this.cfg.taskBranch}`;
    await this.withRetries('git push', ['--git-dir', this.gitDir, 'push', '--quiet', '--porcelain', this.cfg.repoUrl, `${ref}:${ref}`]);
    const local = await this.inGitDir('git rev-parse', ['rev-parse', ref]);
    const remote = await this.remoteBranchSha(this.cfg.taskBranch);
    if (remote !== local) throw new GitError(`after push the remote branch head is ${remote ?? 'missing'}, expected ${local}`);
    return local;
  }

  /**
   * Publish: `files` ({ name: content }) as one parentless commit, force-pushed to `ref` (an attempt's
   * pod owns its ref; log-archive.js), all within `timeoutMs`. @returns the commit's sha.
   */
  async pushArchive(ref, files, message, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    // A failed checkout may have left no git directory: the archive needs only an object store.
    if (!fs.existsSync(this.gitDir)) await this.must('git init', ['init', '--quiet', '--bare', this.gitDir]);
    const entries = [];
    for (const [name, content] of Object.entries(files)) {
      const blob = await this.inGitDir('git hash-object', ['hash-object', '-w', '--stdin'], undefined, { input: content });
      entries.push(`100644 blob ${blob}\t${name}`);
    }
    const tree = await this.inGitDir('git mktree', ['mktree'], undefined, { input: `${entries.join('\n')}\n` });
    const commit = await this.inGitDir('git commit-tree', ['commit-tree', tree], undefined, { input: message });
    await this.withRetries('git push (log archive)', ['--git-dir', this.gitDir, 'push', '--quiet', '--porcelain', '--force', this.cfg.repoUrl, `${commit}:${ref}`], { deadline });
    return commit;
  }
}

/** git's last lines; a refusal by the egress proxy (ssh's ProxyCommand says it first) always leads: it is the reason. */
function lastLines(text, n = 6) {
  const lines = String(text).trim().split(/\r?\n/);
  const proxy = lines.filter((l) => l.startsWith('proxy-agent: '));
  return [...proxy, ...lines.filter((l) => !proxy.includes(l)).slice(-n)].join(' | ') || '(no output)';
}

module.exports = { Git, GitError, credentialOrigin };
