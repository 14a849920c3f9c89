/**
 * npm run bench: pod creation three ways on the real stack (kube-apiserver + etcd, test kubelet, the
 * production worker process), the per-task breakdown, and the log-heavy case.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { buildPodManifest, parsePodTemplate } from '../../src/k8s/pod-manifest';
import { podName as makePodName } from '../../src/k8s/names';
import { repoRoot } from '../../src/tools';
import { MAX_PARALLEL_LIMIT } from '../../workflows/run-table';
import type { RunSummary } from '../../workflows/types';
import { makeRecordDir, podTemplate, startRun, type E2eStack } from '../e2e/support/stack';
import { startWorkerProcess, type WorkerProcess } from '../e2e/support/worker-process';
import { breakdown, readRun, type Breakdown, type ChildTiming, type Milestone, type ParentTiming } from './bench-history';
import { CpuWindow, dist, loadAvg, log, memoryMb, round, sleep, type Dist } from './bench-util';

const run = promisify(execFile);

export interface Ctx {
  stack: E2eStack;
  client: Client;
  pids: { worker?: number; 'temporal dev server': number; 'kube-apiserver'?: number; etcd?: number };
  admin: CoreV1Api;
  adminKc: KubeConfig;
  runnerCore: CoreV1Api;
  /** Seed way: how long a full serial run may take before it is measured on a subset and scaled. */
  seedBudgetSeconds: number;
  /** --profile-worker: each worker writes a V8 CPU profile per thread here when it stops. */
  profileDir?: string;
}

/** `n` open [ASYNC] tasks numbered from `first` (task IDs unique over the runs of one phase). */
export function tasksMd(first: number, n: number): string {
  const lines = ['# Tasks: bench', '', '## Phase 1: Build', ''];
  for (let i = first; i < first + n; i++) lines.push(`- [ ] ${taskId(i)} [ASYNC] Implement part ${i} in \`src/part${i}.ts\``);
  return lines.join('\n') + '\n';
}
const taskId = (i: number) => `T${String(i).padStart(3, '0')}`;

