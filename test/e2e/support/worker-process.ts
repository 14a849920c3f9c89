/**
 * The production worker as a real OS process: `node dist/worker/main.js`, configured only through
 * its environment (src/config/worker-config.ts), exactly as the worker image runs it. Output goes to
 * a log file (and is kept for failure messages); readiness is its own /readyz endpoint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { repoRoot } from '../../../src/tools';
import { freePort } from '../../../src/util/free-port';

export const WORKER_MAIN = path.join(repoRoot, 'dist', 'worker', 'main.js');
/** How the image and the chart start the worker (docker/Dockerfile.worker CMD/ENV, chart worker.nodeArgs; test/chart checks they agree). */
export const WORKER_NODE_ARGS = ['--optimize-for-size', '--max-semi-space-size=4'];
export const WORKER_RUNTIME_ENV = { MALLOC_ARENA_MAX: '2' };

export interface WorkerProcessOptions {
  /** Everything the worker reads (TEMPORAL_*, SDLC_*, KUBECONFIG). Health/metrics ports are added when absent. */
  env: Record<string, string>;
  /** Where stdout+stderr go. */
  logFile: string;
  name?: string;
  /** Node options before the entry point, after WORKER_NODE_ARGS (e.g. --cpu-prof for `npm run bench -- --profile-worker DIR`). */
  nodeArgs?: string[];
}

export interface WorkerProcess {
  pid: number;
  healthPort: number;
  /** Resolves with the exit code (or 128+signal) once the process has exited. */
  exited: Promise<number>;
  /** The last output lines, for failure messages. */
  output(): string;
  /** SIGKILL: no shutdown hooks, no heartbeats, no goodbye — a crashed node. */
  kill(): Promise<number>;
  /** SIGTERM and wait (graceful shutdown). */
  stop(): Promise<number>;
}

const SIGNALS: Record<string, number> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2 };

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** GET /readyz on 127.0.0.1:port until 200 (the chart's readiness probe does the same). */
export async function waitForWorkerReady(port: number, what: string, isDead: () => string | undefined, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready(port))) {
    const dead = isDead();
    if (dead !== undefined) throw new Error(`${what} exited before it was ready:\n${dead}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready on :${port}/readyz within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  if (!existsSync(WORKER_MAIN)) throw new Error(`${WORKER_MAIN} is missing: run 'npm run build'`);
  const name = opts.name ?? 'worker';
  const healthPort = Number(opts.env.SDLC_HEALTH_PORT ?? (await freePort()));
  const metricsPort = Number(opts.env.SDLC_METRICS_PORT ?? (await freePort()));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...WORKER_RUNTIME_ENV,
    ...opts.env,
    SDLC_HEALTH_PORT: String(healthPort),
    SDLC_METRICS_PORT: String(metricsPort),
  };
  const child: ChildProcess = spawn(process.execPath, [...WORKER_NODE_ARGS, ...(opts.nodeArgs ?? []), WORKER_MAIN], { env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  let tail = '';
  const onData = (d: Buffer) => {
    // 'exit' can come before the pipes have drained; the log file is ended on 'close', this is belt and braces.
    if (!log.writableEnded) log.write(d);
    tail = (tail + d.toString()).slice(-6000);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let exitCode: number | undefined;
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0);
      resolve(exitCode);
    }),
  );
  child.once('close', () => log.end());
  // A worker left running by a failed test must not outlive the jest process.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const handle: WorkerProcess = {
    pid: child.pid!,
    healthPort,
    exited,
    output: () => tail,
    kill() {
      if (exitCode === undefined) child.kill('SIGKILL');
      return exited;
    },
    stop() {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
        void exited.then(() => clearTimeout(force));
      }
      return exited;
    },
  };
  try {
    await waitForWorkerReady(healthPort, `${name} (pid ${child.pid})`, () => (exitCode === undefined ? undefined : `exit ${exitCode}\n${tail}`));
  } catch (err) {
    await handle.kill();
    throw err;
  }
  return handle;
}
