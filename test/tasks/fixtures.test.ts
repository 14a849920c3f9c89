import path from 'node:path';
import { loadTasksFile } from '../../src/tasks/load';
import type { Task } from '../../src/tasks/types';
import { assertRunnablePlan, TasksFileError } from '../../src/tasks/errors';
import { parseTasksMarkdown } from '../../src/tasks/parse';
import { allFixtures, FIXTURE_DIR, fixtureText, ids, parseFixture, reopened, task, withStatus } from './fixture-support';

/**
 * Real tasks.md files from public repositories (see INDEX.tsv for each file's quirks). The
 * assertions are facts read off each file by hand.
 */

/**
 * These four hold no task in the issue's grammar: the parser returns an empty plan whose error says
 * why, and the CLI (loadTasksFile) refuses them with that message.
 */
const NO_TASK_FIXTURES = new Map([
  ['07_edendadon_PitchTwin-fuse.md', { line: 5, problem: 'the checklist items have no task IDs' }],
  ['14_cqian89_bioimage-mcp.md', { line: 15, problem: 'the checklist items have no task IDs' }],
  ['24_lalgarve_api-key.md', { line: 5, problem: 'table rows are not tasks' }],
  ['33_Priivacy-ai_spec-kitty.md', { line: 42, problem: 'plain text, not list items or headings' }],
]);

describe('every real fixture', () => {
  const fixtures = allFixtures();

  it('finds all 35 numbered files and the 14 [SYNC]/[ASYNC] extras', () => {
    expect(fixtures.filter((f) => !f.startsWith('extra-async/'))).toHaveLength(35);
    expect(fixtures.filter((f) => f.startsWith('extra-async/'))).toHaveLength(14);
  });

  it.each(fixtures)('%s parses without throwing; only the 4 task-less files carry an error', (name) => {
    const plan = parseFixture(name);
    const expectedError = NO_TASK_FIXTURES.get(name);
    if (expectedError) {
      expect(plan.tasks).toEqual([]);
      expect(plan.errors).toHaveLength(1);
      expect(plan.errors[0]!.lines[0]).toBe(expectedError.line);
      expect(plan.errors[0]!.problem).toContain(expectedError.problem);
    } else {
      expect(plan.errors).toEqual([]);
      expect(plan.tasks.length).toBeGreaterThan(0);
    }
  });

  it.each(fixtures)('%s loads into a runnable plan, or (4 task-less files) a TasksFileError naming file, line and fix', async (name) => {
    const file = path.join(FIXTURE_DIR, name);
    const expectedError = NO_TASK_FIXTURES.get(name);
    if (expectedError) {
      const error = await loadTasksFile(file).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TasksFileError);
      expect((error as TasksFileError).line).toBe(expectedError.line);
      expect((error as Error).message).toContain(`${file}:${expectedError.line}`);
      expect((error as Error).message).toContain(expectedError.problem);
      expect((error as Error).message).toContain('Fix: ');
      return;
    }
    const { plan } = await loadTasksFile(file);
    expect(plan.feature).toBe(path.basename(path.dirname(file)));
    expect(plan.tasks.length).toBeGreaterThan(0);
    for (const t of plan.tasks) {
      expect(t.id).toMatch(/^T-?\d+[a-z]?(\.\d+)*$/);
      expect(t.line).toBeGreaterThan(0);
      expect(t.details.length).toBeGreaterThan(0);
      expect(t.branch !== null).toBe(plan.dispatch.includes(t.id));
    }
    // Dispatched = open async tasks, each once.
    const expected = plan.tasks.filter((t) => t.status === 'open' && t.mode === 'async').map((t) => t.id);
    expect([...plan.dispatch].sort()).toEqual([...expected].sort());
  });
});

