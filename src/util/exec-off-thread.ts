/**
 * execFile from a worker thread. Spawning blocks the calling thread until the child has exec'd (libuv waits
 * for it): ~20 ms a spawn in the runner's worker on a busy 2-core machine (measured: 1.1 s of its main
 * thread per 50 branch checks), and on the main thread that stalls every log follow, heartbeat and local
 * activity with it. Same answer as promisify(execFile) with string output: { stdout, stderr }, or an Error
 * carrying code, killed, signal, stdout and stderr.
 */
import { Worker } from 'node:worker_threads';

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeout?: number;
  maxBuffer?: number;
}

export interface ExecError extends Error {
  code?: number | string;
  killed?: boolean;
  signal?: string;
  stdout: string;
  stderr: string;
}

interface Reply {
  id: number;
  stdout: string;
  stderr: string;
  error?: { message: string; code?: number | string; killed?: boolean; signal?: string };
}

// Plain JavaScript, evaluated as the thread's source: no build step, nothing shared but messages.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { execFile } = require('node:child_process');
parentPort.on('message', ({ id, file, args, options }) => {
  execFile(file, args, { ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
    const error = err ? { message: err.message, code: err.code, killed: err.killed, signal: err.signal ?? undefined } : undefined;
    parentPort.postMessage({ id, stdout: String(stdout ?? ''), stderr: String(stderr ?? ''), error });
  });
});
`;

let thread: Worker | undefined;
let nextId = 0;
const pending = new Map<number, { resolve(r: { stdout: string; stderr: string }): void; reject(e: ExecError): void }>();

function spawner(): Worker {
  if (thread) return thread;
  const t = new Worker(THREAD_SOURCE, { eval: true });
  t.on('message', (reply: Reply) => {
    const call = pending.get(reply.id);
    if (!call) return;
    pending.delete(reply.id);
    // Only a call in flight keeps the process alive (a CLI or a stopped worker exits without closing this).
    if (pending.size === 0) t.unref();
    if (!reply.error) return call.resolve({ stdout: reply.stdout, stderr: reply.stderr });
    call.reject(Object.assign(new Error(reply.error.message), { ...reply.error, stdout: reply.stdout, stderr: reply.stderr }) as ExecError);
  });
  const fail = (err: Error) => {
    // 'exit' follows 'error': by then a later call may have started a new thread, whose calls are not ours to fail.
    if (thread !== t) return;
    thread = undefined;
    for (const call of pending.values()) call.reject(Object.assign(err, { stdout: '', stderr: '' }) as ExecError);
    pending.clear();
  };
  t.on('error', fail);
  t.on('exit', (code) => fail(new Error(`the exec thread exited (${code})`)));
  thread = t;
  return t;
}

export function execFileOffThread(file: string, args: readonly string[], options: ExecOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const t = spawner();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    t.ref();
    t.postMessage({ id, file, args: [...args], options });
  });
}
