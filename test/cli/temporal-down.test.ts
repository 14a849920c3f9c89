/**
 * Temporal itself going away while `watch` follows a run (issue 11): the follower says it is reconnecting,
 * and past its bound (SDLC_TEMPORAL_UNREACHABLE_SECONDS, 60 s; 3 s here) exits 3 — Temporal unreachable —
 * instead of polling forever. Its own dev server, so stopping it touches no other suite.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { eventually, startWorker, testEnv, type RunningWorker } from '../support/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CLI } from '../integration/support/cli';
import { FAST, tasksMarkdown } from '../workflows/harness';

let server: DevServer;
let env: TestWorkflowEnvironment;
let worker: RunningWorker;

beforeAll(async () => {
  server = await startDevServer({ headless: true });
  env = await testEnv(server.address);
  const git = new MemoryGit();
  worker = await startWorker({ kubernetes: new MemoryKubernetesGateway(() => ({ hang: true }), git), git }, { address: server.address, shutdownGraceTime: '1s' });
}, 60_000);

afterAll(async () => {
  await worker?.stop().catch(() => undefined);
  await server?.stop().catch(() => undefined);
});

test('watch: Temporal stops answering → "reconnecting…", then exit 3 within the bound; the message says the run goes on', async () => {
  const feature = `down-${randomUUID().slice(0, 6)}`;
  const handle = await env.client.workflow.start('implementFeature', {
    taskQueue: worker.taskQueue,
    workflowId: `sdlc-${feature}`,
    args: [{ repository: { url: 'https://git.example.test/acme/app.git', baseBranch: 'main' }, feature: { name: feature, dir: `specs/${feature}` }, tasksFile: `specs/${feature}/tasks.md`, tasksMarkdown: tasksMarkdown(1), options: FAST }],
  });
  const child = spawn(process.execPath, [CLI, 'watch', handle.workflowId], {
    env: { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_TASK_QUEUE: worker.taskQueue, SDLC_TEMPORAL_UNREACHABLE_SECONDS: '3', SDLC_QUERY_TIMEOUT_SECONDS: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await eventually(() => /^task T001 started /m.test(out), 'watch following the run', 30_000);
  // The worker first, while the server still answers (a worker left polling a dead server keeps retrying in
  // this test process); then Temporal itself goes away.
  await worker.stop();
  const stopped = Date.now();
  await server.stop();
  const code = await exited;
  const tookMs = Date.now() - stopped;
  expect({ code, err: err.trim() }).toEqual({ code: 3, err: expect.stringMatching(/Temporal did not answer for 3s; the run goes on in Temporal\. Attach again with 'sdlc-runner watch sdlc-down-\w+' once it is reachable$/) });
  expect(out).toMatch(/^Temporal is not answering; reconnecting… \(giving up after 3s; the run goes on\)$/m);
  // The bound, plus the probes' own time-outs, not forever.
  expect(tookMs).toBeLessThan(30_000);
});
