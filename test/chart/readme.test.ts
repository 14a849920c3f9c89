/**
 * The chart README documents every value and cannot drift: each key of values.yaml needs a `# --`
 * description, and README.md's values table must list exactly the keys of values.yaml with the
 * same default and description. On a mismatch the expected table is written to
 * test-output/chart-values-table.md to paste into README.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../src/tools';
import { CHART_DIR } from './helm';
import { TABLE_HEADER, formatRow, readValuesDocs } from './values-doc';

const values = readValuesDocs(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8'));
const readme = readFileSync(path.join(CHART_DIR, 'README.md'), 'utf8');
const readmeRows = readme.split('\n').filter((l) => /^\| `[^`]+` \|/.test(l));
const expectedTable = [TABLE_HEADER, ...values.rows.map(formatRow)].join('\n');

describe('chart README documents every value', () => {
  afterAll(() => {
    const out = path.join(repoRoot, 'test-output');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'chart-values-table.md'), expectedTable + '\n');
  });

  it('every key in values.yaml has a `# --` description', () => {
    expect(values.undocumented).toEqual([]);
    expect(values.rows.length).toBeGreaterThan(50);
  });

  it('README.md has exactly one row per value, with its default and description (see test-output/chart-values-table.md)', () => {
    const documentedKeys = readmeRows.map((l) => /^\| `([^`]+)`/.exec(l)![1]);
    expect(documentedKeys).toEqual(values.rows.map((r) => r.key));
    expect(readmeRows).toEqual(values.rows.map(formatRow));
    expect(readme).toContain(TABLE_HEADER);
  });
});
