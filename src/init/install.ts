/**
 * `sdlc-runner init`: installs the OpenCode commands (and, in a spec-kit project, the spec-kit hooks)
 * into a repository. Idempotent; never overwrites a file the user edited unless forced; a dry run
 * writes nothing. Planning is separate from writing so --dry-run shows exactly what a real run does.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../tools';
import { managedState, normalizeEol, stampManaged } from './marker';
import { detectSpecKit, EXTENSIONS_FILE, HOOKS, mergeHooks, MIN_HOOK_SPECKIT_VERSION, olderThan } from './speckit';

export const TEMPLATE_DIR = path.join(repoRoot, 'templates', 'opencode');
/** The user-facing commands: `/implement-async` and `/implement-async-retry`. */
export const COMMANDS = ['implement-async', 'implement-async-retry'] as const;
/** Commands the spec-kit hooks invoke (named `speckit.<extension>.<command>` as spec-kit requires). */
export const HOOK_COMMANDS = [HOOKS.before_implement.command, HOOKS.after_implement.command] as const;

export type ActionKind = 'create' | 'update' | 'unchanged' | 'conflict' | 'overwrite';

export interface PlannedFile {
  /** Relative to the repository root. */
  file: string;
  kind: ActionKind;
  why: string;
  content?: string;
}

export interface InitPlan {
  root: string;
  commandDir: string;
  specKit: ReturnType<typeof detectSpecKit>;
  files: PlannedFile[];
  notes: string[];
}

export interface InitOptions {
  force?: boolean;
}

/**
 * OpenCode reads `.opencode/commands/` (current docs) and `.opencode/command/` (older name, still read).
 * Use the one the project already has, so our commands sit next to spec-kit's; else the current name.
 */
export function chooseCommandDir(root: string): string {
  for (const dir of ['commands', 'command']) {
    const abs = path.join(root, '.opencode', dir);
    if (existsSync(abs) && readdirSync(abs).some((f) => f.endsWith('.md'))) return path.join('.opencode', dir);
  }
  for (const dir of ['commands', 'command']) if (existsSync(path.join(root, '.opencode', dir))) return path.join('.opencode', dir);
  return path.join('.opencode', 'commands');
}

function readTemplate(name: string): string {
  const file = path.join(TEMPLATE_DIR, `${name}.md`);
  if (!existsSync(file)) throw new Error(`template ${file} is missing from this sdlc-runner installation`);
  return readFileSync(file, 'utf8');
}

function planMarkdown(root: string, rel: string, template: string, force: boolean): PlannedFile {
  const content = stampManaged(template);
  const abs = path.join(root, rel);
  if (!existsSync(abs)) return { file: rel, kind: 'create', why: 'new', content };
  const existing = readFileSync(abs, 'utf8');
  if (normalizeEol(existing) === content) return { file: rel, kind: 'unchanged', why: 'up to date' };
  const state = managedState(existing);
  if (state === 'ours-unedited') return { file: rel, kind: 'update', why: 'newer version of our unedited file', content };
  const why = state === 'ours-edited' ? 'you edited it' : 'it is not ours (no sdlc-runner marker)';
  return force ? { file: rel, kind: 'overwrite', why: `${why}; --force`, content } : { file: rel, kind: 'conflict', why };
}

export function planInit(root: string, opts: InitOptions = {}): InitPlan {
  const force = !!opts.force;
  const commandDir = chooseCommandDir(root);
  const specKit = detectSpecKit(root);
  const files: PlannedFile[] = [];
  const notes: string[] = [];
  for (const name of COMMANDS) files.push(planMarkdown(root, path.join(commandDir, `${name}.md`), readTemplate(name), force));
  if (!specKit.present) {
    notes.push('no .specify/ here: installed the OpenCode commands only (the spec-kit hooks need a spec-kit project: `specify init`)');
  } else {
    if (specKit.version && olderThan(specKit.version, MIN_HOOK_SPECKIT_VERSION)) {
      notes.push(`spec-kit ${specKit.version} does not read implement hooks (needs ≥ ${MIN_HOOK_SPECKIT_VERSION}): use /implement-async, or upgrade spec-kit for /speckit.implement to dispatch`);
    }
    for (const name of HOOK_COMMANDS) files.push(planMarkdown(root, path.join(commandDir, `${name}.md`), readTemplate(name), force));
    const abs = path.join(root, EXTENSIONS_FILE);
    const merge = mergeHooks(existsSync(abs) ? readFileSync(abs, 'utf8') : undefined, force);
    switch (merge.kind) {
      case 'unchanged':
        files.push({ file: EXTENSIONS_FILE, kind: 'unchanged', why: 'hooks registered' });
        break;
      case 'write':
        files.push({
          file: EXTENSIONS_FILE,
          kind: merge.created ? 'create' : merge.replacedEdited.length ? 'overwrite' : 'update',
          why: merge.replacedEdited.length ? `our edited ${merge.replacedEdited.join(', ')} hook entry replaced; --force` : 'before_implement and after_implement hooks added',
          content: merge.text,
        });
        break;
      case 'conflict':
        files.push({ file: EXTENSIONS_FILE, kind: 'conflict', why: merge.problem });
        break;
      case 'unreadable':
        files.push({ file: EXTENSIONS_FILE, kind: 'conflict', why: `cannot be read as spec-kit's hooks file: ${merge.problem}` });
        break;
    }
  }
  return { root, commandDir, specKit, files, notes };
}

export function conflicts(plan: InitPlan): PlannedFile[] {
  return plan.files.filter((f) => f.kind === 'conflict');
}

/** Writes the planned files (each through a temp file and rename). Refuses when any file conflicts. */
/**
 * Writes the plan all or nothing: every file is staged next to its target first; if one cannot be (a
 * read-only folder, a file where a folder should be), the staged files and the folders made for them are
 * removed and the error is thrown — nothing half-installed. Then each staged file is renamed into place.
 */
export function applyInit(plan: InitPlan): void {
  if (conflicts(plan).length) throw new Error('refusing to write: some files conflict (see the plan)');
  const staged: { tmp: string; abs: string }[] = [];
  const madeDirs: string[] = [];
  try {
    for (const f of plan.files) {
      if (!f.content || f.kind === 'unchanged') continue;
      const abs = path.join(plan.root, f.file);
      const made = mkdirSync(path.dirname(abs), { recursive: true });
      if (made) madeDirs.push(made);
      const tmp = `${abs}.sdlc-runner-tmp`;
      writeFileSync(tmp, f.content);
      staged.push({ tmp, abs });
    }
  } catch (err) {
    for (const s of staged) rmSync(s.tmp, { force: true });
    for (const d of madeDirs.reverse()) rmSync(d, { recursive: true, force: true });
    throw err;
  }
  for (const s of staged) renameSync(s.tmp, s.abs);
}

const VERB: Record<ActionKind, [dry: string, done: string]> = {
  create: ['would create', 'created'],
  update: ['would update', 'updated'],
  unchanged: ['unchanged', 'unchanged'],
  overwrite: ['would overwrite', 'overwrote'],
  conflict: ['conflict', 'conflict'],
};

export function formatPlan(plan: InitPlan, dryRun: boolean): string {
  const lines = plan.files.map((f) => `${VERB[f.kind][dryRun ? 0 : 1].padEnd(15)} ${f.file} (${f.why})`);
  for (const n of plan.notes) lines.push(`note: ${n}`);
  return lines.join('\n') + '\n';
}
