/**
 * An in-memory model of the Kubernetes side for workflow tests: pods go Pending → Running → log lines
 * → exit (or fail in the ways real pods fail), deletion is graceful, and every create/delete is
 * recorded so tests can assert what the cluster saw (e.g. never more than N pods alive at once).
 * The real gateway (src/k8s/client-gateway.ts) is tested against a real kube-apiserver; this double
 * exists so the workflow logic can be tested fast and exhaustively against a real Temporal server.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AgentPodRequest, CreatePodResult, FollowLogsOptions, KubernetesGateway, LogLine, PodStatus } from '../../src/k8s/gateway';
import { KubernetesError, LABELS } from '../../src/k8s/gateway';
import { compareLogTimestamps } from '../../src/k8s/timestamps';
import { describeConflict, GitRemoteError, type BranchSource, type ConflictingFile, type GitGateway, type IntegrateRequest, type IntegrateResult, type PrepareBranchRequest, type PrepareBranchResult } from '../../src/git/gateway';
import { formatResultLine } from '../../src/contract/result-line';
import { AGENT_ENV } from '../../src/contract/agent-env';

/** How a pod behaves; chosen per pod by the test's `behaviour` function. */
export interface PodScript {
  /** Time spent Pending before the container starts. */
  pendingMs?: number;
  /** Never start: stay Pending with this waiting reason (image pull errors, unschedulable). */
  stuckPending?: { reason: string; message?: string };
  /** Log lines the agent prints (the result line is appended automatically unless `result` is 'none'). */
  lines?: string[];
  lineIntervalMs?: number;
  /** Run time after the last line before exiting. */
  runMs?: number;
  /** What the agent reports: a pushed commit ('success'), an agent failure, the model gateway's budget refusal ('budget'), or nothing. */
  result?: 'success' | 'failure' | 'budget' | 'none' | 'lie';
  exitCode?: number;
  /** Never exit by itself (until deleted or the deadline). */
  hang?: boolean;
  /** Do not enforce the pod's activeDeadlineSeconds (a kubelet that fails to), so only the workflow's deadline can end it. */
  ignoreActiveDeadline?: boolean;
  /** While running: deleted by someone else (an admin, a drain without the Eviction API) after this long. */
  deletedBySomeoneElseAfterMs?: number;
  /** While running: taken away through the Eviction API after this long (DisruptionTarget set, then deleted). */
  evictedThroughApiAfterMs?: number;
  /** Die OOM-killed / be evicted instead of finishing. */
  oomKill?: boolean;
  /**
   * The agent container's terminated reason when it ends by itself (default Completed / Error): 'OOMKilled' is
   * what a real runtime reports when the kernel killed one of the agent's tools and the agent went on.
   */
  terminatedReason?: string;
  evict?: boolean;
  tokens?: { input: number; output: number };
  cost?: number;
  /**
   * The agent's work, done for real when the pod "runs" (after its log lines), instead of the fake sha push:
   * e.g. clone the task branch, commit and push to a real git server. Reports the pushed commit or a failure;
   * the pod then logs the result line and exits as with `result` 'success' / 'failure'. A throw is a failure.
   */
  agent?: (req: AgentPodRequest) => Promise<{ sha: string } | { failure: string }>;
}

interface MemPod {
  req: AgentPodRequest;
  status: PodStatus;
  logs: LogLine[];
  timers: NodeJS.Timeout[];
  createdAt: number;
}

export interface GatewayRecord {
  at: number;
  event: 'created' | 'adopted' | 'deleted' | 'exited';
  pod: string;
  alive: number;
}

let tsSeq = 0;
function nowTs(): string {
  const ms = Date.now();
  const iso = new Date(ms).toISOString(); // ...T12:34:56.789Z
  tsSeq = (tsSeq + 1) % 1_000_000;
  return `${iso.slice(0, 23)}${String(tsSeq).padStart(6, '0')}Z`;
}

/**
 * Remote branch heads in a map, and merges as a model: what the workflow logic depends on (which calls, in
 * which order, what head comes back), not git's content merging (src/git/cli-gateway.ts, tested with real git).
 */
