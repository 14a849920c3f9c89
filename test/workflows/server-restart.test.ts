/**
 * A Temporal server restarted mid-run (its SQLite state kept): the run carries on and completes,
 * every task once, with no second pod.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { freePort } from '../../src/util/free-port';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { eventually, startWorker, testEnv } from '../support/temporal';
import { FAST, REPO, tasksMarkdown } from './harness';
import type { RunSummary } from '../../workflows/types';

test('a restarted Temporal server loses no result and creates no second pod', async () => {
  const port = await freePort();
  const db = path.join(mkdtempSync(path.join(os.tmpdir(), 'sdlc-restart-')), 'temporal.db');
  let server: DevServer = await startDevServer({ port, headless: true, dbFilename: db });
  const address = server.address;
  const git = new MemoryGit();
  const k8s = new MemoryKubernetesGateway(() => ({ lines: Array.from({ length: 30 }, (_, i) => `step ${i}`), lineIntervalMs: 100 }), git);
  const worker = await startWorker({ kubernetes: k8s, git }, { address });
  const env = await testEnv(address);
  try {
    const handle = await env.client.workflow.start('implementFeature', {
      taskQueue: worker.taskQueue,
      workflowId: 'sdlc-test-server-restart',
      args: [{ repository: REPO, feature: { name: '020-restart', dir: 'specs/020-restart' }, tasksFile: 'specs/020-restart/tasks.md', tasksMarkdown: tasksMarkdown(3), options: { ...FAST, maxParallel: 3 } }],
    });
    await eventually(() => k8s.alive === 3, 'three pods running');
    await server.stop();
    await new Promise((r) => setTimeout(r, 1000));
    server = await startDevServer({ port, headless: true, dbFilename: db });
    const summary = (await handle.result()) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(summary.counts.succeeded).toBe(3);
    expect(k8s.created).toHaveLength(3);
    expect(await k8s.waitAllGone()).toBe(true);
  } finally {
    await worker.stop();
    await env.teardown();
    await server.stop();
  }
});
