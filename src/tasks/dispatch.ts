import { refNameProblem } from './ref-name';
import { DEFAULT_BRANCH_PATTERN, type FileOverlapMode, type PlanError, type PlanWarning, type Task, type TaskPlan } from './types';

/**
 * Picks the tasks to run as agent pods and orders them: open `async` tasks in file order, moved only
 * as far as needed so every task comes after the dispatched tasks it depends on, explicitly or
 * because both change the same files. Fills `branch`, `orderedAfter` and `waitsOnAgents`, and
 * reports duplicate IDs, unknown dependencies, dependency cycles and task branches git cannot use.
 * A plan with errors dispatches nothing: running part of a file that is wrong would be a guess.
 */
export function planDispatch(args: {
  file: string;
  feature: string;
  tasks: Task[];
  warnings: PlanWarning[];
  branchPattern?: string | undefined;
  fileOverlap?: FileOverlapMode | undefined;
  baseBranch?: string | undefined;
  integrationBranch?: string | undefined;
}): TaskPlan {
  const { file, feature, tasks } = args;
  const warnings = [...args.warnings];
  const dispatched = tasks.filter((task) => task.status === 'open' && task.mode === 'async');

  const errors: PlanError[] = duplicateDispatchedIds(dispatched);
  warnAboutRepeatedIds(tasks, dispatched, warnings);
  warnAboutUnknownDependencies(tasks, warnings);
  warnAboutUndispatchedDependencies(tasks, dispatched, warnings);
  markWaitsOnAgents(tasks, dispatched);

  // Overlaps and cycles are only meaningful once every dispatched ID names one task.
  const idsUnique = errors.length === 0;
  let order: Task[] = [];
  if (idsUnique) {
    if ((args.fileOverlap ?? 'serialize') === 'serialize') orderByFileOverlap(dispatched);
    const result = dependencyOrder(dispatched);
    if ('cycle' in result) errors.push(result.cycle);
    else order = result.tasks;
  }
  const pattern = args.branchPattern ?? DEFAULT_BRANCH_PATTERN;
  for (const task of dispatched) task.branch = branchName(pattern, feature, task.id);
  errors.push(...branchErrors({ pattern, feature, dispatched, idsUnique, baseBranch: args.baseBranch, integrationBranch: args.integrationBranch }));

  warnings.sort((a, b) => a.line - b.line);
  const dispatch = errors.length === 0 ? order.map((task) => task.id) : [];
  return { file, feature, tasks, dispatch, warnings, errors };
}

/** What a branch pattern may contain; anything else in braces is a typo that would end up in the branch name. */
export const BRANCH_PLACEHOLDERS = ['{feature}', '{taskId}', '{taskIdLower}'] as const;

export function branchName(pattern: string, feature: string, taskId: string): string {
  return pattern.replace(/\{feature\}/g, feature).replace(/\{taskIdLower\}/g, taskId.toLowerCase()).replace(/\{taskId\}/g, taskId);
}