export class MemoryGit implements GitGateway {
  readonly heads = new Map<string, string>();
  /** Every prepareTaskBranch / integrate call, in order (retries included). */
  readonly prepareCalls: PrepareBranchRequest[] = [];
  readonly integrateCalls: IntegrateRequest[] = [];
  /** Test hook: the files a prepareTaskBranch call conflicts on (undefined: it merges). */
  conflictOn?: (req: PrepareBranchRequest) => ConflictingFile[] | undefined;
  /** Test hook: the task an integrate call stops before, and its files (undefined: everything integrates). */
  integrationConflict?: (req: IntegrateRequest) => { taskId: string; files: ConflictingFile[] } | undefined;

  async branchHead(repoUrl: string, branch: string): Promise<string | undefined> {
    return this.heads.get(`${repoUrl}#${branch}`);
  }
  push(repoUrl: string, branch: string, sha: string): void {
    this.heads.set(`${repoUrl}#${branch}`, sha);
  }

  /** A source's commit: the one given, else its branch's head (a missing branch fails like the real gateway). */
  private commitOf(repoUrl: string, source: BranchSource): string {
    const commit = source.commit ?? this.heads.get(`${repoUrl}#${source.branch}`);
    if (!commit) throw new GitRemoteError(`task ${source.taskId}'s branch ${source.branch} does not exist on ${repoUrl}`, false);
    return commit;
  }

  async prepareTaskBranch(req: PrepareBranchRequest): Promise<PrepareBranchResult> {
    this.prepareCalls.push(structuredClone(req));
    const commits = req.sources.map((source) => this.commitOf(req.repoUrl, source));
    const files = this.conflictOn?.(req);
    if (files) {
      const involved = new Set(files.flatMap((f) => f.tasks));
      const merging = [...req.sources].reverse().find((source) => involved.has(source.taskId)) ?? req.sources[req.sources.length - 1];
      return { kind: 'conflict', files, message: describeConflict(files, `merging ${merging?.taskId} into ${req.taskId}'s branch conflicts`) };
    }
    const existing = this.heads.get(`${req.repoUrl}#${req.branch}`);
    // One dependency and no branch yet: the branch simply starts at that commit (no merge), as with real git.
    const head = !existing && commits.length === 1 ? commits[0]! : fakeSha(req.branch, ...commits, req.timestamp);
    this.push(req.repoUrl, req.branch, head);
    return { kind: 'ready', head, created: !existing, merged: req.sources.map((s) => s.taskId), contained: [] };
  }

  async integrate(req: IntegrateRequest): Promise<IntegrateResult> {
    this.integrateCalls.push(structuredClone(req));
    const conflict = this.integrationConflict?.(req);
    const stop = conflict ? req.sources.findIndex((s) => s.taskId === conflict.taskId) : -1;
    const merged = stop >= 0 ? req.sources.slice(0, stop) : req.sources;
    const included = merged.map((source) => ({ taskId: source.taskId, commit: this.commitOf(req.repoUrl, source) }));
    const head = fakeSha(req.branch, ...included.map((i) => i.commit), req.timestamp);
    this.push(req.repoUrl, req.branch, head);
    if (!conflict || stop < 0) return { head, included, skipped: [] };
    return {
      head,
      included,
      conflict: { ...conflict, message: describeConflict(conflict.files, `integrating ${conflict.taskId} into ${req.branch} conflicts`) },
      skipped: req.sources.slice(stop + 1).map((s) => s.taskId),
    };
  }
}

/** A deterministic stand-in for a merge commit's sha: same inputs, same sha (as the real gateway's fixed identity and date). */
function fakeSha(...parts: string[]): string {
  return createHash('sha1').update(parts.join('\n')).digest('hex');
}

export class MemoryKubernetesGateway implements KubernetesGateway {
  readonly namespace = 'agents';
  readonly pods = new Map<string, MemPod>();
  readonly records: GatewayRecord[] = [];
  readonly createCalls: string[] = [];
  /** The request of every pod created (kept after the pod is deleted), in order. */
  readonly createdRequests: AgentPodRequest[] = [];
  maxAlive = 0;
  private readonly events = new EventEmitter();

