/**
 * The spec-kit side of `sdlc-runner init`: detects a spec-kit project and registers our hooks in
 * `.specify/extensions.yml`, the file `/speckit.implement` reads its `before_implement` and
 * `after_implement` hooks from (spec-kit's HookExecutor writes the same shape). The file is edited as
 * a YAML document, so the user's other hooks, settings and comments stay as they are.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';

export const EXTENSION_ID = 'sdlc-runner';
export const EXTENSIONS_FILE = path.join('.specify', 'extensions.yml');
/** First spec-kit release whose implement template reads both before_implement and after_implement hooks. */
export const MIN_HOOK_SPECKIT_VERSION = '0.3.2';

export interface HookEntry {
  extension: string;
  command: string;
  enabled: boolean;
  optional: boolean;
  prompt: string;
  description: string;
  condition: null;
}

export const HOOKS: Record<'before_implement' | 'after_implement', HookEntry> = {
  before_implement: {
    extension: EXTENSION_ID,
    command: 'speckit.sdlc-runner.dispatch',
    enabled: true,
    optional: false,
    prompt: 'Hand the open [ASYNC] tasks to sdlc-runner agents?',
    description: 'Start a durable sdlc-runner run for the open [ASYNC] tasks; /speckit.implement then does only the other tasks',
    condition: null,
  },
  after_implement: {
    extension: EXTENSION_ID,
    command: 'speckit.sdlc-runner.report',
    enabled: true,
    optional: false,
    prompt: 'Wait for the sdlc-runner agents and report their branches?',
    description: 'Wait for the sdlc-runner run and list the branches ready to merge, the failures and how to retry them',
    condition: null,
  },
};

export interface SpecKitProject {
  present: boolean;
  /** From .specify/init-options.json (`speckit_version`), when spec-kit recorded it. */
  version?: string;
}

export function detectSpecKit(root: string): SpecKitProject {
  if (!existsSync(path.join(root, '.specify'))) return { present: false };
  try {
    const opts = JSON.parse(readFileSync(path.join(root, '.specify', 'init-options.json'), 'utf8')) as { speckit_version?: unknown };
    return { present: true, version: typeof opts.speckit_version === 'string' ? opts.speckit_version : undefined };
  } catch {
    return { present: true };
  }
}

/** True when `version` is older than `min` (numeric dotted compare; pre-release tails ignored). */
export function olderThan(version: string, min: string): boolean {
  const parse = (v: string) => v.replace(/^v/, '').split(/[.+-]/).slice(0, 3).map((n) => parseInt(n, 10) || 0);
  const a = parse(version);
  const b = parse(min);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

export type HooksMerge =
  | { kind: 'unchanged' }
  | { kind: 'write'; text: string; created: boolean; replacedEdited: string[] }
  | { kind: 'conflict'; events: string[]; problem: string }
  | { kind: 'unreadable'; problem: string };

/**
 * Adds our hook entries to extensions.yml text (undefined = no file yet). An existing entry of ours
 * that differs from what we would write was edited (e.g. `enabled: false`): a conflict unless `force`.
 */
export function mergeHooks(existing: string | undefined, force: boolean): HooksMerge {
  const doc = parseDocument(existing ?? 'installed: []\nsettings:\n  auto_execute_hooks: true\nhooks: {}\n');
  if (doc.errors.length) return { kind: 'unreadable', problem: doc.errors[0]!.message.split('\n')[0]! };
  if (doc.contents === null) doc.contents = doc.createNode({}) as never;
  if (!isMap(doc.contents)) return { kind: 'unreadable', problem: 'the top level is not a mapping' };
  let hooks = doc.get('hooks');
  if (hooks === undefined || hooks === null) {
    doc.set('hooks', doc.createNode({}));
    hooks = doc.get('hooks');
  }
  if (!isMap(hooks)) return { kind: 'unreadable', problem: "'hooks' is not a mapping" };
  const hooksMap = hooks as YAMLMap;
  if (hooksMap.flow) hooksMap.flow = false;
  let changed = existing === undefined;
  const edited: string[] = [];
  for (const [event, entry] of Object.entries(HOOKS)) {
    let list = hooksMap.get(event);
    if (list === undefined || list === null) {
      hooksMap.set(event, doc.createNode([]));
      list = hooksMap.get(event);
    }
    if (!isSeq(list)) return { kind: 'unreadable', problem: `'hooks.${event}' is not a list` };
    const seq = list as YAMLSeq;
    if (seq.flow) seq.flow = false;
    const ours = seq.items
      .map((item, index) => ({ item, index }))
      .filter(({ item }) => isMap(item) && (item as YAMLMap).get('extension') === EXTENSION_ID);
    if (ours.length === 1 && isDeepStrictEqual((ours[0]!.item as YAMLMap).toJSON(), entry)) continue;
    if (ours.length > 0) edited.push(event);
    if (ours.length > 0 && !force) continue;
    for (const { index } of ours.reverse()) seq.items.splice(index, 1);
    seq.items.push(doc.createNode(entry));
    changed = true;
  }
  if (edited.length && !force) return { kind: 'conflict', events: edited, problem: `our ${edited.join(' and ')} hook entr${edited.length > 1 ? 'ies were' : 'y was'} edited` };
  if (!changed) return { kind: 'unchanged' };
  return { kind: 'write', text: doc.toString({ lineWidth: 0 }), created: existing === undefined, replacedEdited: edited };
}