/** The `{…}` in a pattern that are not among `allowed`, each once (the CLI checks --integration-branch with it too). */
export function unknownPlaceholders(pattern: string, allowed: readonly string[]): string[] {
  const unknown: string[] = [];
  for (const [placeholder] of pattern.matchAll(/\{[^{}]*\}/g)) {
    if (!allowed.includes(placeholder) && !unknown.includes(placeholder)) unknown.push(placeholder);
  }
  return unknown;
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
 * A dependency that is not dispatched does not block (nothing in the run would ever finish it), but
 * the agent starts from the base branch plus its dispatched dependencies only: say that the work of
 * the other one has to be on the base branch.
 */
function warnAboutUndispatchedDependencies(tasks: Task[], dispatched: Task[], warnings: PlanWarning[]): void {
  const dispatchedIds = new Set(dispatched.map((task) => task.id));
  const firstById = new Map<string, Task>();
  for (const task of tasks) if (!firstById.has(task.id)) firstById.set(task.id, task);
  for (const task of dispatched) {
    for (const dep of task.dependsOn) {
      const other = dispatchedIds.has(dep) ? undefined : firstById.get(dep);
      if (!other) continue;
      const notMerged = `its work is not merged into ${task.id}'s starting branch`;
      const message =
        other.status === 'done'
          ? `which is already done: it must be on the base branch, as ${notMerged}`
          : other.status === 'skipped'
            ? `which is skipped (struck through): ${notMerged} — check that ${task.id} does not need it, or have its work on the base branch before the run`
            : other.mode === 'sync'
              ? `which is [SYNC] (done by you, not an agent): ${notMerged} — have it on the base branch before the run`
              : `which has no [ASYNC]/[SYNC] mode (so it is done by you, not an agent): ${notMerged} — have it on the base branch before the run`;
      warnings.push({ line: task.line, message: `${task.id} depends on ${dep}, ${message}` });
    }
  }
}

/** An open task the session does itself must wait for the agents it depends on: their branches hold the work. */
function markWaitsOnAgents(tasks: Task[], dispatched: Task[]): void {
  const dispatchedIds = new Set(dispatched.map((task) => task.id));
  const isDispatched = new Set(dispatched);
  for (const task of tasks) {
    task.waitsOnAgents = task.status === 'open' && !isDispatched.has(task) ? task.dependsOn.filter((id) => dispatchedIds.has(id)) : [];
  }
}

/**
 * Two agents that change the same file at the same time produce branches that conflict when merged.
 * For every pair of dispatched tasks whose files overlap and that have no order yet (neither reaches
 * the other through `dependsOn` and the edges added so far), the later one in file order is ordered
 * after the earlier one. Earlier candidates are tried nearest first, so a file touched by A, B and C
 * gives the chain A → B → C: once C is after B, A is already before C. Edges only ever point to an
 * earlier task that does not come after the later one, so they cannot close a cycle.
 */
function orderByFileOverlap(dispatched: Task[]): void {
  const position = new Map(dispatched.map((task, index) => [task, index]));
  const byId = new Map(dispatched.map((task) => [task.id, task]));
  const after = new Map<Task, Task[]>(dispatched.map((task) => [task, task.dependsOn.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []))]));
  const before = new Map<Task, Task[]>(dispatched.map((task) => [task, []]));
  for (const [task, deps] of after) for (const dep of deps) before.get(dep)!.push(task);
  // When every `depends on` points back in the file, order agrees with file order: the earlier tasks
  // on one file (all pairwise overlapping, so already chained) end with the nearest, and ordering
  // after it is enough. That keeps a file where thousands of tasks name one path linear.
  const backwardOnly = [...after].every(([task, deps]) => deps.every((dep) => position.get(dep)! < position.get(task)!));

  const seen = new Map<string, Task[]>();
  for (const task of dispatched) {
    task.orderedAfter = [];
    const paths = [...new Set(task.files.map(normalisedPath))];
    const found = paths.flatMap((path) => overlapping(path, seen, backwardOnly && !path.endsWith('/')));
    if (found.length > 0) {
      const comesAfter = backwardOnly ? new MonotoneReach(after.get(task)!, (t) => after.get(t)!, position, -1) : new Reach(after.get(task)!, (t) => after.get(t)!);
      const comesBefore = backwardOnly ? new MonotoneReach(before.get(task)!, (t) => before.get(t)!, position, 1) : new Reach(before.get(task)!, (t) => before.get(t)!);
      for (const earlier of nearestFirst(found, position)) {
        if (comesAfter.has(earlier) || comesBefore.has(earlier)) continue;
        task.orderedAfter.push({ id: earlier.id, files: sharedFiles(task, earlier) });
        after.get(task)!.push(earlier);
        before.get(earlier)!.push(task);
        comesAfter.add(earlier);
      }
    }
    for (const path of paths) {
      const list = seen.get(path);
      if (list) list.push(task);
      else seen.set(path, [task]);
    }
  }
}

/**
 * The lists of tasks already seen (each in file order) that name `path`, a directory holding it, or
 * (for a directory) a path inside it; with `nearestOnly`, just the nearest of them.
 */