  /** @param git where pods without an `agent` push their fake commits (needed only for those pods). */
  constructor(
    private readonly behaviour: (req: AgentPodRequest) => PodScript,
    private readonly git?: Pick<MemoryGit, 'push'>,
  ) {
    this.events.setMaxListeners(0);
  }

  /** Pods whose containers may still run (Pending or Running): terminated pods awaiting deletion use no compute. */
  get alive(): number {
    return [...this.pods.values()].filter((p) => p.status.phase === 'Pending' || p.status.phase === 'Running').length;
  }

  /** Every pod name ever created (not adopted). */
  get created(): string[] {
    return this.records.filter((r) => r.event === 'created').map((r) => r.pod);
  }

  private record(event: GatewayRecord['event'], pod: string) {
    this.maxAlive = Math.max(this.maxAlive, this.alive);
    this.records.push({ at: Date.now(), event, pod, alive: this.alive });
  }

  private changed(pod: MemPod) {
    this.events.emit('change', pod.status.name);
  }

  private log(pod: MemPod, text: string) {
    pod.logs.push({ ts: nowTs(), text });
    this.changed(pod);
  }

  private terminate(pod: MemPod, exitCode: number, reason: string, podReason?: string) {
    if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') return;
    pod.timers.forEach(clearTimeout);
    pod.status = { ...pod.status, phase: exitCode === 0 ? 'Succeeded' : 'Failed', exitCode, terminatedReason: reason, reason: podReason, finishedAt: new Date().toISOString(), waitingReason: undefined };
    this.record('exited', pod.status.name);
    this.changed(pod);
  }

  async createPod(req: AgentPodRequest): Promise<CreatePodResult> {
    this.createCalls.push(req.name);
    const existing = this.pods.get(req.name);
    if (existing) {
      const same = [LABELS.runUid, LABELS.task, LABELS.attempt].every((k) => existing.req.labels[k] === req.labels[k]);
      if (!same) throw new KubernetesError(`pod ${req.name} exists and belongs to another run/task/attempt`, false, 409);
      this.record('adopted', req.name);
      return { name: req.name, created: false };
    }
    const script = this.behaviour(req);
    const pod: MemPod = {
      req,
      status: { name: req.name, phase: 'Pending', labels: { ...req.labels }, annotations: { ...req.annotations }, deleting: false, waitingReason: 'ContainerCreating' },
      logs: [],
      timers: [],
      createdAt: Date.now(),
    };
    this.pods.set(req.name, pod);
    this.createdRequests.push(req);
    this.record('created', req.name);
    this.run(pod, script);
    return { name: req.name, created: true };
  }

