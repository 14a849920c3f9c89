/**
 * The run's task table and its rules: which task may start, what a transition does to a task, what a
 * retry or cancel acts on and what it refuses. Plain data and functions, no Temporal import, so it is
 * unit-tested without a server; implementFeature wires it to handlers, the main loop and child starts.
 *
 * Every status change goes through {@link RunTable.mark} (as Argo's markNodePhase does): it sets the
 * status and reason, resets the fields that belong to one attempt, records the times, and marks the
 * table dirty so the workflow schedules and publishes again.
 */
import type { CancelTasksRequest, RetryTasksRequest } from './definitions';
import { RETRYABLE_TASK_STATUSES, TERMINAL_TASK_STATUSES, type AgentTaskOutcome, type RunState, type TaskState, type TaskStatus } from './types';

export const MAX_PARALLEL_LIMIT = 100;

/** What one attempt of a task produced; cleared when the task is queued or started again. */
type AttemptFields = Pick<TaskState, 'startedAt' | 'endedAt' | 'commit' | 'tokens' | 'cost' | 'lastLines' | 'logLines' | 'infraRetries' | 'stackedOn' | 'conflict' | 'outdated'>;

export function isTerminal(t: TaskState): boolean {
  return TERMINAL_TASK_STATUSES.includes(t.status);
}

function statusWords(status: TaskStatus): string {
  return status.replace('_', ' ');
}

export class RunTable {
  /** Set by every change the workflow must act on (schedule, publish); cleared by the workflow. */
  dirty = true;

  constructor(readonly state: RunState) {}

  get tasks(): TaskState[] {
    return this.state.tasks;
  }

  task(id: string): TaskState | undefined {
    return this.state.tasks.find((t) => t.id === id);
  }

  /**
   * The one transition: status and reason, the attempt's fields reset (entering pending or running) or
   * set from `fields`, and the times — a task queued again has neither time until it runs again.
   */
  mark(t: TaskState, status: TaskStatus, reason: string | undefined, at: string, fields: Partial<AttemptFields & Pick<TaskState, 'podName'>> = {}): void {
    if (status === 'pending' || status === 'running') {
      const reset: { [K in keyof Required<AttemptFields>]: undefined } = {
        startedAt: undefined,
        endedAt: undefined,
        commit: undefined,
        tokens: undefined,
        cost: undefined,
        lastLines: undefined,
        logLines: undefined,
        infraRetries: undefined,
        stackedOn: undefined,
        conflict: undefined,
        outdated: undefined,
      };
      Object.assign(t, reset);
    }
    Object.assign(t, fields);
    t.status = status;
    t.reason = reason;
    if (status === 'running') t.startedAt = at;
    else if (status !== 'pending') t.endedAt = fields.endedAt ?? at;
    this.dirty = true;
  }

  allTerminal(): boolean {
    return this.tasks.every(isTerminal);
  }

  running(): TaskState[] {
    return this.tasks.filter((t) => t.status === 'running');
  }

  /** The status a run whose tasks are all terminal ends with. */
  outcome(): 'succeeded' | 'failed' {
    return this.tasks.every((t) => t.status === 'succeeded') ? 'succeeded' : 'failed';
  }

  /** Every task succeeded on its dependencies' current work: the run can end (and integrate) without a decision. */
  complete(): boolean {
    return this.tasks.every((t) => t.status === 'succeeded' && !t.outdated);
  }

  /** The dependencies' verified work a task starts from, in tasks.md order (stack: dependencies). */
  stackSources(t: TaskState): { taskId: string; title: string; branch: string; commit: string }[] {
    return t.dependsOn
      .map((id) => this.task(id)!)
      .filter((d) => d.status === 'succeeded' && d.commit)
      .sort((a, b) => a.line - b.line)
      .map((d) => ({ taskId: d.id, title: d.title, branch: d.branch, commit: d.commit! }));
  }