function overlapping(path: string, seen: Map<string, Task[]>, nearestOnly: boolean): Task[][] {
  const lists: Task[][] = [];
  const add = (list: Task[] | undefined) => list && lists.push(list);
  add(seen.get(path));
  for (let slash = path.indexOf('/'); slash >= 0 && slash < path.length - 1; slash = path.indexOf('/', slash + 1)) add(seen.get(path.slice(0, slash + 1)));
  if (path.endsWith('/')) for (const [other, tasks] of seen) if (other !== path && other.startsWith(path)) add(tasks);
  if (!nearestOnly || lists.length === 0) return lists;
  const lasts = lists.map((list) => list.at(-1)!);
  return [[lasts.reduce((a, b) => (a.line >= b.line ? a : b))]];
}

/** Each candidate once, the nearest (latest in the file) first; one list needs no sort. */
function nearestFirst(lists: Task[][], position: Map<Task, number>): Task[] {
  if (lists.length === 1) return [...lists[0]!].reverse();
  return [...new Set(lists.flat())].sort((a, b) => position.get(b)! - position.get(a)!);
}

/** `./src/a.ts` and `src/a.ts` are one file. */
function normalisedPath(path: string): string {
  return path.replace(/^(?:\.\/)+/, '');
}

/** Two paths overlap when they are the same or one is a directory (ends in `/`) holding the other. */
function pathsOverlap(a: string, b: string): boolean {
  return a === b || (a.endsWith('/') && b.startsWith(a)) || (b.endsWith('/') && a.startsWith(b));
}

/** The paths both tasks change, as the later task wrote them; the file, not the directory, when one holds the other. */
function sharedFiles(later: Task, earlier: Task): string[] {
  const shared: string[] = [];
  for (const mine of later.files) {
    for (const theirs of earlier.files) {
      const [a, b] = [normalisedPath(mine), normalisedPath(theirs)];
      if (!pathsOverlap(a, b)) continue;
      const file = a.endsWith('/') && a !== b ? theirs : mine;
      if (!shared.includes(file)) shared.push(file);
    }
  }
  return shared;
}

/**
 * The tasks reachable from a start along `next`, explored only as far as the questions asked need
 * (a chain A → B → C answers "is A before C?" in one step, not by walking the whole chain).
 */
class Reach {
  private readonly found = new Set<Task>();
  private readonly pending: Task[];

  constructor(
    start: readonly Task[],
    private readonly next: (task: Task) => readonly Task[],
  ) {
    this.pending = [...start];
  }

  /** A new edge from the start. */
  add(task: Task): void {
    this.pending.push(task);
  }

  has(target: Task): boolean {
    while (!this.found.has(target) && this.pending.length > 0) {
      const task = this.pending.pop()!;
      if (this.found.has(task)) continue;
      this.found.add(task);
      for (const next of this.next(task)) if (!this.found.has(next)) this.pending.push(next);
    }
    return this.found.has(target);
  }
}

/**
 * {@link Reach} for edges that all run one way in file order (`direction` -1: every edge points to an
 * earlier task, as `after` edges do when every `depends on` points back; 1: to a later one). A task
 * beyond the target in that direction cannot lead to it, so the walk takes the frontier nearest the
 * target first and stops at the target's position: asking whether the previous task is reachable
 * no longer walks the whole chain of a long file back to its first task.
 */
class MonotoneReach {
  private readonly found = new Set<Task>();
  private readonly frontier: MinHeap<Task>;

  constructor(
    start: readonly Task[],
    private readonly next: (task: Task) => readonly Task[],
    private readonly position: Map<Task, number>,
    private readonly direction: 1 | -1,
  ) {
    // Walking toward earlier tasks, the latest first (and the other way round).
    this.frontier = new MinHeap<Task>((a, b) => direction * (position.get(a)! - position.get(b)!));
    for (const task of start) this.frontier.push(task);
  }

  /** A new edge from the start. */
  add(task: Task): void {
    this.frontier.push(task);
  }

  has(target: Task): boolean {
    const goal = this.position.get(target)!;
    for (let top = this.frontier.peek(); !this.found.has(target) && top !== undefined; top = this.frontier.peek()) {
      // Past the target in the edges' direction: nothing left in the frontier can reach it.
      if (this.direction * (this.position.get(top)! - goal) > 0) break;
      const task = this.frontier.pop()!;
      if (this.found.has(task)) continue;
      this.found.add(task);
      for (const next of this.next(task)) if (!this.found.has(next)) this.frontier.push(next);
    }
    return this.found.has(target);
  }
}

