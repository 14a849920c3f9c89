import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { parseResultLine, RESULT_LINE_PREFIX, type AgentResult } from '../../src/contract/result-line';
import { repoRoot, toolPath } from '../../src/tools';
import { startGitServer, type GitServer } from '../support/git-server';
import { scriptedProviderConfig, SCRIPTED_MODEL_ID, startModelServer, type ModelServer, type Scenario } from '../support/model-server';

/** The very file the image's ENTRYPOINT runs. */
export const ENTRYPOINT = path.join(repoRoot, 'docker', 'agent-entrypoint.sh');

export const GIT_TOKEN = 'gtok-right-4f1c9a7e2b8d';
export const MODEL_API_KEY = 'sk-scripted-model-key-93a7c1e5f0b2d4';

export interface AgentRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  result: AgentResult;
  durationMs: number;
}

/**
 * Spawns the entrypoint like the kubelet would (env only, no args, no stdin) and parses its result
 * line. Fails the test when the line is missing, invalid or not the last line on stdout.
 */
export function runEntrypoint(
  env: Record<string, string>,
  timeoutMs = 120_000,
  /** Called every 100 ms while the pod runs (e.g. to signal it); return true once done. */
  whileRunning?: (child: ChildProcess, stdout: string) => boolean,
): Promise<AgentRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(ENTRYPOINT, [], {
      // Like a pod: nothing shared with the test's checkout, not even the working directory.
      cwd: env.SDLC_WORKDIR ? path.dirname(env.SDLC_WORKDIR) : os.tmpdir(),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`entrypoint did not end within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    const poller = whileRunning
      ? setInterval(() => {
          if (whileRunning(child, stdout)) clearInterval(poller);
        }, 100)
      : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      clearInterval(poller);
      const lines = stdout.trimEnd().split('\n');
      const resultLines = lines.filter((l) => l.includes(RESULT_LINE_PREFIX));
      const last = lines[lines.length - 1] ?? '';
      const parsed = parseResultLine(last);
      if (resultLines.length !== 1 || !parsed?.ok) {
        reject(new Error(`expected exactly one valid result line, last on stdout (found ${resultLines.length}; ${parsed && !parsed.ok ? parsed.error : 'last line is not a result line'})\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        return;
      }
      resolve({ code, signal, stdout, stderr, result: parsed.result, durationMs: Date.now() - started });
    });
  });
}

export interface AgentFixture {
  git: GitServer;
  model: ModelServer;
  dir: string;
  repo: string;
  /** The env a pod would get for this task; override per test. */
  env(overrides?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

export const TASK_ID = 'T012';
export const TASK_BRANCH = 'specs/001-greeting/T012-async';
export const FEATURE_DIR = 'specs/001-greeting';

/** Feature repo as spec-kit leaves it: spec, plan, tasks, contracts. */
export const FEATURE_FILES: Record<string, string> = {
  'README.md': '# Greeting service\n',
  'src/greeting.txt': 'hello\n',
  [`${FEATURE_DIR}/spec.md`]: '# Spec\nThe service greets people.\n',
  [`${FEATURE_DIR}/plan.md`]: '# Plan\nPlain text files.\n',
  [`${FEATURE_DIR}/tasks.md`]: '# Tasks\n- [ ] T012 [ASYNC] Write the welcome file\n- [ ] T013 Translate the welcome file\n',
  [`${FEATURE_DIR}/contracts/greeting.md`]: '# Contract\n',
};

/** Starts a scripted model and an authenticated git server with one feature repo. */
export async function startAgentFixture(scenario: Scenario, opts: { repo?: string } = {}): Promise<AgentFixture> {
  const opencode = toolPath('opencode'); // throws with a setup hint when missing: no silent skip
  const git = await startGitServer({ token: GIT_TOKEN });
  const model = await startModelServer(scenario);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-agent-test-'));
  const repo = opts.repo ?? 'greeting';
  git.createRepo(repo, FEATURE_FILES);
  const tokenFile = path.join(dir, 'git-token');
  writeFileSync(tokenFile, `${GIT_TOKEN}\n`);
  chmodSync(tokenFile, 0o400);
  const opencodeConfig = path.join(dir, 'opencode-extra.json');
  writeFileSync(opencodeConfig, JSON.stringify(scriptedProviderConfig(model.baseURL)));
  let workdirs = 0;
  return {
    git,
    model,
    dir,
    repo,
    env(overrides = {}) {
      return {
        [AGENT_ENV.REPO_URL]: git.url(repo),
        [AGENT_ENV.BASE_BRANCH]: 'main',
        [AGENT_ENV.TASK_BRANCH]: TASK_BRANCH,
        [AGENT_ENV.TASK_ID]: TASK_ID,
        [AGENT_ENV.TASK_TEXT]: 'T012 [ASYNC] Write the welcome file\nCreate welcome.txt with a friendly welcome.',
        [AGENT_ENV.FEATURE_DIR]: FEATURE_DIR,
        [AGENT_ENV.MODEL]: `scripted/${SCRIPTED_MODEL_ID}`,
        [AGENT_ENV.TIME_LIMIT_SECONDS]: '90',
        [AGENT_ENV.RUN_ID]: 'run-7f3a',
        [AGENT_ENV.ATTEMPT]: '1',
        [AGENT_ENV.GIT_AUTHOR_NAME]: 'SDLC Agent',
        [AGENT_ENV.GIT_AUTHOR_EMAIL]: 'agent@sdlc.test',
        [AGENT_ENV.GIT_TOKEN_FILE]: tokenFile,
        [AGENT_ENV.GIT_USERNAME]: 'sdlc-bot',
        [AGENT_ENV.WORKDIR]: path.join(dir, `workspace-${++workdirs}`),
        [AGENT_ENV.OPENCODE_CONFIG_FILE]: opencodeConfig,
        OPENCODE_BIN: opencode,
        SCRIPTED_MODEL_API_KEY: MODEL_API_KEY,
        ...overrides,
      };
    },
    async close() {
      await model.stop();
      await git.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Asserts no secret value appears anywhere in what the pod printed. */
export function expectNoSecrets(run: AgentRun, secrets: string[]): void {
  const all = run.stdout + run.stderr;
  for (const secret of secrets) {
    if (all.includes(secret)) throw new Error(`secret leaked into the agent output: ${secret.slice(0, 4)}…`);
  }
}
