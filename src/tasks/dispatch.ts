import { DEFAULT_BRANCH_PATTERN, type PlanError, type PlanWarning, type Task, type TaskPlan } from './types';

/**
 * Picks the tasks to run as agent pods and orders them: open `async` tasks in file order, moved only
 * as far as needed so every task comes after the dispatched tasks it depends on. Fills `branch`,
 * and reports duplicate IDs, unknown dependencies and dependency cycles. A plan with errors
 * dispatches nothing: running part of a file that is wrong would be a guess.
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

  const errors: PlanError[] = duplicateDispatchedIds(dispatched);
  warnAboutRepeatedIds(tasks, dispatched, warnings);
  warnAboutUnknownDependencies(tasks, warnings);

  // Cycles are only meaningful once every dispatched ID names one task.
  const order = errors.length === 0 ? dependencyOrder(dispatched) : { tasks: [] };
  if ('cycle' in order) errors.push(order.cycle);
  const pattern = args.branchPattern ?? DEFAULT_BRANCH_PATTERN;
  for (const task of dispatched) task.branch = branchName(pattern, feature, task.id);

  warnings.sort((a, b) => a.line - b.line);
  const dispatch = errors.length === 0 && 'tasks' in order ? order.tasks.map((task) => task.id) : [];
  return { file, feature, tasks, dispatch, warnings, errors };
}

export function branchName(pattern: string, feature: string, taskId: string): string {
  return pattern.replace(/\{feature\}/g, feature).replace(/\{taskIdLower\}/g, taskId.toLowerCase()).replace(/\{taskId\}/g, taskId);
}

function duplicateDispatchedIds(dispatched: Task[]): PlanError[] {
  const seen = new Set<string>();
  const reported = new Set<string>();
  const errors: PlanError[] = [];
  for (const task of dispatched) {
    if (seen.has(task.id) && !reported.has(task.id)) {
      reported.add(task.id);
      errors.push({
        lines: dispatched.filter((t) => t.id === task.id).map((t) => t.line),
        problem: `two open [ASYNC] tasks have the same ID ${task.id}, so their agent branches and results would collide`,
        hint: `give each task its own ID (e.g. renumber the one on line ${task.line}), or mark one of them done [x] or [SYNC]`,
      });
    }
    seen.add(task.id);
  }
  return errors;
}

function warnAboutRepeatedIds(tasks: Task[], dispatched: Task[], warnings: PlanWarning[]): void {
  const firstLine = new Map<string, number>();
  const dispatchedById = new Map(dispatched.map((task) => [task.id, task]));
  for (const task of tasks) {
    const first = firstLine.get(task.id);
    if (first === undefined) {
      firstLine.set(task.id, task.line);
      continue;
    }
    const running = dispatchedById.get(task.id);
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
 * stays in file order except where a dependency forces a later task forward. A min-heap of file
 * positions keeps it O(n log n) for the largest files the loader accepts.
 */
function dependencyOrder(dispatched: Task[]): { tasks: Task[] } | { cycle: PlanError } {
  const position = new Map(dispatched.map((task, index) => [task, index]));
  const byId = new Map(dispatched.map((task) => [task.id, task]));
  const blockers = new Map<Task, Set<Task>>();
  const dependents = new Map<Task, Task[]>(dispatched.map((task) => [task, []]));
  for (const task of dispatched) {
    const deps = new Set(task.dependsOn.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : [])));
    blockers.set(task, deps);
    for (const dep of deps) dependents.get(dep)!.push(task);
  }
  const waitingOn = new Map(dispatched.map((task) => [task, blockers.get(task)!.size]));
  const ready = new MinHeap<Task>((a, b) => position.get(a)! - position.get(b)!);
  for (const task of dispatched) if (waitingOn.get(task) === 0) ready.push(task);

  const order: Task[] = [];
  for (let next = ready.pop(); next !== undefined; next = ready.pop()) {
    order.push(next);
    for (const dependent of dependents.get(next)!) {
      const left = waitingOn.get(dependent)! - 1;
      waitingOn.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  if (order.length < dispatched.length) {
    const placed = new Set(order);
    return { cycle: cycleError(dispatched.filter((task) => !placed.has(task)), blockers) };
  }
  return { tasks: order };
}

class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly compare: (a: T, b: T) => number) {}

  push(item: T): void {
    const items = this.items;
    items.push(item);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i]!, items[parent]!) >= 0) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      for (let i = 0; ; ) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && this.compare(items[left]!, items[smallest]!) < 0) smallest = left;
        if (right < items.length && this.compare(items[right]!, items[smallest]!) < 0) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function cycleError(stuck: Task[], blockers: Map<Task, Set<Task>>): PlanError {
  // Walk blockers from any stuck task; every stuck task has a stuck blocker, so the walk must revisit.
  const path: Task[] = [];
  let current = stuck[0]!;
  while (!path.includes(current)) {
    path.push(current);
    current = [...blockers.get(current)!].find((dep) => stuck.includes(dep))!;
  }
  const cycle = path.slice(path.indexOf(current));
  const chain = [...cycle, current].map((task) => `${task.id} (line ${task.line})`).join(' → ');
  return {
    lines: cycle.map((task) => task.line),
    problem: `the [ASYNC] tasks depend on each other in a cycle (each depends on the next): ${chain}`,
    hint: `remove one "depends on" from ${cycle.map((task) => task.id).join(', ')} so that one of them can start first`,
  };
}
