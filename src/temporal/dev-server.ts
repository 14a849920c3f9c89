import { spawn, type ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { toolPath } from '../tools';
import { ALL_SEARCH_ATTRIBUTES } from './search-attributes';
import { freePort } from '../util/free-port';

export interface DevServer {
  address: string;
  uiUrl: string;
  namespace: string;
  pid: number;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  port?: number;
  uiPort?: number;
  /** SQLite file to persist state across restarts; in-memory when omitted. */
  dbFilename?: string;
  headless?: boolean;
  namespace?: string;
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

/**
 * Starts the real Temporal CLI dev server (`temporal server start-dev`) with every search attribute the
 * workflows use, and waits until it answers. The SDK's own launcher allows only 5 s, which a loaded
 * 2-core machine misses, hence this one.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  // The CLI also picks ports of its own (its internal services): on a busy machine one may be taken
  // between its pick and its bind. Such a start is tried again with fresh ports (ours, when not given).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortClashError)) throw err;
      opts.log?.(`temporal dev server: ${err.message.split('\n')[0]}; starting again\n`);
    }
  }
}

/** The dev server exited during start because a port it wanted was taken. */
class PortClashError extends Error {}

async function startOnce(opts: DevServerOptions): Promise<DevServer> {
  const port = opts.port ?? (await freePort());
  const uiPort = opts.uiPort ?? (await freePort());
  const namespace = opts.namespace ?? 'default';
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort),
    '--namespace', namespace, '--log-level', 'warn', '--http-port', String(await freePort()), '--metrics-port', String(await freePort())];
  if (opts.headless) args.push('--headless');
  if (opts.dbFilename) args.push('--db-filename', opts.dbFilename);
  for (const sa of ALL_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${sa.name}=Keyword`);
  const child: ChildProcess = spawn(toolPath('temporal'), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  let output = '';
  const onData = (d: Buffer) => {
    output = (output + d.toString()).slice(-8000);
    opts.log?.(d.toString());
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  // Never outlive the process that started it (a test runner or `sdlc-runner dev` exiting early).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => {
    exited = true;
    process.off('exit', killOnExit);
  });
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      const message = `temporal dev server exited during start:\n${output}`;
      throw /address already in use/i.test(output) ? new PortClashError(message) : new Error(message);
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`temporal dev server did not answer on ${address} within ${opts.startTimeoutMs ?? 60_000} ms: ${String(err)}\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    namespace,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
