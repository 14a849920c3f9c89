/**
 * npm run bench: where a task's time goes, read from the workflow histories. Each child's events
 * become milestones ("createAgentPod scheduled", "followAgentPod completed", "child closed", …), the
 * agent's result line (the fake agent's own record) is put among them by its time, and the time
 * between consecutive milestones is aggregated over all children.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';
import { dist, round, tsMs, type Dist } from './bench-util';

const ET = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface Milestone {
  label: string;
  at: number;
}

export interface ChildTiming {
  workflowId: string;
  taskId: string;
  events: number;
  startedAt: number;
  closedAt: number;
  /** Agent's result line (epoch ms) when known. */
  resultAt?: number;
  milestones: Milestone[];
  /** Workflow tasks: schedule→start and start→complete (ms). */
  wtQueueMs: number[];
  wtRunMs: number[];
}

export interface ParentTiming {
  workflowId: string;
  events: number;
  /** Child workflowId → when the parent recorded its close. */
  childClosedSeen: Map<string, number>;
  /** Child workflowId → when the parent initiated its start. */
  childInitiated: Map<string, number>;
}

function eventName(e: HistoryEvent): string {
  return ET[e.eventType ?? 0] ?? String(e.eventType);
}

/** A local activity marker's data (sdk-core writes it as JSON): type, when it was scheduled and when it completed. */
function localActivity(e: HistoryEvent): { type: string; scheduledAt?: number; completedAt?: number } {
  const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
  const time = (t: unknown): number | undefined => {
    if (typeof t === 'string') return Date.parse(t);
    if (t && typeof t === 'object') return tsMs(t as { seconds?: unknown; nanos?: number });
    return undefined;
  };
  try {
    const v = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>) : {};
    return {
      type: String(v.activity_type ?? v.activityType ?? 'local activity'),
      scheduledAt: time(v.original_schedule_time ?? v.originalScheduleTime),
      completedAt: time(v.complete_time ?? v.completeTime),
    };
  } catch {
    return { type: 'local activity' };
  }
}

export async function fetchEvents(client: Client, workflowId: string): Promise<HistoryEvent[]> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  return h.events ?? [];
}

export function parentTiming(workflowId: string, events: HistoryEvent[]): ParentTiming {
  const childClosedSeen = new Map<string, number>();
  const childInitiated = new Map<string, number>();
  for (const e of events) {
    const init = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (init?.workflowId) childInitiated.set(init.workflowId, tsMs(e.eventTime));
    const done = e.childWorkflowExecutionCompletedEventAttributes ?? e.childWorkflowExecutionFailedEventAttributes;
    const id = done?.workflowExecution?.workflowId;
    if (id) childClosedSeen.set(id, tsMs(e.eventTime));
  }
  return { workflowId, events: events.length, childClosedSeen, childInitiated };
}

/** Child workflow IDs a parent started for its tasks (runAgentTask), from its history. */
export function childIds(events: HistoryEvent[]): string[] {
  return events
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
    .filter((a) => a?.workflowType?.name === 'runAgentTask')
    .map((a) => a!.workflowId!)
    .filter(Boolean);
}

export function childTiming(workflowId: string, events: HistoryEvent[], resultAt?: number, extra: Milestone[] = []): ChildTiming {
  const scheduled = new Map<string, string>();
  const wtScheduled = new Map<string, number>();
  const wtStarted = new Map<string, number>();
  const wtQueueMs: number[] = [];
  const wtRunMs: number[] = [];
  const raw: Milestone[] = [];
  let startedAt = NaN;
  let closedAt = NaN;
  for (const e of events) {
    const at = tsMs(e.eventTime);
    const id = String(e.eventId);
    switch (e.eventType) {
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        startedAt = at;
        raw.push({ label: 'child started', at });
        break;
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
      case ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        closedAt = at;
        raw.push({ label: 'child closed', at });
        break;
      case ET.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        wtScheduled.set(id, at);
        break;
      case ET.EVENT_TYPE_WORKFLOW_TASK_STARTED: {
        const s = wtScheduled.get(String(e.workflowTaskStartedEventAttributes?.scheduledEventId));
        if (s !== undefined) wtQueueMs.push(at - s);
        wtStarted.set(id, at);
        break;
      }
      case ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
        const s = wtStarted.get(String(e.workflowTaskCompletedEventAttributes?.startedEventId));
        if (s !== undefined) wtRunMs.push(at - s);
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
        const type = e.activityTaskScheduledEventAttributes?.activityType?.name ?? 'activity';
        scheduled.set(id, type);
        raw.push({ label: `${type} scheduled`, at });
        break;
      }
      case ET.EVENT_TYPE_ACTIVITY_TASK_STARTED:
      case ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
      case ET.EVENT_TYPE_ACTIVITY_TASK_FAILED:
      case ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
        const attrs = e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
        const type = scheduled.get(String(attrs?.scheduledEventId)) ?? 'activity';
        const what = eventName(e).replace('EVENT_TYPE_ACTIVITY_TASK_', '').toLowerCase().replace('_', ' ');
        raw.push({ label: `${type} ${what}`, at });
        break;
      }
      case ET.EVENT_TYPE_MARKER_RECORDED:
        if (/local_activity/i.test(e.markerRecordedEventAttributes?.markerName ?? '')) {
          // Recorded when the workflow task that ran it completes (its data's own times are sdk-core's
          // "perceived" ones, not wall clock, so they are not used).
          raw.push({ label: `${localActivity(e).type} (local) recorded`, at });
        }
        break;
      case ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        raw.push({ label: `child ${e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name ?? ''} initiated`, at });
        break;
      default:
        break;
    }
  }
  if (resultAt !== undefined) raw.push({ label: 'agent result line', at: resultAt });
  raw.push(...extra);
  // Stable by time: a tie keeps history order (the result line after the events of its instant).
  raw.sort((a, b) => a.at - b.at);
  const seen = new Map<string, number>();
  const milestones = raw.map((m) => {
    const n = (seen.get(m.label) ?? 0) + 1;
    seen.set(m.label, n);
    return n === 1 ? m : { ...m, label: `${m.label} #${n}` };
  });
  const taskId = workflowId.split('/').slice(-2, -1)[0] ?? workflowId;
  return { workflowId, taskId, events: events.length, startedAt, closedAt, resultAt, milestones, wtQueueMs, wtRunMs };
}

