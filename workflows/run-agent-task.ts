/**
 * runAgentTask: one task, one attempt. Create the agent pod → follow it to the end → verify the
 * remote branch really moved to the commit the agent reported → clean up per policy. Cleanup runs on
 * every exit path (success, failure, timeout, cancel) in a non-cancellable scope.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  sleep,
  startChild,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { FollowOutcome } from '../activities/types';
import { podName as makePodName, labelValue } from '../src/k8s/names';
import { AGENT_EXIT, describeAgentExit } from '../src/contract/agent-exit-codes';
import { AGENT_ENV } from '../src/contract/agent-env';
import { ANNOTATIONS, LABELS, MANAGED_BY } from '../src/k8s/gateway';
import { reaperWorkflowId, type AgentTaskInput, type AgentTaskOutcome, type StackedCommit } from './types';
import { reapPod } from './reap-pod';
import { mergeApi } from './integrate-feature';
import { taskPodReplacedSignal } from './definitions';
import { SA_TASK_STATUS } from '../src/temporal/search-attributes';

/** Kubernetes API calls: infrastructure errors (5xx, 429, network) retry with backoff, bounded. */
const K8S_API_OPTIONS = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
} as const;
const k8sApi = proxyActivities<Activities>(K8S_API_OPTIONS);
/**
 * Pod creation: a cancel must wait for an attempt already in flight, or the pod it creates lands after
 * the cleanup below has run (an orphan). Between attempts (backoff) the cancel still takes effect at once.
 */
const createPodApi = proxyActivities<Activities>({ ...K8S_API_OPTIONS, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED });
/** Cleanup's delete: a few quick tries; past them the durable reaper takes over, so the outcome never waits on it. */
const GIT_API_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
} as const;
const CLEANUP_OPTIONS = { startToCloseTimeout: '1 minute', retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 } } as const;
const cleanupApi = proxyActivities<Activities>(CLEANUP_OPTIONS);
const gitApi = proxyActivities<Activities>(GIT_API_OPTIONS);

/** The task's short calls: pod create, branch check, pod delete. All idempotent (a create adopts its own pod). */
interface ShortCalls {
  k8s: typeof k8sApi;
  createPod: typeof createPodApi;
  cleanup: typeof cleanupApi;
  git: typeof gitApi;
}
const scheduledCalls: ShortCalls = { k8s: k8sApi, createPod: createPodApi, cleanup: cleanupApi, git: gitApi };
/**
 * The same calls as local activities: run by the worker inside the workflow task that asks for them, so a
 * finished task (branch check, pod delete, close) costs one workflow task instead of four, and a new one
 * schedules its follow in the workflow task that created its pod. Same timeouts and retries; a worker that
 * dies mid-call runs it again (each is idempotent).
 */
const localCalls: ShortCalls = {
  k8s: proxyLocalActivities<Activities>(K8S_API_OPTIONS),
  createPod: proxyLocalActivities<Activities>({ ...K8S_API_OPTIONS, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED }),
  cleanup: proxyLocalActivities<Activities>(CLEANUP_OPTIONS),
  git: proxyLocalActivities<Activities>(GIT_API_OPTIONS),
};

/** Seconds of slack between the pod's own activeDeadlineSeconds and the workflow's deadline (a timer, or the follow's schedule-to-close timeout). */
const DEADLINE_SLACK_SECONDS = 30;

/** The workflow's own deadline for one pod: backs up the pod's activeDeadlineSeconds (which a broken kubelet might not enforce). */
function deadlineSeconds(o: AgentTaskInput['options']): number {
  return o.taskTimeoutSeconds + o.pendingTimeoutSeconds + DEADLINE_SLACK_SECONDS;
}

