import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertRunnablePlan, TasksFileError } from '../../src/tasks/errors';
import { loadTasksFile, MAX_TASKS_FILE_BYTES } from '../../src/tasks/load';
import { parseTasksMarkdown } from '../../src/tasks/parse';

/** Every error names the file, the line(s) when there are any, and how to fix it. */
function caught(fn: () => unknown): TasksFileError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TasksFileError);
    return error as TasksFileError;
  }
  throw new Error('expected a TasksFileError, but nothing was thrown');
}

async function caughtAsync(promise: Promise<unknown>): Promise<TasksFileError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) throw new Error('expected a TasksFileError, but the promise resolved');
  expect(error).toBeInstanceOf(TasksFileError);
  return error as TasksFileError;
}

const parseOnly = (text: string) => parseTasksMarkdown(text, { file: 'specs/001-demo/tasks.md', feature: '001-demo' });
/** What the CLI and the workflow do: parse, then refuse a plan with errors. */
const parse = (text: string) => assertRunnablePlan(parseOnly(text));

describe('the parser reports problems in the plan, it does not throw', () => {
  it('no tasks: an empty plan with one error; nothing dispatched', () => {
    const plan = parseOnly('# Tasks\n\nNothing here yet.\n');
    expect(plan).toMatchObject({ tasks: [], dispatch: [], warnings: [] });
    expect(plan.errors).toEqual([expect.objectContaining({ lines: [1], problem: expect.stringContaining('no task found') })]);
  });

  it('duplicate dispatched IDs: every task is listed, nothing is dispatched, each duplicate reported once', () => {
    const plan = parseOnly('# T\n- [ ] T001 [ASYNC] a\n- [ ] T001 [ASYNC] b\n- [ ] T001 [ASYNC] c\n- [ ] T002 [ASYNC] d\n- [ ] T002 [ASYNC] e\n');
    expect(plan.tasks.map((t) => t.id)).toEqual(['T001', 'T001', 'T001', 'T002', 'T002']);
    expect(plan.dispatch).toEqual([]);
    expect(plan.errors.map((e) => e.lines)).toEqual([[2, 3, 4], [5, 6]]);
  });

  it('a cycle: reported as an error, nothing dispatched', () => {
    const plan = parseOnly('# T\n- [ ] T001 [ASYNC] a, depends on T002\n- [ ] T002 [ASYNC] b, depends on T001\n');
    expect(plan.dispatch).toEqual([]);
    expect(plan.errors).toHaveLength(1);
    expect(plan.errors[0]!.problem).toContain('cycle');
  });

  it('a good file has no errors', () => {
    expect(parseOnly('# T\n- [ ] T001 [ASYNC] a\n').errors).toEqual([]);
  });
});

describe('parse errors', () => {
  it('no tasks at all: names the file and shows the task syntax', () => {
    const error = caught(() => parse('# Tasks\n\nNothing here yet.\n'));
    expect(error.file).toBe('specs/001-demo/tasks.md');
    expect(error.line).toBe(1);
    expect(error.message).toBe(
      'specs/001-demo/tasks.md:1: no task found: no list item or heading begins with a task ID such as T001. Fix: add tasks as list items that start with an ID, e.g. "- [ ] T001 [ASYNC] Create the parser in src/parser.ts" (spec-kit\'s /tasks command writes them)',
    );
    expect(error.hint).toContain('- [ ] T001 [ASYNC]');
  });

  it('an empty file has no tasks', () => {
    expect(caught(() => parse('')).message).toMatch(/^specs\/001-demo\/tasks\.md:1: no task found/);
  });

  it('tasks only inside a fence, a comment or a quote still count as none', () => {
    const error = caught(() => parse('```\n- [ ] T001 x\n```\n<!--\n- [ ] T002 y\n-->\n> - [ ] T003 z\n'));
    expect(error.message).toContain('no task found');
  });

  it('two dispatched tasks with the same ID: names both lines and the fix', () => {
    const error = caught(() => parse('# T\n- [ ] T001 [ASYNC] a\n- [ ] T002 [SYNC] b\n- [ ] T001 [ASYNC] c\n'));
    expect(error.line).toBe(2);
    expect(error.message).toBe(
      'specs/001-demo/tasks.md:2: two open [ASYNC] tasks have the same ID T001, so their agent branches and results would collide (lines 2, 4). Fix: give each task its own ID (e.g. renumber the one on line 4), or mark one of them done [x] or [SYNC]',
    );
  });

  it('a dependency cycle among dispatched tasks: names the IDs and lines', () => {
    const error = caught(() =>
      parse('- [ ] T001 [ASYNC] a (depends on T003)\n- [ ] T002 [ASYNC] b (depends on T001)\n- [ ] T003 [ASYNC] c (depends on T002)\n- [ ] T004 [ASYNC] free\n'),
    );
    expect(error.line).toBe(1);
    expect(error.message).toBe(
      'specs/001-demo/tasks.md:1: the [ASYNC] tasks depend on each other in a cycle (each depends on the next): T001 (line 1) → T003 (line 3) → T002 (line 2) → T001 (line 1) (lines 1, 3, 2). Fix: remove one "depends on" from T001, T003, T002 so that one of them can start first',
    );
  });

  it('a task depending on itself through another is a cycle; through a non-dispatched task it is not', () => {
    expect(caught(() => parse('- [ ] T001 [ASYNC] a, depends on T002\n- [ ] T002 [ASYNC] b, depends on T001\n')).message).toContain('T001 (line 1) → T002 (line 2) → T001 (line 1)');
    const plan = parse('- [ ] T001 [ASYNC] a, depends on T002\n- [ ] T002 [SYNC] b, depends on T001\n');
    expect(plan.dispatch).toEqual(['T001']);
  });
});

