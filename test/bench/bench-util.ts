/**
 * npm run bench: small helpers — percentiles, process CPU/RSS from /proc, load average, the machine.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, toolPath } from '../../src/tools';

export interface Dist {
  n: number;
  min: number;
  p50: number;
  p95: number;
  max: number;
}

/** Nearest-rank percentiles (p in 0..100). */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function dist(xs: number[]): Dist {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN };
}

export const round = (x: number, digits = 2): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
export { sleep } from '../../src/util/sleep';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User+system CPU seconds of a process (itself; children it waited for included). NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces), from field 3 on.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]].map(Number) as [number, number, number, number];
    return (utime + stime + cutime + cstime) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** VmHWM (peak RSS) and VmRSS of a process in MB. */
export function memoryMb(pid: number): { peakRssMb: number; rssMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { peakRssMb: round(kb('VmHWM') / 1024, 1), rssMb: round(kb('VmRSS') / 1024, 1) };
  } catch {
    return { peakRssMb: NaN, rssMb: NaN };
  }
}

export { findPid } from '../e2e/support/stack';

/** CPU seconds of several processes over a window: start() … stop(). */
export class CpuWindow {
  private readonly start: Record<string, number> = {};
  private readonly startedAt = performance.now();
  private readonly selfStart = process.cpuUsage();
  constructor(private readonly pids: Record<string, number | undefined>) {
    for (const [k, pid] of Object.entries(pids)) this.start[k] = pid ? cpuSeconds(pid) : NaN;
  }
  stop(): { wallSeconds: number; cpuSeconds: Record<string, number> } {
    const out: Record<string, number> = {};
    for (const [k, pid] of Object.entries(this.pids)) out[k] = round(pid ? cpuSeconds(pid) - this.start[k]! : NaN, 2);
    const self = process.cpuUsage(this.selfStart);
    out['bench process (test kubelet, watch)'] = round((self.user + self.system) / 1e6, 2);
    return { wallSeconds: round((performance.now() - this.startedAt) / 1000, 2), cpuSeconds: out };
  }
}

export function loadAvg(): [number, number, number] {
  return os.loadavg().map((x) => round(x, 2)) as [number, number, number];
}

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export function machine(): Record<string, unknown> {
  const commit = tryRun('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
  const tool = (name: string, args: string[]) => {
    try {
      return tryRun(toolPath(name), args);
    } catch {
      return undefined;
    }
  };
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: `${os.platform()} ${os.release()}`,
    node: process.version,
    commit,
    versions: {
      temporalCli: tool('temporal', ['--version']),
      kubeApiserver: tool('kube-apiserver', ['--version']),
      etcd: tool('etcd', ['--version']),
      kubectl: tool('kubectl', ['version', '--client']),
      git: tryRun('git', ['--version']),
      '@temporalio/worker': packageVersion('@temporalio/worker'),
      '@temporalio/client': packageVersion('@temporalio/client'),
      '@kubernetes/client-node': packageVersion('@kubernetes/client-node'),
      typescript: packageVersion('typescript'),
    },
  };
}

/** Timestamp → epoch ms (protobuf Timestamp with Long or number seconds). */
export function tsMs(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!t) return NaN;
  return Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6;
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