  /** The latest end among a task's dependencies: the stacking merges' date, the same for every retry of the same inputs. */
  stackTimestamp(t: TaskState): string | undefined {
    return t.dependsOn.map((id) => this.task(id)!.endedAt).filter((x): x is string => Boolean(x)).sort().pop();
  }

  /** Pending tasks whose dependency ended without success can never start: blocked, naming the dependency. */
  blockDependants(at: string): void {
    // Dispatch order puts dependencies first, so a whole chain is blocked in one pass.
    for (const t of this.tasks) {
      if (t.status !== 'pending') continue;
      const failedDep = t.dependsOn.map((d) => this.task(d)!).find((d) => isTerminal(d) && d.status !== 'succeeded');
      if (failedDep) this.mark(t, 'blocked', `dependency ${failedDep.id} ${statusWords(failedDep.status)}`, at);
    }
  }

  /** Pending tasks whose dependencies all succeeded, in dispatch order, as many as `maxParallel` leaves room for. */
  nextToStart(maxParallel: number): TaskState[] {
    let room = maxParallel - this.running().length;
    const next: TaskState[] = [];
    for (const t of this.tasks) {
      if (room <= 0) break;
      if (t.status !== 'pending' || !t.dependsOn.every((d) => this.task(d)!.status === 'succeeded')) continue;
      next.push(t);
      room--;
    }
    return next;
  }

  /** A new attempt: running, with the identities of its child workflow and pod. */
  begin(t: TaskState, at: string, ids: { childWorkflowId: string; podName: string }): number {
    t.attempt += 1;
    this.mark(t, 'running', undefined, at);
    t.childWorkflowId = ids.childWorkflowId;
    t.podName = ids.podName;
    return t.attempt;
  }

  /**
   * A task's child reported. A stale attempt (superseded by a retry) changes nothing. The agent's own
   * failure is retried automatically while `agentRetries` allows (Argo's OnFailure).
   */
  record(t: TaskState, attempt: number, out: AgentTaskOutcome, at: string): boolean {
    if (t.attempt !== attempt) return false;
    // A task the run's budget stopped says so, not "cancelled by request".
    const reason = out.status === 'cancelled' && this.state.budgetSpent ? this.state.budgetSpent : out.reason;
    this.mark(t, out.status, reason, at, {
      podName: out.podName || t.podName,
      endedAt: out.endedAt,
      commit: out.commit,
      tokens: out.tokens,
      cost: out.cost,
      lastLines: out.lastLines,
      logLines: out.logLines,
      stackedOn: out.stackedOn,
      conflict: out.conflict,
    });
    if (out.status === 'succeeded') this.markOutdatedDependants(t);
    if ((out.status === 'failed' || out.status === 'timed_out') && !out.infrastructure && t.autoRetries < this.state.options.retry.agentRetries) {
      t.autoRetries++;
      this.mark(t, 'pending', `retrying automatically after: ${out.reason ?? out.status}`, at);
    }
    return true;
  }

  /**
   * A re-run dependency moved: dependants that succeeded on its earlier commit lack the new work. They
   * are not re-run silently; `status` shows them out of date and `retry` re-runs them on the new commit.
   */
  private markOutdatedDependants(dep: TaskState): void {
    for (const t of this.tasks) {
      const used = t.status === 'succeeded' ? t.stackedOn?.find((s) => s.taskId === dep.id) : undefined;
      if (!used || used.commit === dep.commit) continue;
      t.outdated = `${dep.id} was re-run (now ${dep.commit?.slice(0, 12)}); this branch holds its earlier work (${used.commit.slice(0, 12)}): retry ${t.id}`;
      this.dirty = true;
    }
  }

  /** An infrastructure failure made the running attempt replace its pod. A late report of an older attempt or retry changes nothing. */
  podReplaced(s: { taskId: string; attempt: number; podName: string; infraRetry: number; reason: string }): void {
    const t = this.task(s.taskId);
    if (!t || t.attempt !== s.attempt || t.status !== 'running' || (t.infraRetries ?? 0) >= s.infraRetry) return;
    t.podName = s.podName;
    t.infraRetries = s.infraRetry;
    t.reason = `infrastructure retry ${s.infraRetry} after: ${s.reason}`;
    this.dirty = true; // published: Temporal UI's details show the retry too
  }

