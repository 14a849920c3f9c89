/**
 * The agent pod run as real containers of the built agent image (localhost/sdlc-runner/agent:dev), laid out
 * as the chart lays the pod out (charts/.../_agent-pod.tpl, src/k8s/pod-manifest.ts): one podman pod, the
 * model gateway as the sidecar, checkout to its end (init container), then agent and publish together, each
 * container with its phase's uid, the pod's fsGroup, a read-only root, no capabilities, no privilege
 * escalation, podman's default seccomp profile (RuntimeDefault's equivalent), the chart's memory limit,
 * the chart's emptyDirs as host directories and the Secrets (git token, provider key) as read-only mounts
 * of directories laid out and owned as the kubelet writes Secret volumes.
 * `runAgentPodInContainers` returns what test/agent/agent-harness.ts's `runAgentPod` returns for the same
 * env (the fixture's `env()`), so the process-backed and container-backed tests assert the same things.
 *
 * Network: the pod is created with `--network host`. The fixture's git server and scripted model listen
 * on the host's 127.0.0.1 inside the jest process, and the phases must share one loopback (the agent
 * reaches the gateway on the pod's 127.0.0.1), so the pod's network namespace is the host's: the
 * fixture's URLs work unchanged. (A bridge network cannot reach the host's loopback; slirp4netns with
 * allow_host_loopback reaches it as 10.0.2.2 only, which would mean rewriting every URL the phases get.)
 * The cost: the gateway's port must not clash with another pod on this machine, so it listens on a free
 * port rather than the chart's 4318; the agent finds it in gateway.json as in the chart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_ENV } from '../../src/contract/agent-env';
import type { AgentPhase } from '../../src/contract/agent-phases';
import { repoRoot, toolPath } from '../../src/tools';
import { freePort } from '../../src/util/free-port';
import type { ModelServer } from '../support/model-server';
import { PODMAN, podman, requirePodmanImages } from '../support/kubelet/podman';
import { collect, MODEL_API_KEY, podRun, PHASE_UIDS, FS_GROUP, type AgentRun, type PhaseRun, type PodHandle } from '../agent/agent-harness';

// The podman invocation is the test kubelet's (its container backend runs pods of this image the same way).
export { PODMAN, podman, type PodmanResult } from '../support/kubelet/podman';
export const AGENT_IMAGE = 'localhost/sdlc-runner/agent:dev';

/** Fails loudly (never skips) without podman or the built agent image. */
export const requireAgentImage = (): Promise<void> => requirePodmanImages([AGENT_IMAGE]);

/** Every pod this process created: removed by removeAllPods (afterAll), whatever happened. */
const POD_PREFIX = `sdlc-contract-${process.pid}-`;
let pods = 0;
export async function removeAllPods(): Promise<void> {
  const ls = await podman(['pod', 'ps', '--format', '{{.Name}}', '--filter', `name=^${POD_PREFIX}`]);
  const names = ls.stdout.split('\n').filter((n) => n.startsWith(POD_PREFIX));
  if (names.length > 0) await podman(['pod', 'rm', '--force', '--time', '0', ...names]);
}

/** The chart's agent-pod container security context (agentContainerSecurity) and the pod's fsGroup. */
function security(uid: number): string[] {
  return [
    '--user', `${uid}:${uid}`, '--group-add', String(FS_GROUP),
    // readOnlyRootFilesystem: no writable tmpfs on /run, /var/tmp either (podman adds them to --read-only by default).
    '--read-only', '--read-only-tmpfs=false',
    '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
  ];
}

/** The chart's memory limits: agent 4Gi, checkout/publish 1Gi, gateway 256Mi (values.yaml). */
const MEMORY: Record<AgentPhase, string> = { agent: '4g', checkout: '1g', publish: '1g', gateway: '256m' };

const EMPTY_DIRS = ['workspace', 'home', 'tmp', 'git-state', 'phase-tmp', 'gateway-state', 'gateway-tmp'] as const;
type EmptyDir = (typeof EMPTY_DIRS)[number];
const GIT_DIR = '/var/run/secrets/sdlc-git';
const KEYS_DIR = '/var/run/secrets/sdlc-llm';
const OPENCODE_CONFIG = '/etc/sdlc-opencode/opencode-extra.json';

/** The fixture env's host-side entries: the containers get the chart's paths and the image's binary instead. */
const HOST_ONLY = [AGENT_ENV.WORKDIR, AGENT_ENV.GIT_STATE_DIR, AGENT_ENV.GIT_TOKEN_FILE, AGENT_ENV.GIT_USERNAME, AGENT_ENV.OPENCODE_CONFIG_FILE, 'OPENCODE_BIN', 'SCRIPTED_MODEL_API_KEY'];

