import { parseTasksMarkdown } from '../../src/tasks/parse';
import type { TaskPlan } from '../../src/tasks/types';

/** One small file per rule of issue 2 §2; each asserts what `sdlc-runner plan --json` would show. */
const parse = (text: string, branchPattern?: string): TaskPlan =>
  parseTasksMarkdown(text, { file: 'specs/001-demo/tasks.md', feature: '001-demo', ...(branchPattern ? { branchPattern } : {}) });
const md = (...lines: string[]) => lines.join('\n') + '\n';
const only = (plan: TaskPlan) => {
  expect(plan.tasks).toHaveLength(1);
  return plan.tasks[0]!;
};

describe('task IDs', () => {
  it.each(['T001', 'T-001', 'T001a', 'T001.1', 'T001.1.2', 'T-001a.2', 'T1', 'T012.3.4'])('%s is a task ID', (id) => {
    expect(only(parse(md(`- [ ] ${id} Do it`))).id).toBe(id);
  });

  it.each(['TXXX', 'TR01', 'T01x2', 'T001A', 'T001ab', 'Task1', 'T', 't001'])('%s is not a task ID', (id) => {
    const plan = parse(md(`- [ ] ${id} Not a task`, '- [ ] T900 Real task'));
    expect(plan.tasks.map((t) => t.id)).toEqual(['T900']);
  });
});

describe('what is a task', () => {
  it('is a -, * or + list item beginning with an ID, with or without checkbox', () => {
    const plan = parse(md('- [ ] T001 dash', '', '* [x] T002 star', '', '+ T003 plus, no box'));
    expect(plan.tasks.map((t) => [t.id, t.line, t.status])).toEqual([
      ['T001', 1, 'open'],
      ['T002', 3, 'done'],
      ['T003', 5, 'open'],
    ]);
  });

  it('is a heading beginning with an ID, at any level', () => {
    const plan = parse(md('# Tasks', '', '### T001 Build it', 'Body text.', '', '#### T002: Test it'));
    expect(plan.tasks.map((t) => [t.id, t.line, t.title])).toEqual([
      ['T001', 3, 'Build it'],
      ['T002', 6, 'Test it'],
    ]);
  });

  it('is not a numbered list item, a paragraph, a table row, fenced code, an HTML comment or a block quote', () => {
    const plan = parse(
      md(
        '1. T101 numbered',
        '',
        'T102 plain paragraph',
        '',
        '| ID | Task |',
        '|----|------|',
        '| T103 | table row |',
        '',
        '```',
        '- [ ] T104 in a fence',
        '```',
        '',
        '    - [ ] T105 indented code',
        '',
        '<!--',
        '- [ ] T106 commented out',
        '-->',
        '',
        '> - [ ] T107 quoted',
        '> ### T108 quoted heading',
        '',
        '- [ ] T001 the only task',
      ),
    );
    expect(plan.tasks.map((t) => t.id)).toEqual(['T001']);
  });

  it('does not count "- T003 and T004 can run in parallel" notes about tasks defined elsewhere', () => {
    const plan = parse(md('- [ ] T003 [ASYNC] A', '- [ ] T004 [ASYNC] B', '', '## Notes', '', '- T003 and T004 can run in parallel', '- **T003-T004** block nothing'));
    expect(plan.tasks.map((t) => t.line)).toEqual([1, 2]);
    expect(plan.warnings).toEqual([]);
  });
});

describe('status', () => {
  it.each([
    ['- [ ] T001 x', 'open'],
    ['- [x] T001 x', 'done'],
    ['- [X] T001 x', 'done'],
    ['- ✅ T001 x', 'done'],
    ['- ✅ [x] T001 x', 'done'],
    ['- [ ] ✅ T001 x', 'done'],
    ['- ⏳ T001 x', 'open'],
    ['- [ ] ~~T001~~ dropped', 'skipped'],
    ['- ~~T001 whole line struck~~', 'skipped'],
    ['- [x] ~~T001~~ struck and ticked', 'skipped'],
    ['- **T-001**: ~~Add a flag~~ — REMOVED', 'skipped'],
    ['### T001 Heading task [X]', 'done'],
    ['### T001 Heading task [x]', 'done'],
    ['### T001 Heading task', 'open'],
  ])('%s → %s', (line, status) => {
    expect(only(parse(md(line))).status).toBe(status);
  });
});