export interface Breakdown {
  /** "A → B": ms between consecutive milestones over the children that have both in this order. */
  steps: { step: string; n: number; p50: number; p95: number; max: number }[];
  resultToClose: Dist;
  resultToParentSeen?: Dist;
  childStartToCreateScheduled: Dist;
  workflowTaskQueueMs: Dist;
  workflowTaskRunMs: Dist;
  eventsPerChild: Dist;
}

export function breakdown(children: ChildTiming[], parents: ParentTiming[] = []): Breakdown {
  const steps = new Map<string, { order: number[]; ms: number[] }>();
  for (const c of children) {
    const ms = c.milestones;
    for (let i = 1; i < ms.length; i++) {
      const key = `${ms[i - 1]!.label} → ${ms[i]!.label}`;
      const s = steps.get(key) ?? { order: [], ms: [] };
      s.order.push(ms[i - 1]!.at - c.startedAt);
      s.ms.push(ms[i]!.at - ms[i - 1]!.at);
      steps.set(key, s);
    }
  }
  const minCount = Math.max(1, Math.floor(children.length * 0.2));
  const stepRows = [...steps.entries()]
    .filter(([, s]) => s.ms.length >= minCount)
    .map(([step, s]) => ({ step, order: dist(s.order).p50, d: dist(s.ms) }))
    .sort((a, b) => a.order - b.order)
    .map(({ step, d }) => ({ step, n: d.n, p50: round(d.p50 / 1000, 3), p95: round(d.p95 / 1000, 3), max: round(d.max / 1000, 3) }));
  const seen = new Map<string, number>();
  for (const p of parents) for (const [k, v] of p.childClosedSeen) seen.set(k, v);
  const withResult = children.filter((c) => c.resultAt !== undefined);
  const createScheduled = (c: ChildTiming) => c.milestones.find((m) => m.label.startsWith('createAgentPod scheduled') || m.label.startsWith('createAgentPod (local) recorded'))?.at ?? NaN;
  const s = (xs: number[]) => {
    const d = dist(xs);
    return { n: d.n, min: round(d.min / 1000, 3), p50: round(d.p50 / 1000, 3), p95: round(d.p95 / 1000, 3), max: round(d.max / 1000, 3) };
  };
  return {
    steps: stepRows,
    resultToClose: s(withResult.map((c) => c.closedAt - c.resultAt!)),
    resultToParentSeen: seen.size ? s(withResult.map((c) => (seen.get(c.workflowId) ?? NaN) - c.resultAt!)) : undefined,
    childStartToCreateScheduled: s(children.map((c) => createScheduled(c) - c.startedAt)),
    workflowTaskQueueMs: dist(children.flatMap((c) => c.wtQueueMs)),
    workflowTaskRunMs: dist(children.flatMap((c) => c.wtRunMs)),
    eventsPerChild: dist(children.map((c) => c.events)),
  };
}

/** Fetches a parent's and its children's histories, a few at a time; `resultAt` by task ID (unique over the runs of a phase). */
export async function readRun(client: Client, parentId: string, resultAt: Map<string, number>, extra = new Map<string, Milestone[]>()): Promise<{ parent: ParentTiming; children: ChildTiming[] }> {
  const pe = await fetchEvents(client, parentId);
  const parent = parentTiming(parentId, pe);
  const ids = childIds(pe);
  const children: ChildTiming[] = [];
  for (let i = 0; i < ids.length; i += 10) {
    const batch = await Promise.all(ids.slice(i, i + 10).map(async (id) => ({ id, events: await fetchEvents(client, id) })));
    for (const b of batch) {
      const taskId = b.id.split('/').slice(-2, -1)[0] ?? '';
      children.push(childTiming(b.id, b.events, resultAt.get(taskId), extra.get(taskId)));
    }
  }
  return { parent, children };
}
