/**
 * Integration: the task branches merged onto the base, in order, into the feature's integration branch.
 * The run does it when every task succeeded; `sdlc-runner integrate <run>` starts integrateFeature to
 * do it again on demand (e.g. after the user fixed a conflict on a task branch). A conflict or a git
 * failure is an answer, not a workflow failure: the state says what happened and what to do.
 */
import { isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { IntegrateRequest } from '../src/git/gateway';
import type { IntegrationState } from './types';

/** Merges (stacking a task's branch, integration) fetch the repository into a scratch clone: a large one takes a while. */
export const mergeApi = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

export type IntegrateFeatureInput = Omit<IntegrateRequest, 'timestamp'>;

/** Runs the merge; `at` (the workflow's time) dates the merge commits, so a retried activity pushes the same commits. */
export async function integrateInto(req: IntegrateFeatureInput, at: string): Promise<IntegrationState> {
  try {
    const r = await mergeApi.integrateBranches({ ...req, timestamp: at });
    return { branch: req.branch, status: r.conflict ? 'conflict' : 'integrated', at, ...r };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const cause = (err as { cause?: Error }).cause;
    return { branch: req.branch, status: 'failed', at, reason: cause?.message ?? (err as Error).message };
  }
}

export async function integrateFeature(input: IntegrateFeatureInput): Promise<IntegrationState> {
  return integrateInto(input, new Date().toISOString());
}
