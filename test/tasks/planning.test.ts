import { execFileSync } from 'node:child_process';
import { formatPlanTable } from '../../src/tasks/format';
import { parseTasksMarkdown } from '../../src/tasks/parse';
import { refNameProblem } from '../../src/tasks/ref-name';
import type { ParseOptions, Task, TaskPlan } from '../../src/tasks/types';

/**
 * What the planner adds on top of reading tasks.md: order between tasks that change the same files,
 * what the session must know about dependencies that are not dispatched, and branch names git can use.
 */
const parse = (text: string, opts: Partial<ParseOptions> = {}): TaskPlan =>
  parseTasksMarkdown(text, { file: 'specs/001-demo/tasks.md', feature: '001-demo', ...opts });
const md = (...lines: string[]) => lines.join('\n') + '\n';
const edges = (plan: TaskPlan) => Object.fromEntries(plan.tasks.filter((t) => t.orderedAfter.length > 0).map((t) => [t.id, t.orderedAfter]));
const byId = (plan: TaskPlan, id: string): Task => plan.tasks.find((t) => t.id === id)!;

describe('file overlap orders dispatched tasks (fileOverlap: serialize, the default)', () => {
  it('orders the later of two tasks naming the same file after the earlier; dependsOn stays as written', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] Create `src/models/user.ts`', '- [ ] T002 [ASYNC] Add validation to `src/models/user.ts`'));
    expect(edges(plan)).toEqual({ T002: [{ id: 'T001', files: ['src/models/user.ts'] }] });
    expect(plan.tasks.map((t) => t.dependsOn)).toEqual([[], []]);
    expect(byId(plan, 'T001').orderedAfter).toEqual([]);
    expect(plan.errors).toEqual([]);
  });

  it('is honoured by dispatch exactly like dependsOn', () => {
    // T001 waits for T003 (written); T002 shares T001's file, so it now waits for T001 too.
    const text = md('- [ ] T001 [ASYNC] a `src/a.ts` (depends on T003)', '- [ ] T002 [ASYNC] b `src/a.ts`', '- [ ] T003 [ASYNC] c `src/c.ts`');
    expect(parse(text).dispatch).toEqual(['T003', 'T001', 'T002']);
    expect(parse(text, { fileOverlap: 'ignore' }).dispatch).toEqual(['T002', 'T003', 'T001']);
  });

  it('treats ./src/a.ts and src/a.ts as one file, and records the path as the later task wrote it', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a `src/a.ts`', '- [ ] T002 [ASYNC] b `./src/a.ts`'));
    expect(edges(plan)).toEqual({ T002: [{ id: 'T001', files: ['./src/a.ts'] }] });
  });

  it('lets a directory (ending in /) overlap every path under it, both ways, naming the file both change', () => {
    const plan = parse(
      md(
        '- [ ] T001 [ASYNC] a `src/models/user.ts`',
        '- [ ] T002 [ASYNC] b `src/models/order.ts`',
        '- [ ] T003 [ASYNC] document everything in `src/models/`',
        '- [ ] T004 [ASYNC] c `src/models/order.ts`',
        '- [ ] T005 [ASYNC] d `src/modelsX/a.ts` and `src/model.ts`',
      ),
    );
    expect(edges(plan)).toEqual({
      // A directory after two files in it: it must wait for both (they are not ordered with each other).
      T003: [
        { id: 'T002', files: ['src/models/order.ts'] },
        { id: 'T001', files: ['src/models/user.ts'] },
      ],
      // A file after the directory: the nearest is enough, T002 is already before T003.
      T004: [{ id: 'T003', files: ['src/models/order.ts'] }],
    });
  });

  it('chains the tasks on one file (A → B → C), not every pair', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a `x.ts`', '- [ ] T002 [ASYNC] b `x.ts`', '- [ ] T003 [ASYNC] c `x.ts`', '- [ ] T004 [ASYNC] d `x.ts` `y.ts`', '- [ ] T005 [ASYNC] e `y.ts`'));
    expect(edges(plan)).toEqual({
      T002: [{ id: 'T001', files: ['x.ts'] }],
      T003: [{ id: 'T002', files: ['x.ts'] }],
      T004: [{ id: 'T003', files: ['x.ts'] }],
      T005: [{ id: 'T004', files: ['y.ts'] }],
    });
  });

  it('lists every file an edge is for', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a `a.ts`, `b.ts`, `c.ts`', '- [ ] T002 [ASYNC] b `b.ts`, `a.ts`'));
    expect(edges(plan)).toEqual({ T002: [{ id: 'T001', files: ['b.ts', 'a.ts'] }] });
  });

  it('applies to [P] tasks too: spec-kit defines [P] as "different files"', () => {
    const plan = parse(md('- [ ] T001 [P] [ASYNC] a `src/a.ts`', '- [ ] T002 [P] [ASYNC] b `src/a.ts`'));
    expect(edges(plan)).toEqual({ T002: [{ id: 'T001', files: ['src/a.ts'] }] });
  });

  it('adds nothing when the tasks are already ordered through dependsOn, directly or transitively', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a `x.ts`', '- [ ] T002 [ASYNC] b `y.ts` (depends on T001)', '- [ ] T003 [ASYNC] c `x.ts` (depends on T002)'));
    expect(edges(plan)).toEqual({});
  });

  it('counts the implicit edges already added when deciding whether two tasks are ordered', () => {
    // T003 is after T002 (shared y.ts), T002 after T001 (shared x.ts): T003 is already after T001.
    const plan = parse(md('- [ ] T001 [ASYNC] a `x.ts`', '- [ ] T002 [ASYNC] b `x.ts` `y.ts`', '- [ ] T003 [ASYNC] c `y.ts` `x.ts`'));
    expect(edges(plan)).toEqual({ T002: [{ id: 'T001', files: ['x.ts'] }], T003: [{ id: 'T002', files: ['y.ts', 'x.ts'] }] });
  });

  it('skips a pair whose reverse order exists (the earlier task depends on the later one), so no cycle is made', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a `x.ts` (depends on T003)', '- [ ] T002 [ASYNC] b `x.ts`', '- [ ] T003 [ASYNC] c `x.ts`'));
    // T002 after T001 (nearest); T003 comes before T001 and so before T002: nothing to add.
    expect(edges(plan)).toEqual({ T002: [{ id: 'T001', files: ['x.ts'] }] });
    expect(plan.errors).toEqual([]);
    expect(plan.dispatch).toEqual(['T003', 'T001', 'T002']);
  });

  it('never creates a cycle: random files and acyclic dependencies give no error, every overlapping pair ordered', () => {
    // Park–Miller: stays within exact double arithmetic, so every run draws the same files.
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 48271) % 2147483647;
      return seed % n;
    };
    let implicit = 0;
    const pool = ['a.ts', './a.ts', 'b.ts', 'lib/', 'lib/x.ts', 'lib/y.ts', 'lib/sub/', 'lib/sub/z.ts', 'c.ts'];
    for (let round = 0; round < 200; round++) {
      const count = 2 + random(10);
      // Dependencies follow a random ranking, so they point both ways in the file but never form a cycle.
      const rank = Array.from({ length: count }, () => random(1000));
      const lines = Array.from({ length: count }, (_, i) => {
        const files = Array.from({ length: random(3) }, () => `\`${pool[random(pool.length)]}\``).join(' ');
        const deps = Array.from({ length: count }, (_, j) => j).filter((j) => rank[j]! < rank[i]! && random(4) === 0);
        const mode = random(5) === 0 ? '[SYNC]' : '[ASYNC]';
        return `- [ ] T${String(i + 1).padStart(3, '0')} ${mode} task ${files}${deps.length ? ` (depends on ${deps.map((j) => `T${String(j + 1).padStart(3, '0')}`).join(', ')})` : ''}`;
      });
      const plan = parse(md(...lines));
      expect(plan.errors).toEqual([]);
      const dispatched = plan.tasks.filter((t) => plan.dispatch.includes(t.id));
      const index = new Map(plan.tasks.map((t, i) => [t.id, i]));
      const reaches = (from: Task, to: Task, seen = new Set<Task>()): boolean =>
        from === to ||
        [...from.dependsOn, ...from.orderedAfter.map((e) => e.id)]
          .map((id) => dispatched.find((t) => t.id === id))
          .some((next) => next !== undefined && !seen.has(next) && (seen.add(next), reaches(next, to, seen)));
      const norm = (f: string) => f.replace(/^\.\//, '');
      const overlap = (a: Task, b: Task) =>
        a.files.some((f) => b.files.some((g) => norm(f) === norm(g) || (f.endsWith('/') && norm(g).startsWith(norm(f))) || (g.endsWith('/') && norm(f).startsWith(norm(g)))));
      for (const a of dispatched) {
        implicit += a.orderedAfter.length;
        for (const edge of a.orderedAfter) expect(index.get(edge.id)!).toBeLessThan(index.get(a.id)!);
        for (const b of dispatched) {
          if (a !== b && overlap(a, b)) expect(reaches(a, b) || reaches(b, a)).toBe(true);
        }
      }
    }
    expect(implicit).toBeGreaterThan(100);
  });

  it('leaves tasks that are not dispatched out: they neither wait nor are waited for', () => {
    const plan = parse(md('- [x] T001 [ASYNC] done `x.ts`', '- [ ] T002 [SYNC] human `x.ts`', '- [ ] T003 unmarked `x.ts`', '- [ ] T004 [ASYNC] agent `x.ts`', '- [ ] T005 [SYNC] human `x.ts`'));
    expect(edges(plan)).toEqual({});
  });

  it("fileOverlap: 'ignore' adds no order; orderedAfter is still present, empty", () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a `x.ts`', '- [ ] T002 [ASYNC] b `x.ts`'), { fileOverlap: 'ignore' });
    expect(plan.tasks.map((t) => t.orderedAfter)).toEqual([[], []]);
  });

  it('stays fast when thousands of tasks name one file', () => {
    const count = 10_000;
    const lines = ['## Phase 1 (ASYNC)'];
    for (let i = 1; i <= count; i++) lines.push(`- [ ] T${i} Edit \`src/index.ts\` and \`src/part-${i % 50}.ts\`${i > 3 && i % 7 === 0 ? ` (depends on T${i - 3})` : ''}`);
    const started = Date.now();
    const plan = parse(lines.join('\n'));
    const elapsed = Date.now() - started;
    expect(plan.dispatch).toHaveLength(count);
    expect(plan.tasks.slice(1).every((t, i) => t.orderedAfter[0]?.id === plan.tasks[i]!.id)).toBe(true);
    // eslint-disable-next-line no-console
    console.log(`[tasks] ${count} tasks on one file planned in ${elapsed} ms`);
    expect(elapsed).toBeLessThan(10_000);
  });
});