describe('02 tikalk preset template: `T005 [P] [SYNC] [US1]` marker order', () => {
  const plan = parseFixture('02_');
  it('has T001–T028 open and ignores the TXXX placeholder lines', () => {
    expect(ids(plan.tasks)).toEqual(Array.from({ length: 28 }, (_, i) => `T${String(i + 1).padStart(3, '0')}`));
    expect(withStatus(plan, 'open')).toHaveLength(28);
  });
  it('reads markers in any order', () => {
    expect(task(plan, 'T005')).toMatchObject({ mode: 'sync', parallel: true, story: null, phase: 'Phase 2: Foundational (Blocking Prerequisites)' });
    expect(task(plan, 'T010')).toMatchObject({ mode: 'async', parallel: true, story: 'US1', labels: [] });
    expect(task(plan, 'T014')).toMatchObject({ mode: 'sync', dependsOn: ['T012', 'T013'] });
  });
  it('dispatches the open [ASYNC] tasks in file order with the default branch pattern', () => {
    expect(plan.dispatch).toEqual(['T001', 'T002', 'T003', 'T006', 'T007', 'T008', 'T009', 'T010', 'T011', 'T012', 'T013', 'T016', 'T017', 'T018', 'T019', 'T020', 'T024', 'T025', 'T026']);
    expect(task(plan, 'T001').branch).toBe('specs/demo-feature/T001-async');
    expect(task(plan, 'T004').branch).toBeNull();
    expect(plan.warnings).toEqual([]);
  });
});

describe('03 fork spec: bold hyphen IDs without checkbox, struck tasks', () => {
  const plan = parseFixture('03_');
  it('reads `- **T-001**:` items and the later `- [x] T026` style', () => {
    expect(plan.tasks).toHaveLength(24);
    expect(ids(plan.tasks).slice(0, 3)).toEqual(['T-001', 'T-002', 'T-003']);
    expect(ids(plan.tasks).slice(-3)).toEqual(['T026', 'T027', 'T028']);
  });
  it('marks struck-through (REMOVED / N/A / DEFERRED) tasks skipped and [x] tasks done', () => {
    expect(withStatus(plan, 'skipped')).toEqual(['T-007', 'T-008', 'T-009', 'T-010', 'T-012', 'T-015', 'T-016', 'T026']);
    expect(withStatus(plan, 'done')).toEqual(['T027', 'T028']);
    expect(withStatus(plan, 'open')).toHaveLength(14);
  });
  it('keeps nested sub-bullets in details and backticked paths in files, and dispatches nothing (no markers)', () => {
    const t1 = task(plan, 'T-001');
    expect(t1.title).toBe('Restructure `templates/commands/taskstoissues.md` into a provider-dispatched format with `[PROVIDER_DISPATCH]` header and per-provider sections');
    expect(t1.details).toContain('  - Comment-delimit each provider section');
    expect(t1.labels).toEqual([]);
    expect(t1.files).toEqual(['templates/commands/taskstoissues.md']);
    expect(task(plan, 'T-013').files).toEqual(['shared_infra.py', 'taskstoissues.md', 'templates/commands/']);
    expect(plan.tasks.every((t) => t.mode === null)).toBe(true);
    expect(plan.dispatch).toEqual([]);
  });
});

describe('04 historical tikalk template: `T003 [ASYNC] [P]`, TR01 risk IDs', () => {
  const plan = parseFixture('04_');
  it('has T001–T023 only (TR01/TR02 are not task IDs; "- T008 blocks T009" notes are not tasks)', () => {
    expect(plan.tasks).toHaveLength(23);
    expect(ids(plan.tasks)).not.toContain('TR01');
    expect(plan.tasks.filter((t) => t.id === 'T008')).toHaveLength(1);
    expect(plan.warnings).toEqual([]);
  });
  it('reads the mode before [P] and decimal phases', () => {
    expect(task(plan, 'T003')).toMatchObject({ mode: 'async', parallel: true, phase: 'Phase 3.1: Setup' });
    expect(task(plan, 'T004').phase).toBe('Phase 3.2: Tests First (TDD) ⚠️ MUST COMPLETE BEFORE 3.3');
  });
  it('dispatches the nine open [ASYNC] tasks', () => {
    expect(plan.dispatch).toEqual(['T003', 'T008', 'T009', 'T010', 'T015', 'T017', 'T019', 'T021', 'T022']);
  });
});

