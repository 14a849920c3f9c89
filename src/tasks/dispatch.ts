import { TasksFileError } from './errors';
import { DEFAULT_BRANCH_PATTERN, type PlanWarning, type Task, type TaskPlan } from './types';

/**
 * Picks the tasks to run as agent pods and orders them: open `async` tasks in file order, moved only
 * as far as needed so every task comes after the dispatched tasks it depends on. Fills `branch`,
 * and reports duplicate IDs, unknown dependencies and dependency cycles.
 */
export function planDispatch(args: {
  file: string;
  feature: string;
  tasks: Task[];
  warnings: PlanWarning[];
  branchPattern?: string | undefined;
}): TaskPlan {
  const { file, feature, tasks } = args;
  const warnings = [...args.warnings];
  const dispatched = tasks.filter((task) => task.status === 'open' && task.mode === 'async');

  rejectDuplicateDispatchedIds(file, dispatched);
  warnAboutRepeatedIds(tasks, dispatched, warnings);
  warnAboutUnknownDependencies(tasks, warnings);

  const order = dependencyOrder(file, dispatched);
  const pattern = args.branchPattern ?? DEFAULT_BRANCH_PATTERN;
  for (const task of dispatched) task.branch = branchName(pattern, feature, task.id);

  warnings.sort((a, b) => a.line - b.line);
  return { file, feature, tasks, dispatch: order.map((task) => task.id), warnings };
}

export function branchName(pattern: string, feature: string, taskId: string): string {
  return pattern.replace(/\{feature\}/g, feature).replace(/\{taskIdLower\}/g, taskId.toLowerCase()).replace(/\{taskId\}/g, taskId);
}

function rejectDuplicateDispatchedIds(file: string, dispatched: Task[]): void {
  const seen = new Map<string, Task>();
  for (const task of dispatched) {
    const first = seen.get(task.id);
    if (first) {
      const lines = dispatched.filter((t) => t.id === task.id).map((t) => t.line);
      throw new TasksFileError({
        file,
        lines,
        problem: `two open [ASYNC] tasks have the same ID ${task.id}, so their agent branches and results would collide`,
        hint: `give each task its own ID (e.g. renumber the one on line ${task.line}), or mark one of them done [x] or [SYNC]`,
      });
    }
    seen.set(task.id, task);
  }
}

function warnAboutRepeatedIds(tasks: Task[], dispatched: Task[], warnings: PlanWarning[]): void {
  const firstLine = new Map<string, number>();
  for (const task of tasks) {
    const first = firstLine.get(task.id);
    if (first === undefined) {
      firstLine.set(task.id, task.line);
      continue;
    }
    const running = dispatched.find((t) => t.id === task.id);
    warnings.push({
      line: task.line,
      message:
        `${task.id} is used again (first at line ${first}); IDs should be unique` +
        (running ? `; "depends on ${task.id}" means the dispatched one at line ${running.line}` : ''),
    });
  }
}

function warnAboutUnknownDependencies(tasks: Task[], warnings: PlanWarning[]): void {
  const ids = new Set(tasks.map((task) => task.id));
  for (const task of tasks) {
    for (const dep of task.dependsOn) {
      if (!ids.has(dep)) warnings.push({ line: task.line, message: `${task.id} depends on ${dep}, which is not a task in this file` });
    }
  }
}

/**
 * Kahn's algorithm that always takes the earliest ready task in file order, so the dispatch list
 * stays in file order except where a dependency forces a later task forward.
 */
function dependencyOrder(file: string, dispatched: Task[]): Task[] {
  const byId = new Map(dispatched.map((task) => [task.id, task]));
  const blockers = new Map(dispatched.map((task) => [task, new Set(task.dependsOn.filter((dep) => byId.has(dep)).map((dep) => byId.get(dep)!))]));
  const order: Task[] = [];
  const remaining = [...dispatched];
  while (remaining.length > 0) {
    const index = remaining.findIndex((task) => [...blockers.get(task)!].every((dep) => order.includes(dep)));
    if (index < 0) throw cycleError(file, remaining, blockers);
    order.push(remaining.splice(index, 1)[0]!);
  }
  return order;
}

function cycleError(file: string, stuck: Task[], blockers: Map<Task, Set<Task>>): TasksFileError {
  // Walk blockers from any stuck task; every stuck task has a stuck blocker, so the walk must revisit.
  const path: Task[] = [];
  let current = stuck[0]!;
  while (!path.includes(current)) {
    path.push(current);
    current = [...blockers.get(current)!].find((dep) => stuck.includes(dep))!;
  }
  const cycle = path.slice(path.indexOf(current));
  const chain = [...cycle, current].map((task) => `${task.id} (line ${task.line})`).join(' → ');
  return new TasksFileError({
    file,
    lines: cycle.map((task) => task.line),
    problem: `the [ASYNC] tasks depend on each other in a cycle (each depends on the next): ${chain}`,
    hint: `remove one "depends on" from ${cycle.map((task) => task.id).join(', ')} so that one of them can start first`,
  });
}
