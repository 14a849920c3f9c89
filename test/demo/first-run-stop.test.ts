/**
 * `npm run demo` must leave nothing behind however it ends: a component that fails to start, Ctrl-C at
 * any point of the start-up or of the run, Ctrl-C once it waits after the run. Each demo gets its own
 * TMPDIR, so every temp dir it makes (scratch, control plane, git server, kubelet) is in there and
 * every process it starts carries that path (command line, environment or working directory); its
 * descendants are also sampled from /proc while it runs. After it exits, nothing may be alive and the
 * TMPDIR must be empty.
 *
 * The compiled demo is run directly (node dist/support-build/test/demo/first-run.js, with the tools on
 * PATH) — what scripts/first-run.sh execs after compiling it once; beforeAll compiles it through the
 * script (`--help`), then starts every case (two demos at a time) so the file stays short.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../src/tools';
import { collectDescendants, describeProc, processesMarkedWith, stillAlive, type Proc } from './procs';

const SCRIPT = path.join(repoRoot, 'scripts', 'first-run.sh');
const DEMO = path.join(repoRoot, 'dist', 'support-build', 'test', 'demo', 'first-run.js');

interface Outcome {
  /** Exit code (a signal death counts as 128+n). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Whether the trigger fired (the signal was sent). */
  signalled: boolean;
  /** Processes still alive after the demo exited (and a short grace for the kernel to reap). */
  leftProcesses: string[];
  /** What is left in the demo's TMPDIR. */
  leftFiles: string[];
  ms: number;
}

interface RunOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Sends SIGINT once this returns true (called on every stdout chunk and every /proc sample). */
  interruptWhen?: (stdout: string, tmp: string) => boolean;
}