describe('markers', () => {
  it('reads [P], [ASYNC]/[SYNC], [USn] and labels in any order', () => {
    const t = only(parse(md('- [ ] T001 [US2] [Optional] [ASYNC] [P] Build the `src/a.ts` module')));
    expect(t).toMatchObject({ parallel: true, mode: 'async', story: 'US2', labels: ['Optional'], title: 'Build the `src/a.ts` module' });
  });

  it('resolves markdown escapes and emphasis: \\[ASYNC\\] and **T004 [ASYNC]** count', () => {
    expect(only(parse(md('- [ ] T001 \\[ASYNC\\] \\[US1] escaped'))).mode).toBe('async');
    expect(only(parse(md('- [ ] T001 \\[ASYNC\\] \\[US1] escaped'))).story).toBe('US1');
    expect(only(parse(md('- [ ] **T004 [ASYNC]** bold'))).mode).toBe('async');
    expect(only(parse(md('- [ ] **T004** [SYNC] [USX] bold id'))).mode).toBe('sync');
    expect(only(parse(md('- [ ] **T004** [SYNC] [USX] bold id'))).story).toBe('USX');
  });

  it('ignores brackets inside code spans and keeps mid-sentence placeholders in the title', () => {
    const t = only(parse(md('- [ ] T001 Initialize [language] project with `[ASYNC]` in docs')));
    expect(t).toMatchObject({ mode: null, labels: [], title: 'Initialize [language] project with `[ASYNC]` in docs' });
  });

  it('takes trailing bracketed tags as labels', () => {
    expect(only(parse(md('- [x] T005c [GREEN] [P] Implement parsing [FR-006]'))).labels).toEqual(['GREEN', 'FR-006']);
  });

  it('reads (ASYNC)/(SYNC) at the end of a heading task', () => {
    expect(only(parse(md('## T001 — Add types (ASYNC)'))).mode).toBe('async');
    expect(only(parse(md('### T002: Review (SYNC) [X]')))).toMatchObject({ mode: 'sync', status: 'done', title: 'Review' });
  });

  it('warns when a task is marked both [ASYNC] and [SYNC] and keeps the first', () => {
    const plan = parse(md('- [ ] T001 [SYNC] [ASYNC] confused'));
    expect(only(plan).mode).toBe('sync');
    expect(plan.warnings).toEqual([{ line: 1, message: 'T001 is marked both [ASYNC] and [SYNC]; using the first, [SYNC]' }]);
  });
});

