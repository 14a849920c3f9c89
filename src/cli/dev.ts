/**
 * `sdlc-runner dev`: a local Temporal dev server with its UI, and (when a cluster and a pod template
 * are configured) the production worker in the same process — the same code as in a cluster.
 */
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDevServer } from '../temporal/dev-server';
import { loadWorkerConfig } from '../config/worker-config';
import { startProductionWorker } from '../../worker/run-worker';
import { freePort } from '../util/free-port';
import { CliError } from './errors';

export interface DevFlags {
  port?: number;
  uiPort?: number;
  db?: string;
  worker: boolean;
  podTemplate?: string;
  k8sNamespace?: string;
}

export async function devCommand(flags: DevFlags, io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream }): Promise<number> {
  const db = flags.db ?? path.join(os.homedir(), '.cache', 'agentic-sdlc-runner', 'dev-temporal.db');
  mkdirSync(path.dirname(db), { recursive: true });
  const started = Date.now();
  const server = await startDevServer({ port: flags.port ?? 7233, uiPort: flags.uiPort ?? 8233, dbFilename: db });
  io.out.write(`temporal dev server ${server.address} ready in ${Date.now() - started} ms; UI ${server.uiUrl} (state in ${db})\n`);
  process.env.TEMPORAL_ADDRESS = server.address;
  let stopWorker: (() => Promise<void>) | undefined;
  if (flags.worker) {
    if (flags.podTemplate) process.env.SDLC_POD_TEMPLATE_FILE = flags.podTemplate;
    if (flags.k8sNamespace) process.env.SDLC_K8S_NAMESPACE = flags.k8sNamespace;
    if (!process.env.SDLC_POD_TEMPLATE_FILE || !existsSync(process.env.SDLC_POD_TEMPLATE_FILE)) {
      await server.stop();
      throw new CliError(`the worker needs an agent pod template: pass --pod-template <file> (format: docs/pod-template.md) and a cluster via KUBECONFIG, or run only the server with --no-worker.`);
    }
    process.env.SDLC_K8S_NAMESPACE ??= 'default';
    // A free port, not '0': the worker config (rightly) refuses port 0, which no probe could reach.
    process.env.SDLC_HEALTH_PORT ??= String(await freePort());
    process.env.SDLC_METRICS_PORT ??= '9464';
  }
  // Ctrl-C from here on stops everything, also while the worker still waits for the Kubernetes API.
  const stopped = new AbortController();
  process.once('SIGINT', () => stopped.abort());
  process.once('SIGTERM', () => stopped.abort());
  if (flags.worker) {
    try {
      const handle = await startProductionWorker(loadWorkerConfig(), (m) => io.out.write(m + '\n'), { signal: stopped.signal });
      stopWorker = handle.stop;
    } catch (err) {
      await server.stop(); // no dev server left behind when the worker cannot start
      throw err;
    }
  }
  if (!stopped.signal.aborted) {
    io.out.write(`ready. In another terminal: TEMPORAL_ADDRESS=${server.address} sdlc-runner implement specs/<feature>/tasks.md --follow   (Ctrl-C stops)\n`);
    await new Promise<void>((resolve) => stopped.signal.addEventListener('abort', () => resolve(), { once: true }));
  }
  io.out.write('stopping…\n');
  await stopWorker?.();
  await server.stop();
  return 0;
}
