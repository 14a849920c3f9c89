/**
 * A sample spec-kit repository as a user has it after `/speckit.specify`, `/speckit.plan` and
 * `/speckit.tasks`: `.specify/` (init options, constitution), `specs/<feature>/spec.md`, `plan.md`,
 * `tasks.md` with [SYNC] and [ASYNC] tasks, committed on `main`, with a git `origin`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const FEATURE = '001-greeting';
export const ASYNC_TASKS = ['T002', 'T003', 'T005'];
export const SYNC_TASKS = ['T001', 'T004'];

export const TASKS_MD = `# Tasks: Greeting service

**Input**: Design documents from \`/specs/${FEATURE}/\`

## Format: \`[ID] [P?] [SYNC/ASYNC] Description\`

- **[SYNC]**: done in the main session, with a human
- **[ASYNC]**: delegated to an agent

## Phase 1: Setup

- [ ] T001 [SYNC] Create the project skeleton in \`src/\` and \`package.json\`

## Phase 2: Core

- [ ] T002 [P] [ASYNC] Implement \`greet(name)\` in \`src/greet.js\`
- [ ] T003 [P] [ASYNC] Implement \`farewell(name)\` in \`src/farewell.js\`
- [ ] T004 [SYNC] Review the public API naming with the team
- [ ] T005 [P] [ASYNC] Add a README usage section in \`docs/usage.md\`
`;

const SPEC_MD = `# Feature Specification: Greeting service

**Feature Branch**: \`${FEATURE}\`

## User Scenarios

A caller greets a user by name and says goodbye.

## Requirements

- **FR-001**: \`greet("Ada")\` returns \`Hello, Ada!\`.
- **FR-002**: \`farewell("Ada")\` returns \`Goodbye, Ada!\`.
`;

const PLAN_MD = `# Implementation Plan: Greeting service

**Branch**: \`${FEATURE}\` | **Spec**: [spec.md](./spec.md)

## Technical Context

**Language/Version**: Node.js 20 (CommonJS) — **Testing**: node:test

## Project Structure

\`\`\`text
src/greet.js
src/farewell.js
docs/usage.md
\`\`\`
`;

/**
 * A stand-in for spec-kit's `.specify/scripts/bash/check-prerequisites.sh` (written here, not copied): same flags
 * and the same one-line JSON (`{"FEATURE_DIR":"<absolute>","AVAILABLE_DOCS":[…]}`), the feature taken from
 * SPECIFY_FEATURE or the current git branch, as spec-kit does; errors on stderr with exit 1.
 */
const CHECK_PREREQUISITES_SH = `#!/usr/bin/env bash
set -e
json=false require_tasks=false include_tasks=false
for arg in "$@"; do
  case "$arg" in
    --json) json=true ;;
    --require-tasks) require_tasks=true ;;
    --include-tasks) include_tasks=true ;;
    *) echo "ERROR: Unknown option '$arg'." >&2; exit 1 ;;
  esac
done
root=$(git rev-parse --show-toplevel)
feature=\${SPECIFY_FEATURE:-$(git rev-parse --abbrev-ref HEAD)}
dir="$root/specs/$feature"
[ -d "$dir" ] || { echo "ERROR: Feature directory not found: $dir" >&2; exit 1; }
[ -f "$dir/plan.md" ] || { echo "ERROR: plan.md not found in $dir" >&2; exit 1; }
if $require_tasks && [ ! -f "$dir/tasks.md" ]; then echo "ERROR: tasks.md not found in $dir" >&2; exit 1; fi
docs=""
if $include_tasks && [ -f "$dir/tasks.md" ]; then docs='"tasks.md"'; fi
if $json; then printf '{"FEATURE_DIR":"%s","AVAILABLE_DOCS":[%s]}\\n' "$dir" "$docs"; else echo "FEATURE_DIR:$dir"; fi
`;

export interface SampleRepo {
  /** Working copy (the user's checkout). */
  dir: string;
  /** Bare repository that is the checkout's origin. */
  origin: string;
  /** The origin's URL, as runs name the repository: `file://` + origin (the CLI refuses a bare local path), or `originUrl`. */
  url: string;
  tasksFile: string;
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
}

/** Creates the sample repository; `originUrl` overrides the origin (e.g. an http git server). */
/**
 * `specKitScripts`: also spec-kit's check-prerequisites.sh (a stand-in, see above) and the checkout on the
 * feature branch (pushed), where `/speckit.specify` leaves it; the script finds the feature from that branch.
 */
export function createSampleRepo(opts: { parent?: string; originUrl?: string; originName?: string; speckitVersion?: string; tasksMd?: string; specKitScripts?: boolean } = {}): SampleRepo {
  const parent = opts.parent ?? mkdtempSync(path.join(os.tmpdir(), 'sdlc-sample-'));
  const dir = path.join(parent, 'app');
  // The bare origin's name is the repository name in the run ID (sdlc-<name>-<feature>): unique names keep parallel tests apart.
  const origin = path.join(parent, `${opts.originName ?? 'origin'}.git`);
  mkdirSync(dir, { recursive: true });
  writeFiles(dir, {
    '.specify/init-options.json': JSON.stringify({ ai: 'opencode', script: 'sh', speckit_version: opts.speckitVersion ?? '0.11.9' }, null, 2) + '\n',
    '.specify/memory/constitution.md': '# Constitution\n\nSmall, tested changes.\n',
    [`specs/${FEATURE}/spec.md`]: SPEC_MD,
    [`specs/${FEATURE}/plan.md`]: PLAN_MD,
    [`specs/${FEATURE}/tasks.md`]: opts.tasksMd ?? TASKS_MD,
    'README.md': '# app\n',
    ...(opts.specKitScripts ? { '.specify/scripts/bash/check-prerequisites.sh': CHECK_PREREQUISITES_SH } : {}),
  });
  if (opts.specKitScripts) chmodSync(path.join(dir, '.specify/scripts/bash/check-prerequisites.sh'), 0o755);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, '-c', 'user.name=Dev', '-c', 'user.email=dev@example.test', 'add', '-A');
  git(dir, '-c', 'user.name=Dev', '-c', 'user.email=dev@example.test', 'commit', '-qm', 'spec, plan and tasks for 001-greeting');
  if (opts.originUrl) {
    git(dir, 'remote', 'add', 'origin', opts.originUrl);
  } else {
    git(parent, 'init', '-q', '--bare', origin);
    git(dir, 'remote', 'add', 'origin', pathToFileURL(origin).href);
    git(dir, 'push', '-q', 'origin', 'main');
  }
  if (opts.specKitScripts) {
    git(dir, 'checkout', '-q', '-b', FEATURE);
    if (!opts.originUrl) git(dir, 'push', '-q', 'origin', FEATURE);
  }
  return { dir, origin, url: opts.originUrl ?? pathToFileURL(origin).href, tasksFile: path.join(dir, 'specs', FEATURE, 'tasks.md') };
}
