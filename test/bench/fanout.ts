/**
 * Benchmark: how fast one worker fans out N tasks through the real Temporal dev server, with the
 * in-memory cluster (so it measures the workflow/activity machinery, not pods). Prints numbers and
 * the machine; run with `npm run bench:fanout -- [tasks] [maxParallel]`.
 */
import os from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { startDevServer } from '../../src/temporal/dev-server';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker } from '../support/temporal';
import type { RunSummary } from '../../workflows/types';

async function run(): Promise<void> {
  const tasks = Number(process.argv[2] ?? 100);
  const maxParallel = Number(process.argv[3] ?? 20);
  const t0 = Date.now();
  const server = await startDevServer({ headless: true });
  const serverMs = Date.now() - t0;
  process.env.TEMPORAL_ADDRESS = server.address;
  const git = new MemoryGit();
  const k8s = new MemoryKubernetesGateway(() => ({ lines: ['working', 'done'], runMs: 50 }), git);
  const worker = await startWorker({ kubernetes: k8s, git });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const md = ['# Tasks', '', '## Phase 1', '', ...Array.from({ length: tasks }, (_, i) => `- [ ] T${String(i + 1).padStart(4, '0')} [ASYNC] task ${i + 1}`)].join('\n');
  const started = Date.now();
  const handle = await client.workflow.start('implementFeature', {
    taskQueue: worker.taskQueue,
    workflowId: `bench-${Date.now()}`,
    args: [{ repository: { url: 'https://git.example.test/bench.git', baseBranch: 'main' }, feature: { name: 'bench', dir: 'specs/bench' }, tasksFile: 'specs/bench/tasks.md', tasksMarkdown: md, options: { maxParallel, keepFailedPodsSeconds: 0 } }],
  });
  const summary = (await handle.result()) as RunSummary;
  const wallMs = Date.now() - started;
  const desc = await handle.describe();
  console.log(JSON.stringify({
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` },
    tasks,
    maxParallel,
    devServerStartMs: serverMs,
    runWallMs: wallMs,
    tasksPerSecond: Number((tasks / (wallMs / 1000)).toFixed(2)),
    succeeded: summary.counts.succeeded,
    maxPodsAlive: k8s.maxAlive,
    parentHistoryLength: desc.historyLength,
  }, null, 2));
  await connection.close();
  await worker.stop();
  await server.stop();
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