/** Deletes every pod of the agent namespace at once and waits until none is left. */
export async function clearPods(ctx: Ctx, timeoutMs = 120_000): Promise<void> {
  const ns = ctx.stack.namespace;
  await ctx.admin.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 });
  const end = Date.now() + timeoutMs;
  for (;;) {
    const left = (await ctx.admin.listNamespacedPod({ namespace: ns })).items.length;
    if (!left) return;
    if (Date.now() > end) throw new Error(`${left} pods still in ${ns} after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** Pod ADDED/DELETED times in the agent namespace as the apiserver reports them (an admin watch). */
class PodWatch {
  added = new Map<string, number>();
  deleted = new Map<string, number>();
  /** Pod → when the watch first showed it Succeeded or Failed, and its task label. */
  ended = new Map<string, { at: number; task?: string }>();
  maxExisting = 0;
  private existing = new Set<string>();
  private abort?: AbortController;
  private waiters: { n: number; resolve: () => void }[] = [];
  async start(kc: KubeConfig, namespace: string): Promise<void> {
    const w = new Watch(kc);
    this.abort = await w.watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {},
      (type, obj: { metadata?: { name?: string; labels?: Record<string, string> }; status?: { phase?: string } }) => {
        const name = obj.metadata?.name;
        if (!name) return;
        const now = Date.now();
        const phase = obj.status?.phase;
        if ((phase === 'Succeeded' || phase === 'Failed') && !this.ended.has(name)) this.ended.set(name, { at: now, task: obj.metadata?.labels?.['sdlc-runner.dev/task'] });
        if (type === 'ADDED' && !this.added.has(name)) {
          this.added.set(name, now);
          this.existing.add(name);
          this.maxExisting = Math.max(this.maxExisting, this.existing.size);
          this.waiters = this.waiters.filter((x) => (this.added.size >= x.n ? (x.resolve(), false) : true));
        }
        if (type === 'DELETED') {
          this.deleted.set(name, now);
          this.existing.delete(name);
        }
      },
      (err) => {
        if (err && !this.stopped) log(`pod watch ended: ${String(err)}`);
      },
    );
  }
  private stopped = false;
  /** Resolves once `n` distinct pods have been added. */
  until(n: number): Promise<void> {
    if (this.added.size >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

// ---------------------------------------------------------------- (a) the seed's way

export interface SeedResult {
  n: number;
  measuredPods: number;
  measuredSeconds: number;
  /** All n pods (measured, or scaled from the measured subset when `extrapolated`). */
  seconds: number;
  podsPerSecond: number;
  extrapolated: boolean;
  loadBefore: number[];
}

const SEED_RELEASE = 'bench-seed';

async function installTemplateConfigMap(ctx: Ctx, template: string): Promise<void> {
  const ns = ctx.stack.namespace;
  await ctx.admin.deleteNamespacedConfigMap({ namespace: ns, name: SEED_RELEASE }).catch(() => undefined);
  await ctx.admin.createNamespacedConfigMap({
    namespace: ns,
    body: {
      metadata: {
        name: SEED_RELEASE,
        labels: { 'app.kubernetes.io/component': 'pod-template', 'app.kubernetes.io/part-of': 'agentic-sdlc-runner', 'app.kubernetes.io/instance': SEED_RELEASE },
      },
      data: { 'pod-template.yaml': template },
    },
  });
}

export async function seedWay(ctx: Ctx, n: number, template: string): Promise<SeedResult> {
  const loadBefore = loadAvg();
  await installTemplateConfigMap(ctx, template);
  const script = path.join(repoRoot, 'scripts', 'spawn-pod.sh');
  const env = { ...process.env, KUBECONFIG: ctx.stack.cluster.kubeconfigPath, PATH: `${path.join(repoRoot, '.tools', 'bin')}:${process.env.PATH}` };
  const t0 = performance.now();
  let measured = 0;
  let target = n;
  for (let i = 1; i <= target; i++) {
    const id = taskId(i);
    await run('bash', [script, '--source', 'release', '--namespace', ctx.stack.namespace, '--release', SEED_RELEASE, '--agent-namespace', ctx.stack.namespace,
      '--task-id', id, '--branch', `specs/bench-seed/${id}-async`, '--repo', ctx.stack.repo.url, '--context-dir', 'specs/bench-seed', '--timeout-minutes', '5'], { env });
    measured = i;
    if (i === 10 && target === n) {
      const estimate = ((performance.now() - t0) / 10) * n / 1000;
      // Too long for a benchmark run: a subset of 50, scaled (said so in the output).
      if (estimate > ctx.seedBudgetSeconds) target = Math.min(n, 50);
    }
  }
  const measuredSeconds = (performance.now() - t0) / 1000;
  const seconds = (measuredSeconds / measured) * n;
  await clearPods(ctx);
  return { n, measuredPods: measured, measuredSeconds: round(measuredSeconds, 2), seconds: round(seconds, 2), podsPerSecond: round(n / seconds, 2), extrapolated: measured < n, loadBefore };
}

// ---------------------------------------------------------------- (b) the raw floor

export interface FloorResult {
  n: number;
  seconds: number;
  podsPerSecond: number;
  batch: number;
  loadBefore: number[];
}

/**
 * The worker's own manifests (same template, labels, env), created by the runner's ServiceAccount with
 * createNamespacedPod, `batch` at a time — but bound to a node nobody runs (spec.nodeName), so the
 * figure is the API's cost alone (the test kubelet runs in this process and would share its CPU).
 */
export async function rawFloor(ctx: Ctx, n: number, templateText: string, batch = 50): Promise<FloorResult> {
  const loadBefore = loadAvg();
  const template = parsePodTemplate(templateText);
  const ns = ctx.stack.namespace;
  const manifests = Array.from({ length: n }, (_, k) => {
    const id = taskId(k + 1);
    const pod = buildPodManifest(template, {
      name: makePodName('sdlc-bench-floor', id, 1, 0, `floor-${n}`),
      labels: { 'app.kubernetes.io/managed-by': 'sdlc-bench-floor', 'sdlc-runner.dev/run': 'sdlc-bench-floor', 'sdlc-runner.dev/task': id, 'sdlc-runner.dev/attempt': '1' },
      annotations: { 'sdlc-runner.dev/workflow-id': `sdlc-bench-floor/${id}/1`, 'sdlc-runner.dev/task-title': `${id} — Implement part ${k + 1} (attempt 1)` },
      env: { SDLC_REPO_URL: ctx.stack.repo.url, SDLC_BASE_BRANCH: 'main', SDLC_TASK_BRANCH: `specs/bench-floor/${id}-async`, SDLC_TASK_ID: id, SDLC_TASK_TEXT: `Implement part ${k + 1}`, SDLC_FEATURE_DIR: 'specs/bench-floor', SDLC_TIME_LIMIT_SECONDS: '300', SDLC_RUN_ID: 'sdlc-bench-floor', SDLC_ATTEMPT: '1' },
      activeDeadlineSeconds: 300,
    }, ns);
    pod.spec!.nodeName = 'bench-floor-no-such-node';
    return pod;
  });
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    await Promise.all(manifests.slice(i, i + batch).map((body) => ctx.runnerCore.createNamespacedPod({ namespace: ns, body })));
  }
  const seconds = (performance.now() - t0) / 1000;
  await clearPods(ctx);
  return { n, seconds: round(seconds, 3), podsPerSecond: round(n / seconds, 1), batch, loadBefore };
}

// ---------------------------------------------------------------- (c) a real run through the worker

export interface WorkerRunResult {
  n: number;
  /** The runs' workflow IDs. */
  runIds: string[];
  runs: number;
  maxParallelPerRun: number;
  allPodsExistSeconds: number;
  /** The same, from the apiserver's audit log (201 of the runner's creates). */
  allPodsExistAuditSeconds?: number;
  podsPerSecond: number;
  completionSeconds: number;
  maxPodsExistingAtOnce: number;
  succeeded: number;
  /** The first few tasks that did not succeed, with their reason. */
  failures: string[];
  workerPeakRssMb: number;
  cpu: { wallSeconds: number; cpuSeconds: Record<string, number> };
  parentEvents: number[];
  breakdown: Breakdown;
  loadBefore: number[];
  /** Log-heavy: per task, lines printed by the agent vs lines the run recorded. */
  lines?: { printed: number; recorded: number; lost: number; repeated: number; tasksWithMismatch: string[] };
  workerRssSamplesMb?: { p50: number; max: number };
}

async function startWorker(ctx: Ctx, name: string, templateFile: string, n: number): Promise<{ worker: WorkerProcess; queue: string }> {
  const queue = `bench-${name}-${Date.now().toString(36)}`;
  const worker = await startWorkerProcess({
    env: { ...ctx.stack.workerEnv(queue, templateFile), SDLC_MAX_CONCURRENT_ACTIVITIES: String(Math.max(300, 3 * n + 50)) },
    logFile: path.join(ctx.stack.scratch, `worker-${name}.log`),
    name: `worker (${name})`,
    nodeArgs: ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`] : [],
  });
  return { worker, queue };
}