  private run(pod: MemPod, script: PodScript) {
    const at = (ms: number, fn: () => void) => pod.timers.push(setTimeout(fn, ms).unref());
    if (script.stuckPending) {
      at(50, () => {
        pod.status = { ...pod.status, waitingReason: script.stuckPending!.reason, waitingMessage: script.stuckPending!.message };
        this.changed(pod);
      });
      return;
    }
    // The pod's own activeDeadlineSeconds, as the kubelet enforces it.
    if (!script.ignoreActiveDeadline) at(pod.req.activeDeadlineSeconds * 1000, () => this.terminate(pod, 137, 'Error', 'DeadlineExceeded'));
    at(script.pendingMs ?? 20, () => {
      pod.status = { ...pod.status, phase: 'Running', waitingReason: undefined, startedAt: new Date().toISOString() };
      this.changed(pod);
      const lines = script.lines ?? ['cloning repository', 'running opencode', 'committing'];
      const interval = script.lineIntervalMs ?? 10;
      lines.forEach((l, i) => at(interval * (i + 1), () => this.log(pod, l)));
      const end = interval * (lines.length + 1) + (script.runMs ?? 0);
      if (script.deletedBySomeoneElseAfterMs !== undefined) at(script.deletedBySomeoneElseAfterMs, () => void this.deletePod(pod.req.name));
      if (script.evictedThroughApiAfterMs !== undefined) {
        at(script.evictedThroughApiAfterMs, () => {
          // As kube-apiserver's eviction handler does: the condition first, then a graceful delete.
          pod.status = { ...pod.status, disruption: 'EvictionByEvictionAPI: Eviction API: evicting' };
          this.changed(pod);
          void this.deletePod(pod.req.name);
        });
      }
      if (script.oomKill) return at(end, () => this.terminate(pod, 137, 'OOMKilled'));
      if (script.evict) return at(end, () => this.terminate(pod, 137, 'Error', 'Evicted'));
      if (script.hang) return;
      const env = pod.req.env;
      const repo = env[AGENT_ENV.REPO_URL]!;
      const branch = env[AGENT_ENV.TASK_BRANCH]!;
      const taskId = env[AGENT_ENV.TASK_ID]!;
      const succeeded = (sha: string) => {
        this.log(pod, formatResultLine({ v: 1, status: 'succeeded', taskId, branch, sha, commits: 1, tokens: { input: script.tokens?.input ?? 1000, output: script.tokens?.output ?? 200, reasoning: 0, cacheRead: 0, cacheWrite: 0 }, cost: script.cost ?? 0.01 }));
        this.terminate(pod, script.exitCode ?? 0, script.terminatedReason ?? 'Completed');
      };
      const failed = (reason: string) => {
        this.log(pod, formatResultLine({ v: 1, status: 'failed', taskId, branch, commits: 0, reason, ...(script.tokens ? { tokens: { ...script.tokens, reasoning: 0, cacheRead: 0, cacheWrite: 0 } } : {}), ...(script.cost !== undefined ? { cost: script.cost } : {}) }));
        this.terminate(pod, script.exitCode ?? 10, script.terminatedReason ?? 'Error');
      };
      at(end, () => {
        if (script.agent) {
          void script.agent(pod.req).then(
            (r) => pod.status.phase === 'Running' && ('sha' in r ? succeeded(r.sha) : failed(r.failure)),
            (err: unknown) => pod.status.phase === 'Running' && failed(`the agent crashed: ${(err as Error).message}`),
          );
          return;
        }
        const sha = createHash('sha1').update(pod.req.name).digest('hex');
        const result = script.result ?? 'success';
        if (result === 'success' || result === 'lie') {
          // A misuse (no MemoryGit and no agent) shows as the task's reason rather than a throw in a timer.
          if (result === 'success' && !this.git) return failed('test setup: a pod without an agent needs a MemoryGit to push to');
          if (result === 'success') this.git!.push(repo, branch, sha);
          succeeded(sha);
        } else if (result === 'failure') {
          failed('the agent made no change');
        } else if (result === 'budget') {
          this.log(pod, formatResultLine({ v: 1, status: 'budget_exceeded', taskId, branch, commits: 0, reason: "the task's token budget ran out: 3080 of 3000 tokens used (the model gateway's count); nothing was committed or pushed", tokens: { input: 2400, output: 680, reasoning: 0, cacheRead: 0, cacheWrite: 0 }, cost: script.cost ?? 0.0174 }));
          this.terminate(pod, script.exitCode ?? 50, 'Error');
        } else {
          this.terminate(pod, script.exitCode ?? 1, 'Error');
        }
      });
    });
  }

  private readonly tombstones = new Map<string, PodStatus>();
  deletedPod(name: string): PodStatus | undefined {
    return this.tombstones.get(name);
  }

  /** Test hook: the API is down (every read refused as retryable 503) until this time (ms since epoch). */
  apiDownUntil = 0;
  /** Test hook: this many deletes fail in a row (a retryable 500 each). */
  failingDeletes = 0;
  /** Test hook: reading these pods' logs is forbidden (403, for good: an RBAC change). */
  logsForbidden?: (name: string) => boolean;

  private apiDown(what: string): void {
    if (Date.now() < this.apiDownUntil) throw new KubernetesError(`${what}: the server is currently unable to handle the request (503)`, true, 503);
  }