/** kill(): a signal to every main container still running, as the kubelet; killContainer(): one container only (e.g. the OOM killer's SIGKILL). */
export interface ContainerPodHandle extends PodHandle {
  killContainer(phase: AgentPhase, signal: NodeJS.Signals): void;
}

export interface ContainerPodOptions {
  /** The scripted model the gateway sidecar forwards to (provider id `scripted`). */
  model: ModelServer;
  budget?: { maxTokens?: number; maxCost?: number };
  pricing?: Record<string, { input: number; output: number }>;
  /** The pod's terminationGracePeriodSeconds: SDLC_TERMINATION_GRACE_SECONDS, and the SIGKILL after a SIGTERM. Default 30 (the worker's). */
  terminationGraceSeconds?: number;
  timeoutMs?: number;
  /** Called every 100 ms while agent and publish run, with every phase's stdout so far; return true once done. */
  whileRunning?: (pod: ContainerPodHandle, stdout: string) => boolean;
}

/** What podman says each phase's container ran with (podman inspect, after the run). */
export interface ContainerConfig {
  user: string;
  groupAdd: string[];
  readOnlyRoot: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  memory: number;
  network: string;
  /** Mount point → read-write? */
  mounts: Record<string, boolean>;
  /** The image's ENTRYPOINT as run: tini is PID 1. */
  entrypoint: string;
}

export interface ContainerAgentRun extends AgentRun {
  containers: Record<AgentPhase, ContainerConfig>;
  /** The gateway's usage.json (its emptyDir), as publish read it. */
  usage: { tokens: Record<string, number>; cost: number; requests: number };
  /** What happened when, in ms from the start (pod created, each container's start and end, signals). */
  timeline: string[];
  /** When the kubelet stand-in sent SIGTERM (kill('SIGTERM')), 0 if never. */
  signalledAt: number;
}

async function inspect(names: string[], phases: AgentPhase[]): Promise<Record<AgentPhase, ContainerConfig>> {
  const r = await podman(['inspect', '--format', 'json', ...names]);
  if (r.code !== 0) throw new Error(`podman inspect failed: ${r.stderr}`);
  type Inspect = {
    Name: string;
    Config: { User: string; Entrypoint: string | string[] };
    HostConfig: { GroupAdd?: string[]; ReadonlyRootfs: boolean; CapAdd?: string[]; CapDrop?: string[]; SecurityOpt?: string[]; Memory: number; NetworkMode: string };
    Mounts: { Destination: string; RW: boolean }[];
  };
  const all = JSON.parse(r.stdout) as Inspect[];
  return Object.fromEntries(
    phases.map((phase, i) => {
      const c = all.find((x) => x.Name === names[i])!;
      const h = c.HostConfig;
      return [phase, {
        user: c.Config.User, groupAdd: h.GroupAdd ?? [], readOnlyRoot: h.ReadonlyRootfs, capAdd: h.CapAdd ?? [], capDrop: h.CapDrop ?? [],
        securityOpt: h.SecurityOpt ?? [], memory: h.Memory, network: h.NetworkMode,
        mounts: Object.fromEntries(c.Mounts.map((m) => [m.Destination, m.RW])),
        entrypoint: [c.Config.Entrypoint].flat().join(' '),
      }];
    }),
  ) as Record<AgentPhase, ContainerConfig>;
}


/**
 * Runs the agent pod in podman containers for the fixture's env (test/agent/agent-harness.ts
 * startAgentFixture().env()), always with the gateway sidecar as the chart does. The same checks as
 * runAgentPod: exactly one valid result line, last on publish's stdout.
 */
