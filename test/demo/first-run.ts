/**
 * `npm run demo` (scripts/first-run.sh compiles and runs this): the newcomer's first run, on one
 * machine, with no cluster. It brings up a Temporal dev server with its UI, a local control plane
 * (etcd + kube-apiserver) with the test kubelet, a token-authenticated git server hosting a sample
 * spec-kit repository, the scripted model server (or a real model: --model provider/model with its API
 * key in the environment), and the production worker process; then it runs the real
 * `sdlc-runner implement <tasks.md> --follow` from the sample checkout. Nothing here is a second code
 * path: the CLI, the worker, the gateways and the agent entrypoint are the production ones.
 *
 * Interactive (default): the stack stays up after the run until Ctrl-C, then everything is stopped and
 * every temp dir removed. --ci: exits when the run ends, 0 only if every [ASYNC] task succeeded.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { repoRoot, toolPath } from '../../src/tools';
import { startDevServer } from '../../src/temporal/dev-server';
import { createLeastPrivilegeAccess, startCluster } from '../support/cluster';
import { startKubelet } from '../support/kubelet';
import { startGitServer, type GitServer } from '../support/git-server';
import { scriptedProviderConfig, SCRIPTED_MODEL_ID } from '../support/model-server';
import { startScriptedModel } from '../integration/support/scripted-model';
import { ASYNC_TASKS, createSampleRepo } from '../integration/support/sample-repo';
import { startWorkerProcess } from '../e2e/support/worker-process';
import { agentPodTemplate, createAgentPodSecrets } from '../e2e/support/agent-pod';
import { agentScenario } from './agent-scenario';

const execFileAsync = promisify(execFile);
const CLI = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const ENTRYPOINT = path.join(repoRoot, 'docker', 'agent-entrypoint.sh');
const AGENT_IMAGE = 'sdlc-demo/opencode-agent:local';
const REPO_NAME = 'greeting';
const NAMESPACE = 'sdlc-agents';
const TASK_QUEUE = 'agentic-sdlc';
const SCRIPTED_KEY_ENV = 'SCRIPTED_MODEL_API_KEY';

/**
 * Providers the demo's model gateway can front (it speaks the OpenAI and Anthropic wire formats): where the
 * demo reads the key (or --api-key-env) and the API the gateway forwards to.
 */
const PROVIDERS: Record<string, { keyEnv: string; api: 'openai' | 'anthropic'; baseURL: string }> = {
  anthropic: { keyEnv: 'ANTHROPIC_API_KEY', api: 'anthropic', baseURL: 'https://api.anthropic.com/v1' },
  openai: { keyEnv: 'OPENAI_API_KEY', api: 'openai', baseURL: 'https://api.openai.com/v1' },
  openrouter: { keyEnv: 'OPENROUTER_API_KEY', api: 'openai', baseURL: 'https://openrouter.ai/api/v1' },
  groq: { keyEnv: 'GROQ_API_KEY', api: 'openai', baseURL: 'https://api.groq.com/openai/v1' },
  mistral: { keyEnv: 'MISTRAL_API_KEY', api: 'openai', baseURL: 'https://api.mistral.ai/v1' },
  deepseek: { keyEnv: 'DEEPSEEK_API_KEY', api: 'openai', baseURL: 'https://api.deepseek.com/v1' },
  xai: { keyEnv: 'XAI_API_KEY', api: 'openai', baseURL: 'https://api.x.ai/v1' },
};

const USAGE = `usage: npm run demo -- [--ci] [--model provider/model [--api-key-env NAME]]
  --ci            non-interactive: exit when the run ends (0 only if every [ASYNC] task succeeded)
  --model         a real model for the agents, e.g. anthropic/claude-sonnet-4-5; its key is read from
                  the provider's env var (e.g. ANTHROPIC_API_KEY) and reaches the pods via a Secret
  --api-key-env   the env var holding the key, when it is not <PROVIDER>_API_KEY
Default: the scripted model server on 127.0.0.1 (no key, no network).`;