describe('dependencies on tasks that are not dispatched', () => {
  const plan = parse(
    md(
      '- [x] T001 [SYNC] done already',
      '- [ ] ~~T002~~ [ASYNC] skipped',
      '- [ ] T003 [SYNC] a human does it',
      '- [ ] T004 no mode',
      '- [ ] T005 [ASYNC] agent (depends on T001, T002, T003, T004)',
      '- [ ] T006 [SYNC] human, depends on T003',
    ),
  );

  it("do not block; the dependant's line gets a warning per status that the work is not in its starting branch", () => {
    expect(plan.dispatch).toEqual(['T005']);
    expect(plan.warnings).toEqual([
      { line: 5, message: "T005 depends on T001, which is already done: it must be on the base branch, as its work is not merged into T005's starting branch" },
      {
        line: 5,
        message: "T005 depends on T002, which is skipped (struck through): its work is not merged into T005's starting branch — check that T005 does not need it, or have its work on the base branch before the run",
      },
      { line: 5, message: "T005 depends on T003, which is [SYNC] (done by you, not an agent): its work is not merged into T005's starting branch — have it on the base branch before the run" },
      {
        line: 5,
        message: "T005 depends on T004, which has no [ASYNC]/[SYNC] mode (so it is done by you, not an agent): its work is not merged into T005's starting branch — have it on the base branch before the run",
      },
    ]);
  });

  it('warn only for dispatched dependants (T006 [SYNC] depends on T003 [SYNC]: no warning)', () => {
    expect(plan.warnings.filter((w) => w.line === 6)).toEqual([]);
  });

  it('warn about a dependency that is dispatched under a repeated ID: never', () => {
    const repeated = parse(md('- [x] T001 [SYNC] first', '- [ ] T001 [ASYNC] second', '- [ ] T002 [ASYNC] b (depends on T001)'));
    expect(repeated.warnings.map((w) => w.message)).toEqual([expect.stringContaining('T001 is used again')]);
  });
});

