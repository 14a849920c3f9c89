import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import type { AgentPhase } from '../../src/contract/agent-phases';
import { parseResultLine, RESULT_LINE_PREFIX, type AgentResult } from '../../src/contract/result-line';
import { repoRoot, toolPath } from '../../src/tools';
import { startGitServer, type GitServer } from '../support/git-server';
import { scriptedProviderConfig, SCRIPTED_MODEL_ID, startModelServer, type ModelServer, type Scenario } from '../support/model-server';

/** The very file the image's ENTRYPOINT runs. */
export const ENTRYPOINT = path.join(repoRoot, 'docker', 'agent-entrypoint.sh');

export const GIT_TOKEN = 'gtok-right-4f1c9a7e2b8d';
export const MODEL_API_KEY = 'sk-scripted-model-key-93a7c1e5f0b2d4';

export interface PhaseRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface AgentRun {
  /** publish's exit code: the pod's verdict. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Every phase's stdout, in phase order (checkout, agent, publish), as `kubectl logs -c` per container shows them. */
  stdout: string;
  stderr: string;
  phases: Record<AgentPhase, PhaseRun>;
  result: AgentResult;
  durationMs: number;
}

/**
 * The pod's identities, as the chart sets them: one uid per phase, one fsGroup. Volumes get a group of
 * their own, given only to the containers that mount them: the test kubelet's stand-in for mount
 * namespaces (test/support/kubelet), so "the agent cannot read the token" is the kernel's answer.
 */
export const PHASE_UIDS: Record<AgentPhase, number> = { checkout: 10002, agent: 10001, publish: 10003, gateway: 10004 };
export const FS_GROUP = 10000;
// Below the test kubelet's machine-wide range (40000+): a pod of another test never shares them.
const VOLUME_GROUPS = { workspace: 39001, gitState: 39002, credentials: 39003, gatewayState: 39004, providerKeys: 39005 };
const MOUNTS: Record<AgentPhase, number[]> = {
  checkout: [VOLUME_GROUPS.workspace, VOLUME_GROUPS.gitState, VOLUME_GROUPS.credentials],
  agent: [VOLUME_GROUPS.workspace],
  publish: [VOLUME_GROUPS.workspace, VOLUME_GROUPS.gitState, VOLUME_GROUPS.credentials, VOLUME_GROUPS.gatewayState],
  gateway: [VOLUME_GROUPS.workspace, VOLUME_GROUPS.gatewayState, VOLUME_GROUPS.providerKeys],
};

/** The model gateway sidecar (docker/agent/model-gateway.js) in front of the fixture's scripted model. */
export interface GatewayOptions {
  /** SDLC_GATEWAY_BUDGET: {maxTokens?, maxCost?}. */
  budget?: { maxTokens?: number; maxCost?: number };
  /** SDLC_GATEWAY_PRICING. */
  pricing?: Record<string, { input: number; output: number }>;
}
/** What only checkout and publish are given: the agent container's env has none of it. */
const GIT_ONLY_ENV = [AGENT_ENV.GIT_TOKEN_FILE, AGENT_ENV.GIT_USERNAME, AGENT_ENV.GIT_SSH_KEY_FILE, AGENT_ENV.GIT_KNOWN_HOSTS_FILE, AGENT_ENV.GIT_STATE_DIR];

/** A directory owned by root and the volume's group, setgid, as a volume the kubelet mounts. */
function volumeDir(dir: string, gid: number): void {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, 0, gid);
  chmodSync(dir, 0o2770);
}

/** The pod while it runs: kill() signals every container still running, as a pod deletion does. */
export interface PodHandle {
  kill(signal: NodeJS.Signals): void;
}