/** `lean`: the deadline is the follow's schedule-to-close timeout (no timer of its own in the history). */
function followActivity(input: AgentTaskInput, lean: boolean) {
  const o = input.options;
  return proxyActivities<Activities>({
    // Long-running: bounded by the task deadline plus the pending allowance; liveness by heartbeat.
    startToCloseTimeout: `${deadlineSeconds(o) + DEADLINE_SLACK_SECONDS} seconds`,
    ...(lean ? { scheduleToCloseTimeout: `${deadlineSeconds(o)} seconds` } : {}),
    heartbeatTimeout: `${o.heartbeatTimeoutSeconds} seconds`,
    // No attempt cap below the deadline: the activity waits out API outages itself (heartbeating); a retry
    // is for a worker that died, and resumes from the last heartbeat.
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  }).followAgentPod;
}

export function describeTask(input: Pick<AgentTaskInput, 'taskId' | 'title' | 'attempt'>): string {
  const title = input.title.length > 80 ? input.title.slice(0, 77) + '…' : input.title;
  return `${input.taskId} — ${title} (attempt ${input.attempt})`;
}

/**
 * The non-retryable error of an activity (a request the API refuses for good). A scheduled activity's comes
 * wrapped in an ActivityFailure; a local activity's arrives as the ApplicationFailure itself.
 */
function refusedForGood(err: unknown): ApplicationFailure | undefined {
  const failure = err instanceof ActivityFailure ? err.cause : err;
  return failure instanceof ApplicationFailure && failure.nonRetryable ? failure : undefined;
}

/**
 * Marks tasks that treat every disruption as infrastructure (Kubernetes taking the pod away, a pod deleted
 * by someone else) and whose cleanup can never change their outcome. Older histories replay without it.
 */
const INFRA_POLICY_PATCH = 'infra-policy-v2';

/** Marks tasks that give a pod that never started a new pod too (within retry.infraRetries), as any infrastructure failure. */
const PENDING_INFRA_PATCH = 'pending-infra-retry';

/**
 * Marks lean tasks: short calls as local activities (localCalls), the deadline as the follow's schedule-to-close
 * timeout instead of a timer, no memo of its own at the start (the run sets it when it starts the task), and
 * every older patch implied (each asked of patched() costs a marker and a search-attribute event). A finished
 * task costs one workflow task; its history has under 20 events. Older histories replay as they were.
 */
const LEAN_TASK_PATCH = 'lean-task-v1';

/** Which behaviours this execution has. A lean one has them all; an older one asks patched() where it always did. */
interface TaskVersion {
  lean: boolean;
  has(patch: typeof INFRA_POLICY_PATCH | typeof PENDING_INFRA_PATCH | 'signal-pod-replaced'): boolean;
}

function taskVersion(): TaskVersion {
  const lean = patched(LEAN_TASK_PATCH);
  return { lean, has: (patch) => lean || patched(patch) };
}

