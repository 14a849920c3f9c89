/**
 * Types shared by the workflows, the activities, the CLI and the tests. Plain data only: everything
 * here crosses Temporal's payload converter (JSON) and lands in workflow history, so no secrets.
 */
import type { TokenUsage } from '../src/contract/result-line';

import type { BranchSource, ConflictingFile, IntegrateResult } from '../src/git/gateway';

export type TaskStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'budget_exceeded' | 'cancelled' | 'blocked';
export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ['succeeded', 'failed', 'timed_out', 'budget_exceeded', 'cancelled', 'blocked'];
/** Statuses `retryTasks` accepts (and retries by default). */
export const RETRYABLE_TASK_STATUSES: readonly TaskStatus[] = ['failed', 'timed_out', 'budget_exceeded', 'cancelled', 'blocked'];

/** `cancelling`: the run was cancelled and waits for its tasks to report (their pods being deleted). */
export type RunStatus = 'running' | 'awaiting_decision' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';

/** The reaper workflow that keeps a task's failed pod for inspection, then deletes it. */
export function reaperWorkflowId(taskWorkflowId: string, podName: string): string {
  return `${taskWorkflowId}/reap/${podName}`;
}

/** Whether a follower should keep watching: the run's tasks may still change. */
export function runIsOngoing(status: RunStatus): boolean {
  return status === 'running' || status === 'cancelling';
}

export interface Repository {
  /** Clone URL the agent pods use (https or ssh). Never carries credentials. */
  url: string;
  baseBranch: string;
}

export interface Feature {
  /** Name of the folder holding tasks.md, e.g. 001-user-auth. */
  name: string;
  /** Folder in the repository, e.g. specs/001-user-auth. */
  dir: string;
}

export interface RetryPolicy {
  /** Infrastructure failures (eviction, OOM kill, node lost): new pods for the same attempt, at most this many. Like Argo's OnError. */
  infraRetries: number;
  /** The agent's own failure: new attempts started automatically, at most this many (default 0). Like Argo's OnFailure. */
  agentRetries: number;
}

export interface RunOptions {
  maxParallel: number;
  branchPattern: string;
  /** Task deadline, also the pod's activeDeadlineSeconds. */
  taskTimeoutSeconds: number;
  /** How long a pod may stay Pending (image pull errors, unschedulable) before the task times out. */
  pendingTimeoutSeconds: number;
  /** How long a finished run with unsuccessful tasks waits for `retryTasks` or `finish`. */
  decisionTimeoutSeconds: number;
  /** Failed pods are kept this long for inspection, then deleted. 0 = delete at once. */
  keepFailedPodsSeconds: number;
  retry: RetryPolicy;
  /** OpenCode model for the agents (provider/model); undefined = the pod template's default. */
  model?: string;
  /** A follow activity that has not heartbeated for this long is retried (e.g. on another worker after a crash). */
  heartbeatTimeoutSeconds: number;
  /** Continue-as-new when history passes this many events (and between waves); Temporal's own suggestion also counts. */
  maxHistoryEvents: number;
  /**
   * Where a task with dependencies starts: `dependencies` = its branch starts from the base plus a merge of
   * its dependencies' verified commits (made on the worker before its pod); `none` = from the base.
   */
  stack: StackMode;
  /** Open [ASYNC] tasks naming the same file with no order between them: `serialize` = the later waits and stacks on the earlier. */
  fileOverlap: FileOverlapMode;
  /** Branch the feature is integrated into once every task succeeded (placeholders as branchPattern); `none` = no integration. */
  integrationBranch: string;
  /** Token and cost budgets, enforced by the agent pod's model gateway (per task) and by the run (its total). */
  budget?: RunBudget;
  /**
   * Hosts the run's agent pods may reach through the egress proxy besides the always-allowed ones (git
   * host, model providers, the chart's list): `host`, `*.domain`, `host:port`. Signed into each attempt's
   * egress ticket by the worker; without an egress proxy (chart `egress.mode: rules`) they change nothing.
   */
  allowEgress?: string[];
}

export interface RunBudget {
  /** A task whose model usage reaches this many tokens (all kinds) ends `budget_exceeded`. */
  maxTokensPerTask?: number;
  /** A task whose model usage reaches this cost (USD, the gateway's pricing table) ends `budget_exceeded`. */
  maxCostPerTask?: number;
  /** Once the finished tasks' cost reaches this (USD), no task starts and running ones are cancelled. */
  maxCostPerRun?: number;
}

export type StackMode = 'dependencies' | 'none';
export type FileOverlapMode = 'serialize' | 'ignore';
export const DEFAULT_INTEGRATION_BRANCH = 'specs/{feature}/integration';

/** The run's integration branch ({feature} filled), or undefined when integration is off (`none`). */
export function integrationBranchName(options: Pick<RunOptions, 'integrationBranch'>, feature: string): string | undefined {
  const pattern = options.integrationBranch ?? DEFAULT_INTEGRATION_BRANCH;
  return pattern === 'none' ? undefined : pattern.replace(/\{feature\}/g, feature);
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  maxParallel: 4,
  branchPattern: 'specs/{feature}/{taskId}-async',
  taskTimeoutSeconds: 60 * 60,
  pendingTimeoutSeconds: 10 * 60,
  decisionTimeoutSeconds: 24 * 60 * 60,
  keepFailedPodsSeconds: 60 * 60,
  retry: { infraRetries: 2, agentRetries: 0 },
  heartbeatTimeoutSeconds: 60,
  maxHistoryEvents: 10_000,
  stack: 'dependencies',
  fileOverlap: 'serialize',
  integrationBranch: DEFAULT_INTEGRATION_BRANCH,
};