function spawnPhase(phase: AgentPhase, env: Record<string, string>, home: string): ChildProcess {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  chownSync(home, PHASE_UIDS[phase], FS_GROUP);
  const groups = [FS_GROUP, ...MOUNTS[phase]].join(',');
  const identity = [`--reuid=${PHASE_UIDS[phase]}`, `--regid=${PHASE_UIDS[phase]}`, `--groups=${groups}`, '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all'];
  return spawn('setpriv', [...identity, '--', ENTRYPOINT, phase], {
    // Like a pod: nothing shared with the test's checkout, not even the working directory.
    cwd: home,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * The pod's run from its phases' runs (checkout, agent, publish, gateway when it ran), however they were run:
 * within `timeoutMs` of `started`, and with exactly one valid result line, last on publish's stdout.
 */
export function podRun(phases: Partial<Record<AgentPhase, PhaseRun>> & { publish: PhaseRun }, started: number, timeoutMs: number): AgentRun {
  const order: AgentPhase[] = ['checkout', 'agent', 'publish', 'gateway'];
  const stdout = order.map((p) => phases[p]?.stdout ?? '').join('');
  const stderr = order.map((p) => phases[p]?.stderr ?? '').join('');
  if (Date.now() - started >= timeoutMs) throw new Error(`the pod did not end within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  const lines = phases.publish.stdout.trimEnd().split('\n');
  const resultLines = lines.filter((l) => l.includes(RESULT_LINE_PREFIX));
  const parsed = parseResultLine(lines[lines.length - 1] ?? '');
  if (resultLines.length !== 1 || !parsed?.ok) {
    throw new Error(`expected exactly one valid result line, last on publish's stdout (found ${resultLines.length}; ${parsed && !parsed.ok ? parsed.error : 'last line is not a result line'})\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  const { code, signal } = phases.publish;
  return { code, signal, stdout, stderr, phases: phases as Record<AgentPhase, PhaseRun>, result: parsed.result, durationMs: Date.now() - started };
}

/** A phase's process: its exit and output (also read while it runs). */
export function collect(child: ChildProcess): Promise<PhaseRun> & { stdout(): string } {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<PhaseRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return Object.assign(done, { stdout: () => stdout });
}

/**
 * Runs the agent pod's three phases as the kubelet would (env only, the phase as the only argument):
 * checkout to its end, then agent and publish together, each with its own uid. Parses publish's result
 * line; fails the test when it is missing, invalid or not the last line on publish's stdout.
 */
export async function runAgentPod(
  env: Record<string, string>,
  timeoutMs = 120_000,
  /** Called every 100 ms while the pod runs (e.g. to signal it) with every phase's stdout so far; return true once done. */
  whileRunning?: (pod: PodHandle, stdout: string) => boolean,
  /** Run the model gateway sidecar: the provider key is then in its key file only, never in the agent's env. */
  gateway?: GatewayOptions & { model: ModelServer },
): Promise<AgentRun> {
  const started = Date.now();
  const workdir = env[AGENT_ENV.WORKDIR]!;
  const gitState = env[AGENT_ENV.GIT_STATE_DIR] ?? `${workdir}-git`;
  volumeDir(workdir, VOLUME_GROUPS.workspace);
  volumeDir(gitState, VOLUME_GROUPS.gitState);
  const gitEnv: Record<string, string> = { ...env, [AGENT_ENV.GIT_STATE_DIR]: gitState };
  let agentEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !GIT_ONLY_ENV.includes(k as never)));
  const homes = path.join(path.dirname(workdir), `homes-${path.basename(workdir)}`);
  let gatewayEnv: Record<string, string> | undefined;
  if (gateway) {
    const gatewayState = `${workdir}-gateway`;
    const keys = `${workdir}-provider-keys`;
    volumeDir(gatewayState, VOLUME_GROUPS.gatewayState);
    volumeDir(keys, VOLUME_GROUPS.providerKeys);
    writeFileSync(path.join(keys, 'scripted'), `${MODEL_API_KEY}\n`, { mode: 0o440 });
    chownSync(path.join(keys, 'scripted'), 0, VOLUME_GROUPS.providerKeys);
    const readyFile = path.join(workdir, '.sdlc-gateway.json');
    gatewayEnv = {
      PATH: env.PATH ?? process.env.PATH ?? '/usr/bin:/bin',
      [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify([{ id: 'scripted', api: 'openai', baseURL: gateway.model.baseURL, keyFile: path.join(keys, 'scripted') }]),
      [AGENT_ENV.GATEWAY_LISTEN]: '127.0.0.1:0',
      [AGENT_ENV.GATEWAY_STATE_DIR]: gatewayState,
      [AGENT_ENV.GATEWAY_READY_FILE]: readyFile,
      ...(gateway.budget ? { [AGENT_ENV.GATEWAY_BUDGET]: JSON.stringify(gateway.budget) } : {}),
      ...(gateway.pricing ? { [AGENT_ENV.GATEWAY_PRICING]: JSON.stringify(gateway.pricing) } : {}),
      [AGENT_ENV.TASK_ID]: env[AGENT_ENV.TASK_ID]!,
      [AGENT_ENV.RUN_ID]: env[AGENT_ENV.RUN_ID]!,
    };
    // The agent holds no provider key: its OpenCode is pointed at the gateway.
    agentEnv = { ...agentEnv, [AGENT_ENV.GATEWAY_READY_FILE]: readyFile };
    delete agentEnv.SCRIPTED_MODEL_API_KEY;
    gitEnv[AGENT_ENV.GATEWAY_STATE_DIR] = gatewayState;
  }

  const running = new Set<ChildProcess>();
  const outputs: Partial<Record<AgentPhase, ReturnType<typeof collect>>> = {};
  const start = (phase: AgentPhase, phaseEnv: Record<string, string>) => {
    const child = spawnPhase(phase, phaseEnv, path.join(homes, phase));
    running.add(child);
    child.on('close', () => running.delete(child));
    outputs[phase] = collect(child);
    return outputs[phase]!;
  };
  const pod: PodHandle = { kill: (signal) => running.forEach((c) => c.kill(signal)) };
  const stdoutSoFar = () => AGENT_PHASES_IN_ORDER.map((p) => outputs[p]?.stdout() ?? '').join('');
  const poller = whileRunning ? setInterval(() => whileRunning(pod, stdoutSoFar()) && clearInterval(poller), 100) : undefined;
  const killer = setTimeout(() => pod.kill('SIGKILL'), timeoutMs);
  // A native sidecar: started first, stopped (SIGTERM) once the pod's containers have ended.
  const sidecar = gatewayEnv ? start('gateway', gatewayEnv) : undefined;
  const gatewayChild = [...running][0];
  try {
    const checkout = await start('checkout', gitEnv);
    if (checkout.code !== 0) throw new Error(`checkout exited ${checkout.code ?? checkout.signal}\nstdout:\n${checkout.stdout}\nstderr:\n${checkout.stderr}`);
    const [agent, publish] = await Promise.all([start('agent', agentEnv), start('publish', gitEnv)]);
    gatewayChild?.kill('SIGTERM');
    const gatewayRun = await sidecar;
    const phases = { checkout, agent, publish, ...(gatewayRun ? { gateway: gatewayRun } : {}) } as Record<AgentPhase, PhaseRun>;
    return podRun(phases, started, timeoutMs);
  } finally {
    clearTimeout(killer);
    clearInterval(poller);
    running.forEach((c) => c.kill('SIGKILL')); // a sidecar left by a failed start
  }
}

const AGENT_PHASES_IN_ORDER: AgentPhase[] = ['gateway', 'checkout', 'agent', 'publish'];

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
  // Non-root phases must reach their volumes under it (mkdtemp makes it 0700).
  chmodSync(dir, 0o755);
  // The git credential as a Secret volume: only the phases that mount it are in its group.
  const credentials = path.join(dir, 'git-credentials');
  volumeDir(credentials, VOLUME_GROUPS.credentials);
  const tokenFile = path.join(credentials, 'token');
  writeFileSync(tokenFile, `${GIT_TOKEN}\n`);
  chownSync(tokenFile, 0, VOLUME_GROUPS.credentials);
  chmodSync(tokenFile, 0o440);
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

/** A server-side hook in the fixture's bare repo that marks its start, then holds the push `seconds`. */
export function holdPush(f: AgentFixture, hook: 'pre-receive' | 'post-receive', seconds: number): string {
  const marker = path.join(f.dir, `${hook}-started`);
  const file = path.join(f.git.root, `${f.repo}.git`, 'hooks', hook);
  writeFileSync(file, `#!/bin/sh\ncat >/dev/null\ntouch '${marker}'\nsleep ${seconds}\n`);
  chmodSync(file, 0o755);
  return marker;
}

/** SIGTERM to the pod once `marker` exists (a held push has started), as the kubelet on pod deletion. */
export const sigtermWhen = (marker: string) => (pod: PodHandle): boolean => {
  if (!existsSync(marker)) return false;
  pod.kill('SIGTERM');
  return true;
};

/** The success scenario both pod runners (processes, containers) run: write, edit, show, done; 1000 in / 200 out per turn. */
export const WELCOME_SCENARIO: Scenario = {
  turns: [
    { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome, friend!\n' } }] },
    { toolCalls: [{ name: 'edit', args: { filePath: 'src/greeting.txt', oldString: 'hello', newString: 'hello, world' } }] },
    { toolCalls: [{ name: 'bash', args: { command: 'cat welcome.txt src/greeting.txt', description: 'Show the result' } }] },
    { text: 'Created welcome.txt and extended the greeting.' },
  ],
  usage: { prompt: 1000, completion: 200 },
};

/**
 * WELCOME_SCENARIO succeeded: exit 0 with the pushed sha, one commit on the base's head (`baseHead`) holding the
 * agent's two files, with the task's subject, run trailer and author.
 */
export function expectWelcomePushed(f: AgentFixture, run: AgentRun, baseHead: string | undefined): void {
  expect({ code: run.code, reason: run.result.reason }).toEqual({ code: AGENT_EXIT.SUCCESS, reason: undefined });
  expect(run.result).toMatchObject({ status: 'succeeded', taskId: 'T012', branch: TASK_BRANCH, commits: 1 });
  const remoteHead = f.git.branchHead(f.repo, TASK_BRANCH);
  expect(run.result.sha).toBe(remoteHead);
  // Branched from the base: the one new commit sits directly on main's head.
  expect(f.git.git(f.repo, 'rev-parse', `${remoteHead}^`)).toBe(baseHead);
  expect(f.git.readFile(f.repo, remoteHead!, 'welcome.txt')).toBe('Welcome, friend!\n');
  expect(f.git.readFile(f.repo, remoteHead!, 'src/greeting.txt')).toBe('hello, world\n');
  const message = f.git.git(f.repo, 'log', '-1', '--format=%B', remoteHead!);
  expect(message).toMatch(/^T012: T012 \[ASYNC\] Write the welcome file/);
  expect(message).toContain('Sdlc-Run-Id: run-7f3a');
  expect(f.git.git(f.repo, 'log', '-1', '--format=%an <%ae>', remoteHead!)).toBe('SDLC Agent <agent@sdlc.test>');
}
