import type { AgentResult } from '../src/contract/result-line';
import type { AgentPodRequest } from '../src/k8s/gateway';

export interface CreateAgentPodInput extends AgentPodRequest {}

/** How following a pod ended. The workflow turns it into a task status. */
export type FollowOutcome =
  | {
      kind: 'exited';
      exitCode: number;
      /** Container terminated reason (Completed, Error, OOMKilled) or pod reason (DeadlineExceeded, Evicted). */
      reason?: string;
      podReason?: string;
      /** The parsed `::sdlc-result::` line, when the agent printed a valid one. */
      result?: AgentResult;
      resultError?: string;
      lastLines: string[];
      /** How many log lines were followed in all (across reconnects and worker restarts, each once). */
      linesSeen: number;
      startedAt?: string;
      finishedAt?: string;
      /** Kubernetes was taking the pod away (its DisruptionTarget condition): infrastructure. */
      disruption?: string;
      /** The pod was being deleted when it ended: by someone else (the runner deletes only after following). */
      deleted?: boolean;
    }
  | { kind: 'pending_timeout'; waitingReason?: string; waitingMessage?: string; pendingSeconds: number }
  | { kind: 'gone'; lastLines: string[]; disruption?: string };

export interface FollowAgentPodInput {
  podName: string;
  taskId: string;
  pendingTimeoutSeconds: number;
}

/** What the follow activity heartbeats, so a retry on another worker resumes where it stopped. */
export interface FollowProgress {
  /** Timestamp of the last log line processed, and how many lines carried exactly that timestamp. */
  lastTs?: string;
  seenAtLastTs: number;
  /** Lines seen after the last one at lastTs, stamped earlier than it (absent in heartbeats of older workers: 0). */
  seenAfterLastTs?: number;
  linesSeen: number;
  /** Raw result line, once seen (kept so a crash after it never loses the result). */
  resultLine?: string;
  lastLines: string[];
  /** When this activity first saw the pod Pending (ISO); the pending timeout counts from here. */
  pendingSince?: string;
}

export interface VerifyBranchInput {
  repoUrl: string;
  branch: string;
  expectedSha: string;
}
export type VerifyBranchResult = { ok: true; head: string } | { ok: false; head?: string; reason: string };

/**
 * A new run's input as it reached the workflow (any client may start one), without tasks.md's text: its
 * shape and the git policy (repository host, branches) are checked before anything starts.
 */
export interface CheckRunInput {
  input: unknown;
}