describe('loadTasksFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tasks-load-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function write(feature: string, content: string | Buffer): string {
    mkdirSync(path.join(dir, feature), { recursive: true });
    const file = path.join(dir, feature, 'tasks.md');
    writeFileSync(file, content);
    return file;
  }

  it('reads the file, strips a BOM, and names the feature after the folder', async () => {
    const file = write('007-search', '\uFEFF## Phase 1\n- [ ] T001 [ASYNC] index\n');
    const { text, plan } = await loadTasksFile(file, { branchPattern: 'feat/{feature}/{taskIdLower}' });
    expect(text).toBe('## Phase 1\n- [ ] T001 [ASYNC] index\n');
    expect(plan).toMatchObject({ file, feature: '007-search', dispatch: ['T001'] });
    expect(plan.tasks[0]!.branch).toBe('feat/007-search/t001');
  });

  it('missing file', async () => {
    const file = path.join(dir, 'nope', 'tasks.md');
    const error = await caughtAsync(loadTasksFile(file));
    expect(error.message).toBe(`${file}: does not exist. Fix: check the path; spec-kit writes it to specs/<feature>/tasks.md (run /tasks to generate it)`);
  });

  it('a directory instead of the file', async () => {
    const folder = path.join(dir, '008-dir');
    mkdirSync(folder, { recursive: true });
    const error = await caughtAsync(loadTasksFile(folder));
    expect(error.message).toBe(`${folder}: is a directory, not a tasks.md file. Fix: pass the file inside it, e.g. ${path.join(folder, 'tasks.md')}`);
  });

  it('not UTF-8: names the first bad line', async () => {
    const latin1 = Buffer.concat([Buffer.from('# Tasks\n\n- [ ] T001 caf'), Buffer.from([0xe9]), Buffer.from(' menu\n')]);
    const file = write('009-latin1', latin1);
    const error = await caughtAsync(loadTasksFile(file));
    expect(error.line).toBe(3);
    expect(error.message).toMatch(new RegExp(`^${escape(file)}:3: is not valid UTF-8 text\\. Fix: re-save the file as UTF-8`));
  });

  it('NUL bytes: binary data, names the line', async () => {
    const file = write('010-binary', Buffer.concat([Buffer.from('- [ ] T001 a\n- [ ] T002 b'), Buffer.from([0, 1, 2]), Buffer.from('\n')]));
    const error = await caughtAsync(loadTasksFile(file));
    expect(error.line).toBe(2);
    expect(error.message).toMatch(new RegExp(`^${escape(file)}:2: contains a NUL byte, so it is binary data, not markdown text\\. Fix: `));
  });

  it('UTF-16 (as Windows editors save it): not UTF-8, with the re-save fix rather than "binary data"', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('- [ ] T001 [ASYNC] a\n', 'utf16le')]);
    const file = write('015-utf16', utf16);
    const error = await caughtAsync(loadTasksFile(file));
    expect(error.message).toMatch(new RegExp(`^${escape(file)}:1: is UTF-16 text, not UTF-8\\. Fix: re-save the file as UTF-8`));
  });

  it('over 5 MB', async () => {
    const big = Buffer.alloc(MAX_TASKS_FILE_BYTES + 1, 'a');
    big.write('- [ ] T001 a\n');
    const file = write('011-big', big);
    const error = await caughtAsync(loadTasksFile(file));
    expect(error.message).toBe(
      `${file}: is 5.0 MB; a tasks.md may be at most 5 MB. Fix: check that this is the feature's tasks.md and not a log or generated file; split very large plans into several features`,
    );
  });

  it('exactly 5 MB is accepted', async () => {
    const head = '- [ ] T001 [ASYNC] a\n\n';
    const file = write('012-limit', head + 'x'.repeat(MAX_TASKS_FILE_BYTES - head.length));
    const { plan } = await loadTasksFile(file);
    expect(plan.dispatch).toEqual(['T001']);
  });

  it('unreadable file (permission denied) when not running as root', async () => {
    const file = write('013-locked', '- [ ] T001 a\n');
    chmodSync(file, 0o000);
    try {
      if (process.getuid?.() === 0) {
        // root reads anything; the message path is still exercised through a missing parent below.
        const error = await caughtAsync(loadTasksFile(path.join(file, 'child.md')));
        expect(error.message).toContain(`${path.join(file, 'child.md')}: `);
        expect(error.message).toContain('Fix: ');
        return;
      }
      const error = await caughtAsync(loadTasksFile(file));
      expect(error.message).toBe(`${file}: cannot be read (permission denied). Fix: make it readable, e.g. chmod u+r ${file}`);
    } finally {
      chmodSync(file, 0o644);
    }
  });

  it('parse errors from a loaded file carry the path given', async () => {
    const file = write('014-empty', '# nothing\n');
    const error = await caughtAsync(loadTasksFile(file));
    expect(error.message.startsWith(`${file}:1: no task found`)).toBe(true);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