describe('phases', () => {
  it('is the nearest preceding non-task level-2 heading', () => {
    const plan = parse(
      md('- [ ] T000 before any phase', '## Phase 1: Setup', '### Subsection', '- [ ] T001 a', '## T002 — heading task', '- [ ] T003 b', '# Appendix', '- [ ] T004 c', '## Phase 2: Build', '- [ ] T005 d'),
    );
    expect(plan.tasks.map((t) => [t.id, t.phase])).toEqual([
      ['T000', null],
      ['T001', 'Phase 1: Setup'],
      ['T002', 'Phase 1: Setup'],
      ['T003', 'Phase 1: Setup'],
      ['T004', 'Phase 1: Setup'],
      ['T005', 'Phase 2: Build'],
    ]);
  });

  it('gives a phase heading mode to tasks without their own', () => {
    const plan = parse(
      md(
        '## Phase 1: Setup (SYNC — Human Review Required)',
        '- [ ] T001 unmarked',
        '## Phase 2: Indexers (ASYNC)',
        '- [ ] T002 unmarked',
        '- [ ] T003 [SYNC] own marker wins',
        '## Phase 3: Wiring [ASYNC]',
        '- [ ] T004 unmarked',
        '## SYNC/ASYNC Summary',
        '- [ ] T005 unmarked, no phase mode',
      ),
    );
    expect(plan.tasks.map((t) => [t.id, t.mode])).toEqual([
      ['T001', 'sync'],
      ['T002', 'async'],
      ['T003', 'sync'],
      ['T004', 'async'],
      ['T005', null],
    ]);
    expect(plan.dispatch).toEqual(['T002', 'T004']);
  });

  it('does not take a phase mode from inline code in the heading (`## Format: `[ID] [ASYNC] …``)', () => {
    const plan = parse(md('## Format: `[ID] [P?] [ASYNC] [Story] Description`', '- [ ] T001 example', '## Phase 2 `(ASYNC)` docs', '- [ ] T002 example'));
    expect(plan.tasks.map((t) => [t.id, t.mode, t.phase])).toEqual([
      ['T001', null, 'Format: `[ID] [P?] [ASYNC] [Story] Description`'],
      ['T002', null, 'Phase 2 `(ASYNC)` docs'],
    ]);
    expect(plan.dispatch).toEqual([]);
  });

  it('ignores YAML front matter (it is not a level-2 heading)', () => {
    const plan = parse(md('---', 'description: "template"', '---', '', '- [ ] T001 x'));
    expect(only(plan)).toMatchObject({ phase: null, line: 5 });
  });

  it('keeps a file that merely opens with a `---` rule', () => {
    const plan = parse(md('---', '', '## Phase 1', '', '- [ ] T001 x', '', '---', '', '## Phase 2', '- [ ] T002 y'));
    expect(plan.tasks.map((t) => [t.id, t.phase])).toEqual([
      ['T001', 'Phase 1'],
      ['T002', 'Phase 2'],
    ]);
  });
});

describe('details, nested items, dependencies and files', () => {
  const plan = parse(
    md(
      '## Phase 1',
      '',
      '- [ ] T001 [ASYNC] Build the indexer in `src/index/build.ts`',
      '  wrapped continuation line',
      '  - [ ] an ID-less sub-checkbox',
      '  - depends on T002, T003 and T004',
      '  - see `https://example.com/x.ts` and run `npm run build`',
      '  - [x] T001.1 [ASYNC] nested task with `src/index/part.ts`, depends on T009',
      '- [ ] T002 [SYNC] other',
    ),
  );

  it('keeps the whole item as details: wrapped lines and nested bullets, dedented', () => {
    const t1 = plan.tasks[0]!;
    expect(t1.title).toBe('Build the indexer in `src/index/build.ts` wrapped continuation line');
    expect(t1.details).toBe(
      [
        '- [ ] T001 [ASYNC] Build the indexer in `src/index/build.ts`',
        '  wrapped continuation line',
        '  - [ ] an ID-less sub-checkbox',
        '  - depends on T002, T003 and T004',
        '  - see `https://example.com/x.ts` and run `npm run build`',
        '  - [x] T001.1 [ASYNC] nested task with `src/index/part.ts`, depends on T009',
      ].join('\n'),
    );
  });

  it('makes nested items with IDs tasks of their own, ID-less checkboxes not', () => {
    expect(plan.tasks.map((t) => [t.id, t.line, t.status])).toEqual([
      ['T001', 3, 'open'],
      ['T001.1', 8, 'done'],
      ['T002', 9, 'open'],
    ]);
    expect(plan.tasks[1]!.details).toBe('- [x] T001.1 [ASYNC] nested task with `src/index/part.ts`, depends on T009');
  });

  it('reads "depends on" anywhere in the task\'s own text, not in nested tasks', () => {
    expect(plan.tasks[0]!.dependsOn).toEqual(['T002', 'T003', 'T004']);
    expect(plan.tasks[1]!.dependsOn).toEqual(['T009']);
  });

  it('collects backticked paths (not URLs or commands) as files', () => {
    expect(plan.tasks[0]!.files).toEqual(['src/index/build.ts']);
    expect(plan.tasks[1]!.files).toEqual(['src/index/part.ts']);
  });

  it('warns about dependencies on IDs that are not in the file (and, for a dispatched task, on a [SYNC] one)', () => {
    expect(plan.warnings).toEqual([
      { line: 3, message: 'T001 depends on T003, which is not a task in this file' },
      { line: 3, message: 'T001 depends on T004, which is not a task in this file' },
      { line: 3, message: expect.stringMatching(/^T001 depends on T002, which is \[SYNC\]/) },
      { line: 8, message: 'T001.1 depends on T009, which is not a task in this file' },
    ]);
  });

  it('reads "**Depends on**: T001, T002" metadata lines and ignores self references', () => {
    const t = parse(md('### T003 Wire it (ASYNC)', '**Depends on**: T001, T003 & T002', '', '- [x] T001 a', '- [x] T002 b')).tasks[0]!;
    expect(t.dependsOn).toEqual(['T001', 'T002']);
  });
});