describe('06 phase headings carrying a mode: `(SYNC — Human Review Required)`', () => {
  const plan = parseFixture('06_');
  it('has 37 done tasks with the phase named by the level-2 heading', () => {
    expect(withStatus(plan, 'done')).toHaveLength(37);
    expect(task(plan, 'T008')).toMatchObject({ mode: 'sync', phase: 'Phase 3: Core Engine (SYNC — Human Review Required)' });
    expect(task(plan, 'T012')).toMatchObject({ mode: 'async', phase: 'Phase 4: Node Types (ASYNC — Well-Specified Interfaces)' });
    expect(task(plan, 'T001').title).toBe('Create orchestrator/ directory structure with __init__.py');
    expect(plan.dispatch).toEqual([]);
  });
  it('dispatches all 31 [ASYNC] tasks once reopened, never the 6 [SYNC] ones', () => {
    const again = parseFixture('06_', reopened(fixtureText('06_')));
    expect(again.dispatch).toHaveLength(31);
    for (const id of ['T004', 'T006', 'T008', 'T009', 'T010', 'T011']) expect(again.dispatch).not.toContain(id);
  });
});

describe('08 heading tasks `## T001 — Title (ASYNC)` with **Depends on** lines', () => {
  const plan = parseFixture('08_');
  it('reads five heading tasks, mode from the trailing parentheses', () => {
    expect(plan.tasks.map((t) => [t.id, t.line, t.mode])).toEqual([
      ['T001', 8, 'async'],
      ['T002', 30, 'async'],
      ['T003', 68, 'async'],
      ['T004', 94, 'async'],
      ['T005', 122, 'sync'],
    ]);
    expect(task(plan, 'T001').title).toBe('Add ServiceInfo / ServiceList to types.go');
    expect(plan.tasks.every((t) => t.phase === null && t.status === 'open')).toBe(true);
  });
  it('takes dependsOn from the metadata lines and the section as details', () => {
    expect(task(plan, 'T002').dependsOn).toEqual(['T001']);
    expect(task(plan, 'T005').dependsOn).toEqual(['T001', 'T002', 'T003', 'T004']);
    expect(task(plan, 'T001').details).toContain('### Acceptance Criteria');
    expect(task(plan, 'T001').details).not.toContain('## T002');
    expect(task(plan, 'T001').details.endsWith('4. Existing tests and code still compile (no regressions)')).toBe(true);
    expect(task(plan, 'T001').files).toEqual(['cmd/decommission/types.go']);
  });
  it('dispatches T001–T004 in dependency order', () => {
    expect(plan.dispatch).toEqual(['T001', 'T002', 'T003', 'T004']);
  });
});

describe('09 standard [SYNC]/[ASYNC] file, uppercase [X]', () => {
  const plan = parseFixture('09_');
  it('has 15 done and one open [SYNC] task, so nothing to dispatch', () => {
    expect(plan.tasks).toHaveLength(16);
    expect(withStatus(plan, 'open')).toEqual(['T015']);
    expect(task(plan, 'T015').mode).toBe('sync');
    expect(task(plan, 'T006')).toMatchObject({ status: 'done', mode: 'async', parallel: true, story: 'US1' });
    expect(task(plan, 'T016').mode).toBeNull();
    expect(plan.dispatch).toEqual([]);
  });
});

describe('13 TDD markers in the marker slot, letter-suffix IDs, trailing requirement tags', () => {
  const plan = parseFixture('13_');
  it('has 53 done tasks in file order, T001a before T001', () => {
    expect(plan.tasks).toHaveLength(53);
    expect(withStatus(plan, 'done')).toHaveLength(53);
    expect(ids(plan.tasks).slice(0, 2)).toEqual(['T001a', 'T001']);
  });
  it('files [RED]/[GREEN]/[VALIDATE] and [FR-…] tags as labels and still finds [P]/[USn]', () => {
    expect(task(plan, 'T005c')).toMatchObject({ parallel: true, labels: ['GREEN', 'FR-006'] });
    expect(task(plan, 'T009')).toMatchObject({ parallel: true, story: 'US1', labels: ['GREEN', 'FR-004'] });
    expect(task(plan, 'T005a').labels).toEqual(['RED', 'FR-007, FR-013']);
    expect(task(plan, 'T021').labels).toEqual(['VALIDATE', 'SC-005']);
    expect(task(plan, 'T001').title).toBe('Define `DynamicSource` schema and add to `ToolManifest` in `src/bioimage_mcp/registry/manifest_schema.py`');
  });
});

