import { formatPlanTable } from '../../src/tasks/format';
import { parseTasksMarkdown } from '../../src/tasks/parse';
import { parseFixture } from './fixture-support';

describe('formatPlanTable', () => {
  const plan = parseTasksMarkdown(
    [
      '## Phase 1: A rather long phase name that will not fit the column',
      '- [ ] T001 [ASYNC] [P] Build the indexer',
      '- [x] T002 [SYNC] Review the indexer with a very long title that keeps going well past sixty characters',
      '- [ ] ~~T003~~ dropped',
      '- [ ] T004 [ASYNC] Wire it (depends on T001)',
      '- [ ] T004 [SYNC] repeated id',
      '',
    ].join('\n'),
    { file: 'specs/001-demo/tasks.md', feature: '001-demo' },
  );
  const table = formatPlanTable(plan);

  it('prints a summary, one aligned row per task, the dispatch list and the warnings', () => {
    expect(table).toBe(
      [
        'specs/001-demo/tasks.md (feature 001-demo): 5 tasks — 3 open, 1 done, 1 skipped',
        '',
        'ID    STATUS   MODE   P  RUN  PHASE                          TITLE',
        'T001  open     async  P  #1   Phase 1: A rather long phase…  Build the indexer',
        'T002  done     sync           Phase 1: A rather long phase…  Review the indexer with a very long title that keeps going…',
        'T003  skipped  -              Phase 1: A rather long phase…  dropped',
        'T004  open     async     #2   Phase 1: A rather long phase…  Wire it (depends on T001)',
        'T004  open     sync           Phase 1: A rather long phase…  repeated id',
        '',
        'Dispatch (2): T001, T004',
        '',
        'Warnings (1):',
        '  line 6: T004 is used again (first at line 5); IDs should be unique; "depends on T004" means the dispatched one at line 5',
        '',
      ].join('\n'),
    );
  });

  it('uses no colour codes and says so when nothing is dispatched', () => {
    const fixture = formatPlanTable(parseFixture('16_'));
    expect(fixture).not.toMatch(/\u001b\[/);
    expect(fixture).toContain('Dispatch: none (no open task is marked [ASYNC])');
    expect(fixture.split('\n')).toHaveLength(1 + 1 + 1 + 11 + 1 + 1 + 1);
  });
});