describe('waitsOnAgents: local tasks that need agents first', () => {
  const plan = parse(
    md(
      '- [ ] T001 [ASYNC] agent a',
      '- [ ] T002 [ASYNC] agent b',
      '- [ ] T003 [SYNC] review a and b (depends on T001, T002, T009)',
      '- [ ] T004 unmarked, depends on T002',
      '- [x] T005 [SYNC] done, depends on T001',
      '- [ ] T006 [ASYNC] agent c, depends on T001',
      '- [ ] T007 [SYNC] depends on T003',
    ),
  );

  it('lists, for open tasks the session does, the dispatched tasks they depend on directly', () => {
    expect(plan.tasks.map((t) => [t.id, t.waitsOnAgents])).toEqual([
      ['T001', []],
      ['T002', []],
      ['T003', ['T001', 'T002']],
      ['T004', ['T002']],
      ['T005', []],
      ['T006', []],
      ['T007', []],
    ]);
  });
});

describe('branch names', () => {
  const two = md('- [ ] T001 [ASYNC] a', '- [ ] T002 [SYNC] b', '- [ ] T003 [ASYNC] c');

  it('refuses an unknown placeholder, naming it and the valid ones; nothing is dispatched', () => {
    const plan = parse(two, { branchPattern: 'agents/{feature}/{task}-{Feature}' });
    expect(plan.dispatch).toEqual([]);
    expect(plan.errors).toEqual([
      {
        lines: [],
        problem: 'the branch pattern "agents/{feature}/{task}-{Feature}" has the unknown placeholders {task}, {Feature}',
        hint: "use only {feature}, {taskId}, {taskIdLower} (e.g. --branch-pattern 'specs/{feature}/{taskId}-async')",
      },
    ]);
  });

  it('refuses a pattern without {taskId}/{taskIdLower}: every task would get one branch', () => {
    const plan = parse(two, { branchPattern: 'agents/{feature}' });
    expect(plan.errors).toEqual([
      {
        lines: [],
        problem: 'the branch pattern "agents/{feature}" has no {taskId} or {taskIdLower}, so every task gets the same branch: T001 and T003 would push to "agents/001-demo"',
        hint: "put {taskId} or {taskIdLower} in it (e.g. --branch-pattern 'specs/{feature}/{taskId}-async')",
      },
    ]);
    // Even with nothing to dispatch, the pattern itself is wrong.
    expect(parse(md('- [ ] T001 [SYNC] a'), { branchPattern: 'agents/x' }).errors).toHaveLength(1);
  });

  it('refuses task branches git cannot use, pointing at their lines: a feature folder with a space', () => {
    const plan = parse(two, { feature: '009 my feature' });
    expect(plan.dispatch).toEqual([]);
    expect(plan.tasks.map((t) => t.branch)).toEqual(['specs/009 my feature/T001-async', null, 'specs/009 my feature/T003-async']);
    expect(plan.errors).toEqual([
      {
        lines: [1, 3],
        problem: 'the branch "specs/009 my feature/T001-async" of T001 (and those of T003) is not a valid git branch name: it contains a space',
        hint: 'rename the feature folder "009 my feature" (e.g. "009-my-feature"), or pass --branch-pattern without {feature} (e.g. \'agents/{taskId}\')',
      },
    ]);
    expect(parse(two, { feature: '009 my feature', branchPattern: 'agents/{taskId}' }).errors).toEqual([]);
  });

  it.each([
    ['a pattern', { branchPattern: 'agents..{taskId}' }, 'it contains ".."', 'change the branch pattern "agents..{taskId}"'],
    ['a pattern', { branchPattern: 'agents/{taskId}.lock' }, 'a path component ends with ".lock" ("T001.lock")', 'change the branch pattern'],
    ['a feature', { feature: 'feat:x' }, 'it contains ":"', 'rename the feature folder "feat:x" (e.g. "feat-x")'],
    ['a feature', { feature: '.hidden' }, 'a path component starts with "." (".hidden")', 'rename the feature folder ".hidden" (e.g. "hidden")'],
  ])('names the rule %s breaks and the fix', (_what, opts, rule, fix) => {
    const plan = parse(two, opts);
    expect(plan.errors).toHaveLength(1);
    expect(plan.errors[0]!.lines).toEqual([1, 3]);
    expect(plan.errors[0]!.problem).toContain(`is not a valid git branch name: ${rule}`);
    expect(plan.errors[0]!.hint).toContain(fix);
  });

  it('refuses a task branch that is the base or the integration branch, or one git cannot keep next to them', () => {
    const text = md('- [ ] T001 [ASYNC] a', '- [ ] T002 [ASYNC] b', '- [ ] T003 [ASYNC] c');
    expect(parse(text, { branchPattern: '{taskId}', baseBranch: 'T002' }).errors).toEqual([
      { lines: [2], problem: 'the branch of T002 is "T002", the base branch of the run', hint: expect.stringContaining('a branch of its own') },
    ]);
    expect(parse(text, { branchPattern: 'feat/{taskId}', integrationBranch: 'feat/T003' }).errors).toEqual([
      { lines: [3], problem: 'the branch of T003 is "feat/T003", the integration branch of the run', hint: expect.any(String) },
    ]);
    expect(parse(text, { integrationBranch: 'specs/001-demo' }).errors).toEqual([
      {
        lines: [1, 2, 3],
        problem:
          'the branch "specs/001-demo/T001-async" of T001 (and those of T002 and T003) and the integration branch "specs/001-demo" cannot both exist: git cannot have a branch "a" and a branch "a/…" at once',
        hint: expect.stringContaining('neither above nor under the integration branch "specs/001-demo"'),
      },
    ]);
    expect(parse(text, { branchPattern: '{taskId}', integrationBranch: 'none', baseBranch: 'main' }).errors).toEqual([]);
    expect(parse(text, { baseBranch: 'main', integrationBranch: 'specs/001-demo/integration' }).errors).toEqual([]);
  });

  it('keeps the other errors: a cycle is still reported next to a branch problem', () => {
    const plan = parse(md('- [ ] T001 [ASYNC] a (depends on T002)', '- [ ] T002 [ASYNC] b (depends on T001)'), { feature: 'a b' });
    expect(plan.errors.map((e) => e.problem)).toEqual([expect.stringContaining('cycle'), expect.stringContaining('contains a space')]);
  });
});