describe('dispatch', () => {
  it('is the open [ASYNC] tasks in file order; done, skipped, [SYNC] and unmarked tasks stay out', () => {
    const plan = parse(
      md('- [ ] T001 [ASYNC] a', '- [x] T002 [ASYNC] done', '- [ ] ~~T003~~ [ASYNC] skipped', '- [ ] T004 [SYNC] sync', '- [ ] T005 unmarked', '- [ ] T006 [ASYNC] b'),
    );
    expect(plan.dispatch).toEqual(['T001', 'T006']);
    expect(plan.tasks.map((t) => t.branch)).toEqual(['specs/001-demo/T001-async', null, null, null, null, 'specs/001-demo/T006-async']);
  });

  it('moves a task after the dispatched tasks it depends on, otherwise keeps file order', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a (depends on T003)', '- [ ] T002 [ASYNC] b', '- [ ] T003 [ASYNC] c (depends on T004)', '- [ ] T004 [ASYNC] d'));
    expect(plan.dispatch).toEqual(['T002', 'T004', 'T003', 'T001']);
  });

  it('does not let dependencies on non-dispatched tasks block or reorder (they stay in dependsOn)', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a, depends on T002 and T003', '- [ ] T002 [SYNC] human', '- [x] T003 [ASYNC] done', '- [ ] T004 [ASYNC] d'));
    expect(plan.dispatch).toEqual(['T001', 'T004']);
    expect(plan.tasks[0]!.dependsOn).toEqual(['T002', 'T003']);
  });

  it('follows branchPattern placeholders {feature}, {taskId}, {taskIdLower}', () => {
    const plan = parse(md('- [ ] T001a [ASYNC] x'), 'agents/{feature}/{taskIdLower}-{taskId}');
    expect(plan.tasks[0]!.branch).toBe('agents/001-demo/t001a-T001a');
  });

  it('warns (does not fail) when a non-dispatched ID repeats', () => {
    const plan = parse(md('- [x] T001 [ASYNC] first', '- [ ] T001 [ASYNC] second', '- [ ] T002 [SYNC] a', '- [ ] T002 [SYNC] b'));
    expect(plan.dispatch).toEqual(['T001']);
    expect(plan.warnings).toEqual([
      { line: 2, message: 'T001 is used again (first at line 1); IDs should be unique; "depends on T001" means the dispatched one at line 2' },
      { line: 4, message: 'T002 is used again (first at line 3); IDs should be unique' },
    ]);
  });
});

