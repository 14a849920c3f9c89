/**
 * npm run bench: fan-out through the real Temporal dev server with the in-memory cluster (what
 * `bench:fanout` measured): the workflow/activity machinery alone, no pods. Besides throughput and
 * parent events it records why "pods alive at once" stays below maxParallel: how many children ran
 * at once (from the parent's history), how many pods existed at once (created, not yet deleted) and
 * how long a pod stays alive (Pending/Running) in the in-memory gateway.
 */
import { Client, Connection } from '@temporalio/client';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker } from '../support/temporal';
import type { RunSummary } from '../../workflows/types';
import { fetchEvents } from './bench-history';
import { CpuWindow, dist, loadAvg, round, tsMs } from './bench-util';
import { temporal } from '@temporalio/proto';

const ET = temporal.api.enums.v1.EventType;

export interface FanoutResult {
  tasks: number;
  maxParallel: number;
  runWallSeconds: number;
  tasksPerSecond: number;
  succeeded: number;
  parentEvents: number;
  /** Pods Pending or Running at once (what bench:fanout printed as maxPodsAlive). */
  maxPodsAlive: number;
  /** Pods created and not yet deleted, at once. */
  maxPodsExisting: number;
  /** Children started (initiated) and not yet closed, at once, from the parent's history. */
  maxChildrenOpen: number;
  /** Median ms a pod is Pending/Running (created → exited) and exists (created → deleted), and a child lives. */
  podAliveMsP50: number;
  podExistsMsP50: number;
  childOpenMsP50: number;
  podsCreatedPerSecond: number;
  cpu: { wallSeconds: number; cpuSeconds: Record<string, number> };
  loadBefore: number[];
}

function maxOverlap(intervals: [number, number][]): number {
  const edges = intervals.flatMap(([a, b]) => [
    { at: a, d: 1 },
    { at: b, d: -1 },
  ]);
  edges.sort((x, y) => x.at - y.at || x.d - y.d);
  let open = 0;
  let max = 0;
  for (const e of edges) max = Math.max(max, (open += e.d));
  return max;
}

export async function fanout(address: string, tasks: number, maxParallel: number, pids: Record<string, number | undefined>): Promise<FanoutResult> {
  const git = new MemoryGit();
  const k8s = new MemoryKubernetesGateway(() => ({ lines: ['working', 'done'], runMs: 50 }), git);
  const worker = await startWorker({ kubernetes: k8s, git }, { address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  try {
    const md = ['# Tasks', '', '## Phase 1', '', ...Array.from({ length: tasks }, (_, i) => `- [ ] T${String(i + 1).padStart(4, '0')} [ASYNC] task ${i + 1}`)].join('\n');
    const loadBefore = loadAvg();
    const cpu = new CpuWindow(pids);
    const started = Date.now();
    const handle = await client.workflow.start('implementFeature', {
      taskQueue: worker.taskQueue,
      workflowId: `bench-fanout-${tasks}-${maxParallel}-${Date.now()}`,
      args: [{ repository: { url: 'https://git.example.test/bench.git', baseBranch: 'main' }, feature: { name: 'bench', dir: 'specs/bench' }, tasksFile: 'specs/bench/tasks.md', tasksMarkdown: md, options: { maxParallel, keepFailedPodsSeconds: 0 } }],
    });
    const summary = (await handle.result()) as RunSummary;
    const wallMs = Date.now() - started;
    const window = cpu.stop();
    const events = await fetchEvents(client, handle.workflowId);
    const initiated = new Map<string, number>();
    const children: [number, number][] = [];
    for (const e of events) {
      const init = e.startChildWorkflowExecutionInitiatedEventAttributes;
      if (init?.workflowId && init.workflowType?.name === 'runAgentTask') initiated.set(init.workflowId, tsMs(e.eventTime));
      if (e.eventType === ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED || e.eventType === ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED) {
        const id = (e.childWorkflowExecutionCompletedEventAttributes ?? e.childWorkflowExecutionFailedEventAttributes)?.workflowExecution?.workflowId;
        const from = id ? initiated.get(id) : undefined;
        if (from !== undefined) children.push([from, tsMs(e.eventTime)]);
      }
    }
    const byPod = new Map<string, { created?: number; exited?: number; deleted?: number }>();
    for (const r of k8s.records) {
      const p = byPod.get(r.pod) ?? {};
      if (r.event === 'created') p.created = r.at;
      if (r.event === 'exited') p.exited = r.at;
      if (r.event === 'deleted') p.deleted = r.at;
      byPod.set(r.pod, p);
    }
    const pods = [...byPod.values()].filter((p) => p.created !== undefined);
    const created = pods.map((p) => p.created!).sort((a, b) => a - b);
    return {
      tasks,
      maxParallel,
      runWallSeconds: round(wallMs / 1000, 2),
      tasksPerSecond: round(tasks / (wallMs / 1000), 2),
      succeeded: summary.counts.succeeded,
      parentEvents: events.length,
      maxPodsAlive: k8s.maxAlive,
      maxPodsExisting: maxOverlap(pods.map((p) => [p.created!, p.deleted ?? Infinity])),
      maxChildrenOpen: maxOverlap(children),
      podAliveMsP50: dist(pods.map((p) => (p.exited ?? NaN) - p.created!)).p50,
      podExistsMsP50: dist(pods.map((p) => (p.deleted ?? NaN) - p.created!)).p50,
      childOpenMsP50: dist(children.map(([a, b]) => b - a)).p50,
      podsCreatedPerSecond: round(created.length / ((created[created.length - 1]! - created[0]!) / 1000), 1),
      cpu: window,
      loadBefore,
    };
  } finally {
    await connection.close();
    await worker.stop();
  }
}