describe('refNameProblem: the rules of git check-ref-format --branch', () => {
  const cases: [string, string | undefined][] = [
    ['specs/001-login/T001-async', undefined],
    ['feat/功能/T001', undefined],
    ['a/-b', undefined],
    ['a{b}', undefined],
    ['a./b', undefined],
    ['', 'it is empty'],
    ['@', 'it is "@" (git reads a lone @ as HEAD)'],
    ['HEAD', 'it is "HEAD" (git reserves it for the checked-out commit)'],
    ['-a', 'it starts with "-" (git would read it as an option)'],
    ['/a', 'it starts with "/"'],
    ['a/', 'it ends with "/"'],
    ['a.', 'it ends with "."'],
    ['a//b', 'it contains "//" (an empty path component)'],
    ['a..b', 'it contains ".."'],
    ['a@{b', 'it contains "@{"'],
    ['a b', 'it contains a space'],
    ['a\tb', 'it contains the control character U+0009'],
    ['a\u007fb', 'it contains the control character U+007F'],
    ...[...'~^:?*[\\'].map((c): [string, string] => [`a${c}b`, `it contains "${c}" (git does not allow any of ~ ^ : ? * [ \\)`]),
    ['.a', 'a path component starts with "." (".a")'],
    ['a/.b', 'a path component starts with "." (".b")'],
    ['a.lock', 'a path component ends with ".lock" ("a.lock")'],
    ['a/b.lock/c', 'a path component ends with ".lock" ("b.lock")'],
  ];

  it.each(cases)('%j → %s', (name, problem) => {
    expect(refNameProblem(name)).toBe(problem);
  });

  it('agrees with git itself (except "@", which git accepts as a branch but reads as HEAD elsewhere)', () => {
    for (const [name] of cases) {
      if (name === '' || name === '@') continue;
      let gitAccepts = true;
      try {
        execFileSync('git', ['check-ref-format', '--branch', name], { stdio: 'ignore' });
      } catch {
        gitAccepts = false;
      }
      expect([name, refNameProblem(name) === undefined]).toEqual([name, gitAccepts]);
    }
  });
});

