import type { Task, TaskPlan } from './types';

const TITLE_WIDTH = 60;
const PHASE_WIDTH = 30;

/**
 * The plan as a plain-text table for `sdlc-runner plan` without --json: one row per task (ID,
 * status, mode, dispatch order, phase, title), then the dispatch list, the order that shared files
 * add, the tasks of the session that wait on agents, and the warnings. No colour codes, so it reads
 * the same in a terminal, a CI log or a file.
 */
export function formatPlanTable(plan: TaskPlan): string {
  const order = new Map(plan.dispatch.map((id, index) => [id, index + 1]));
  const header = ['ID', 'STATUS', 'MODE', 'P', 'RUN', 'PHASE', 'TITLE'];
  const rows = plan.tasks.map((task) => [
    task.id,
    task.status,
    task.mode ?? '-',
    task.parallel ? 'P' : '',
    task.branch !== null ? `#${order.get(task.id) ?? ''}` : '',
    truncate(task.phase ?? '-', PHASE_WIDTH),
    truncate(task.title, TITLE_WIDTH),
  ]);
  const widths = header.map((title, column) => Math.max(width(title), ...rows.map((row) => width(row[column]!))));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell + ' '.repeat(widths[column]! - width(cell))))
      .join('  ')
      .trimEnd();

  const counts = countByStatus(plan.tasks);
  const out = [
    `${plan.file} (feature ${plan.feature}): ${plan.tasks.length} tasks — ${counts.open} open, ${counts.done} done, ${counts.skipped} skipped`,
    '',
    line(header),
    ...rows.map(line),
    '',
    plan.dispatch.length > 0
      ? `Dispatch (${plan.dispatch.length}): ${plan.dispatch.join(', ')}`
      : 'Dispatch: none (no open task is marked [ASYNC])',
  ];
  const ordered = plan.tasks.flatMap((task) => task.orderedAfter.map((edge) => `  ${task.id} after ${edge.id}: both change ${edge.files.join(', ')}`));
  if (ordered.length > 0) out.push('', 'Ordering (file overlap):', ...ordered);
  const waiting = plan.tasks.filter((task) => task.waitsOnAgents.length > 0);
  if (waiting.length > 0) {
    out.push('', 'Waiting on agents (do these after their branches exist):', ...waiting.map((task) => `  ${task.id} ${task.mode === 'sync' ? '[SYNC]' : '(no mode)'} waits on ${task.waitsOnAgents.join(', ')}`));
  }
  if (plan.warnings.length > 0) {
    out.push('', `Warnings (${plan.warnings.length}):`, ...plan.warnings.map((w) => `  line ${w.line}: ${w.message}`));
  }
  return out.join('\n') + '\n';
}

function countByStatus(tasks: Task[]): Record<Task['status'], number> {
  const counts = { open: 0, done: 0, skipped: 0 };
  for (const task of tasks) counts[task.status]++;
  return counts;
}

/** Code points, not UTF-16 units, so CJK and emoji are not split. */
function width(text: string): number {
  return Array.from(text).length;
}

function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max - 1).join('').trimEnd() + '…';
}