  async getPod(name: string): Promise<PodStatus | undefined> {
    this.apiDown(`get pod ${name}`);
    const pod = this.pods.get(name);
    return pod ? { ...pod.status } : undefined;
  }

  async waitForPod(name: string, until: (p: PodStatus | undefined) => boolean, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<PodStatus | undefined> {
    this.apiDown(`get pod ${name}`);
    const current = () => this.pods.get(name)?.status;
    if (until(current())) return current() && { ...current()! };
    return new Promise((resolve) => {
      const done = () => {
        this.events.off('change', onChange);
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', done);
        const s = current();
        resolve(s && { ...s });
      };
      const onChange = (n: string) => n === name && until(current()) && done();
      const timer = setTimeout(done, opts.timeoutMs ?? 30_000).unref();
      this.events.on('change', onChange);
      opts.signal?.addEventListener('abort', done);
    });
  }

  /** Test hook: the next `n` log streams of this pod are cut after `afterLines` lines. */
  readonly cuts = new Map<string, { afterLines: number; times: number }>();

  async *followLogs(name: string, opts: FollowLogsOptions = {}): AsyncIterable<LogLine> {
    this.apiDown(`logs of pod ${name}`);
    if (this.logsForbidden?.(name)) throw new KubernetesError(`pods "${name}" is forbidden: User cannot get resource "pods/log" in API group "" in the namespace "agents" (403)`, false, 403);
    const pod = this.pods.get(name);
    if (!pod) return;
    const cut = this.cuts.get(name);
    let budget = cut && cut.times > 0 ? cut.afterLines : Infinity;
    if (cut && cut.times > 0) cut.times--;
    // sinceTime has second precision in the real API: replay from the start of that second.
    const since = opts.sinceTime ? `${opts.sinceTime.slice(0, 19)}Z` : undefined;
    let i = since ? pod.logs.findIndex((l) => compareLogTimestamps(l.ts, since) >= 0) : 0;
    if (i < 0) i = pod.logs.length;
    for (;;) {
      while (i < pod.logs.length) {
        if (budget-- <= 0) return;
        yield pod.logs[i++]!;
      }
      const s = pod.status;
      if (s.phase === 'Succeeded' || s.phase === 'Failed' || !this.pods.has(name) || opts.signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const onChange = (n: string) => n === name && (this.events.off('change', onChange), opts.signal?.removeEventListener('abort', onAbort), resolve());
        const onAbort = () => (this.events.off('change', onChange), resolve());
        this.events.on('change', onChange);
        opts.signal?.addEventListener('abort', onAbort);
      });
    }
  }

  async deletePod(name: string, opts: { gracePeriodSeconds?: number } = {}): Promise<void> {
    if (this.failingDeletes > 0) {
      this.failingDeletes--;
      throw new KubernetesError(`delete pod ${name}: etcdserver: request timed out (500)`, true, 500);
    }
    const pod = this.pods.get(name);
    if (!pod || pod.status.deleting) return;
    pod.status = { ...pod.status, deleting: true };
    this.changed(pod);
    const graceMs = Math.min(200, (opts.gracePeriodSeconds ?? 30) * 10);
    setTimeout(() => {
      if (pod.status.phase === 'Running' || pod.status.phase === 'Pending') this.terminate(pod, 143, 'Error');
      pod.timers.forEach(clearTimeout);
      // As a kubelet does: the container's end is reported a moment before the pod object goes.
      setTimeout(() => {
        this.tombstones.set(name, { ...pod.status });
        this.pods.delete(name);
        this.record('deleted', name);
        this.events.emit('change', name);
      }, 50);
    }, graceMs);
  }

  async listPods(selector: Record<string, string>): Promise<PodStatus[]> {
    return [...this.pods.values()].filter((p) => Object.entries(selector).every(([k, v]) => p.req.labels[k] === v)).map((p) => ({ ...p.status }));
  }

  /** Waits until no pod exists (all deletions completed). */
  async waitAllGone(timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.pods.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return this.pods.size === 0;
  }
}