describe('plan table: the order file overlap adds and the tasks waiting on agents', () => {
  it('prints both sections after the dispatch list, with the reason', () => {
    const plan = parse(
      md(
        '- [ ] T004 [ASYNC] Create the model in `src/models/user.ts`',
        '- [ ] T005 [ASYNC] Validate in `src/models/user.ts` and `src/api/users.ts`',
        '- [ ] T006 [ASYNC] Endpoints in `src/api/users.ts`',
        '- [ ] T009 [SYNC] Review the endpoints (depends on T006)',
        '- [ ] T010 Smoke test everything (depends on T005, T006)',
      ),
    );
    expect(formatPlanTable(plan)).toBe(
      [
        'specs/001-demo/tasks.md (feature 001-demo): 5 tasks — 5 open, 0 done, 0 skipped',
        '',
        'ID    STATUS  MODE   P  RUN  PHASE  TITLE',
        'T004  open    async     #1   -      Create the model in `src/models/user.ts`',
        'T005  open    async     #2   -      Validate in `src/models/user.ts` and `src/api/users.ts`',
        'T006  open    async     #3   -      Endpoints in `src/api/users.ts`',
        'T009  open    sync           -      Review the endpoints (depends on T006)',
        'T010  open    -              -      Smoke test everything (depends on T005, T006)',
        '',
        'Dispatch (3): T004, T005, T006',
        '',
        'Ordering (file overlap):',
        '  T005 after T004: both change src/models/user.ts',
        '  T006 after T005: both change src/api/users.ts',
        '',
        'Waiting on agents (do these after their branches exist):',
        '  T009 [SYNC] waits on T006',
        '  T010 (no mode) waits on T005, T006',
        '',
      ].join('\n'),
    );
  });
});