describe('input handling', () => {
  it('counts lines the same with CRLF endings and a BOM', () => {
    const plan = parse('\uFEFF# Tasks\r\n\r\n## Phase 1\r\n- [ ] T001 [ASYNC] a\r\n- [ ] T002 [ASYNC] b\r\n');
    expect(plan.tasks.map((t) => [t.id, t.line, t.phase])).toEqual([
      ['T001', 4, 'Phase 1'],
      ['T002', 5, 'Phase 1'],
    ]);
  });

  it('is deterministic: the same text gives the same plan, and the input plan is not shared', () => {
    const text = md('## P (ASYNC)', '- [ ] T001 a (depends on T002)', '- [ ] T002 b', '- [x] T002 again');
    const a = parse(text);
    const b = parse(text);
    expect(a).toEqual(b);
    expect(a.tasks[0]).not.toBe(b.tasks[0]);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });
});

describe('scale', () => {
  it('parses a 4 MB file of 40,000 tasks whose dependencies reverse the file order in seconds', () => {
    const lines = ['## Phase 1 (ASYNC)'];
    const count = 40_000;
    for (let i = 1; i <= count; i++) {
      lines.push(`- [ ] T${i} [P] Build part ${i} in \`src/part-${i}.ts\`${i < count ? ` (depends on T${i + 1})` : ''} with a few more words of text`);
    }
    const text = lines.join('\n');
    expect(text.length).toBeGreaterThan(4_000_000);
    const started = Date.now();
    const plan = parse(text);
    const elapsed = Date.now() - started;
    expect(plan.dispatch).toHaveLength(count);
    expect(plan.dispatch[0]).toBe(`T${count}`);
    expect(plan.dispatch[count - 1]).toBe('T1');
    // eslint-disable-next-line no-console
    console.log(`[tasks] ${count} tasks, ${(text.length / 1e6).toFixed(1)} MB parsed in ${elapsed} ms`);
    expect(elapsed).toBeLessThan(20_000);
  });
});

describe('contract probes (issue 2 §2)', () => {
  it('keeps checkbox-less items that repeat an ID but carry their own markers, so two dispatched tasks with one ID are an error', () => {
    for (const text of [md('- T001 [ASYNC] a', '- T001 [ASYNC] b'), md('- [ ] T001 [ASYNC] a', '- T001 [ASYNC] b'), md('- **T-001**: [ASYNC] a', '- **T-001**: [ASYNC] b')]) {
      const plan = parse(text);
      expect(plan.tasks.map((t) => t.line)).toEqual([1, 2]);
      expect(plan.dispatch).toEqual([]);
      expect(plan.errors).toEqual([expect.objectContaining({ lines: [1, 2], problem: expect.stringContaining('same ID') })]);
    }
  });

  it('still drops notes that mention a task with a marker mid-sentence ("- T002 and T003 are [SYNC] because …")', () => {
    const plan = parse(md('- [ ] T002 [ASYNC] a', '- [ ] T003 [ASYNC] b', '', '## Notes', '- T002 and T003 are [SYNC] because they need a human'));
    expect(plan.tasks.map((t) => t.line)).toEqual([1, 2]);
  });
});

describe('depends on: list forms a spec-kit user writes', () => {
  const deps = (text: string) => parse(text).tasks[0]!.dependsOn;
  const rest = ['- [ ] T002 [SYNC] b', '- [ ] T003 [SYNC] c', '- [ ] T004 [SYNC] d'];

  it('reads "T002, T003, and T004" (serial comma)', () => {
    expect(deps(md('- [ ] T001 [ASYNC] a, depends on T002, T003, and T004', ...rest))).toEqual(['T002', 'T003', 'T004']);
    expect(deps(md('- [ ] T001 [ASYNC] a (Depends on: T002, and T003)', ...rest))).toEqual(['T002', 'T003']);
  });

  it('expands a range "T002-T004" / "T002–T004" to the tasks from one end to the other in file order', () => {
    expect(deps(md('- [ ] T001 [ASYNC] a, depends on T002-T004', ...rest))).toEqual(['T002', 'T003', 'T004']);
    expect(deps(md('- [ ] T001 [ASYNC] a, depends on T002–T003 and T004', ...rest))).toEqual(['T002', 'T003', 'T004']);
    // An end that is not a task in the file: only the ends, and the unknown one is warned about.
    expect(deps(md('- [ ] T001 [ASYNC] a, depends on T002-T009', ...rest))).toEqual(['T002', 'T009']);
    // An em dash is a clause break, not a range.
    expect(deps(md('- [ ] T001 [ASYNC] a (depends on T002 — T004 does the rest)', ...rest))).toEqual(['T002']);
  });
});

