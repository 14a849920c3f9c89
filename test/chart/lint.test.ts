import { readdirSync } from 'node:fs';
import path from 'node:path';
import { CHART_DIR, ENVIRONMENTS, buildReleaseCopies, helm, releaseName, releaseNamespace, type ReleaseCopies } from './helm';

const scenarios = readdirSync(path.join(CHART_DIR, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort();

describe('helm lint --strict', () => {
  let copies: ReleaseCopies;
  beforeAll(async () => {
    copies = await buildReleaseCopies();
  });
  afterAll(() => copies?.cleanup());

  it('has several ci/*-values.yaml scenarios', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(4);
  });

  it.each(scenarios)('the chart passes with ci/%s', async (file) => {
    const r = await helm(['lint', '--strict', CHART_DIR, '--namespace', 'sdlc', '--values', path.join(CHART_DIR, 'ci', file)]);
    expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.code).toBe(0);
  });

  it.each(ENVIRONMENTS)('the %s release passes (after helm dependency build of its file:// dependency)', async (env) => {
    const r = await helm(['lint', '--strict', copies.dirs[env], '--namespace', releaseNamespace(env)]);
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.code).toBe(0);
    // The release really carries the chart: its rendering has the worker Deployment.
    const t = await helm(['template', releaseName(env), copies.dirs[env], '--namespace', releaseNamespace(env)]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain(`name: ${releaseName(env)}-worker`);
  });
});