describe('16 Chinese file with an audit table of task references', () => {
  const plan = parseFixture('16_');
  it('has 11 open tasks; table rows and numbered notes naming T001/T009 are not tasks', () => {
    expect(ids(plan.tasks)).toEqual(['T001', 'T002', 'T003', 'T004', 'T005', 'T006', 'T007', 'T008', 'T009', 'T010', 'T011']);
    expect(withStatus(plan, 'open')).toHaveLength(11);
    expect(plan.warnings).toEqual([]);
    expect(task(plan, 'T001')).toMatchObject({ parallel: true, story: 'US1', files: ['types/usageMap.ts'] });
  });
});

describe('18 truncated duplicate IDs (T00, T01 ×10)', () => {
  const plan = parseFixture('18_');
  it('keeps all 19 done tasks and warns about each repeated T01', () => {
    expect(plan.tasks).toHaveLength(19);
    expect(plan.tasks.filter((t) => t.id === 'T01')).toHaveLength(10);
    expect(plan.warnings.map((w) => w.line)).toEqual([82, 101, 103, 117, 119, 127, 128, 129, 130]);
    expect(plan.warnings[0]!.message).toContain('T01 is used again (first at line 80)');
  });
  it('keeps multi-line tasks with nested bullets as details', () => {
    expect(task(plan, 'T007').details).toContain('4. On any other exception');
    expect(task(plan, 'T007').files[0]).toBe('src/webhook/runner.py');
  });
  it('rejects the file once reopened: two dispatched tasks would share T01', () => {
    expect(() => assertRunnablePlan(parseFixture('18_', reopened(fixtureText('18_'))))).toThrow(TasksFileError);
    expect(() => assertRunnablePlan(parseFixture('18_', reopened(fixtureText('18_'))))).toThrow(/18_\.md:80: two open \[ASYNC\] tasks have the same ID T01.*lines 80, 101, 103, 117, 119, 127, 128, 129, 130.*Fix: give each task its own ID/);
  });
});

describe('20 bold IDs `- [ ] **T001** [US0]`, [USX], bold non-ID gate checkboxes', () => {
  const plan = parseFixture('20_');
  it('has 45 open tasks and skips the Constitution gate boxes', () => {
    expect(plan.tasks).toHaveLength(45);
    expect(withStatus(plan, 'open')).toHaveLength(45);
    expect(task(plan, 'T001').story).toBe('US0');
    expect(task(plan, 'T039')).toMatchObject({ story: 'USX', parallel: true });
    expect(task(plan, 'T006').details).toContain('包含 Summary 表格结构');
    expect(plan.dispatch).toEqual([]);
  });
});

describe('22 bold IDs with sub-bullets, IDs reused across phases', () => {
  const plan = parseFixture('22_');
  it('counts 32 done / 35 open and warns about T016 and T017', () => {
    expect(plan.tasks).toHaveLength(67);
    expect(withStatus(plan, 'done')).toHaveLength(32);
    expect(withStatus(plan, 'open')).toHaveLength(35);
    expect(plan.warnings.map((w) => [w.line, w.message.slice(0, 40)])).toEqual([
      [192, 'T016 is used again (first at line 169); '],
      [200, 'T017 is used again (first at line 175); '],
    ]);
    expect(task(plan, 'T001').details).toContain('Mirror test structure in `ChillTests/AddVideo/`');
  });
});

describe('23 heading tasks `### T001: Title [X]`, `#### T021 [P]: Title`', () => {
  const plan = parseFixture('23_');
  it('has 27 heading tasks; [X] at the end means done', () => {
    expect(plan.tasks).toHaveLength(27);
    expect(withStatus(plan, 'done')).toEqual(['T001', 'T002']);
    expect(task(plan, 'T001').title).toBe('Verify existing test infrastructure');
  });
  it('reads [P] before the colon, phases from level-2 headings, fenced code as details', () => {
    expect(task(plan, 'T021')).toMatchObject({ parallel: true, title: 'Add accessibility labels and hints to all views', phase: 'Phase 3.4: Integration & Polish' });
    expect(task(plan, 'T003').phase).toBe('Phase 3.2: Tests First (TDD) ⚠️ MUST COMPLETE BEFORE 3.3');
    expect(task(plan, 'T003').details).toContain('func testInitialStateIsChoice()');
    expect(task(plan, 'T007').details).not.toContain('### Model Layer');
  });
  it('treats "- **T008-T010** (Models) block …" notes as references, not tasks', () => {
    expect(plan.tasks.filter((t) => t.id === 'T008')).toHaveLength(1);
    expect(plan.warnings).toEqual([]);
  });
});

