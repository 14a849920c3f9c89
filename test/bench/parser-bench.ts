/**
 * Benchmark piece: how fast the tasks.md parser reads a large, realistic file, next to markdown-it's
 * own `md.parse` of the same text (the floor the parser builds on), both measured in the same run.
 *
 * The file is made of the real spec-kit fixtures (../shared/fixtures/tasks-md, or
 * $TASKS_FIXTURE_DIR), repeated until it reaches the size asked for, each copy's task IDs renumbered
 * (`T012` → `T012.7.3` in copy 7 of the third fixture) so the copies do not collide. Runnable alone:
 * `node dist/support-build/test/bench/parser-bench.js [sizeMB]` prints the result as JSON.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import { parseTasksMarkdown } from '../../src/tasks/parse';

export interface ParserBenchResult {
  fileMB: number;
  /** Median seconds of one parse (after a warm-up parse). */
  seconds: number;
  mbPerSecond: number;
  /** markdown-it's `md.parse` of the same text with the parser's options, measured the same way. */
  baseline: { name: string; mbPerSecond: number };
  /** The first (cold) parse, before V8 has optimised anything. */
  firstRunSeconds: number;
  tasks: number;
  runs: number;
}

/** Where the real tasks.md fixtures are: $TASKS_FIXTURE_DIR, else `shared/fixtures/tasks-md` next to the checkout. */
export function fixtureDir(): string {
  const fromEnv = process.env.TASKS_FIXTURE_DIR;
  if (fromEnv) return fromEnv;
  // Walk up from this file (test/bench in the source tree, dist/support-build/test/bench compiled).
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'shared', 'fixtures', 'tasks-md');
    if (existsSync(path.join(candidate, 'INDEX.tsv'))) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error('tasks.md fixtures not found: clone the repository next to shared/ (../shared/fixtures/tasks-md) or set TASKS_FIXTURE_DIR');
}

/** The real fixture files, in a stable order. */
export function fixtureTexts(dir = fixtureDir()): string[] {
  const top = readdirSync(dir).filter((f) => /^\d\d_.*\.md$/.test(f));
  const extraDir = path.join(dir, 'extra-async');
  const extra = existsSync(extraDir) ? readdirSync(extraDir).filter((f) => f.endsWith('.md')).map((f) => path.join('extra-async', f)) : [];
  return [...top, ...extra].sort().map((f) => readFileSync(path.join(dir, f), 'utf8'));
}

const TASK_ID = /\bT(-?)(\d+[a-z]?(?:\.\d+)*)(?![\p{L}\p{N}_])/gu;

/**
 * The fixtures repeated to `bytes` (UTF-8) or just under, IDs renumbered per copy. Stays under the
 * loader's 5 MiB limit when asked for 5 MB, so the same file also goes through `plan`.
 */
export function largeTasksMarkdown(bytes: number, texts = fixtureTexts()): string {
  const parts: string[] = [];
  let size = 0;
  for (let copy = 1; ; copy++) {
    for (const [index, text] of texts.entries()) {
      const renumbered = text.replace(TASK_ID, (_, dash: string, rest: string) => `T${dash}${rest}.${copy}.${index + 1}`) + '\n\n';
      const length = Buffer.byteLength(renumbered);
      if (size + length > bytes) return parts.join('');
      parts.push(renumbered);
      size += length;
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function timeRuns(runs: number, fn: () => void): { first: number; median: number } {
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { first: times[0]!, median: median(times.slice(1)) };
}

export async function measureParser(opts: { sizeMB?: number; runs?: number } = {}): Promise<ParserBenchResult> {
  const sizeMB = opts.sizeMB ?? 5;
  const runs = opts.runs ?? 5;
  const text = largeTasksMarkdown(Math.floor(sizeMB * 1e6));
  const fileMB = Buffer.byteLength(text) / 1e6;

  let tasks = 0;
  const ours = timeRuns(runs, () => {
    tasks = parseTasksMarkdown(text, { file: 'specs/001-bench/tasks.md', feature: '001-bench' }).tasks.length;
  });
  // The same options as the parser's own instance (src/tasks/markdown.ts).
  const md = new MarkdownIt('default', { html: true, linkify: false, typographer: false });
  const floor = timeRuns(runs, () => {
    md.parse(text, {});
  });
  const round = (n: number, digits = 3) => Number(n.toFixed(digits));
  return {
    fileMB: round(fileMB, 2),
    seconds: round(ours.median, 4),
    mbPerSecond: round(fileMB / ours.median, 1),
    baseline: { name: 'markdown-it md.parse (html: true), same file', mbPerSecond: round(fileMB / floor.median, 1) },
    firstRunSeconds: round(ours.first, 4),
    tasks,
    runs,
  };
}

if (require.main === module) {
  const sizeMB = process.argv[2] ? Number(process.argv[2]) : undefined;
  measureParser(sizeMB === undefined ? {} : { sizeMB }).then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
