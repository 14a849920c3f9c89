/**
 * The whole stack for the e2e tests, every part real: the jest dev Temporal server (globalSetup), a
 * kube-apiserver + etcd with an audit log, the process-backed test kubelet, the runner's
 * least-privilege ServiceAccount, a bare git remote, and helpers to start `implementFeature` with the
 * Temporal client and to read what happened from the API and the audit log.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createLeastPrivilegeAccess, startCluster, type AuditEvent, type Cluster, type LeastPrivilegeAccess } from '../../support/cluster';
import { startKubelet, type StartKubeletOptions, type TestKubelet } from '../../support/kubelet';
import type { ImplementFeatureInput, RunOptions, RunSummary } from '../../../workflows/types';
import { getRunStateQuery } from '../../../workflows/definitions';
import type { RunState } from '../../../workflows/types';
import { createBareRepo, type BareRepo } from './git-repo';

export const FAKE_AGENT = path.join(__dirname, 'fake-agent.sh');
export const AGENT_IMAGE = 'sdlc-e2e/agent:1';

/** Temporal dev server of the jest globalSetup; fails loudly when it is not there. */
export function temporalTarget(): { address: string; namespace: string } {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: the jest globalSetup must start the Temporal dev server');
  return { address, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' };
}

export async function temporalClient(): Promise<{ client: Client; close(): Promise<void> }> {
  const t = temporalTarget();
  const connection = await Connection.connect({ address: t.address });
  return { client: new Client({ connection, namespace: t.namespace }), close: () => connection.close() };
}

/** A tasks.md with `n` open [ASYNC] tasks T001…Tnnn in one phase. */
export function tasksMarkdown(n: number, title = 'E2E feature'): string {
  const lines = [`# Tasks: ${title}`, '', '## Phase 1: Build', ''];
  for (let i = 1; i <= n; i++) {
    const id = `T${String(i).padStart(3, '0')}`;
    lines.push(`- [ ] ${id} [ASYNC] Implement part ${i} in \`src/part${i}.ts\``);
  }
  return lines.join('\n') + '\n';
}

/** The agent pod template the worker reads (docs/pod-template.md): the agent image, plus plain env knobs for fake-agent.sh. */
export function podTemplate(env: Record<string, string> = {}, image = AGENT_IMAGE): string {
  const envYaml = Object.entries(env)
    .map(([name, value]) => `        - name: ${name}\n          value: ${JSON.stringify(value)}`)
    .join('\n');
  return `apiVersion: v1
kind: Pod
metadata:
  labels:
    app.kubernetes.io/name: sdlc-agent
spec:
  terminationGracePeriodSeconds: 5
  containers:
    - name: agent
      image: ${image}
${envYaml ? `      env:\n${envYaml}\n` : ''}`;
}

export interface StartRunOptions {
  taskQueue: string;
  tasks: number;
  /** The remote (a BareRepo, the git server's URL, ...). */
  repo: { url: string; baseBranch: string };
  options?: Partial<RunOptions>;
  feature?: string;
  /** tasks.md text; default: `tasks` open [ASYNC] tasks. */
  markdown?: string;
}

/** Fast run options: short timeouts, failed pods deleted at once. */
export const FAST_OPTIONS: Partial<RunOptions> = {
  taskTimeoutSeconds: 120,
  pendingTimeoutSeconds: 60,
  decisionTimeoutSeconds: 5,
  keepFailedPodsSeconds: 0,
  heartbeatTimeoutSeconds: 10,
};

export async function startRun(client: Client, o: StartRunOptions): Promise<WorkflowHandle> {
  const feature = o.feature ?? `e2e-${randomBytes(3).toString('hex')}`;
  const input: ImplementFeatureInput = {
    repository: { url: o.repo.url, baseBranch: o.repo.baseBranch },
    feature: { name: feature, dir: `specs/${feature}` },
    tasksFile: `specs/${feature}/tasks.md`,
    tasksMarkdown: o.markdown ?? tasksMarkdown(o.tasks),
    options: { ...FAST_OPTIONS, ...o.options },
  };
  return client.workflow.start('implementFeature', { taskQueue: o.taskQueue, workflowId: `sdlc-${feature}`, args: [input] });
}

export async function runState(handle: WorkflowHandle): Promise<RunState> {
  return handle.query(getRunStateQuery);
}

export const runResult = (handle: WorkflowHandle): Promise<RunSummary> => handle.result() as Promise<RunSummary>;

export interface E2eStack {
  cluster: Cluster;
  kubelet: TestKubelet;
  access: LeastPrivilegeAccess;
  namespace: string;
  /** Username the runner's ServiceAccount acts as in the audit log. */
  runnerUser: string;
  repo: BareRepo;
  scratch: string;
  /** Admin view of the agent namespace. */
  pods(): Promise<V1Pod[]>;
  /** Successful pod creations (201) by the runner, in order, from the apiserver audit log. */
  podCreations(): string[];
  /** Pod watches the runner opened (audit: verb watch, stage ResponseStarted). */
  runnerWatches(): AuditEvent[];
  /**
   * kill -9 this stack's kube-apiserver and leave it down (etcd keeps running): the outage lasts until
   * the test calls cluster.restartApiserver(). Returns the killed pid.
   */
  killApiserver(): number;
  /** Writes a pod template file for the worker and returns its path. */
  writePodTemplate(env?: Record<string, string>): string;
  /** Env for a worker process of this stack (KUBECONFIG = the least-privilege ServiceAccount). */
  workerEnv(taskQueue: string, templateFile: string): Record<string, string>;
  stop(): Promise<void>;
}

/** `kubeletOpts` win over the defaults: e.g. `{ runtime: 'podman' }` runs the pods as real containers of their images (test/support/kubelet/podman.ts). */
export async function startE2eStack(name: string, kubeletOpts: Partial<StartKubeletOptions> = {}): Promise<E2eStack> {
  const cluster = await startCluster({ audit: true });
  let kubelet: TestKubelet | undefined;
  let repo: BareRepo | undefined;
  try {
    kubelet = await startKubelet({ ...cluster.kubeletOptions(), imageCommands: { [AGENT_IMAGE]: ['/bin/sh', FAKE_AGENT] }, ...kubeletOpts });
    const namespace = `e2e-${name}`;
    const access = await createLeastPrivilegeAccess(cluster, { namespace });
    repo = await createBareRepo(name);
    const scratch = mkdtempSync(path.join(os.tmpdir(), `sdlc-e2e-${name}-`));
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const runnerUser = `system:serviceaccount:${namespace}:${access.serviceAccount}`;
    let templates = 0;
    const stack: E2eStack = {
      cluster,
      kubelet,
      access,
      namespace,
      runnerUser,
      repo,
      scratch,
      async pods() {
        return (await core.listNamespacedPod({ namespace })).items;
      },
      podCreations() {
        return cluster
          .auditEvents()
          .filter((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'pods' && !e.objectRef.subresource)
          // A dry run (the worker's start check, dryRun=All) answers 201 too but creates nothing.
          .filter((e) => e.user.username === runnerUser && e.responseStatus?.code === 201 && !/[?&]dryRun=All(&|$)/.test(e.requestURI))
          .map((e) => e.objectRef!.name ?? '<unnamed>');
      },
      runnerWatches() {
        return cluster.auditEvents().filter((e) => e.stage === 'ResponseStarted' && e.verb === 'watch' && e.user.username === runnerUser);
      },
      killApiserver() {
        const pid = apiserverPid(cluster.server);
        process.kill(pid, 'SIGKILL');
        return pid;
      },
      writePodTemplate(env = {}) {
        const file = path.join(scratch, `pod-template-${++templates}.yaml`);
        writeFileSync(file, podTemplate(env));
        return file;
      },
      workerEnv(taskQueue, templateFile) {
        const t = temporalTarget();
        return {
          TEMPORAL_ADDRESS: t.address,
          TEMPORAL_NAMESPACE: t.namespace,
          TEMPORAL_TASK_QUEUE: taskQueue,
          SDLC_K8S_NAMESPACE: namespace,
          SDLC_POD_TEMPLATE_FILE: templateFile,
          // The e2e repositories: local bare repos (file://) and the loopback git server (http).
          SDLC_ALLOWED_GIT_HOSTS: 'file:// http://127.0.0.1:*',
          SDLC_SHUTDOWN_GRACE_SECONDS: '5',
          KUBECONFIG: access.kubeconfigPath,
        };
      },
      async stop() {
        await kubelet?.stop();
        await cluster.stop();
        repo?.remove();
        rmSync(scratch, { recursive: true, force: true });
      },
    };
    return stack;
  } catch (err) {
    await kubelet?.stop();
    await cluster.stop();
    repo?.remove();
    throw err;
  }
}

/** The first process whose argv[0] has this basename and whose argv contains `arg` (e.g. the apiserver's --secure-port=…). */
export function findPid(basename: string, arg: string | ((a: string) => boolean)): number | undefined {
  const match = typeof arg === 'string' ? (a: string) => a === arg : arg;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    if (path.basename(args[0] ?? '') === basename && args.some(match)) return Number(entry);
  }
  return undefined;
}

/** The pid of the kube-apiserver serving `server` (https://127.0.0.1:<port>), found by its --secure-port flag in /proc. */
function apiserverPid(server: string): number {
  const flag = `--secure-port=${new URL(server).port}`;
  const pid = findPid('kube-apiserver', flag);
  if (pid === undefined) throw new Error(`no kube-apiserver process with ${flag} found`);
  return pid;
}

/** Lines of E2E_RECORD_DIR/runs.log: one "<task> <pod>" per agent start. */
export function recordedRuns(dir: string): { task: string; pod: string }[] {
  let text = '';
  try {
    text = readFileSync(path.join(dir, 'runs.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [task, pod] = l.split(' ');
      return { task: task!, pod: pod! };
    });
}

export function makeRecordDir(scratch: string, name: string): string {
  const dir = path.join(scratch, name);
  mkdirSync(dir, { recursive: true });
  // Agent pods whose phases run as their own non-root uids append to it too.
  chmodSync(dir, 0o777);
  return dir;
}

/** Polls until `fn` returns truthy; throws `what` (and the last error) after timeoutMs. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function timing(label: string, ms: number): void {
  // eslint-disable-next-line no-console
  console.log(`[e2e timing] ${label}: ${(ms / 1000).toFixed(1)} s`);
}