describe('29 heading parents `### T001 [P] Title` with `- [x] **T001.1**` subtasks', () => {
  const plan = parseFixture('29_');
  it('has 37 open heading tasks and 67 done dotted subtasks', () => {
    expect(plan.tasks).toHaveLength(104);
    expect(plan.tasks.filter((t) => !t.id.includes('.') && t.status === 'open')).toHaveLength(37);
    expect(plan.tasks.filter((t) => t.id.includes('.') && t.status === 'done')).toHaveLength(67);
  });
  it('gives subtasks their own line and phase, and keeps the parent files to its own text', () => {
    expect(task(plan, 'T001.1')).toMatchObject({ line: 28, status: 'done', phase: '🎯 Phase 0: Preparación (1-2 días)', title: 'Verify pytest-homeassistant-custom-component installed' });
    expect(task(plan, 'T001')).toMatchObject({ line: 27, parallel: true, files: ['pyproject.toml', 'tests/conftest.py'] });
    expect(task(plan, 'T001').details).toContain('- [x] **T001.3** Prepare fixtures');
  });
});

describe('30 `* [x]` bullets and escaped markers `\\[US1]`', () => {
  const plan = parseFixture('30_');
  it('has 10 done and 3 open tasks and resolves escapes', () => {
    expect(plan.tasks).toHaveLength(13);
    expect(withStatus(plan, 'open')).toEqual(['T003', 'T009', 'T013']);
    expect(task(plan, 'T002').story).toBe('US1');
    expect(task(plan, 'T006').story).toBe('US2');
    expect(task(plan, 'T005').phase).toBe('tPhase 2: US1 – Címkézett minta a fixture-ből');
    expect(task(plan, 'T012').story).toBeNull();
  });
});

describe('34 tasks wrapped over several lines with `(depends on T001 — …)`', () => {
  const plan = parseFixture('34_');
  it('joins the wrapped lines into the title and reads the inline dependency', () => {
    expect(withStatus(plan, 'done')).toEqual(['T001', 'T002', 'T003']);
    expect(task(plan, 'T001').title).toBe(
      'Add the GitHub Actions CI status badge image (per `research.md` Decision: `https://github.com/sshahar1/wheelie/actions/workflows/ci.yml/badge.svg?branch=main`) directly under the title in `README.md`',
    );
    expect(task(plan, 'T001').files).toEqual(['research.md', 'README.md']);
    expect(task(plan, 'T002').dependsOn).toEqual(['T001']);
  });
  it('dispatches all three once reopened', () => {
    const again = parseFixture('34_', reopened(fixtureText('34_')));
    expect(again.dispatch).toEqual(['T001', 'T002', 'T003']);
    expect(again.tasks.map((t) => t.branch)).toEqual(['specs/demo-feature/T001-async', 'specs/demo-feature/T002-async', 'specs/demo-feature/T003-async']);
  });
});

describe('extra-async: agent-eval-framework, 30 open tasks', () => {
  const plan = parseFixture('edendadon+PitchTwin-fuse__specs_004');
  it('dispatches the 20 open [ASYNC] tasks and holds back the 10 [SYNC] ones', () => {
    expect(withStatus(plan, 'open')).toHaveLength(30);
    expect(plan.dispatch).toEqual(['T001', 'T002', 'T004', 'T005', 'T006', 'T008', 'T009', 'T011', 'T013', 'T018', 'T019', 'T020', 'T021', 'T022', 'T023', 'T024', 'T025', 'T027', 'T028', 'T029']);
    expect(task(plan, 'T007')).toMatchObject({ mode: 'sync', parallel: true, story: 'US1' });
  });
});

/**
 * Per-fixture facts, each counted by reading the file itself (not copied from the parser). `reopened`
 * is the dispatch list once every [x]/[X] box is turned back into [ ]: most of these files are
 * finished, so it is what shows their [ASYNC] markers and `depends on` at work.
 */
