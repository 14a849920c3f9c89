/**
 * The run is readable without a worker (issue 11): a state query needs a worker, even for a finished run,
 * so with every worker stopped `status` and `watch` show what Temporal itself keeps (the run's memo and
 * search attributes, each task's status from its task workflow) and say that the worker is down.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { harness, tasksMarkdown, type Harness } from '../workflows/harness';
import { eventually } from '../support/temporal';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { CLI, runCli } from '../integration/support/cli';

let h: Harness;
let handle: WorkflowHandle;
// A short answer bound keeps the test quick; the default is 15 s.
const env = () => ({ TEMPORAL_TASK_QUEUE: h.worker.taskQueue, SDLC_QUERY_TIMEOUT_SECONDS: '2' });

beforeAll(async () => {
  h = await harness((req) => (req.name.includes('-t002-') ? { hang: true } : {}));
  handle = await h.start(tasksMarkdown(2), { decisionTimeoutSeconds: 600 });
  await eventually(async () => {
    const s = await h.state(handle);
    return s.tasks[0]!.status === 'succeeded' && s.tasks[1]!.status === 'running';
  }, 'T001 done, T002 running');
  await h.worker.stop();
});

afterAll(async () => {
  await handle?.terminate('test over').catch(() => undefined);
  await h?.close();
});

test('status with the worker stopped: the last state Temporal keeps, and that the worker is down (exit 0, within the bound)', async () => {
  const t0 = Date.now();
  const r = await runCli(['status', handle.workflowId], { env: env() });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(new RegExp(`^no worker answered for task queue ${h.worker.taskQueue} within 2s \\(last poll \\S+\\): the worker is down; showing the run as Temporal keeps it`));
  expect(lines[1]).toMatch(new RegExp(`^run ${handle.workflowId}  feature=\\S+  status=running`));
  expect(r.stdout).toMatch(/^T001\s+succeeded\s+1\s+specs\/\S+\/T001-async\s/m);
  expect(r.stdout).toMatch(/^T002\s+running\s+1\s+specs\/\S+\/T002-async\s/m);
  expect(Date.now() - t0).toBeLessThan(15_000);
  const json = JSON.parse((await runCli(['status', handle.workflowId, '--json'], { env: env() })).stdout);
  expect(json.worker.up).toBe(false);
  expect(json.tasks.map((t: { id: string; status: string }) => [t.id, t.status])).toEqual([
    ['T001', 'succeeded'],
    ['T002', 'running'],
  ]);
});

test('watch with the worker stopped says so once, with the tasks as Temporal keeps them, and keeps waiting (Ctrl-C: 130)', async () => {
  const child = spawn(process.execPath, [CLI, 'watch', handle.workflowId], { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  await eventually(() => out.split('\n').length > 3, 'the worker-down notice and the tasks', 30_000);
  child.kill('SIGINT');
  expect(await closed).toBe(130);
  const lines = out.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^no worker answered for task queue \S+ within 2s .*the worker is down; .*; waiting for one$/);
  expect(lines.slice(1, 3)).toEqual([expect.stringMatching(/^ {2}T001 succeeded attempt=1 branch=\S+$/), expect.stringMatching(/^ {2}T002 running attempt=1 branch=\S+$/)]);
  expect(lines.filter((l) => l.startsWith('no worker answered'))).toHaveLength(1);
});

test('the live table (a terminal) with the worker stopped: the same notice above a frame of the tasks as Temporal keeps them', async () => {
  // The poll's answer bound is read when the module loads: load the live view with the test's short bound.
  process.env.SDLC_QUERY_TIMEOUT_SECONDS = '2';
  let liveView!: typeof import('../../src/cli/live-view').liveView;
  jest.isolateModules(() => {
    ({ liveView } = require('../../src/cli/live-view') as typeof import('../../src/cli/live-view'));
  });
  delete process.env.SDLC_QUERY_TIMEOUT_SECONDS;
  let screen = '';
  const out = Object.assign(new Writable({ write: (chunk, _enc, done) => ((screen += String(chunk)), done()) }), { columns: 120 });
  const stop = new AbortController();
  const viewing = liveView(h.env.client, handle.workflowId, { out, signal: stop.signal, pollMs: 200 });
  await eventually(() => /T002\s+running/.test(screen), 'a frame with the kept tasks', 30_000);
  stop.abort();
  await viewing;
  // eslint-disable-next-line no-control-regex
  const text = screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  expect(text).toMatch(new RegExp(`no worker answered for task queue ${h.worker.taskQueue} within 2s \\(last poll \\S+\\): the worker is down; .*; waiting for one\n`));
  expect(text).toMatch(new RegExp(`run ${handle.workflowId}  running`));
  expect(text).toMatch(/T001\s+succeeded\s+1/);
  expect(text.match(/no worker answered/g)).toHaveLength(1);
});

test.each([
  ['retry', ['retry', '--task', 'T001'], 'retry'],
  ['cancel --task', ['cancel', '--task', 'T002'], 'cancel'],
  ['parallel', ['parallel', '3'], 'change maxParallel'],
])('%s with the worker stopped: one line saying a change needs a worker, exit 3, within the bound', async (_name, args, what) => {
  const t0 = Date.now();
  const r = await runCli([args[0]!, handle.workflowId, ...args.slice(1)], { env: env() });
  expect(r.code).toBe(3);
  expect(r.stderr.trimEnd().split('\n')).toEqual([
    expect.stringMatching(new RegExp(`^sdlc-runner: cannot ${what} in ${handle.workflowId}: no worker answered for task queue ${h.worker.taskQueue} within 2s \\(last poll \\S+\\)\\. A change needs a running worker: start one \\(sdlc-runner worker\\), then try again$`)),
  ]);
  expect(Date.now() - t0).toBeLessThan(15_000);
});

// Last: it ends the run the tests above read.
test('cancelling the whole run needs no worker: Temporal records it, and the CLI says when it takes effect', async () => {
  const r = await runCli(['cancel', handle.workflowId], { env: env() });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toBe(`cancel of run ${handle.workflowId} recorded; no worker is running, so its tasks are cancelled and their pods deleted once one is (sdlc-runner worker)\n`);
  const desc = await handle.describe();
  expect(desc.status.name).toBe('RUNNING'); // nothing acts on it until a worker is back
});