/** The follow ended by its schedule-to-close timeout: the task's deadline passed (lean tasks). */
function deadlinePassed(err: unknown): boolean {
  return err instanceof ActivityFailure && (err.retryState === 'TIMEOUT' || (err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_CLOSE'));
}

/** A pod Kubernetes took away (its DisruptionTarget) or someone else deleted: `exit` when it was seen ending. */
function disruptedBecause(disruption: string | undefined, exit?: number): string {
  return disruption ? `the pod was taken away by Kubernetes (${disruption})` : `the pod was deleted by someone else before it finished${exit === undefined ? '' : ` (exit ${exit})`}`;
}

/** An infrastructure failure: the pod died for reasons that are not the agent's. */
function infraFailure(out: FollowOutcome, version: TaskVersion): string | undefined {
  if (out.kind === 'gone') return version.has(INFRA_POLICY_PATCH) ? disruptedBecause(out.disruption) : undefined;
  if (out.kind !== 'exited') return undefined;
  // A pod that ended well is not a failure, whatever happened to it afterwards. Lean tasks (and only they: older
  // histories may hold the other answer) also trust it over an OOM kill of one of the agent's tools — a real
  // runtime reports the container OOMKilled even when the kernel killed a child and the agent went on to push.
  const ok = out.exitCode === 0 && out.result?.status === 'succeeded';
  if (ok && version.lean) return undefined;
  if (out.reason === 'OOMKilled') return `the agent container was OOM-killed (exit ${out.exitCode}): raise its memory limit`;
  if (out.podReason === 'Evicted') return 'the pod was evicted from its node';
  if (out.podReason === 'NodeLost' || out.podReason === 'UnexpectedAdmissionError') return `the pod failed: ${out.podReason}`;
  if (!ok && (out.disruption || out.deleted) && version.has(INFRA_POLICY_PATCH)) return disruptedBecause(out.disruption, out.exitCode);
  return undefined;
}

export async function runAgentTask(input: AgentTaskInput): Promise<AgentTaskOutcome> {
  const startedAt = new Date().toISOString();
  const version = taskVersion();
  const calls = version.lean ? localCalls : scheduledCalls;
  const follow = followActivity(input, version.lean);
  const o = input.options;
  const base = { taskId: input.taskId, attempt: input.attempt, startedAt };
  let podName = makePodName(input.runWorkflowId, input.taskId, input.attempt, 0, input.runUid);
  const failedPods: string[] = [];
  const livePods = new Set<string>();
  let outcome: AgentTaskOutcome | undefined;
  let logLines: number | undefined;
  /** The dependencies' commits the branch holds once stacked (reported, so the run can tell when they move). */
  let stackedOn: StackedCommit[] | undefined;

  const finish = (o2: Omit<AgentTaskOutcome, 'taskId' | 'attempt' | 'startedAt' | 'endedAt' | 'podName'>): AgentTaskOutcome => {
    outcome = { ...base, podName, endedAt: new Date().toISOString(), logLines, stackedOn, ...o2 };
    return outcome;
  };

  setCurrentDetails(describeTask(input));
  if (!version.lean) upsertMemo({ summary: describeTask(input), taskId: input.taskId, branch: input.branch });

  /** Set once an infrastructure failure made this attempt replace its pod: what happened to the last one. */
  let replacedBecause: string | undefined;
  try {
    const stack = input.stackOn ?? [];
    if (stack.length) {
      // The branch gets its dependencies' work before any pod exists: merged on the worker, never by the agent.
      const names = stack.map((d) => d.taskId).join(', ');
      setCurrentDetails(`${describeTask(input)}: building ${input.branch} on ${names}`);
      const prepared = await mergeApi.prepareTaskBranch({
        repoUrl: input.repository.url,
        baseBranch: input.repository.baseBranch,
        branch: input.branch,
        taskId: input.taskId,
        sources: stack,
        timestamp: input.stackTimestamp ?? startedAt,
      });
      if (prepared.kind === 'conflict') {
        return finish({
          status: 'blocked',
          infrastructure: false,
          conflict: prepared.files,
          reason:
            `${prepared.message}; no agent was started. Fix: merge ${names} into ${input.branch}, resolve the conflict and push, ` +
            `then retry ${input.taskId} — or retry the dependency whose work should change`,
        });
      }
      stackedOn = stack.map((d) => ({ taskId: d.taskId, commit: d.commit! }));
    }
    for (let infraTry = 0; ; infraTry++) {
      podName = makePodName(input.runWorkflowId, input.taskId, input.attempt, infraTry, input.runUid);
      const labels = {
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.run]: labelValue(input.runWorkflowId),
        [LABELS.runUid]: labelValue(input.runUid),
        [LABELS.task]: labelValue(input.taskId),
        [LABELS.attempt]: String(input.attempt),
      };
      const env: Record<string, string> = {
        [AGENT_ENV.REPO_URL]: input.repository.url,
        [AGENT_ENV.BASE_BRANCH]: input.repository.baseBranch,
        [AGENT_ENV.TASK_BRANCH]: input.branch,
        [AGENT_ENV.TASK_ID]: input.taskId,
        [AGENT_ENV.TASK_TEXT]: input.taskText,
        [AGENT_ENV.FEATURE_DIR]: input.feature.dir,
        [AGENT_ENV.TIME_LIMIT_SECONDS]: String(o.taskTimeoutSeconds),
        [AGENT_ENV.RUN_ID]: input.runWorkflowId,
        [AGENT_ENV.ATTEMPT]: String(input.attempt),
      };
      if (o.model) env[AGENT_ENV.MODEL] = o.model;
      // The pod's model gateway enforces the task's budget (runs without one pass nothing: older histories replay unchanged).
      const taskBudget = { maxTokens: o.budget?.maxTokensPerTask, maxCost: o.budget?.maxCostPerTask };
      if (taskBudget.maxTokens !== undefined || taskBudget.maxCost !== undefined) env[AGENT_ENV.GATEWAY_BUDGET] = JSON.stringify(taskBudget);
      // Runs without grants pass nothing (older histories replay unchanged).
      if (o.allowEgress?.length) env[AGENT_ENV.EGRESS_HOSTS] = o.allowEgress.join(',');
      if (stackedOn) env[AGENT_ENV.STACKED_ON] = JSON.stringify(stack.map((d) => ({ taskId: d.taskId, title: d.title, commit: d.commit })));
      livePods.add(podName);
      await calls.createPod.createAgentPod({
        name: podName,
        labels,
        annotations: {
          [ANNOTATIONS.workflowId]: workflowInfo().workflowId,
          [ANNOTATIONS.taskRunId]: workflowInfo().runId,
          [ANNOTATIONS.runId]: input.runUid,
          [ANNOTATIONS.taskTitle]: describeTask(input).slice(0, 200),
        },
        env,
        activeDeadlineSeconds: o.taskTimeoutSeconds,
      }).catch((err: unknown) => {
        // A create refused for good (invalid spec, forbidden, or the name taken by another run/task/attempt)
        // made no pod of ours under this name: cleanup must not delete (or keep and reap) someone else's.
        if (refusedForGood(err)) livePods.delete(podName);
        throw err;
      });
      setCurrentDetails(`${describeTask(input)}: pod ${podName}`);
      if (replacedBecause && version.has('signal-pod-replaced')) {
        // Best effort: the run may have closed meanwhile (then nobody is watching this pod's name). A
        // cancellation is not swallowed: it must reach the cleanup below.
        const reason = replacedBecause;
        await getExternalWorkflowHandle(input.runWorkflowId)
          .signal(taskPodReplacedSignal, { taskId: input.taskId, attempt: input.attempt, podName, infraRetry: infraTry, reason })
          .catch((err: unknown) => {
            if (isCancellation(err)) throw err;
          });
      }

      const followInput = { podName, taskId: input.taskId, pendingTimeoutSeconds: o.pendingTimeoutSeconds };
      // Not kept for inspection when the deadline passes: the pod may still be running (its kubelet did not
      // enforce the deadline) and could push to the branch after the task was declared timed out. Cleanup deletes it.
      const deadlineOutcome = () => finish({ status: 'timed_out', infrastructure: false, reason: `task deadline of ${o.taskTimeoutSeconds}s passed` });
      let out: FollowOutcome;
      if (version.lean) {
        const followed = await follow(followInput).catch((err: unknown) => {
          if (deadlinePassed(err)) return undefined;
          throw err;
        });
        if (!followed) return deadlineOutcome();
        out = followed;
      } else {
        // Older tasks: the follow raced against a timer of the workflow's. Kept exactly as it was (the order of
        // its commands — the timer's cancel after what comes next — is in their histories).
        const followScope = new CancellationScope();
        const followed = followScope.run(() => follow(followInput));
        const timerScope = new CancellationScope();
        const deadline = timerScope.run(() => sleep(deadlineSeconds(o) * 1000).then(() => 'deadline' as const));
        const winner = await Promise.race([followed.then((f) => ({ f })), deadline.then(() => undefined)]);
        if (!winner) {
          followScope.cancel();
          await followed.catch(() => undefined);
          return deadlineOutcome();
        }
        timerScope.cancel();
        out = winner.f;
      }
      if (out.kind === 'exited') logLines = out.linesSeen;

      if (out.kind === 'pending_timeout') {
        // Not kept either: a pod that never started may still start later (an image pull that finally
        // succeeds) and run an agent nobody follows. Its waiting reason is in the task's reason.
        const why = out.waitingReason ? `${out.waitingReason}${out.waitingMessage ? `: ${out.waitingMessage}` : ''}` : 'not scheduled or not started';
        const notStarted = `pod did not start within ${o.pendingTimeoutSeconds}s (${why})`;
        if (infraTry < o.retry.infraRetries && version.has(PENDING_INFRA_PATCH)) {
          // Infrastructure too (an image pull, a node, a full cluster): a new pod — once this one is gone, so the
          // two can never both start. A delete that fails leaves it to the final cleanup (and its reaper).
          const deleted = await calls.cleanup.deleteAgentPod({ podName, gracePeriodSeconds: 0 }).then(() => true, () => false);
          if (deleted) livePods.delete(podName);
          setCurrentDetails(`${describeTask(input)}: ${notStarted}; new pod (infrastructure retry ${infraTry + 1}/${o.retry.infraRetries})`);
          await sleep(Math.min(60_000, 2000 * 2 ** infraTry));
          replacedBecause = notStarted;
          continue;
        }
        const exhausted = o.retry.infraRetries > 0 && version.has(PENDING_INFRA_PATCH) ? ' (infrastructure retries exhausted)' : '';
        return finish({ status: 'timed_out', infrastructure: true, reason: `${notStarted}${exhausted}` });
      }
      const infra = infraFailure(out, version);
      if (out.kind === 'gone') {
        livePods.delete(podName);
        if (!infra) return finish({ status: 'failed', infrastructure: true, reason: 'the agent pod was deleted before it finished', lastLines: out.lastLines });
      }
      if (infra) {
        if (out.kind !== 'gone') failedPods.push(podName);
        if (infraTry < o.retry.infraRetries) {
          setCurrentDetails(`${describeTask(input)}: ${infra}; new pod (infrastructure retry ${infraTry + 1}/${o.retry.infraRetries})`);
          await sleep(Math.min(60_000, 2000 * 2 ** infraTry));
          replacedBecause = infra;
          continue;
        }
        return finish({ status: 'failed', infrastructure: true, reason: `${infra} (infrastructure retries exhausted)`, lastLines: out.lastLines });
      }
      if (out.kind === 'gone') throw new Error('unreachable: a gone pod is an infrastructure failure or has returned');
      if (out.podReason === 'DeadlineExceeded' || out.exitCode === AGENT_EXIT.TIMEOUT || out.result?.status === 'timed_out') {
        failedPods.push(podName);
        return finish({ status: 'timed_out', infrastructure: false, reason: out.result?.reason ?? `task deadline of ${o.taskTimeoutSeconds}s passed (${out.podReason ?? describeAgentExit(out.exitCode)})`, lastLines: out.lastLines, tokens: out.result?.tokens, cost: out.result?.cost });
      }
      if (out.result?.status === 'budget_exceeded') {
        failedPods.push(podName);
        return finish({ status: 'budget_exceeded', infrastructure: false, reason: out.result.reason ?? 'the task budget ran out', lastLines: out.lastLines, tokens: out.result.tokens, cost: out.result.cost });
      }
      const r = out.result;
      if (out.exitCode !== 0 || !r || r.status !== 'succeeded' || !r.sha) {
        failedPods.push(podName);
        const reason = r?.reason
          ?? (out.resultError ? `agent exited ${out.exitCode}; ${out.resultError}` : undefined)
          ?? (!r ? `agent exited ${out.exitCode} (${describeAgentExit(out.exitCode)}) without a result line` : `agent reported ${r.status}`);
        return finish({ status: 'failed', infrastructure: false, reason, lastLines: out.lastLines, tokens: r?.tokens, cost: r?.cost });
      }
      const verified = await calls.git.verifyBranch({ repoUrl: input.repository.url, branch: input.branch, expectedSha: r.sha });
      if (!verified.ok) {
        failedPods.push(podName);
        return finish({ status: 'failed', infrastructure: false, reason: `branch verification failed: ${verified.reason}`, lastLines: out.lastLines, tokens: r.tokens, cost: r.cost });
      }
      return finish({ status: 'succeeded', infrastructure: false, commit: verified.head, tokens: r.tokens, cost: r.cost });
    }
  } catch (err) {
    if (isCancellation(err)) {
      outcome = finish({ status: 'cancelled', infrastructure: false, reason: 'cancelled by request' });
      // A cancelled task reports its outcome instead of failing: the parent records it either way.
      return outcome;
    }
    const refused = refusedForGood(err);
    if (refused) {
      // A follow refused for good (e.g. 403 on pods/log) leaves a pod that may still run and push: it is
      // deleted, not kept for inspection (a retry would otherwise run two agents on one branch).
      if (!version.has(INFRA_POLICY_PATCH)) failedPods.push(podName);
      return finish({ status: 'failed', infrastructure: true, reason: refused.message });
    }
    throw err;
  } finally {
    await CancellationScope.nonCancellable(async () => {
      const status = outcome?.status ?? 'failed';
      upsertSearchAttributes([{ key: SA_TASK_STATUS, value: status }] as never);
      upsertMemo({ summary: `${describeTask(input)}: ${status}${outcome?.reason ? ` — ${outcome.reason}` : ''}` });
      setCurrentDetails(`${describeTask(input)}: ${status}`);
      const keepFailed = o.keepFailedPodsSeconds > 0 && status !== 'succeeded' && status !== 'cancelled';
      /** Hands a pod to a reaper workflow that outlives this one and deletes it, retrying until done. */
      const reap = (args: Parameters<typeof reapPod>[0], staticSummary: string) =>
        startChild(reapPod, { workflowId: reaperWorkflowId(workflowInfo().workflowId, args.podName), args: [args], parentClosePolicy: ParentClosePolicy.ABANDON, staticSummary });
      for (const name of livePods) {
        if (keepFailed && failedPods.includes(name)) {
          // Kept for inspection, deleted later by the reaper.
          await reap({ podName: name, afterSeconds: o.keepFailedPodsSeconds }, `delete kept pod ${name} after ${o.keepFailedPodsSeconds}s`).catch(() =>
            calls.k8s.deleteAgentPod({ podName: name, gracePeriodSeconds: 0 }),
          );
        } else {
          // With the pod's own grace: a pod stopped mid-push (a cancel) then finishes the push and says so
          // in its log (a shorter grace here would SIGKILL it first). An agent that already exited goes at
          // once. A task past its deadline gets 5 s: it must not go on pushing once declared timed out.
          const grace = status === 'timed_out' ? { gracePeriodSeconds: 5 } : {};
          const v2 = version.has(INFRA_POLICY_PATCH);
          await (v2 ? calls.cleanup : calls.k8s).deleteAgentPod({ podName: name, ...grace }).catch(async (err: unknown) => {
            if (!v2) throw err;
            // Cleanup never changes the task's outcome: the reaper deletes the pod instead.
            await reap({ podName: name, afterSeconds: 0, ...grace }, `delete pod ${name} (its task's own delete failed)`).catch(() => undefined);
          });
        }
      }
    });
  }
}