interface FixtureFacts {
  /** File name prefix (fixtureText resolves it to exactly one file). */
  file: string;
  /** Why the fixture is worth a row. */
  why: string;
  tasks: number;
  status: { open: number; done: number; skipped: number };
  mode: { async: number; sync: number; none: number };
  /** One task and the level-2 heading it sits under. */
  phase: [id: string, phase: string];
  dispatch: string[];
  reopened: string[];
}

/** `tids(1, 6)` → ['T001', 'T006']. */
const tids = (...n: number[]) => n.map((i) => `T${String(i).padStart(3, '0')}`);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const FIXTURE_FACTS: FixtureFacts[] = [
  { file: '05_', why: 'Hebrew words in titles, `Files:` trailer, uppercase [X], Phase 1 is Foundational; "- T002 (…) can run in parallel" notes are not tasks',
    tasks: 14, status: { open: 0, done: 14, skipped: 0 }, mode: { async: 10, sync: 3, none: 1 },
    phase: ['T010', 'Phase 4: User Story 3 - Use the dashboard UI in Hebrew with RTL layout (Priority: P3)'],
    dispatch: [], reopened: tids(2, 3, 4, 6, 7, 9, 10, 11, 12, 13) },
  { file: '11_', why: 'mixed [x]/[ ]: the nine open tasks are all [SYNC] (human account access), so nothing runs; only [SYNC] tasks say `(depends on …)`',
    tasks: 14, status: { open: 9, done: 5, skipped: 0 }, mode: { async: 5, sync: 9, none: 0 },
    phase: ['T008', 'Phase 4: User Story 2 - Meta reaches the bot via webhook in production (Priority: P2)'],
    dispatch: [], reopened: tids(1, 2, 3, 13, 14) },
  { file: '12_', why: 'task lines end in "— file: <path>", box-drawing diagram in a fence, a "SYNC/ASYNC Summary" heading after the tasks',
    tasks: 12, status: { open: 0, done: 12, skipped: 0 }, mode: { async: 6, sync: 6, none: 0 },
    phase: ['T007', 'Phase 5: User Story 3 — Automated dependency update proposals (P2)'],
    dispatch: [], reopened: tids(4, 6, 7, 8, 10, 12) },
  { file: '17_', why: 'YAML front matter, two-space hard breaks, em-dash story phases, all open; the `T001 → T002` chain is in a fence, not `depends on`',
    tasks: 9, status: { open: 9, done: 0, skipped: 0 }, mode: { async: 5, sync: 4, none: 0 },
    phase: ['T005', 'Phase 4: User Story 2 — Screen Stays On in Conservation Mode'],
    dispatch: tids(1, 6, 7, 8, 9), reopened: tids(1, 6, 7, 8, 9) },
  { file: '19_', why: 'decimal `Phase 2.5`, letter-suffix IDs T008a–T008e and T014a, ID ranges in the summary lists',
    tasks: 63, status: { open: 0, done: 63, skipped: 0 }, mode: { async: 23, sync: 40, none: 0 },
    phase: ['T008c', 'Phase 2.5: Architectural Decision Records (Required)'],
    dispatch: [], reopened: tids(1, 2, 13, 14, 20, 21, 22, 26, 27, 28, 34, 35, 36, ...range(43, 48), ...range(54, 57)) },
  { file: '28_', why: 'Korean, story before [P] (`T010 [US1] [P]`), trailing ` - 사용자 테스트 필요` notes, mixed [x]/[ ], no mode markers at all',
    tasks: 30, status: { open: 17, done: 13, skipped: 0 }, mode: { async: 0, sync: 0, none: 30 },
    phase: ['T010', 'Phase 3: User Story 1 - 관리자 알림 푸시 수신 (Priority: P1) 🎯 MVP'],
    dispatch: [], reopened: [] },
  { file: 'ColombusAH+octoprep2000__specs_001', why: 'front matter; "- **T001 blocks everything**" / "- **T006 (US2) depends on T004**" bold notes are not tasks',
    tasks: 11, status: { open: 0, done: 11, skipped: 0 }, mode: { async: 4, sync: 7, none: 0 },
    phase: ['T008', 'Phase 4: User Story 3 — PPTX persisted by its owning agent (P2)'],
    dispatch: [], reopened: tids(2, 3, 9, 10) },
  { file: 'natanbs+gitops-template__specs_003', why: 'an unmarked `## Phase 8: Convergence` appended after Implementation Strategy',
    tasks: 19, status: { open: 0, done: 19, skipped: 0 }, mode: { async: 10, sync: 4, none: 5 },
    phase: ['T017', 'Phase 8: Convergence'],
    dispatch: [], reopened: tids(1, 2, 4, 5, 6, 8, 9, 10, 11, 13) },
  { file: 'natanbs+gitops-template__specs_009', why: 'the five US1 tasks carry no mode while the rest do; absolute /Users/… paths',
    tasks: 13, status: { open: 0, done: 13, skipped: 0 }, mode: { async: 6, sync: 2, none: 5 },
    phase: ['T008', 'Phase 3: User Story 1 - Run tag.sh from app folder to release a new version (Priority: P1) 🎯 MVP'],
    dispatch: [], reopened: tids(1, 2, 4, 5, 11, 12) },
  { file: 'natanbs+gitops-template__specs_010', why: 'Format line omits [SYNC/ASYNC] yet every task is [ASYNC]; `[1/4] to [1/5]` brackets in a title are prose',
    tasks: 11, status: { open: 0, done: 11, skipped: 0 }, mode: { async: 11, sync: 0, none: 0 },
    phase: ['T003', 'Phase 1: Foundational (Blocking Prerequisites)'],
    dispatch: [], reopened: tids(...range(1, 11)) },
  { file: 'natanbs+gitops-template__specs_011', why: 'story phases out of order (US4 before US2); `[OPTIONS]` and regex brackets inside code',
    tasks: 9, status: { open: 0, done: 9, skipped: 0 }, mode: { async: 3, sync: 6, none: 0 },
    phase: ['T004', 'Phase 3: User Story 4 - Target Directory Computed Correctly (Priority: P1)'],
    dispatch: [], reopened: tids(5, 7, 8) },
  { file: 'sshahar1+wheelie__specs_003', why: 'tasks wrapped over 2–4 lines; the [SYNC] tasks carry `depends on T002 and T009` in a wrapped line',
    tasks: 12, status: { open: 0, done: 12, skipped: 0 }, mode: { async: 10, sync: 2, none: 0 },
    phase: ['T010', 'Phase 3: User Story 1 - Bot Replies Are Visible to the Whole Troupe (Priority: P1) 🎯 MVP'],
    dispatch: [], reopened: tids(...range(1, 8), 11, 12) },
  { file: 'sshahar1+wheelie__specs_005', why: 'empty Setup/Foundational phases, tasks start in Phase 3; `(depends on …)` chain T011 → T012; a "- [SYNC]/[ASYNC] labels …" note',
    tasks: 12, status: { open: 0, done: 12, skipped: 0 }, mode: { async: 3, sync: 9, none: 0 },
    phase: ['T009', 'Phase 5: User Story 3 - Dependency versions confirmed compatible with PostgreSQL 18 (Priority: P3)'],
    dispatch: [], reopened: tids(4, 11, 12) },
  { file: 'sshahar1+wheelie__specs_006', why: 'front matter with a blank line after `---`; "- **T002** depends on T001" notes; only [SYNC] tasks',
    tasks: 2, status: { open: 0, done: 2, skipped: 0 }, mode: { async: 0, sync: 2, none: 0 },
    phase: ['T002', 'Phase 3: User Story 1 - Logo visible at top of README (Priority: P1) 🎯 MVP'],
    dispatch: [], reopened: [] },
  { file: 'sshahar1+wheelie__specs_008', why: '`## Final Phase:` heading; `(depends on T002-T004)` range; "- T005 depends on T002-T004." notes',
    tasks: 15, status: { open: 0, done: 15, skipped: 0 }, mode: { async: 11, sync: 4, none: 0 },
    phase: ['T015', 'Final Phase: Polish & Cross-Cutting Concerns'],
    dispatch: [], reopened: tids(1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 14) },
];

