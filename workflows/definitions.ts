/**
 * Queries and updates of the implementFeature workflow: one definition shared by the workflow, the
 * CLI and the tests.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RunState } from './types';

export const getRunStateQuery = defineQuery<RunState>('getRunState');

export interface RetryTasksRequest {
  /** Task IDs; default: every failed, timed-out, cancelled or blocked task. */
  taskIds?: string[];
}
export interface CancelTasksRequest {
  /** Task IDs; default: every pending or running task. */
  taskIds?: string[];
}
/** Both return the task IDs they acted on (a retry also re-queues the blocked tasks downstream of those it names). */
export const retryTasksUpdate = defineUpdate<string[], [RetryTasksRequest]>('retryTasks');
export const cancelTasksUpdate = defineUpdate<string[], [CancelTasksRequest]>('cancelTasks');
/** Returns the previous value. */
export const setMaxParallelUpdate = defineUpdate<number, [number]>('setMaxParallel');
/** Ends a run that waits for a decision; returns the run's final status. */
export const finishUpdate = defineUpdate<string, []>('finish');

/**
 * Sent by a task workflow to its run when an infrastructure failure (OOMKilled, evicted, node lost)
 * made it replace the attempt's pod: the run's state then names the pod that runs now, and the main
 * session shows the retry. Only on that path, so a run's history does not grow with every task.
 */
export interface TaskPodReplaced {
  taskId: string;
  attempt: number;
  podName: string;
  /** 1 for the first replacement of this attempt's pod. */
  infraRetry: number;
  /** What happened to the previous pod. */
  reason: string;
}
export const taskPodReplacedSignal = defineSignal<[TaskPodReplaced]>('taskPodReplaced');
