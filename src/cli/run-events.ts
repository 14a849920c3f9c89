/**
 * Turns successive snapshots of a run's state into user-facing events: what the main session (or a
 * terminal) shows while a run goes. Pure: the follow loop feeds it query results.
 */
import { TERMINAL_TASK_STATUSES, type IntegrationState, type RunState, type TaskState } from '../../workflows/types';

export type RunEvent =
  | { type: 'task_started'; task: string; title: string; attempt: number; pod?: string; branch: string }
  | { type: 'task_pod_replaced'; task: string; attempt: number; pod?: string; infraRetry: number; reason?: string }
  | { type: 'task_finished'; task: string; status: TaskState['status']; attempt: number; branch: string; commit?: string; reason?: string; tokens?: { input: number; output: number }; cost?: number; durationSeconds?: number }
  | { type: 'progress'; counts: Record<string, number>; running: string[] }
  | { type: 'run_status'; status: RunState['status'] }
  | { type: 'task_outdated'; task: string; reason: string }
  | { type: 'integration'; branch: string; status: IntegrationState['status']; commit?: string; tasks: string[]; conflictTask?: string; reason?: string };

const TERMINAL = new Set<string>(TERMINAL_TASK_STATUSES);

function seconds(from?: string, to?: string): number | undefined {
  if (!from || !to) return undefined;
  return Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
}

export function diffRunState(prev: RunState | undefined, next: RunState): RunEvent[] {
  const events: RunEvent[] = [];
  for (const t of next.tasks) {
    const p = prev?.tasks.find((x) => x.id === t.id);
    const restarted = p && t.attempt > p.attempt;
    if (t.status === 'running' && (p?.status !== 'running' || restarted)) {
      events.push({ type: 'task_started', task: t.id, title: t.title, attempt: t.attempt, pod: t.podName, branch: t.branch });
    } else if (t.status === 'running' && p?.status === 'running' && !restarted && (t.infraRetries ?? 0) > (p.infraRetries ?? 0)) {
      events.push({ type: 'task_pod_replaced', task: t.id, attempt: t.attempt, pod: t.podName, infraRetry: t.infraRetries!, reason: t.reason });
    }
    if (TERMINAL.has(t.status) && (p?.status !== t.status || restarted)) {
      events.push({
        type: 'task_finished',
        task: t.id,
        status: t.status,
        attempt: t.attempt,
        branch: t.branch,
        commit: t.commit,
        reason: t.reason,
        tokens: t.tokens ? { input: t.tokens.input, output: t.tokens.output } : undefined,
        cost: t.cost,
        durationSeconds: seconds(t.startedAt, t.endedAt),
      });
    }
    if (t.outdated && t.outdated !== p?.outdated) events.push({ type: 'task_outdated', task: t.id, reason: t.outdated });
  }
  const i = next.integration;
  if (i && i.at !== prev?.integration?.at) {
    events.push({
      type: 'integration',
      branch: i.branch,
      status: i.status,
      commit: i.head,
      tasks: (i.included ?? []).map((x) => x.taskId),
      conflictTask: i.conflict?.taskId,
      reason: i.conflict?.message ?? i.reason,
    });
  }
  if (prev?.status !== next.status && next.status !== 'running') events.push({ type: 'run_status', status: next.status });
  return events;
}

export function countTasks(state: RunState): Record<string, number> {
  const c: Record<string, number> = {};
  for (const t of state.tasks) c[t.status] = (c[t.status] ?? 0) + 1;
  return c;
}

function kv(fields: Record<string, string | number | undefined>): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`)
    .join(' ');
}

/** One greppable line per event (non-TTY output, e.g. inside an OpenCode bash tool call). */
export function formatEventLine(e: RunEvent): string {
  switch (e.type) {
    case 'task_started':
      return `task ${e.task} started ${kv({ attempt: e.attempt, pod: e.pod, branch: e.branch })}`;
    case 'task_pod_replaced':
      return `task ${e.task} new-pod ${kv({ attempt: e.attempt, pod: e.pod, 'infra-retry': e.infraRetry, reason: e.reason })}`;
    case 'task_finished':
      return `task ${e.task} ${e.status} ${kv({
        attempt: e.attempt,
        branch: e.branch,
        commit: e.commit?.slice(0, 12),
        tokens: e.tokens ? `${e.tokens.input}/${e.tokens.output}` : undefined,
        cost: e.cost !== undefined ? `$${e.cost.toFixed(4)}` : undefined,
        duration: e.durationSeconds !== undefined ? `${e.durationSeconds}s` : undefined,
        reason: e.reason,
      })}`;
    case 'progress':
      return `progress ${Object.entries(e.counts).map(([k, v]) => `${k}=${v}`).join(' ')}${e.running.length ? ` running=${e.running.join(',')}` : ''}`;
    case 'run_status':
      return `run ${e.status.replace('_', '-')}`;
    case 'task_outdated':
      return `task ${e.task} out-of-date ${kv({ reason: e.reason })}`;
    case 'integration':
      return `integration ${e.branch} ${e.status} ${kv({ commit: e.commit?.slice(0, 12), tasks: e.tasks.join(',') || undefined, 'stopped-before': e.conflictTask, reason: e.reason })}`;
  }
}