  /** What a retry acts on by default: every task that did not succeed, and every success that is out of date. */
  private retryable(t: TaskState): boolean {
    return RETRYABLE_TASK_STATUSES.includes(t.status) || Boolean(t.outdated);
  }

  private retryTargets(req: RetryTasksRequest): string[] {
    return req.taskIds?.length ? req.taskIds : this.tasks.filter((t) => this.retryable(t)).map((t) => t.id);
  }

  /** The retried tasks plus every blocked task downstream of them (transitively): all of them get another chance. */
  private requeued(ids: string[]): Set<string> {
    const set = new Set(ids);
    for (let grew = true; grew; ) {
      grew = false;
      for (const t of this.tasks) {
        if (!set.has(t.id) && t.status === 'blocked' && t.dependsOn.some((d) => set.has(d))) {
          set.add(t.id);
          grew = true;
        }
      }
    }
    return set;
  }

  private unknown(ids: string[]): string | undefined {
    const unknown = ids.filter((id) => !this.task(id));
    return unknown.length ? `unknown task(s) ${unknown.join(', ')}; dispatched tasks are ${this.tasks.map((t) => t.id).join(', ')}` : undefined;
  }

  validateRetry(req: RetryTasksRequest): void {
    const s = this.state;
    if (s.status === 'cancelling' || s.status === 'cancelled') throw new Error('the run is being cancelled; start a new run instead');
    // Once the run has decided its outcome (finish requested, or the decision wait over) nothing may change it.
    if (s.status === 'succeeded' || s.status === 'failed' || s.finishRequested) throw new Error('the run has finished; start a new run instead');
    if (s.budgetSpent) throw new Error(`${s.budgetSpent}; start a new run with a larger --max-cost-per-run`);
    const unknown = this.unknown(req.taskIds ?? []);
    if (unknown) throw new Error(unknown);
    // A named task that succeeded may be re-run (its dependants then show out of date); one still open may not.
    const open = (req.taskIds ?? []).filter((id) => !isTerminal(this.task(id)!));
    if (open.length) throw new Error(`only finished tasks can be retried: ${open.map((id) => `${id} is ${this.task(id)!.status}`).join(', ')}; cancel it first or wait`);
    if (!req.taskIds?.length && !this.tasks.some((t) => this.retryable(t))) throw new Error('no failed, timed-out, cancelled, blocked or out-of-date task to retry');
    // A task whose dependency stays unsuccessful would only be blocked again: say which one to retry with it.
    const queued = this.requeued(this.retryTargets(req));
    const stuck: string[] = [];
    for (const id of queued) {
      for (const d of this.task(id)!.dependsOn) {
        const dep = this.task(d)!;
        if (!queued.has(d) && isTerminal(dep) && dep.status !== 'succeeded') stuck.push(`${id} depends on ${d}, which is ${statusWords(dep.status)}: retry ${d} too`);
      }
    }
    if (stuck.length) throw new Error(stuck.join('; '));
  }

  /** Queues the retried tasks and their blocked dependants again; returns them in dispatch order. */
  requeue(req: RetryTasksRequest, at: string): string[] {
    const queued = this.requeued(this.retryTargets(req));
    for (const id of queued) {
      const t = this.task(id)!;
      this.mark(t, 'pending', undefined, at);
      t.autoRetries = 0;
    }
    this.state.status = 'running';
    return this.tasks.filter((t) => queued.has(t.id)).map((t) => t.id);
  }

  validateCancel(req: CancelTasksRequest): void {
    const unknown = this.unknown(req.taskIds ?? []);
    if (unknown) throw new Error(unknown);
    const done = (req.taskIds ?? []).filter((id) => isTerminal(this.task(id)!));
    if (done.length) throw new Error(`already finished: ${done.map((id) => `${id} is ${this.task(id)!.status}`).join(', ')}`);
    if (!req.taskIds?.length && this.allTerminal()) throw new Error('no pending or running task to cancel');
  }