describe('per-fixture facts read by hand (task count, status, mode, one phase, dispatch)', () => {
  it('covers at least 12 fixtures, 4 or more of them from extra-async/', () => {
    expect(FIXTURE_FACTS.length).toBeGreaterThanOrEqual(12);
    expect(FIXTURE_FACTS.filter((f) => f.file.includes('__specs_')).length).toBeGreaterThanOrEqual(4);
  });

  it.each(FIXTURE_FACTS.map((f) => [f.file, f.why, f] as const))('%s — %s', (_name, _why, facts) => {
    const plan = parseFixture(facts.file);
    const count = (pred: (t: Task) => boolean) => plan.tasks.filter(pred).length;
    expect(plan.errors).toEqual([]);
    expect(plan.tasks).toHaveLength(facts.tasks);
    expect({ open: count((t) => t.status === 'open'), done: count((t) => t.status === 'done'), skipped: count((t) => t.status === 'skipped') }).toEqual(facts.status);
    expect({ async: count((t) => t.mode === 'async'), sync: count((t) => t.mode === 'sync'), none: count((t) => t.mode === null) }).toEqual(facts.mode);
    const [id, phase] = facts.phase;
    expect(task(plan, id).phase).toBe(phase);
    expect(plan.dispatch).toEqual(facts.dispatch);
    expect(parseFixture(facts.file, reopened(fixtureText(facts.file))).dispatch).toEqual(facts.reopened);
  });
});