/** A mistake in how the demo was called: the message alone says what to do. */
class UsageError extends Error {}

const say = (line: string) => process.stdout.write(`demo: ${line}\n`);

interface ModelChoice {
  /** What `implement --model` gets. */
  model: string;
  /** The provider the pods' model gateway fronts (baseURL filled in for the scripted model once it runs). */
  provider: { id: string; api: 'openai' | 'anthropic'; baseURL?: string };
  apiKey: string;
  scripted: boolean;
}

function chooseModel(model: string | undefined, keyEnvFlag: string | undefined): ModelChoice {
  if (!model) return { model: `scripted/${SCRIPTED_MODEL_ID}`, provider: { id: 'scripted', api: 'openai' }, apiKey: `demo-${randomBytes(8).toString('hex')}`, scripted: true };
  const provider = model.split('/')[0] ?? '';
  if (!provider || !model.includes('/')) throw new UsageError(`--model must be provider/model (e.g. anthropic/claude-sonnet-4-5), got '${model}'`);
  const known = PROVIDERS[provider];
  if (!known) throw new UsageError(`--model ${model}: the demo's model gateway fronts ${Object.keys(PROVIDERS).join(', ')} (OpenAI- and Anthropic-compatible APIs)`);
  const keyEnv = keyEnvFlag ?? known.keyEnv;
  const apiKey = process.env[keyEnv];
  if (!apiKey) throw new UsageError(`--model ${model} needs its API key in the environment: set ${keyEnv} (or name the variable with --api-key-env)`);
  return { model, provider: { id: provider, api: known.api, baseURL: known.baseURL }, apiKey, scripted: false };
}

/**
 * Cleanups run last-in first-out, once, whatever ends the demo. Only main() runs them, in its
 * `finally`, after every component it started has registered: a signal never tears down under a start
 * still in progress (which would register its cleanup too late and leave its processes and temp dirs).
 */
class Teardown {
  private steps: { what: string; fn: () => Promise<unknown> | unknown }[] = [];
  private running?: Promise<void>;
  add(what: string, fn: () => Promise<unknown> | unknown): void {
    if (this.running) throw new Error(`demo: ${what} registered its cleanup after the teardown started`);
    this.steps.push({ what, fn });
  }
  get empty(): boolean {
    return this.steps.length === 0;
  }
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.fn();
        } catch (err) {
          process.stderr.write(`demo: cleanup of ${step.what} failed: ${(err as Error).message}\n`);
        }
      }
    })();
    return this.running;
  }
}

/** Ctrl-C (or SIGTERM) arrived: main() stops at its next step and tears down. */
class Stopped extends Error {}

/** Every result of a Promise.allSettled, or the first failure (after all of them have settled). */
function allOrFirstError<T extends readonly unknown[]>(results: { -readonly [K in keyof T]: PromiseSettledResult<T[K]> }): T {
  const failed = (results as readonly PromiseSettledResult<unknown>[]).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return (results as readonly PromiseSettledResult<unknown>[]).map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

function waitForExit(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
  });
}

