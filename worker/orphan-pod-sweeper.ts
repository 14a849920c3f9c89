/**
 * The last line of defence against orphan agent pods: a pod whose task workflow has closed, and
 * that no reaper is keeping for inspection, is deleted.
 *
 * Every normal exit path already deletes its pod (the task workflow's cleanup, the run's final
 * sweep). What those cannot cover is a workflow that never runs its cleanup: terminated by an
 * operator (Temporal UI "Terminate", or a parent terminated with its children), or closed by a
 * workflow timeout. Like Kubernetes' garbage collector for ownerReferences, this looks at the owner
 * (the task workflow execution named by the pod's annotations) and removes what it left behind.
 * Idempotent and safe to run in every worker replica at once.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ANNOTATIONS, type KubernetesGateway, type PodStatus } from '../src/k8s/gateway';
import { reaperWorkflowId } from '../workflows/types';

export interface OrphanPodSweeperDeps {
  kubernetes: Pick<KubernetesGateway, 'listPods' | 'deletePod'>;
  /** Whether a workflow execution is still open; false for one that is closed or no longer known (retention). */
  isOpen(workflowId: string, runId?: string): Promise<boolean>;
  log(message: string): void;
}

/** One pass: deletes the orphans it finds and returns their names. */
export async function sweepOrphanPods(deps: OrphanPodSweeperDeps): Promise<string[]> {
  const deleted: string[] = [];
  for (const pod of await deps.kubernetes.listPods({})) {
    if (pod.deleting || !(await isOrphan(deps, pod))) continue;
    await deps.kubernetes.deletePod(pod.name, { gracePeriodSeconds: 5 });
    deps.log(`deleted orphan agent pod ${pod.name}: its task workflow ${pod.annotations[ANNOTATIONS.workflowId]} closed without cleaning it up`);
    deleted.push(pod.name);
  }
  return deleted;
}

async function isOrphan(deps: OrphanPodSweeperDeps, pod: PodStatus): Promise<boolean> {
  const workflowId = pod.annotations[ANNOTATIONS.workflowId];
  const runId = pod.annotations[ANNOTATIONS.taskRunId];
  // Pods without the owner's exact execution are left alone: never guess whose a pod is.
  if (!workflowId || !runId) return false;
  if (await deps.isOpen(workflowId, runId)) return false;
  return !(await deps.isOpen(reaperWorkflowId(workflowId, pod.name)));
}

/** Whether an execution is open, asked of Temporal; an execution Temporal no longer knows is closed. */
export function temporalExecutionIsOpen(client: Client): OrphanPodSweeperDeps['isOpen'] {
  return async (workflowId, runId) => {
    try {
      return (await client.workflow.getHandle(workflowId, runId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  };
}

/** Runs a pass every `intervalMs` (the first one after one interval; never two at once) until stopped. */
export function startOrphanPodSweeper(deps: OrphanPodSweeperDeps, intervalMs: number): { stop(): Promise<void> } {
  let pass: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (pass) return;
    pass = sweepOrphanPods(deps)
      .then(
        () => undefined,
        (err: unknown) => deps.log(`orphan pod sweep failed (will try again): ${(err as Error).message}`),
      )
      .finally(() => (pass = undefined));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await pass;
    },
  };
}