async function runDemo(name: string, opts: RunOptions = {}): Promise<Outcome> {
  const t0 = Date.now();
  const tmp = mkdtempSync(path.join(os.tmpdir(), `sdlc-demo-stop-${name}-`));
  const child = spawn(process.execPath, [DEMO, ...(opts.args ?? [])], {
    cwd: repoRoot,
    env: { ...process.env, PATH: `${path.join(repoRoot, '.tools', 'bin')}:${process.env.PATH}`, TMPDIR: tmp, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let signalled = false;
  const maybeInterrupt = () => {
    if (!signalled && opts.interruptWhen?.(stdout, tmp)) {
      signalled = true;
      child.kill('SIGINT');
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    maybeInterrupt();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const seen = new Map<string, Proc>();
  const watcher = setInterval(() => {
    collectDescendants(child.pid!, seen);
    maybeInterrupt();
  }, 100);
  const code = await new Promise<number | null>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('exit', (c, signal) => {
      clearTimeout(kill);
      resolve(c ?? (signal === 'SIGINT' ? 130 : signal === 'SIGKILL' ? 137 : null));
    });
  });
  clearInterval(watcher);
  // The demo says it stopped everything before it exits; allow the kernel a moment to reap.
  const alive = () => {
    const byKey = new Map<string, Proc>();
    for (const p of [...seen.values()].filter(stillAlive)) byKey.set(`${p.pid}/${p.start}`, p);
    for (const p of processesMarkedWith(tmp)) byKey.set(`${p.pid}/${p.start}`, p);
    return [...byKey.values()];
  };
  const deadline = Date.now() + 2_000;
  let left = alive();
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = alive();
  }
  const leftFiles = readdirSync(tmp, { recursive: true }) as string[];
  // Whatever the outcome, do not leave it to the next run: kill what is left and remove the dir.
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
  return { code, stdout, stderr, signalled, leftProcesses: left.map(describeProc), leftFiles, ms: Date.now() - t0 };
}

const line = (re: RegExp) => (stdout: string) => re.test(stdout);

/**
 * What is wrong with a run that must have exited `code` leaving nothing behind (empty when nothing):
 * each problem names the case and carries the demo's output so a failure explains itself.
 */
function problems(what: string, o: Outcome, code: number, mustSay: RegExp[] = []): string[] {
  const found: string[] = [];
  if (o.code !== code) found.push(`exit code ${o.code}, expected ${code}`);
  if (code === 130 && !o.signalled) found.push('it ended before the moment to press Ctrl-C came');
  if (o.leftProcesses.length) found.push(`processes left running:\n  ${o.leftProcesses.join('\n  ')}`);
  if (o.leftFiles.length) found.push(`left in its TMPDIR: ${o.leftFiles.join(', ')}`);
  for (const re of mustSay) if (!re.test(o.stdout)) found.push(`stdout lacks ${re}`);
  if (!found.length) return [];
  return [`${what}: ${found.join('; ')}\n--- stdout (tail):\n${o.stdout.slice(-2000)}\n--- stderr (tail):\n${o.stderr.slice(-2000)}`];
}

const STOPPING = /^demo: SIGINT: stopping every process and removing temp dirs…/m;
const STOPPED = /^demo: stopped$/m;

const FAKE_BIN = mkdtempSync(path.join(os.tmpdir(), 'sdlc-demo-stop-bin-'));
/** A Temporal CLI that refuses to start: the dev server fails while the other components are starting. */
const FAILING_TEMPORAL = path.join(FAKE_BIN, 'temporal');

/** Where Ctrl-C comes during the start-up and the run. */
const DURING: Record<string, RunOptions['interruptWhen']> = {
  // Dev server, control plane, git server and model starting at once, the control plane half up: etcd
  // runs (its data dir is in the demo's TMPDIR, a detached reaper watches it), the apiserver may not yet.
  // (The start-failure case covers Ctrl-C-like teardown even earlier, while the cluster makes its PKI.)
  'etcd running': (_out, tmp) => processesMarkedWith(tmp).some((p) => p.comm === 'etcd'),
  // One of the components started one after another (the test kubelet; the worker is the same code path).
  'kubelet starting': line(/^demo: kube-apiserver https:/m),
  // The run going: an agent pod (real opencode) runs on the test kubelet.
  'agent pod running': line(/^task T\d+ started /m),
};

// The long case (a whole run) goes alongside the short ones, which go one after another: two demos at a
// time keep a 2-core machine (and the other demo test) from crawling. Each demo has its own ports and TMPDIR.
let failure: Promise<Outcome>;
let during: Promise<(readonly [string, Outcome])[]>;
let afterRun: Promise<Outcome>;

beforeAll(() => {
  // Compiles the demo (incrementally) the way `npm run demo` does.
  execFileSync('bash', [SCRIPT, '--help'], { cwd: repoRoot, stdio: 'ignore' });
  writeFileSync(FAILING_TEMPORAL, '#!/bin/sh\necho "fake temporal: refusing to start" >&2\nexit 1\n');
  chmodSync(FAILING_TEMPORAL, 0o755);
  afterRun = runDemo('after-run', { interruptWhen: line(/^demo: Ctrl-C stops everything and removes the temp dirs\.$/m) });
  failure = runDemo('fail', { args: ['--ci'], env: { TEMPORAL_CLI_PATH: FAILING_TEMPORAL } });
  during = (async () => {
    await failure;
    const outcomes: (readonly [string, Outcome])[] = [];
    for (const [what, when] of Object.entries(DURING)) outcomes.push([what, await runDemo(what.replace(/\W+/g, '-'), { interruptWhen: when })] as const);
    return outcomes;
  })();
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([failure, during, afterRun]);
  rmSync(FAKE_BIN, { recursive: true, force: true });
}, 120_000);

it('a component that fails to start (the Temporal CLI exits 1) fails the demo with exit 1 after stopping every component still starting and removing their temp dirs', async () => {
  const o = await failure;
  // eslint-disable-next-line no-console
  console.log(`[demo stop] start failure: exit ${o.code} in ${(o.ms / 1000).toFixed(1)} s`);
  expect(problems('start failure', o, 1)).toEqual([]);
  expect(o.stderr).toMatch(/demo failed: Error: temporal dev server exited during start:\s+fake temporal: refusing to start/);
}, 120_000);

it('Ctrl-C at any point of the start-up or of the run stops every process, removes every temp dir and exits 130', async () => {
  const outcomes = await during;
  for (const [what, o] of outcomes) {
    // eslint-disable-next-line no-console
    console.log(`[demo stop] SIGINT when ${what}: exit ${o.code} in ${(o.ms / 1000).toFixed(1)} s`);
  }
  expect(outcomes.flatMap(([what, o]) => problems(`SIGINT when ${what}`, o, 130, [STOPPING, STOPPED]))).toEqual([]);
}, 120_000);

it('Ctrl-C once the run has finished and the demo waits stops everything, removes every temp dir and exits 130', async () => {
  const o = await afterRun;
  // eslint-disable-next-line no-console
  console.log(`[demo stop] SIGINT after the run: exit ${o.code} in ${(o.ms / 1000).toFixed(1)} s`);
  expect(problems('SIGINT after the run', o, 130, [/^demo: run succeeded in /m, STOPPING, STOPPED])).toEqual([]);
}, 120_000);
