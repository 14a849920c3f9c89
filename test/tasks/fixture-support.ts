import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseTasksMarkdown } from '../../src/tasks/parse';
import type { Task, TaskPlan } from '../../src/tasks/types';

/** CI clones the repository next to `shared/`; the fixtures are real tasks.md files from GitHub. */
export const FIXTURE_DIR = path.resolve(__dirname, '../../../shared/fixtures/tasks-md');

export function requireFixtureDir(): void {
  if (!existsSync(path.join(FIXTURE_DIR, 'INDEX.tsv'))) {
    throw new Error(`tasks.md fixtures not found at ${FIXTURE_DIR}: clone the repository next to shared/ (../shared/fixtures/tasks-md)`);
  }
}

/** Every fixture file, relative to FIXTURE_DIR: the 35 numbered files and the 14 in extra-async/. */
export function allFixtures(): string[] {
  requireFixtureDir();
  const top = readdirSync(FIXTURE_DIR).filter((f) => /^\d\d_.*\.md$/.test(f));
  const extra = readdirSync(path.join(FIXTURE_DIR, 'extra-async'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `extra-async/${f}`);
  return [...top, ...extra].sort();
}

export function fixtureText(name: string): string {
  requireFixtureDir();
  const matches = allFixtures().filter((f) => f === name || path.basename(f).startsWith(name));
  if (matches.length !== 1) throw new Error(`fixture "${name}" matches ${matches.length} files`);
  return readFileSync(path.join(FIXTURE_DIR, matches[0]!), 'utf8');
}

export function parseFixture(name: string, text = fixtureText(name)): TaskPlan {
  return parseTasksMarkdown(text, { file: `${name}.md`, feature: 'demo-feature' });
}

/** Turns every ticked box back into an open one, to see how a real file would be dispatched. */
export function reopened(text: string): string {
  return text.replace(/^(\s*[-*+]\s+)\[[xX]\]/gm, '$1[ ]');
}

export const ids = (tasks: Task[]) => tasks.map((t) => t.id);
export const withStatus = (plan: TaskPlan, status: Task['status']) => ids(plan.tasks.filter((t) => t.status === status));
export const task = (plan: TaskPlan, id: string, nth = 0): Task => {
  const found = plan.tasks.filter((t) => t.id === id)[nth];
  if (!found) throw new Error(`no task ${id} (#${nth}) in ${plan.file}`);
  return found;
};
