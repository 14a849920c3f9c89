import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { deleteAgentPod } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  // Until done: a pod must never outlive the reaper (the API may be down for a while).
  retry: { initialInterval: '1 second', backoffCoefficient: 1.5, maximumInterval: '1 minute' },
});

/** Deletes a failed agent pod after it has been kept for inspection. Durable: survives worker and parent restarts. */
export async function reapPod(input: { podName: string; afterSeconds: number; gracePeriodSeconds?: number }): Promise<void> {
  await sleep(input.afterSeconds * 1000);
  await deleteAgentPod({ podName: input.podName, gracePeriodSeconds: input.gracePeriodSeconds ?? 0 });
}