/**
 * Task branches git (or the run) cannot use: an unknown placeholder or no task ID in the pattern,
 * two tasks on one branch, a name `git check-ref-format` refuses, or the base or integration branch.
 * Found here, before any pod starts, instead of when the first agent pushes.
 */
function branchErrors(args: {
  pattern: string;
  feature: string;
  dispatched: Task[];
  idsUnique: boolean;
  baseBranch?: string | undefined;
  integrationBranch?: string | undefined;
}): PlanError[] {
  const { pattern, feature, dispatched } = args;
  const example = `e.g. --branch-pattern '${DEFAULT_BRANCH_PATTERN}'`;
  const unknown = unknownPlaceholders(pattern, BRANCH_PLACEHOLDERS);
  if (unknown.length > 0) {
    return [
      {
        lines: [],
        problem: `the branch pattern "${pattern}" has the unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`,
        hint: `use only ${BRANCH_PLACEHOLDERS.join(', ')} (${example})`,
      },
    ];
  }
  if (!pattern.includes('{taskId}') && !pattern.includes('{taskIdLower}')) {
    const sharing = dispatched.length > 1 ? `: ${listIds(dispatched)} would push to "${dispatched[0]!.branch}"` : '';
    return [
      {
        lines: [],
        problem: `the branch pattern "${pattern}" has no {taskId} or {taskIdLower}, so every task gets the same branch${sharing}`,
        hint: `put {taskId} or {taskIdLower} in it (${example})`,
      },
    ];
  }

  const errors: PlanError[] = [];
  if (args.idsUnique) {
    const byBranch = groupBy(dispatched, (task) => task.branch!);
    for (const [branch, tasks] of byBranch) {
      if (tasks.length < 2) continue;
      errors.push({
        lines: tasks.map((task) => task.line),
        problem: `${listIds(tasks)} would push to the same branch "${branch}"`,
        hint: `use a branch pattern that keeps task IDs apart, ${example}`,
      });
    }
  }

  // One error per rule, not per task: the cause is usually the pattern or the feature, shared by all.
  const invalid = groupBy(
    dispatched.filter((task) => refNameProblem(task.branch!) !== undefined),
    (task) => refNameProblem(task.branch!)!.replace(/ \("[^"]*"\)$/, ''),
  );
  for (const tasks of invalid.values()) {
    errors.push({
      lines: tasks.map((task) => task.line),
      problem: `${branchesOf(tasks)} is not a valid git branch name: ${refNameProblem(tasks[0]!.branch!)!}`,
      hint: invalidBranchHint(pattern, feature, tasks[0]!.id),
    });
  }

  const reserved: [string, string | undefined][] = [
    ['the base branch', args.baseBranch],
    ['the integration branch', args.integrationBranch === 'none' ? undefined : args.integrationBranch],
  ];
  for (const [role, name] of reserved) {
    if (!name) continue;
    const same = dispatched.filter((task) => task.branch === name);
    if (same.length > 0) {
      errors.push({
        lines: same.map((task) => task.line),
        problem: `the branch of ${listIds(same)} is "${name}", ${role} of the run`,
        hint: `use a branch pattern that gives each task a branch of its own (${example})`,
      });
    }
    // git keeps refs as paths: a branch "a/b" cannot exist next to a branch "a".
    const nested = dispatched.filter((task) => task.branch!.startsWith(name + '/') || name.startsWith(task.branch! + '/'));
    if (nested.length > 0) {
      errors.push({
        lines: nested.map((task) => task.line),
        problem: `${branchesOf(nested)} and ${role} "${name}" cannot both exist: git cannot have a branch "a" and a branch "a/…" at once`,
        hint: `use a branch pattern whose branches are neither above nor under ${role} "${name}" (${example})`,
      });
    }
  }
  return errors;
}

/** When the feature folder's name is what git refuses, say so: renaming it or leaving {feature} out both fix it. */
function invalidBranchHint(pattern: string, feature: string, taskId: string): string {
  const fromFeature = pattern.includes('{feature}') && refNameProblem(branchName(pattern, 'feature', taskId)) === undefined;
  if (!fromFeature) return `change the branch pattern "${pattern}" so that it gives valid git branch names (e.g. --branch-pattern '${DEFAULT_BRANCH_PATTERN}')`;
  const renamed = feature
    .trim()
    .replace(/(?:[\s~^:?*[\\\u0000-\u001f\u007f]|\.{2,}|@\{)+/g, '-')
    .replace(/^[.-]+|(?:\.lock|\.)+$/g, '');
  const suggestion = renamed !== '' && refNameProblem(branchName(pattern, renamed, taskId)) === undefined ? ` (e.g. "${renamed}")` : '';
  return `rename the feature folder "${feature}"${suggestion}, or pass --branch-pattern without {feature} (e.g. 'agents/{taskId}')`;
}

/** `the branch "x" of T001` / `the branch "x" of T001 (and those of T002 and T003)`. */
function branchesOf(tasks: Task[]): string {
  const [first, ...others] = tasks;
  return `the branch "${first!.branch}" of ${first!.id}${others.length > 0 ? ` (and those of ${listIds(others)})` : ''}`;
}

function listIds(tasks: Task[]): string {
  const ids = tasks.map((task) => task.id);
  return ids.length > 6 ? `${ids.slice(0, 5).join(', ')} and ${ids.length - 5} more` : ids.length > 1 ? `${ids.slice(0, -1).join(', ')} and ${ids.at(-1)}` : ids[0]!;
}

function groupBy<K>(tasks: Task[], key: (task: Task) => K): Map<K, Task[]> {
  const groups = new Map<K, Task[]>();
  for (const task of tasks) {
    const k = key(task);
    const list = groups.get(k);
    if (list) list.push(task);
    else groups.set(k, [task]);
  }
  return groups;
}

/**
 * Kahn's algorithm that always takes the earliest ready task in file order, so the dispatch list
 * stays in file order except where a dependency (`dependsOn` or `orderedAfter`) forces a later task forward. A min-heap of file
 * positions keeps it O(n log n) for the largest files the loader accepts.
 */
function dependencyOrder(dispatched: Task[]): { tasks: Task[] } | { cycle: PlanError } {
  // Tasks by their position in `dispatched` (file order): plain arrays instead of maps keyed by task,
  // which a file of tens of thousands of tasks notices.
  const indexById = new Map<string, number>();
  dispatched.forEach((task, index) => indexById.set(task.id, index));
  const blockerIndexes: number[][] = [];
  const dependents: number[][] = dispatched.map(() => []);
  const waitingOn = new Int32Array(dispatched.length);
  dispatched.forEach((task, index) => {
    const deps = new Set<number>();
    for (const id of task.dependsOn) addIndex(deps, indexById.get(id));
    for (const edge of task.orderedAfter) addIndex(deps, indexById.get(edge.id));
    blockerIndexes.push([...deps]);
    waitingOn[index] = deps.size;
    for (const dep of deps) dependents[dep]!.push(index);
  });
  const ready = new MinHeap<number>((a, b) => a - b);
  for (let index = 0; index < dispatched.length; index++) if (waitingOn[index] === 0) ready.push(index);

  const order: Task[] = [];
  for (let next = ready.pop(); next !== undefined; next = ready.pop()) {
    order.push(dispatched[next]!);
    for (const dependent of dependents[next]!) if (--waitingOn[dependent]! === 0) ready.push(dependent);
  }
  if (order.length < dispatched.length) {
    const placed = new Set(order);
    const blockers = new Map<Task, Set<Task>>(dispatched.map((task, index) => [task, new Set(blockerIndexes[index]!.map((dep) => dispatched[dep]!))]));
    return { cycle: cycleError(dispatched.filter((task) => !placed.has(task)), blockers) };
  }
  return { tasks: order };
}

function addIndex(set: Set<number>, index: number | undefined): void {
  if (index !== undefined) set.add(index);
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

  peek(): T | undefined {
    return this.items[0];
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
