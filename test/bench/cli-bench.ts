/**
 * Benchmark piece: how long the built CLI (`node dist/src/cli/main.js`, what `sdlc-runner` runs)
 * takes from spawn to exit, per command, next to a bare `node -e ''` measured in the same run.
 *
 *   - `node -e ''`: Node's own start, the floor;
 *   - `sdlc-runner --version`: start and argument parsing only (commander prints the version, exit 0);
 *   - `sdlc-runner --help`: the same, and the help printed (exit 0);
 *   - `sdlc-runner plan <fixture> --json`: a real spec-kit tasks.md (the agentic-sdlc template) read,
 *     planned and printed; no Temporal;
 *   - `sdlc-runner status <run>` (when a run ID is given): connect to Temporal, describe the run,
 *     query its state from the worker, print the table.
 *
 * Runnable alone: `node dist/support-build/test/bench/cli-bench.js [--address host:port --run <id>]
 * [--runs n]`; without --address it starts a Temporal dev server, an in-memory worker and a small run
 * of its own to point `status` at. Prints the result as JSON. Needs `npm run build` (dist/).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../src/tools';
import { fixtureDir } from './parser-bench';
import { percentile } from './bench-util';

export interface CliTiming {
  command: string;
  p50Ms: number;
  p95Ms: number;
  runs: number;
  /** The exit code of the measured runs (the same every time, else the measurement throws). */
  exitCode: number;
}

export const CLI = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** A normal-size real tasks.md: the agentic-sdlc fork's template (28 tasks, 19 dispatched). */
export function planFixture(): string {
  return path.join(fixtureDir(), '02_tikalk_agentic-sdlc-spec-kit.md');
}

/** Wall time of one spawn → exit, with its exit code; output is read (so a full pipe never stalls it) and dropped. */
function timeOnce(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, code: code ?? -1, stderr }));
  });
}

async function measure(command: string, args: string[], env: NodeJS.ProcessEnv, runs: number): Promise<CliTiming> {
  const warm = await timeOnce(args, env); // the page cache and V8's code cache warm, as for a user's second call
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { ms, code, stderr } = await timeOnce(args, env);
    if (code !== warm.code) throw new Error(`${command}: exit ${code} after exit ${warm.code} on the warm-up run\n${stderr}`);
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  const round = (ms: number) => Number(ms.toFixed(1));
  return { command, p50Ms: round(percentile(times, 50)), p95Ms: round(percentile(times, 95)), runs, exitCode: warm.code };
}

export async function measureCliStart(opts: { temporalAddress: string; runId?: string; runs?: number }): Promise<CliTiming[]> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first`);
  const runs = opts.runs ?? 10;
  const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: opts.temporalAddress, NO_COLOR: '1' };
  const results: CliTiming[] = [];
  results.push(await measure(`node -e ''`, ['-e', ''], env, runs));
  results.push(await measure('sdlc-runner --version', [CLI, '--version'], env, runs));
  results.push(await measure('sdlc-runner --help', [CLI, '--help'], env, runs));
  const plan = await measure(`sdlc-runner plan ${path.basename(planFixture())} --json`, [CLI, 'plan', planFixture(), '--json'], env, runs);
  if (plan.exitCode !== 0) throw new Error(`sdlc-runner plan exited ${plan.exitCode}`);
  results.push(plan);
  if (opts.runId) {
    const status = await measure('sdlc-runner status <run>', [CLI, 'status', opts.runId], env, runs);
    if (status.exitCode !== 0) throw new Error(`sdlc-runner status ${opts.runId} exited ${status.exitCode}`);
    results.push(status);
  }
  return results;
}

/** Standalone: a dev server, an in-memory worker and a finished 5-task run of our own, unless --address is given. */
async function standalone(argv: string[]): Promise<void> {
  const flag = (name: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const runs = flag('--runs') ? Number(flag('--runs')) : undefined;
  const address = flag('--address');
  if (address) {
    const runId = flag('--run');
    console.log(JSON.stringify(await measureCliStart({ temporalAddress: address, ...(runId ? { runId } : {}), ...(runs ? { runs } : {}) }), null, 2));
    return;
  }
  // Loaded only here: the harness brings its own server and run.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { startDevServer } = require('../../src/temporal/dev-server') as typeof import('../../src/temporal/dev-server');
  const { Client, Connection } = require('@temporalio/client') as typeof import('@temporalio/client');
  const { MemoryGit, MemoryKubernetesGateway } = require('../support/memory-gateway') as typeof import('../support/memory-gateway');
  const { startWorker } = require('../support/temporal') as typeof import('../support/temporal');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const server = await startDevServer({ headless: true });
  const git = new MemoryGit();
  const worker = await startWorker({ kubernetes: new MemoryKubernetesGateway(() => ({ lines: ['working', 'done'], runMs: 50 }), git), git }, { address: server.address });
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection });
    const md = ['# Tasks', '', '## Phase 1', '', ...Array.from({ length: 5 }, (_, i) => `- [ ] T00${i + 1} [ASYNC] task ${i + 1}`)].join('\n');
    const handle = await client.workflow.start('implementFeature', {
      taskQueue: worker.taskQueue,
      workflowId: `bench-cli-${Date.now()}`,
      args: [{ repository: { url: 'https://git.example.test/bench.git', baseBranch: 'main' }, feature: { name: 'bench', dir: 'specs/bench' }, tasksFile: 'specs/bench/tasks.md', tasksMarkdown: md, options: { maxParallel: 5, keepFailedPodsSeconds: 0 } }],
    });
    await handle.result();
    // The worker stays up while `status` runs: it answers the state query, as in a real setup.
    console.log(JSON.stringify(await measureCliStart({ temporalAddress: server.address, runId: handle.workflowId, ...(runs ? { runs } : {}) }), null, 2));
  } finally {
    await connection.close();
    await worker.stop();
    await server.stop();
  }
}

if (require.main === module) {
  standalone(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
