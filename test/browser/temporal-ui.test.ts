/**
 * Temporal UI inspection in a real browser: Debian's Chromium driven by playwright-core opens a dev
 * server's UI (this test starts its own, with the UI; the suite's shared one is headless), lists runs
 * by a search attribute (SdlcFeature = "<feature>"), opens the run and sees its task children with
 * their readable summaries. Screenshots are kept under test-output/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { getRunStateQuery } from '../../workflows/definitions';
import { runCli } from '../integration/support/cli';
import { createSampleRepo, ASYNC_TASKS, FEATURE } from '../integration/support/sample-repo';
import { startTestBackend, type TestBackend } from '../integration/support/run-worker';
import { eventually } from '../support/temporal';

const CHROMIUM = '/usr/bin/chromium';
const OUT = path.resolve(__dirname, '../../test-output');

let server: DevServer;
let backend: TestBackend;
let browser: BrowserContext;
let scratch: string;
const savedEnv = { address: process.env.TEMPORAL_ADDRESS, ui: process.env.TEMPORAL_UI_URL };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)`);
  server = await startDevServer({ headless: false });
  // The test backend (worker + client) and the CLI talk to this server, not the suite's headless one.
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_UI_URL = server.uiUrl;
  backend = await startTestBackend({ lineIntervalMs: 200 });
  scratch = mkdtempSync(path.join(os.tmpdir(), 'sdlc-ui-'));
  // A fresh profile per run (persistent context = our own user-data-dir), nothing fetched from the network.
  browser = await chromium.launchPersistentContext(path.join(scratch, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
  mkdirSync(OUT, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await backend?.close();
  await server?.stop();
  process.env.TEMPORAL_ADDRESS = savedEnv.address;
  process.env.TEMPORAL_UI_URL = savedEnv.ui;
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function gotoWhenUp(page: Page, url: string): Promise<void> {
  // The UI server comes up a moment after the frontend answers.
  await eventually(async () => (await page.goto(url, { waitUntil: 'domcontentloaded' }))?.ok(), `Temporal UI at ${url}`, 30_000);
}

test('Temporal UI: find the run by SdlcFeature, open it, see its task children', async () => {
  const repo = createSampleRepo({ parent: scratch, originName: `ui-${randomUUID().slice(0, 6)}` });
  const r = await runCli(['implement', repo.tasksFile], { cwd: repo.dir, env: { ...backend.cliEnv, TEMPORAL_ADDRESS: server.address, SDLC_TEMPORAL_UI_URL: server.uiUrl } });
  expect(r.code).toBe(0);
  const runId = /^run started id=(\S+)/m.exec(r.stdout)![1]!;
  await eventually(async () => (await backend.env.client.workflow.getHandle(runId).query(getRunStateQuery)).status === 'succeeded', 'the run to succeed', 60_000);

  const page = await browser.newPage();
  // 1. Runs by search attribute: the run and its three task workflows carry SdlcFeature.
  const query = `SdlcFeature="${FEATURE}" AND WorkflowType="implementFeature"`;
  await gotoWhenUp(page, `${server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
  const runLink = page.getByRole('link', { name: runId, exact: true }).first();
  await runLink.waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(OUT, 'temporal-ui-runs-by-feature.png'), fullPage: true });

  // 2. Open the run: its task children are listed with readable summaries.
  await runLink.click();
  await page.waitForURL(new RegExp(`/workflows/${encodeURIComponent(runId)}/`), { timeout: 30_000 });
  // Each child shows as its summary ("T002 — <title> (attempt 1)"), not an opaque ID.
  const summaries = {
    T002: 'T002 — Implement `greet(name)` in `src/greet.js` (attempt 1)',
    T003: 'T003 — Implement `farewell(name)` in `src/farewell.js` (attempt 1)',
    T005: 'T005 — Add a README usage section in `docs/usage.md` (attempt 1)',
  };
  await page.getByText(summaries.T002).first().waitFor({ timeout: 30_000 });
  const text = await page.locator('body').innerText();
  expect(ASYNC_TASKS.filter((id) => !text.includes(summaries[id as keyof typeof summaries]))).toEqual([]);
  expect(text).toMatch(/Relationships\s+3/);
  await page.screenshot({ path: path.join(OUT, 'temporal-ui-run.png'), fullPage: true });

  // The Relationships tab lists the three task workflows (the children) by ID.
  await page.locator('[role=tab], a, button', { hasText: 'Relationships' }).first().click();
  // The tab renders after a fetch: wait until all three child rows (type runAgentTask, ID <run>/<task>/<attempt>) are shown.
  const missing = async () => {
    const shown = await page.locator('body').innerText();
    return ASYNC_TASKS.filter((id) => !shown.includes(`${runId}/${id}/1`) || !shown.includes('runAgentTask'));
  };
  await eventually(async () => (await missing()).length === 0, 'the three task children on the Relationships tab', 30_000).catch(() => undefined);
  expect(await missing()).toEqual([]);
  await page.screenshot({ path: path.join(OUT, 'temporal-ui-run-children.png'), fullPage: true });

  // 3. The children by search attribute: SdlcTaskId / SdlcTaskStatus, each with "T00x — title (attempt 1)".
  await page.goto(`${server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`SdlcFeature="${FEATURE}" AND SdlcTaskStatus="succeeded"`)}`);
  for (const id of ASYNC_TASKS) await page.getByRole('link', { name: `${runId}/${id}/1` }).first().waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(OUT, 'temporal-ui-task-children.png'), fullPage: true });
  expect(existsSync(path.join(OUT, 'temporal-ui-run.png'))).toBe(true);
});
