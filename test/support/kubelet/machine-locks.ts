/**
 * Numbered resources shared by every test kubelet on this machine, also in other processes (jest
 * workers): volume group ids, pod network slots. Each taken number is a lock file holding the taker's
 * pid in a machine-wide directory (never a test's own TMPDIR); a lock whose process is gone is reclaimed.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class MachineLocks {
  private readonly held = new Set<number>();
  private exitHook = false;

  constructor(private readonly dir: string) {}

  /** The numbers this process holds. */
  holding(): ReadonlySet<number> {
    return this.held;
  }

  /** Takes `n` unless another live process (or this one) holds it. */
  take(n: number): boolean {
    if (this.held.has(n)) return false;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (!this.exitHook) {
      this.exitHook = true;
      process.on('exit', () => this.release([...this.held]));
    }
    const file = path.join(this.dir, String(n));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        this.held.add(n);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        let owner = NaN;
        try {
          owner = Number(readFileSync(file, 'utf8'));
        } catch {
          continue; // released meanwhile: try again
        }
        // A lock being written (empty for a moment) or held by a live process stays taken.
        if (!owner || owner === process.pid || alive(owner)) return false;
        try {
          unlinkSync(file); // its process is gone: reclaim
        } catch {
          // someone else reclaimed it first
        }
      }
    }
    return false;
  }

  release(numbers: Iterable<number>): void {
    for (const n of numbers) {
      if (!this.held.delete(n)) continue;
      const file = path.join(this.dir, String(n));
      try {
        if (existsSync(file) && Number(readFileSync(file, 'utf8')) === process.pid) unlinkSync(file);
      } catch {
        // already gone
      }
    }
  }
}