describe('stories and files: nothing the user wrote is lost', () => {
  it('keeps a second story marker as a label (the first is the story)', () => {
    expect(only(parse(md('- [ ] T001 [US3] [USX] [P] shared by two stories')))).toMatchObject({ story: 'US3', labels: ['USX'], parallel: true });
  });

  it('counts non-ASCII paths and well-known extensionless files (Dockerfile, Makefile) as files', () => {
    const t = only(parse(md('- [ ] T001 [ASYNC] Update `docs/功能说明.md`, `Dockerfile`, `docker/Dockerfile`, `Makefile` and `src/módulo.py`; run `make build`')));
    expect(t.files).toEqual(['docs/功能说明.md', 'Dockerfile', 'docker/Dockerfile', 'Makefile', 'src/módulo.py']);
  });
});

describe('task heads: what is left for the title and status', () => {
  it.each([
    ['- [ ] T001. Build it', 'Build it'],
    ['- [ ] T001) Build it', 'Build it'],
    ['- [ ] T001: Build it', 'Build it'],
    ['- [ ] T001 — Build it', 'Build it'],
    ['- [ ] T001 [ASYNC]. Build it', 'Build it'],
  ])('%s → title %s', (line, title) => {
    expect(only(parse(md(line))).title).toBe(title);
  });

  it.each(['✓', '✔', '✔️', '☑️'])('%s before the ID means done', (mark) => {
    expect(only(parse(md(`- ${mark} T001 x`))).status).toBe('done');
  });
});

describe('mode and dependency wording', () => {
  it('reads a phase mode written in capitals with words after it: (SYNC Human Review Required), [ASYNC agents]', () => {
    const plan = parse(md('## Phase 1: Setup (SYNC Human Review Required)', '- [ ] T001 a', '## Phase 2: Build [ASYNC agents]', '- [ ] T002 b', '## Phase 3: Async work (Async processing of uploads)', '- [ ] T003 c'));
    expect(plan.tasks.map((t) => t.mode)).toEqual(['sync', 'async', null]);
  });

  it('does not read "does not depend on T002" / "doesn\'t depend on T002" as a dependency', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a; does not depend on T002', '- [ ] T003 [ASYNC] c; doesn\'t depend on T002, but depends on T004', '- [ ] T002 [ASYNC] b', '- [ ] T004 [ASYNC] d'));
    expect(plan.tasks.map((t) => t.dependsOn)).toEqual([[], ['T004'], [], []]);
  });
});

describe('checkbox-less files', () => {
  it('reports two bare items with one ID in an (ASYNC) phase as duplicate dispatched tasks, not a task and a note', () => {
    const plan = parse(md('## Phase 1 (ASYNC)', '- T001 Build a', '- T001 Build b'));
    expect(plan.tasks.map((t) => t.line)).toEqual([2, 3]);
    expect(plan.errors).toEqual([expect.objectContaining({ lines: [2, 3], problem: expect.stringContaining('same ID T001') })]);
  });

  it('still treats a bare repeat of a checkbox task as a note, even in an (ASYNC) phase', () => {
    const plan = parse(md('## Phase 1 (ASYNC)', '- [ ] T001 Build a', '- [ ] T002 Build b', '- T001 must finish before T002'));
    expect(plan.tasks.map((t) => t.line)).toEqual([2, 3]);
    expect(plan.dispatch).toEqual(['T001', 'T002']);
  });
});
