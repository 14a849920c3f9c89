/**
 * All side effects of the runner. Created by a factory that takes its dependencies, so the worker
 * injects the real Kubernetes and git gateways and tests inject in-memory ones.
 */
import { Context, ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { ANNOTATIONS, KubernetesError, LABELS, type KubernetesGateway } from '../src/k8s/gateway';
import { GitRemoteError, type GitGateway, type IntegrateRequest, type IntegrateResult, type PrepareBranchRequest, type PrepareBranchResult } from '../src/git/gateway';
import { parseResultLine, RESULT_LINE_PREFIX, type AgentResult } from '../src/contract/result-line';
import { clipLine, LogCursor } from './log-cursor';
import { labelValue } from '../src/k8s/names';
import { redactText } from '../src/security/redact';
import { branchPatternPrefixProblem, branchPrefixProblem, repoUrlProblem, type GitHostRule } from '../src/security/git-policy';
import { runInputProblems, type CheckedRunInput } from '../src/contract/run-input';
import { DEFAULT_RUN_OPTIONS, integrationBranchName } from '../workflows/types';
import { AGENT_ENV } from '../src/contract/agent-env';
import { egressEnv, type EgressSigner } from '../src/egress/pod-env';
import { followPodLog } from '../src/k8s/pod-log-follower';
import { logArchiveRef } from '../src/contract/log-archive';
import type { CheckRunInput, CreateAgentPodInput, FollowAgentPodInput, FollowOutcome, FollowProgress, VerifyBranchInput, VerifyBranchResult } from './types';

export interface ActivityDeps {
  kubernetes: KubernetesGateway;
  git: GitGateway;
  /** How often the follow activity re-checks a pod while waiting (ms). */
  pollIntervalMs?: number;
  /**
   * Which repositories and branches runs may use (the production worker's SDLC_ALLOWED_GIT_HOSTS and
   * SDLC_TASK_BRANCH_PREFIX, required there). Left out (tests, embedding): any URL and branch.
   */
  gitPolicy?: { allowedHosts: GitHostRule[]; branchPrefix: string };
  /**
   * The egress proxy (SDLC_EGRESS_PROXY + SDLC_EGRESS_TICKET_KEY_FILE): each pod gets the proxy URL with
   * a ticket signed for its attempt. Left out: pods get no proxy variables.
   */
  egress?: EgressSigner;
}

/** Turns gateway errors into Temporal failures: retryable ones are retried by the activity retry policy. */
function toFailure(err: unknown): never {
  if (err instanceof KubernetesError && !err.retryable) {
    throw ApplicationFailure.nonRetryable(err.message, 'KubernetesError', { statusCode: err.statusCode });
  }
  // Refused credentials or a missing repository do not heal with retries: fail the task now, with the fix.
  if (err instanceof GitRemoteError && !err.retryable) throw ApplicationFailure.nonRetryable(err.message, 'GitRemoteError');
  throw err;
}

/** The result line in canonical form with its free-text reason masked (still a valid result line). */
function redactedResultLine(result: AgentResult): string {
  return RESULT_LINE_PREFIX + JSON.stringify({ ...result, reason: result.reason && redactText(result.reason).slice(0, 2000) });
}

export function createActivities(deps: ActivityDeps) {
  const { kubernetes: k8s, git } = deps;
  const pollMs = deps.pollIntervalMs ?? 2000;

  return {
    /** Idempotent: an existing pod of the same run/task/attempt is adopted, not duplicated. */
    async createAgentPod(input: CreateAgentPodInput): Promise<{ podName: string; created: boolean }> {
      try {
        // Signed here, never in the workflow: the ticket stays out of histories (activity inputs are stored).
        const egress = deps.egress
          ? egressEnv(deps.egress, {
              run: input.env[AGENT_ENV.RUN_ID] ?? input.name,
              task: input.env[AGENT_ENV.TASK_ID] ?? input.name,
              attempt: Number(input.env[AGENT_ENV.ATTEMPT] ?? 0),
              hosts: input.env[AGENT_ENV.EGRESS_HOSTS],
              activeDeadlineSeconds: input.activeDeadlineSeconds,
            })
          : {};
        // Set here, not in the workflow: older histories replay unchanged, and every pod of a run gets it.
        const runUid = input.annotations[ANNOTATIONS.runId];
        const runId = input.env[AGENT_ENV.RUN_ID];
        const archive: Record<string, string> = runUid && runId ? { [AGENT_ENV.LOG_REF]: logArchiveRef(runId, runUid, input.name) } : {};
        const res = await k8s.createPod({ ...input, env: { ...input.env, ...egress, ...archive } });
        Context.current().log.info('agent pod ' + (res.created ? 'created' : 'adopted'), { pod: res.name });
        return { podName: res.name, created: res.created };
      } catch (err) {
        return toFailure(err);
      }
    },

    /**
     * Follows an agent pod to its end: waits while Pending (up to the pending timeout), streams its
     * log lines (reconnecting after any stream end), and returns how it ended with the result line.
     * Heartbeats its cursor; a retry (e.g. after a worker crash) resumes from the last heartbeat.
     */
    async followAgentPod(input: FollowAgentPodInput): Promise<FollowOutcome> {
      const ctx = Context.current();
      const resumed = ctx.info.heartbeatDetails as FollowProgress | undefined;
      const cursor = resumed ? new LogCursor({ ...resumed, lastLines: [...resumed.lastLines] }) : LogCursor.fresh();
      const p = cursor.progress;
      if (resumed) ctx.log.info('resuming follow from heartbeat', { pod: input.podName, linesSeen: p.linesSeen, lastTs: p.lastTs });
      const signal = ctx.cancellationSignal;
      const heartbeat = () => ctx.heartbeat(p);
      heartbeat();
      const pendingLimitMs = input.pendingTimeoutSeconds * 1000;
      // Agents can be silent for minutes (thinking): liveness, and the delivery of a cancellation (which
      // arrives only with a heartbeat's reply), must not depend on log lines arriving.
      const heartbeatTimeoutMs = ctx.info.heartbeatTimeoutMs ?? 60_000;
      const ticker = setInterval(heartbeat, Math.max(500, Math.floor(heartbeatTimeoutMs / 3)));

      let sinceHeartbeat = 0;
      try {
        const end = await followPodLog(k8s, input.podName, cursor, {
          onLine(line) {
            const parsedLine = parseResultLine(line.text);
            // Heartbeated, so stored by Temporal: keep the result with its reason masked, never the raw line.
            if (parsedLine) p.resultLine = parsedLine.ok ? redactedResultLine(parsedLine.result) : clipLine(redactText(line.text));
            if (++sinceHeartbeat >= 20) {
              heartbeat();
              sinceHeartbeat = 0;
            }
          },
          onStreamEnd: heartbeat,
          onPending() {
            p.pendingSince ??= new Date().toISOString();
            const pendingMs = Date.now() - Date.parse(p.pendingSince);
            if (pendingMs >= pendingLimitMs) return 'stop';
            heartbeat();
            return Math.min(pollMs, pendingLimitMs - pendingMs);
          },
          // The Kubernetes API is down or overloaded: waited out here, heartbeating, bounded only by this
          // activity's own timeout (the task deadline) — not a failed attempt, and no retry against a cap.
          onOutage(err, tries) {
            if (tries === 1 || tries % 10 === 0) ctx.log.warn('Kubernetes API unreachable; waiting', { pod: input.podName, tries, error: err.message });
            heartbeat();
          },
          // The result line is the agent's last: while it is missing, an ended container's log is read again.
          wantsMore: () => !p.resultLine,
        }, { signal, pollMs });
        switch (end.kind) {
          case 'aborted':
            throw new CancelledFailure('follow cancelled');
          case 'gone':
            return { kind: 'gone', lastLines: p.lastLines.map(redactText), disruption: end.disruption };
          case 'pending': {
            const pendingMs = Date.now() - Date.parse(p.pendingSince!);
            return { kind: 'pending_timeout', waitingReason: end.pod.waitingReason, waitingMessage: end.pod.waitingMessage, pendingSeconds: Math.round(pendingMs / 1000) };
          }
          case 'ended': {
            const pod = end.pod;
            const parsed = p.resultLine ? parseResultLine(p.resultLine) : undefined;
            // What leaves here is stored in workflow history and shown by the CLI: mask anything credential-shaped.
            const result = parsed?.ok ? { ...parsed.result, reason: parsed.result.reason && redactText(parsed.result.reason) } : undefined;
            return {
              kind: 'exited',
              exitCode: pod.exitCode ?? (pod.phase === 'Succeeded' ? 0 : -1),
              reason: pod.terminatedReason,
              podReason: pod.reason,
              result,
              resultError: parsed && !parsed.ok ? redactText(parsed.error) : undefined,
              lastLines: p.lastLines.map(redactText),
              linesSeen: p.linesSeen,
              startedAt: pod.startedAt,
              finishedAt: pod.finishedAt,
              disruption: end.disruption,
              deleted: pod.deleting,
            };
          }
        }
      } catch (err) {
        if (signal.aborted && !(err instanceof CancelledFailure)) throw new CancelledFailure('follow cancelled');
        return toFailure(err);
      } finally {
        clearInterval(ticker);
      }
    },

    /**
     * Run start: the repository and the branches the worker will push to must be ones this worker allows.
     * Refused for good (the run fails at once, before any pod), naming what and why.
     */
    async checkRunInput({ input }: CheckRunInput): Promise<void> {
      const problems = runInputProblems(input);
      if (problems) throw ApplicationFailure.nonRetryable(`invalid run input: ${problems}`, 'InvalidRunInput');
      const policy = deps.gitPolicy;
      if (!policy) return;
      const run = input as CheckedRunInput;
      const options = { ...DEFAULT_RUN_OPTIONS, ...run.options };
      const integration = integrationBranchName(options, run.feature.name);
      const refused = [
        repoUrlProblem(run.repository.url, policy.allowedHosts),
        branchPatternPrefixProblem(options.branchPattern, run.feature.name, policy.branchPrefix),
        integration ? branchPrefixProblem(integration, policy.branchPrefix) : undefined,
      ].filter((p) => p !== undefined);
      if (refused.length) throw ApplicationFailure.nonRetryable(refused.join('; '), 'RunRefused');
    },

    /** The remote branch must point at the commit the agent reported: the result line is checked, not trusted. */
    async verifyBranch(input: VerifyBranchInput): Promise<VerifyBranchResult> {
      const head = await git.branchHead(input.repoUrl, input.branch).catch(toFailure);
      if (!head) return { ok: false, reason: `branch ${input.branch} does not exist on the remote` };
      if (head !== input.expectedSha) {
        return { ok: false, head, reason: `remote ${input.branch} is at ${head.slice(0, 12)}, but the agent reported ${input.expectedSha.slice(0, 12)}` };
      }
      return { ok: true, head };
    },

    /**
     * Makes a dependent task's branch start from its dependencies' verified work (merged on the worker, in a
     * scratch clone; never in the agent pod). Idempotent: a retry pushes the same sha. A conflict is a result.
     */
    async prepareTaskBranch(input: PrepareBranchRequest): Promise<PrepareBranchResult> {
      return git.prepareTaskBranch(input).catch(toFailure);
    },

    /** Merges the finished tasks' branches onto the base into the integration branch, stopping before a conflict. */
    async integrateBranches(input: IntegrateRequest): Promise<IntegrateResult> {
      return git.integrate(input).catch(toFailure);
    },

    /** gracePeriodSeconds left out: the pod's own terminationGracePeriodSeconds (as kubectl delete). */
    async deleteAgentPod(input: { podName: string; gracePeriodSeconds?: number }): Promise<void> {
      try {
        await k8s.deletePod(input.podName, { gracePeriodSeconds: input.gracePeriodSeconds });
      } catch (err) {
        return toFailure(err);
      }
    },

    /** Deletes every pod of a run except `keep` (failed pods kept for inspection). Returns what it deleted. */
    async sweepRunPods(input: { runUid: string; keep: string[] }): Promise<string[]> {
      try {
        const pods = await k8s.listPods({ [LABELS.runUid]: labelValue(input.runUid) });
        const doomed = pods.filter((pod) => !input.keep.includes(pod.name) && !pod.deleting).map((pod) => pod.name);
        for (const name of doomed) await k8s.deletePod(name, { gracePeriodSeconds: 0 });
        return doomed;
      } catch (err) {
        return toFailure(err);
      }
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