/** The feature's branches on the git server: what a reviewer would fetch. */
function pushedBranches(gitServer: GitServer): { branch: string; commit: string; files: string[] }[] {
  return gitServer
    .git(REPO_NAME, 'for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads/specs/')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [branch, commit] = l.split(' ') as [string, string];
      const files = gitServer.git(REPO_NAME, 'diff', '--name-only', 'main', commit).split('\n').filter(Boolean);
      return { branch, commit, files };
    });
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { ci: { type: 'boolean', default: false }, model: { type: 'string' }, 'api-key-env': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const ci = values.ci === true;
  const model = chooseModel(values.model, values['api-key-env']);
  // Fail before starting anything when a piece is missing (npm run setup installs and builds them all).
  toolPath('temporal');
  toolPath('kube-apiserver');
  toolPath('etcd');
  const opencodeBin = toolPath('opencode');
  readFileSync(CLI);

  const teardown = new Teardown();
  // Set by the first Ctrl-C/SIGTERM: the exit code. main() finishes the step in progress (a component
  // still starting is let come up so its cleanup is known), then tears everything down and returns it.
  let signalCode: number | undefined;
  let cli: ChildProcess | undefined;
  let wake: () => void = () => undefined;
  const signalled = new Promise<void>((resolve) => (wake = resolve));
  const stop = (signal: 'SIGINT' | 'SIGTERM') => {
    if (signalCode !== undefined) {
      // A second Ctrl-C: leave now. The exit hooks kill the servers; temp dirs may be left behind.
      process.stdout.write(`\ndemo: ${signal} again: exiting without waiting for the cleanup (temp dirs may be left in ${os.tmpdir()})\n`);
      process.exit(signalCode);
    }
    signalCode = signal === 'SIGINT' ? 130 : 143;
    process.stdout.write(`\ndemo: ${signal}: stopping every process and removing temp dirs… (a second signal exits at once)\n`);
    cli?.kill('SIGTERM');
    wake();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  /** Between steps: stop starting things once a signal came. */
  const checkpoint = () => {
    if (signalCode !== undefined) throw new Stopped();
  };

  try {
    const t0 = Date.now();
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'sdlc-demo-'));
    teardown.add('temp dir', () => rmSync(scratch, { recursive: true, force: true }));
    const gitToken = `demo-git-${randomBytes(12).toString('hex')}`;
    say('starting the Temporal dev server (with UI), etcd + kube-apiserver, the git server and the model…');
    // allSettled, not all: when one fails, the others are still starting; each must be up (and its
    // cleanup registered) before the teardown runs, or it would be left running with its temp dir.
    const [temporal, cluster, gitServer, scripted] = allOrFirstError(
      await Promise.allSettled([
        startDevServer({ headless: false }).then((s) => (teardown.add('temporal dev server', () => s.stop()), s)),
        startCluster().then((c) => (teardown.add('control plane', () => c.stop()), c)),
        startGitServer({ token: gitToken }).then((g) => (teardown.add('git server', () => g.stop()), g)),
        model.scripted ? startScriptedModel(agentScenario).then((m) => (teardown.add('model server', () => m.close()), m)) : Promise.resolve(undefined),
      ] as const),
    );
    checkpoint();
    say(`Temporal ${temporal.address}, UI ${temporal.uiUrl}`);
    say(`kube-apiserver ${cluster.server}; KUBECONFIG=${cluster.kubeconfigPath}`);

    const kubelet = await startKubelet({ ...cluster.kubeletOptions(), mountVolumes: true, imageCommands: { [AGENT_IMAGE]: ['/bin/sh', ENTRYPOINT] } });
    teardown.add('test kubelet', () => kubelet.stop());
    say(`test kubelet node ${kubelet.nodeName} up`);
    checkpoint();
    const access = await createLeastPrivilegeAccess(cluster, { namespace: NAMESPACE });
    await createAgentPodSecrets(cluster.kubeconfigPath, NAMESPACE, {
      gitToken,
      apiKey: model.apiKey,
      opencodeConfig: scripted ? scriptedProviderConfig(scripted.baseUrl, SCRIPTED_KEY_ENV) : {},
    });

    say(`namespace ${NAMESPACE}: the runner's ServiceAccount, the agents' Secrets and ConfigMap`);
    // The sample spec-kit repository: the user's checkout (origin = the git server) and the hosted copy.
    const sample = createSampleRepo({ parent: scratch, originUrl: gitServer.url(REPO_NAME) });
    const files: Record<string, string> = {};
    for (const f of execFileSync('git', ['ls-files'], { cwd: sample.dir, encoding: 'utf8' }).split('\n').filter(Boolean)) {
      files[f] = readFileSync(path.join(sample.dir, f), 'utf8');
    }
    gitServer.createRepo(REPO_NAME, files);
    // Async: the git server answers from this very process, so a sync child would deadlock it.
    await execFileAsync('git', ['fetch', '-q', 'origin'], {
      cwd: sample.dir,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`demo:${gitToken}`).toString('base64')}` },
    });
    execFileSync('git', ['reset', '-q', '--hard', 'origin/main'], { cwd: sample.dir });
    checkpoint();
    say(`sample spec-kit repository ${gitServer.url(REPO_NAME)} (checkout ${sample.dir}), [ASYNC] tasks ${ASYNC_TASKS.join(', ')}`);

    const templateFile = path.join(scratch, 'pod-template.yaml');
    writeFileSync(templateFile, agentPodTemplate({ image: AGENT_IMAGE, opencodeBin, provider: { ...model.provider, baseURL: model.provider.baseURL ?? scripted!.baseUrl } }));
    const workerToken = path.join(scratch, 'git-read-token');
    writeFileSync(workerToken, gitToken, { mode: 0o400 });
    const workerLog = path.join(scratch, 'worker.log');
    const worker = await startWorkerProcess({
      env: {
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_NAMESPACE: temporal.namespace,
        TEMPORAL_TASK_QUEUE: TASK_QUEUE,
        SDLC_K8S_NAMESPACE: NAMESPACE,
        SDLC_POD_TEMPLATE_FILE: templateFile,
        // The demo's git server, on loopback over http: allowed explicitly, as the worker requires.
        SDLC_ALLOWED_GIT_HOSTS: 'http://127.0.0.1:*',
        SDLC_SHUTDOWN_GRACE_SECONDS: '5',
        SDLC_GIT_TOKEN_FILE: workerToken,
        KUBECONFIG: access.kubeconfigPath,
      },
      logFile: workerLog,
    });
    teardown.add('worker', () => worker.stop());
    say(`worker pid ${worker.pid} ready (log ${workerLog}); stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    say(`running: sdlc-runner implement specs/001-greeting/tasks.md --follow --model ${model.model}`);

    checkpoint();
    cli = spawn(process.execPath, [CLI, 'implement', path.relative(sample.dir, sample.tasksFile), '--follow', '--model', model.model], {
      cwd: sample.dir,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TERM: process.env.TERM,
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_NAMESPACE: temporal.namespace,
        TEMPORAL_TASK_QUEUE: TASK_QUEUE,
        SDLC_TEMPORAL_UI_URL: temporal.uiUrl,
        SDLC_PROGRESS_EVERY_SECONDS: '5',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const cliCode = await waitForExit(cli);
    checkpoint();

    const branches = pushedBranches(gitServer);
    for (const b of branches) say(`pushed branch ${b.branch} commit=${b.commit} files=${b.files.join(',')}`);
    // One branch per task, and the integration branch that holds them all.
    const integrated = branches.find((b) => b.branch === 'specs/001-greeting/integration');
    const taskBranches = branches.filter((b) => b !== integrated);
    const ok = cliCode === 0 && taskBranches.length === ASYNC_TASKS.length && integrated !== undefined;
    say(`run ${ok ? 'succeeded' : `did not succeed (sdlc-runner exit ${cliCode}, ${taskBranches.length} task branch(es) pushed${integrated ? '' : ', no integration branch'})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (ci) return ok ? 0 : 1;
    say(`everything stays up — Temporal UI ${temporal.uiUrl}; try: TEMPORAL_ADDRESS=${temporal.address} node ${path.relative(process.cwd(), CLI)} status`);
    say(`KUBECONFIG=${cluster.kubeconfigPath} kubectl -n ${NAMESPACE} get pods; the git token is in ${workerToken}`);
    say('Ctrl-C stops everything and removes the temp dirs.');
    await signalled;
    throw new Stopped();
  } catch (err) {
    // After a signal, a step may also fail because of it (the CLI killed, a server gone): that is the stop.
    if (signalCode !== undefined) return signalCode;
    throw err;
  } finally {
    // The one place the stack comes down, before main() returns and the process exits.
    const anything = !teardown.empty;
    await teardown.run();
    if (anything) say('stopped');
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(err instanceof UsageError ? `demo: ${err.message}\n${USAGE}\n` : `demo failed: ${err.stack ?? err.message}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