/**
 * File overlap on the real files: which open [ASYNC] tasks name the same path with no order between
 * them. Edges point back in the file, so no fixture's dispatch order moves; what changes is that the
 * later task waits. Counted with every box reopened (most fixtures are finished).
 */
describe('file overlap on the real fixtures', () => {
  const edgesOf = (name: string) =>
    parseFixture(name, reopened(fixtureText(name)))
      .tasks.filter((t) => t.orderedAfter.length > 0)
      .map((t) => `${t.id}<${t.orderedAfter.map((e) => `${e.id}:${e.files.join(',')}`).join(' ')}`);

  it('moves no dispatch list, as-is or reopened: implicit edges only make a later task wait for an earlier one', () => {
    for (const name of allFixtures()) {
      for (const text of [fixtureText(name), reopened(fixtureText(name))]) {
        const serialized = parseTasksMarkdown(text, { file: name, feature: 'demo-feature' });
        const ignored = parseTasksMarkdown(text, { file: name, feature: 'demo-feature', fileOverlap: 'ignore' });
        expect([name, serialized.dispatch, serialized.errors]).toEqual([name, ignored.dispatch, ignored.errors]);
      }
    }
  });

  it('orders tasks in 9 of the 49 files', () => {
    const withEdges = allFixtures().filter((name) => edgesOf(name).length > 0);
    expect(withEdges.map((name) => name.replace(/^extra-async\//, '').replace(/(__specs_\d+).*/, '$1'))).toEqual([
      '05_ColombusAH_octoprep2000.md',
      '10_sshahar1_wheelie.md',
      '12_edendadon_PitchTwin-fuse.md',
      '17_chaimt_GarminShabbatMode.md',
      '19_MyBoTeam_MyBoTeam.md',
      'edendadon+PitchTwin-fuse__specs_004',
      'natanbs+gitops-template__specs_005',
      'natanbs+gitops-template__specs_007',
      'sshahar1+wheelie__specs_008',
    ]);
  });

  it('wheelie 008: T002–T004 all edit package.json (the file itself says to sequence them); `@nestjs/cli` reads as a path', () => {
    expect(edgesOf('sshahar1+wheelie__specs_008')).toEqual([
      'T003<T002:package.json',
      'T004<T003:package.json',
      'T007<T004:@nestjs/cli',
      'T009<T001:tests/contract/webhook-latency.bench.ts',
    ]);
  });

  it('19 MyBoTeam: each lifecycle file is a chain after T001 (which creates the folder); T054 documents the folder, after the last of each chain', () => {
    const edges = edgesOf('19_');
    expect(edges).toHaveLength(18);
    expect(edges).toContain('T014<T013:packages/agent-core/src/daemon/lifecycle/daemon-process-manager.ts');
    expect(edges.find((e) => e.startsWith('T054<'))!.split(' ').map((e) => e.replace(/^T054</, '').split(':')[0])).toEqual(tids(48, 46, 36, 28, 22, 14));
  });
});
