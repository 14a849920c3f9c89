import { open } from 'node:fs/promises';
import path from 'node:path';
import { assertRunnablePlan, TasksFileError } from './errors';
import { parseTasksMarkdown } from './parse';
import type { ParseOptions, TaskPlan } from './types';

/** A tasks.md is a few hundred lines; anything this big is the wrong file. */
export const MAX_TASKS_FILE_BYTES = 5 * 1024 * 1024;

/**
 * Reads and parses a tasks.md from disk. `feature` is the name of the folder holding it
 * (`specs/001-login/tasks.md` → `001-login`).
 *
 * @throws TasksFileError when the file is missing or unreadable, over 5 MB, not UTF-8 text (or
 *   contains NUL bytes), or when the plan has errors (no task, duplicate dispatched ID, cycle,
 *   a task branch git cannot use).
 */
export async function loadTasksFile(file: string, opts: Omit<ParseOptions, 'file' | 'feature'> = {}): Promise<{ text: string; plan: TaskPlan }> {
  const bytes = await readLimited(file);
  const text = decodeText(file, bytes);
  const defined = Object.fromEntries(Object.entries(opts).filter(([, value]) => value !== undefined));
  const plan = parseTasksMarkdown(text, { ...defined, file, feature: featureOf(file) });
  return { text, plan: assertRunnablePlan(plan) };
}

/** The feature a tasks.md belongs to: the name of its folder (`specs/001-login/tasks.md` → `001-login`). */
export function featureOf(file: string): string {
  return path.basename(path.dirname(path.resolve(file)));
}

async function readLimited(file: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw unreadable(file, error);
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) {
      throw new TasksFileError({
        file,
        problem: 'is a directory, not a tasks.md file',
        hint: `pass the file inside it, e.g. ${path.join(file, 'tasks.md')}`,
      });
    }
    if (info.size > MAX_TASKS_FILE_BYTES) throw tooLarge(file, info.size);
    // Read one byte past the limit: the size may change between stat and read.
    const buffer = Buffer.alloc(Math.min(info.size, MAX_TASKS_FILE_BYTES) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > MAX_TASKS_FILE_BYTES) throw tooLarge(file, length);
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof TasksFileError) throw error;
    throw unreadable(file, error);
  } finally {
    await handle.close();
  }
}

function decodeText(file: string, bytes: Buffer): string {
  // UTF-16 (a BOM FF FE / FE FF, as Windows editors save) is full of NUL bytes but is text: say so.
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    throw new TasksFileError({
      file,
      line: 1,
      problem: 'is UTF-16 text, not UTF-8',
      hint: 're-save the file as UTF-8 (e.g. `iconv -f utf-16 -t utf-8 tasks.md > tasks.utf8.md` and move it back)',
    });
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw new TasksFileError({
      file,
      line: lineOfOffset(bytes, nul),
      problem: 'contains a NUL byte, so it is binary data, not markdown text',
      hint: 'point the command at the feature\'s tasks.md (plain UTF-8 markdown), e.g. specs/001-my-feature/tasks.md',
    });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TasksFileError({
      file,
      line: firstInvalidUtf8Line(bytes),
      problem: 'is not valid UTF-8 text',
      hint: 're-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 tasks.md > tasks.utf8.md` and move it back)',
    });
  }
}

function firstInvalidUtf8Line(bytes: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  let line = 1;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    start = end + 1;
    line++;
  }
  return line;
}

function lineOfOffset(bytes: Buffer, offset: number): number {
  let line = 1;
  for (let i = bytes.indexOf(0x0a); i >= 0 && i < offset; i = bytes.indexOf(0x0a, i + 1)) line++;
  return line;
}

function tooLarge(file: string, size: number): TasksFileError {
  return new TasksFileError({
    file,
    problem: `is ${(size / 1024 / 1024).toFixed(1)} MB; a tasks.md may be at most ${MAX_TASKS_FILE_BYTES / 1024 / 1024} MB`,
    hint: 'check that this is the feature\'s tasks.md and not a log or generated file; split very large plans into several features',
  });
}

function unreadable(file: string, error: unknown): TasksFileError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') {
    return new TasksFileError({
      file,
      problem: 'does not exist',
      hint: 'check the path; spec-kit writes it to specs/<feature>/tasks.md (run /tasks to generate it)',
    });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new TasksFileError({ file, problem: 'cannot be read (permission denied)', hint: `make it readable, e.g. chmod u+r ${file}` });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new TasksFileError({ file, problem: `cannot be read (${detail})`, hint: 'check that the path names a readable file' });
}