export async function runAgentPodInContainers(env: Record<string, string>, opts: ContainerPodOptions): Promise<ContainerAgentRun> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 150_000;
  const grace = opts.terminationGraceSeconds ?? 30;
  if (env.OPENCODE_BIN && env.OPENCODE_BIN !== toolPath('opencode')) throw new Error('runAgentPodInContainers runs the image\'s own opencode: OPENCODE_BIN cannot be replaced');
  const workdir = env[AGENT_ENV.WORKDIR]!;
  const dir = mkdtempSync(`${workdir}-pod-`);
  chmodSync(dir, 0o755);

  // emptyDirs as host directories, made as the kubelet makes them for a pod with an fsGroup (as test/images/images.test.ts
  // does): group 10000, setgid, writable by all; an emptyDir starts empty.
  const vol = (name: EmptyDir) => path.join(dir, name);
  for (const name of EMPTY_DIRS) {
    mkdirSync(vol(name));
    chownSync(vol(name), 0, FS_GROUP);
    chmodSync(vol(name), 0o2777);
  }
  // Secret volumes as the kubelet writes them (its atomic writer): the files in a time-stamped directory, `..data`
  // linking to it and each key a link through `..data`; the files root:fsGroup 0440 (defaultMode 288); the
  // directory mounted read-only.
  const secretDir = (name: string, files: Record<string, string>) => {
    const d = path.join(dir, name);
    const stamped = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}`;
    mkdirSync(path.join(d, stamped), { recursive: true, mode: 0o755 });
    chmodSync(d, 0o1777);
    symlinkSync(stamped, path.join(d, '..data'));
    for (const [file, content] of Object.entries(files)) {
      const real = path.join(d, stamped, file);
      writeFileSync(real, content);
      chownSync(real, 0, FS_GROUP);
      chmodSync(real, 0o440);
      symlinkSync(path.join('..data', file), path.join(d, file));
    }
    return d;
  };
  const gitCredentials = secretDir('git-credentials', { token: readFileSync(env[AGENT_ENV.GIT_TOKEN_FILE]!, 'utf8') });
  const llmKeys = secretDir('llm-keys', { scripted: `${MODEL_API_KEY}\n` });
  const mount = (name: EmptyDir, at: string, ro = false) => ['-v', `${vol(name)}:${at}${ro ? ':ro' : ''}`];

  // The task's env (the worker gives every container the same, none of it secret), then each container's own.
  const task: Record<string, string> = Object.fromEntries(Object.entries(env).filter(([k]) => !HOST_ONLY.includes(k)));
  task[AGENT_ENV.TERMINATION_GRACE_SECONDS] = String(grace);
  const gitPhaseEnv = {
    HOME: '/tmp',
    [AGENT_ENV.WORKDIR]: '/workspace',
    [AGENT_ENV.GIT_STATE_DIR]: '/sdlc-git',
    [AGENT_ENV.GIT_TOKEN_FILE]: `${GIT_DIR}/token`,
    [AGENT_ENV.GIT_USERNAME]: env[AGENT_ENV.GIT_USERNAME] ?? 'x-access-token',
  };
  const gatewayPort = await freePort();
  const phases: Record<AgentPhase, { env: Record<string, string>; mounts: string[] }> = {
    gateway: {
      env: {
        HOME: '/tmp',
        [AGENT_ENV.GATEWAY_PROVIDERS]: JSON.stringify([{ id: 'scripted', api: 'openai', baseURL: opts.model.baseURL, keyFile: 'scripted' }]),
        [AGENT_ENV.GATEWAY_KEYS_DIR]: KEYS_DIR,
        [AGENT_ENV.GATEWAY_LISTEN]: `127.0.0.1:${gatewayPort}`,
        [AGENT_ENV.GATEWAY_STATE_DIR]: '/sdlc-gateway',
        [AGENT_ENV.GATEWAY_READY_FILE]: '/workspace/.sdlc-gateway.json',
        [AGENT_ENV.GATEWAY_PRICING]: JSON.stringify(opts.pricing ?? {}),
        ...(opts.budget ? { [AGENT_ENV.GATEWAY_BUDGET]: JSON.stringify(opts.budget) } : {}),
      },
      mounts: ['-v', `${llmKeys}:${KEYS_DIR}:ro`, ...mount('gateway-state', '/sdlc-gateway'), ...mount('workspace', '/workspace'), ...mount('gateway-tmp', '/tmp')],
    },
    checkout: {
      env: gitPhaseEnv,
      mounts: [...mount('workspace', '/workspace'), ...mount('git-state', '/sdlc-git'), ...mount('phase-tmp', '/tmp'), '-v', `${gitCredentials}:${GIT_DIR}:ro`],
    },
    agent: {
      env: {
        HOME: '/home/agent',
        [AGENT_ENV.WORKDIR]: '/workspace',
        [AGENT_ENV.GATEWAY_READY_FILE]: '/workspace/.sdlc-gateway.json',
        ...(env[AGENT_ENV.OPENCODE_CONFIG_FILE] ? { [AGENT_ENV.OPENCODE_CONFIG_FILE]: OPENCODE_CONFIG } : {}),
      },
      mounts: [
        ...mount('workspace', '/workspace'), ...mount('home', '/home/agent'), ...mount('tmp', '/tmp'),
        // The OpenCode provider config (a ConfigMap in a cluster).
        ...(env[AGENT_ENV.OPENCODE_CONFIG_FILE] ? ['-v', `${env[AGENT_ENV.OPENCODE_CONFIG_FILE]}:${OPENCODE_CONFIG}:ro`] : []),
      ],
    },
    publish: {
      env: { ...gitPhaseEnv, [AGENT_ENV.GATEWAY_STATE_DIR]: '/sdlc-gateway' },
      mounts: [
        ...mount('workspace', '/workspace'), ...mount('git-state', '/sdlc-git'), ...mount('phase-tmp', '/tmp'), '-v', `${gitCredentials}:${GIT_DIR}:ro`,
        ...mount('gateway-state', '/sdlc-gateway', true),
      ],
    },
  };

  const pod = `${POD_PREFIX}${++pods}`;
  const name = (phase: AgentPhase) => `${pod}-${phase}`;
  const created = await podman(['pod', 'create', '--name', pod, '--network', 'host']);
  if (created.code !== 0) throw new Error(`podman pod create failed: ${created.stderr}`);

  const running = new Set<AgentPhase>();
  const timeline: string[] = [`${Date.now() - started} ms: pod created`];
  const outputs: Partial<Record<AgentPhase, ReturnType<typeof collect>>> = {};
  const start = (phase: AgentPhase) => {
    const { env: own, mounts } = phases[phase];
    const args = [
      'run', '--pod', pod, '--name', name(phase), ...security(PHASE_UIDS[phase]), '--memory', MEMORY[phase], ...mounts,
      ...Object.entries({ ...task, ...own }).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      AGENT_IMAGE, phase,
    ];
    // In the pod's dir: conmon leaves its OOM marker file in its working directory (test/support/kubelet/podman.ts).
    const child = spawn('bash', [PODMAN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(phase);
    timeline.push(`${Date.now() - started} ms: ${phase} started`);
    outputs[phase] = collect(child);
    const ended = (r?: PhaseRun) => {
      running.delete(phase);
      timeline.push(`${Date.now() - started} ms: ${phase} ended (${r?.code ?? 'error'})`);
    };
    void outputs[phase]!.then(ended, () => ended());
    return outputs[phase]!;
  };
  // The kubelet stand-in: a signal goes to every container still running; after a SIGTERM, SIGKILL follows the grace.
  let signalledAt = 0;
  let killAfterGrace: NodeJS.Timeout | undefined;
  const signal = (sig: string, phases: AgentPhase[]) => {
    const names = phases.filter((p) => running.has(p)).map(name);
    if (names.length > 0) void podman(['kill', '--signal', sig, ...names]);
  };
  const handle: ContainerPodHandle = {
    killContainer: (phase, sig) => signal(sig.replace(/^SIG/, ''), [phase]),
    kill(sig) {
      // The main containers; the gateway, a sidecar, is stopped after them as below.
      signal(sig.replace(/^SIG/, ''), ['checkout', 'agent', 'publish']);
      timeline.push(`${Date.now() - started} ms: ${sig} to the main containers`);
      if (sig === 'SIGTERM' && !signalledAt) {
        signalledAt = Date.now();
        killAfterGrace = setTimeout(() => signal('KILL', ['checkout', 'agent', 'publish']), grace * 1000);
      }
    },
  };
  const order: AgentPhase[] = ['gateway', 'checkout', 'agent', 'publish'];
  const stdoutSoFar = () => order.map((p) => outputs[p]?.stdout() ?? '').join('');
  let poller: NodeJS.Timeout | undefined;
  const killer = setTimeout(() => void podman(['pod', 'kill', '--signal', 'KILL', pod]), timeoutMs);
  try {
    // The gateway is a native sidecar: started first; checkout does not wait for it (no startup probe), the agent waits for its gateway.json.
    const sidecar = start('gateway');
    const checkout = await start('checkout');
    if (checkout.code !== 0) {
      throw new Error(`checkout exited ${checkout.code ?? checkout.signal}\nstdout:\n${checkout.stdout}\nstderr:\n${checkout.stderr}`);
    }
    const both = Promise.all([start('agent'), start('publish')]);
    if (opts.whileRunning) {
      const check = opts.whileRunning;
      poller = setInterval(() => check(handle, stdoutSoFar()) && clearInterval(poller), 100);
    }
    const [agent, publish] = await both;
    clearInterval(poller);
    // The sidecar gets its SIGTERM once the main containers have ended, and the pod's grace.
    const stopped = await podman(['stop', '--time', String(grace), name('gateway')]);
    if (stopped.code !== 0) throw new Error(`podman stop ${name('gateway')} failed: ${stopped.stderr}`);
    const gateway = await sidecar;
    const run = podRun({ checkout, agent, publish, gateway }, started, timeoutMs);
    const usage = JSON.parse(readFileSync(path.join(vol('gateway-state'), 'usage.json'), 'utf8'));
    return {
      ...run, usage, signalledAt, containers: await inspect(order.map(name), order), timeline,
    };
  } finally {
    clearTimeout(killer);
    clearTimeout(killAfterGrace);
    clearInterval(poller);
    await podman(['pod', 'rm', '--force', '--time', '0', pod]);
    await Promise.all(Object.values(outputs).map((o) => o!.catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}