export interface ImplementFeatureInput {
  repository: Repository;
  feature: Feature;
  /** Path of tasks.md as the user named it (for messages only). */
  tasksFile: string;
  /** The tasks.md text; parsed inside the workflow (the parser is pure and deterministic). */
  tasksMarkdown: string;
  options?: Partial<RunOptions>;
  /** Set only by continue-as-new: the state carried over. */
  carried?: RunState;
}

export interface TaskState {
  id: string;
  title: string;
  phase: string | null;
  line: number;
  branch: string;
  dependsOn: string[];
  status: TaskStatus;
  attempt: number;
  /** Agent-failure attempts started automatically (bounded by retry.agentRetries). */
  autoRetries: number;
  podName?: string;
  /** Pods of this attempt replaced after an infrastructure failure so far (podName is the current one). */
  infraRetries?: number;
  childWorkflowId?: string;
  startedAt?: string;
  endedAt?: string;
  /** The commit the agent pushed and the workflow verified on the remote branch. */
  commit?: string;
  reason?: string;
  tokens?: TokenUsage;
  cost?: number;
  /** Last agent log lines when the task did not succeed (redacted by the agent). */
  lastLines?: string[];
  /** Agent log lines followed for the last attempt (each counted once, across reconnects and worker restarts). */
  logLines?: number;
  /** The dependencies' commits this attempt's branch was built on (stack: dependencies), in tasks.md order. */
  stackedOn?: StackedCommit[];
  /** Files the dependencies' work conflicts in (the task is blocked until resolved on its branch). */
  conflict?: ConflictingFile[];
  /** Set when a dependency was re-run after this task succeeded: its branch lacks the new work. `retry` re-runs it. */
  outdated?: string;
}

export interface StackedCommit {
  taskId: string;
  commit: string;
}

/** The run's integration branch: every task's work merged onto the base, once all succeeded. */
export interface IntegrationState extends Partial<IntegrateResult> {
  branch: string;
  status: 'integrated' | 'conflict' | 'failed';
  /** Why integration failed (git unreachable, refused), when it did. */
  reason?: string;
  at: string;
}

export interface RunState {
  workflowId: string;
  feature: Feature;
  repository: Repository;
  tasksFile: string;
  status: RunStatus;
  options: RunOptions;
  tasks: TaskState[];
  warnings: { line: number; message: string }[];
  startedAt: string;
  endedAt?: string;
  /** Number of continue-as-new generations so far. */
  generation: number;
  finishRequested: boolean;
  integration?: IntegrationState;
  /** Set once the run's cost budget ran out: why nothing starts any more. */
  budgetSpent?: string;
}

export interface RunSummary {
  workflowId: string;
  status: RunStatus;
  counts: Record<TaskStatus, number>;
  tasks: TaskState[];
}

/** Input of the per-task child workflow. */
export interface AgentTaskInput {
  /** Parent workflow ID and its first run ID (stable across continue-as-new): the pod's identity. */
  runWorkflowId: string;
  runUid: string;
  taskId: string;
  title: string;
  /** Full task text (title + details) for the agent prompt. */
  taskText: string;
  attempt: number;
  branch: string;
  repository: Repository;
  feature: Feature;
  options: RunOptions;
  /**
   * The dependencies' verified work the branch must hold before the pod starts (stack: dependencies),
   * in tasks.md order; merged on the worker. Absent or empty: the agent starts from its branch or the base.
   */
  stackOn?: BranchSource[];
  /** Date of the stacking merge commits (from the run, so a retried merge gives the same commit). */
  stackTimestamp?: string;
}

export interface AgentTaskOutcome {
  taskId: string;
  attempt: number;
  /** `blocked`: the dependencies' work could not be merged (conflict); no pod was created. */
  status: Extract<TaskStatus, 'succeeded' | 'failed' | 'timed_out' | 'budget_exceeded' | 'cancelled' | 'blocked'>;
  podName: string;
  /** True when the failure was infrastructure's (retries exhausted), not the agent's. */
  infrastructure: boolean;
  commit?: string;
  reason?: string;
  tokens?: TokenUsage;
  cost?: number;
  startedAt: string;
  endedAt: string;
  lastLines?: string[];
  logLines?: number;
  stackedOn?: StackedCommit[];
  conflict?: ConflictingFile[];
}

/**
 * Tasks one run may dispatch: the run's state (every task's row) is what a query answers, and Temporal answers
 * at most 4 MB; 10,000 tasks make about 1.9 MB, 30,000 more than 4 MB (the run starts, and nothing can read it).
 * The CLI refuses more before starting; the workflow refuses a run started another way.
 */
export const MAX_DISPATCHED_TASKS = 10_000;
