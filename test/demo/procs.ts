/**
 * /proc helpers for the demo tests: which processes the demo started (its descendants, sampled while it
 * runs, and anything that carries the demo's private temp dir in its command line, environment or
 * working directory), and whether any of them is still alive.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface Proc {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: a pid and this identify one process even if the pid is reused. */
  start: string;
  comm: string;
  /** R, S, D, Z (zombie: exited, not yet reaped) … */
  state: string;
  cmdline: string;
}

export function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, ppid: Number(fields[1]), start: fields[19]!, comm: stat.slice(stat.indexOf('(') + 1, close), state: fields[0]!, cmdline };
  } catch {
    return undefined; // gone meanwhile
  }
}

export function allProcs(): Proc[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProc(Number(d)))
    .filter((p): p is Proc => p !== undefined);
}

/**
 * Adds every current descendant of `root` to `seen` (keyed by pid+start time). A process sampled as it
 * exits (zombie) has an empty cmdline: the one seen while it ran is kept.
 */
export function collectDescendants(root: number, seen: Map<string, Proc>): void {
  const procs = allProcs();
  const children = new Map<number, Proc[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const queue = [root];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      const key = `${c.pid}/${c.start}`;
      const before = seen.get(key);
      seen.set(key, !c.cmdline && before?.cmdline ? { ...c, cmdline: before.cmdline } : c);
      queue.push(c.pid);
    }
  }
}

/** The same process (pid and start time) still exists and has not exited. */
export function stillAlive(p: Proc): boolean {
  const now = readProc(p.pid);
  return now !== undefined && now.start === p.start && now.state !== 'Z';
}

/** Live processes whose command line, environment or working directory mentions `marker` (e.g. a private TMPDIR). */
export function processesMarkedWith(marker: string): Proc[] {
  return allProcs().filter((p) => {
    if (p.state === 'Z' || p.pid === process.pid) return false;
    if (p.cmdline.includes(marker)) return true;
    try {
      if (readFileSync(`/proc/${p.pid}/environ`, 'utf8').includes(marker)) return true;
      return readlinkSync(`/proc/${p.pid}/cwd`).startsWith(marker);
    } catch {
      return false; // gone, or not ours to read
    }
  });
}

export const describeProc = (p: Proc) => `${p.pid} ${p.comm}: ${p.cmdline.slice(0, 160)}`;
