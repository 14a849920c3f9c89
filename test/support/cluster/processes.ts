/**
 * Child processes of the test control plane. Each runs in its own process group (so a kill reaches
 * anything it forks) and logs to a file in the cluster's data dir. A crashed test run must not leave
 * servers behind: an exit hook covers normal exits, and a tiny reaper (`sh` reading a pipe from this
 * process) SIGKILLs the group when this process dies any other way, SIGKILL included.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.killNow();
  });
}

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export class ManagedProcess {
  private child: ChildProcess;
  private logStream: WriteStream;
  private exitPromise: Promise<number | null>;
  private recent = '';
  private reaper?: ChildProcess;
  exited = false;

  constructor(private readonly opts: ManagedProcessOptions) {
    installExitHook();
    this.logStream = createWriteStream(opts.logFile, { flags: 'a' });
    this.child = spawn(opts.command, opts.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: opts.env ?? process.env,
    });
    const onData = (d: Buffer) => {
      // 'exit' can come before the pipes have drained; output after stop() ends the log is dropped, not an error.
      if (!this.logStream.writableEnded) this.logStream.write(d);
      this.recent = (this.recent + d.toString()).slice(-6000);
      opts.log?.(`[${opts.name}] ${d.toString().trimEnd()}`);
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exitPromise = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = true;
        this.reaper?.kill('SIGKILL');
        live.delete(this);
        if (!this.logStream.writableEnded) this.logStream.write(`\n[${opts.name} exited code=${code} signal=${signal}]\n`);
        resolve(code);
      });
      this.child.once('error', (err) => {
        this.exited = true;
        live.delete(this);
        this.recent += `\nspawn error: ${err.message}`;
        resolve(null);
      });
    });
    live.add(this);
    if (this.child.pid) this.reaper = startReaper(this.child.pid);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last few KB of output, for error messages. */
  get recentOutput(): string {
    return this.recent;
  }

  killNow(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exited || !this.child.pid) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // The group is already gone.
    }
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.exited) {
      this.killNow('SIGTERM');
      const timer = setTimeout(() => this.killNow('SIGKILL'), graceMs);
      await this.exitPromise;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.logStream.end(resolve));
  }

  /** kill -9, as a crash would. */
  async crash(): Promise<void> {
    this.killNow('SIGKILL');
    await this.exitPromise;
    await new Promise<void>((resolve) => this.logStream.end(resolve));
  }
}

/**
 * `read` returns when the pipe from this process closes — on our exit, however it happens — and the
 * group is killed. Detached, so group kills aimed at the server do not take the reaper with them.
 */
function startReaper(pgid: number): ChildProcess {
  const reaper = spawn('sh', ['-c', `read _ignored; kill -9 -${pgid} 2>/dev/null`], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  reaper.on('error', () => undefined);
  reaper.unref();
  (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return reaper;
}
