import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { deleteAgentPod } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/** Deletes a failed agent pod after it has been kept for inspection. Durable: survives worker and parent restarts. */
export async function reapPod(input: { podName: string; afterSeconds: number }): Promise<void> {
  await sleep(input.afterSeconds * 1000);
  await deleteAgentPod({ podName: input.podName, gracePeriodSeconds: 0 });
}