  /**
   * Pending tasks are cancelled at once (they never start); running ones are returned for the workflow
   * to cancel (their children delete their pods and report). Returns every task acted on.
   */
  cancel(req: CancelTasksRequest, at: string): { ids: string[]; running: string[] } {
    const ids = req.taskIds?.length ? req.taskIds : this.tasks.filter((t) => !isTerminal(t)).map((t) => t.id);
    const running: string[] = [];
    for (const id of ids) {
      const t = this.task(id)!;
      if (t.status === 'pending') this.mark(t, 'cancelled', 'cancelled before it started', at);
      else running.push(id);
    }
    this.dirty = true;
    return { ids, running };
  }

  /** What the finished tasks' model usage cost (USD, as their results report it). */
  spent(): number {
    return this.tasks.reduce((sum, t) => sum + (t.cost ?? 0), 0);
  }

  /**
   * The run's cost budget: once what finished tasks spent reaches it, nothing starts any more (pending
   * tasks are cancelled with the reason) and the running ones are returned for the workflow to cancel.
   */
  enforceRunBudget(at: string): string[] {
    const max = this.state.options.budget?.maxCostPerRun;
    if (max === undefined || this.state.budgetSpent || this.spent() < max) return [];
    this.state.budgetSpent = `the run's cost budget of $${max} ran out ($${Number(this.spent().toFixed(6))} spent)`;
    for (const t of this.tasks) if (t.status === 'pending') this.mark(t, 'cancelled', this.state.budgetSpent, at);
    this.dirty = true;
    return this.tasks.filter((t) => t.status === 'running').map((t) => t.id);
  }

  /** The run was cancelled: what never started never will. */
  cancelPending(at: string): void {
    for (const t of this.tasks) if (t.status === 'pending') this.mark(t, 'cancelled', 'run cancelled', at);
  }

  validateMaxParallel(value: number): void {
    if (!Number.isInteger(value) || value < 1 || value > MAX_PARALLEL_LIMIT) throw new Error(`maxParallel must be an integer from 1 to ${MAX_PARALLEL_LIMIT}, got ${value}`);
  }

  setMaxParallel(value: number): number {
    const previous = this.state.options.maxParallel;
    this.state.options.maxParallel = value;
    this.dirty = true;
    return previous;
  }

  validateFinish(): void {
    const open = this.tasks.filter((t) => !isTerminal(t));
    if (open.length) throw new Error(`tasks still pending or running: ${open.map((t) => t.id).join(', ')}; cancel them first (cancelTasks) or wait`);
  }

  /** Every task is terminal (the validator saw to it): returns the status the run ends with. */
  finish(): string {
    this.state.finishRequested = true;
    this.dirty = true;
    return this.outcome();
  }

  counts(): Record<TaskStatus, number> {
    const c: Record<TaskStatus, number> = { pending: 0, running: 0, succeeded: 0, failed: 0, timed_out: 0, budget_exceeded: 0, cancelled: 0, blocked: 0 };
    for (const t of this.tasks) c[t.status]++;
    return c;
  }

  /** One line for the memo and Temporal UI's list: `001-login: running — 2 running, 1 pending`. */
  summary(): string {
    const c = this.counts();
    const parts = (Object.keys(c) as TaskStatus[]).filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`);
    return `${this.state.feature.name}: ${this.state.status} — ${parts.join(', ') || 'no tasks'}`;
  }

  /** Temporal UI's current details: the summary, then every task's status. */
  details(): string {
    return this.summary() + '\n' + this.tasks.map((t) => `${t.id} ${t.status}${t.attempt > 1 ? ` (attempt ${t.attempt})` : ''}${t.reason ? ` — ${t.reason}` : ''}`).join('\n');
  }
}