/** Task results recorded by the fake agents (E2E_BENCH_RECORD): task → { result-line time, lines printed }. */
function agentRecords(dir: string): Map<string, { at: number; printed: number; pod: string }> {
  const out = new Map<string, { at: number; printed: number; pod: string }>();
  let text = '';
  try {
    text = readFileSync(path.join(dir, 'bench.log'), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n').filter(Boolean)) {
    const [task, pod, at, printed] = line.split(' ');
    out.set(task!, { at: Number(at), printed: Number(printed), pod: pod! });
  }
  return out;
}

export interface WorkerRunOptions {
  name: string;
  n: number;
  /** Extra fake-agent env (the chatty mode). */
  agentEnv?: Record<string, string>;
  taskTimeoutSeconds?: number;
  /** Called once the runs are done and measured, while their worker is still up (it answers state queries). */
  afterRun?: (runIds: string[]) => Promise<void>;
}

export async function workerRun(ctx: Ctx, o: WorkerRunOptions): Promise<WorkerRunResult> {
  const { stack } = ctx;
  const records = makeRecordDir(stack.scratch, `records-${o.name}`);
  const templateFile = path.join(stack.scratch, `pod-template-${o.name}.yaml`);
  writeFileSync(templateFile, podTemplate({ E2E_RECORD_DIR: records, E2E_PRESET_SHA: stack.repo.baseSha, E2E_BENCH_RECORD: '1', ...o.agentEnv }));
  // One run holds at most MAX_PARALLEL_LIMIT tasks at once: larger N are split into runs started together.
  const runs = Math.ceil(o.n / MAX_PARALLEL_LIMIT);
  const per = Math.ceil(o.n / runs);
  const features = Array.from({ length: runs }, (_, r) => ({ feature: `bench-${o.name}-${r + 1}`, first: r * per + 1, count: Math.min(per, o.n - r * per) }));
  for (const f of features) {
    const ids = Array.from({ length: f.count }, (_, i) => taskId(f.first + i));
    // As if every agent had pushed already (scale.test.ts): the agents do no git work, verification still checks.
    await stack.repo.setBranches(ids.map((id) => `specs/${f.feature}/${id}-async`), stack.repo.baseSha);
  }
  const { worker, queue } = await startWorker(ctx, o.name, templateFile, o.n);
  ctx.pids.worker = worker.pid;
  const watch = new PodWatch();
  await watch.start(ctx.adminKc, stack.namespace);
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(memoryMb(worker.pid).rssMb), 1000);
  try {
    await sleep(1000);
    const loadBefore = loadAvg();
    const auditFrom = new Date().toISOString();
    const cpu = new CpuWindow(ctx.pids);
    const t0 = Date.now();
    const handles: WorkflowHandle[] = await Promise.all(
      features.map((f) =>
        startRun(ctx.client, {
          taskQueue: queue,
          tasks: f.count,
          repo: stack.repo,
          feature: f.feature,
          markdown: tasksMd(f.first, f.count),
          options: { maxParallel: f.count, taskTimeoutSeconds: o.taskTimeoutSeconds ?? 300, pendingTimeoutSeconds: 240, heartbeatTimeoutSeconds: 30 },
        }),
      ),
    );
    const results = Promise.all(handles.map((h) => h.result())) as Promise<RunSummary[]>;
    // All N pods, unless the runs end first (a task that never got a pod): then the figure is NaN.
    const allThere = await Promise.race([watch.until(o.n).then(() => true), results.then(() => watch.added.size >= o.n)]);
    const allPodsExistSeconds = allThere ? (Date.now() - t0) / 1000 : NaN;
    const summaries = await results;
    const completionSeconds = (Date.now() - t0) / 1000;
    const window = cpu.stop();
    const workerPeakRssMb = memoryMb(worker.pid).peakRssMb;
    clearInterval(sampler);
    const auditSeconds = auditAllCreated(ctx, auditFrom, t0, o.n);
    for (const f of summaries.flatMap((x) => x.tasks).filter((t) => t.status !== 'succeeded').slice(0, 3)) log(`  ${f.id} ${f.status}: ${f.reason ?? ''}`);
    log(`${o.name}: ${o.n} pods in ${allPodsExistSeconds.toFixed(2)} s, run done in ${completionSeconds.toFixed(2)} s; reading histories`);
    const agent = agentRecords(records);
    const resultAt = new Map([...agent].map(([k, v]) => [k, v.at]));
    const parents: ParentTiming[] = [];
    const children: ChildTiming[] = [];
    // The pod's end as the apiserver reported it (kubelet → apiserver → watch), among the child's milestones.
    const podEnded = new Map<string, Milestone[]>();
    for (const e of watch.ended.values()) if (e.task) podEnded.set(e.task, [{ label: 'pod Succeeded/Failed (apiserver watch)', at: e.at }]);
    for (const h of handles) {
      const r = await readRun(ctx.client, h.workflowId, resultAt, podEnded);
      parents.push(r.parent);
      children.push(...r.children);
    }
    const tasks = summaries.flatMap((s) => s.tasks);
    let lines: WorkerRunResult['lines'];
    if (o.agentEnv?.E2E_CHAT_SECONDS) {
      let printed = 0;
      let recorded = 0;
      let lost = 0;
      let repeated = 0;
      const mismatch: string[] = [];
      for (const t of tasks) {
        const p = agent.get(t.id)?.printed ?? NaN;
        const r = t.logLines ?? NaN;
        printed += p;
        recorded += r;
        if (!(p === r)) mismatch.push(`${t.id}: printed ${p}, recorded ${r}`);
        if (r < p) lost += p - r;
        if (r > p) repeated += r - p;
      }
      lines = { printed, recorded, lost, repeated, tasksWithMismatch: mismatch.slice(0, 20) };
    }
    await o.afterRun?.(handles.map((h) => h.workflowId));
    return {
      n: o.n,
      runIds: handles.map((h) => h.workflowId),
      runs,
      maxParallelPerRun: per,
      allPodsExistSeconds: round(allPodsExistSeconds, 2),
      allPodsExistAuditSeconds: auditSeconds,
      podsPerSecond: round(o.n / allPodsExistSeconds, 1),
      completionSeconds: round(completionSeconds, 2),
      maxPodsExistingAtOnce: watch.maxExisting,
      succeeded: tasks.filter((t) => t.status === 'succeeded').length,
      failures: tasks.filter((t) => t.status !== 'succeeded').slice(0, 5).map((t) => `${t.id} ${t.status}: ${t.reason ?? ''} ${(t.lastLines ?? []).slice(-3).join(' | ')}`),
      workerPeakRssMb,
      cpu: window,
      parentEvents: parents.map((p) => p.events),
      breakdown: breakdown(children, parents),
      loadBefore,
      lines,
      workerRssSamplesMb: { p50: dist(rss).p50, max: dist(rss).max },
    };
  } finally {
    clearInterval(sampler);
    watch.stop();
    await worker.stop();
    ctx.pids.worker = undefined;
    await clearPods(ctx).catch((err) => log(`clearing pods: ${String(err)}`));
  }
}

/** Seconds from t0 until the apiserver answered 201 to the runner's n-th pod create (audit log). */
function auditAllCreated(ctx: Ctx, fromIso: string, t0: number, n: number): number | undefined {
  try {
    const times = ctx.stack.cluster
      .auditEvents()
      .filter((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'pods' && !e.objectRef.subresource)
      .filter((e) => e.user.username === ctx.stack.runnerUser && e.responseStatus?.code === 201 && !/[?&]dryRun=All(&|$)/.test(e.requestURI))
      .filter((e) => (e.stageTimestamp ?? '') >= fromIso)
      .map((e) => Date.parse(e.stageTimestamp!))
      .sort((a, b) => a - b);
    if (times.length < n) return undefined;
    return round((times[n - 1]! - t0) / 1000, 2);
  } catch {
    return undefined;
  }
}

export type { Dist };
