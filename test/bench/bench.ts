/**
 * `npm run bench` (issue 14): brings up the whole stack — Temporal dev server, kube-apiserver + etcd,
 * the test kubelet, the production worker process — and measures in ONE run, each figure next to a
 * baseline measured in the same run (or the issue's goal, marked as such):
 *   - pod creation for N = 50, 150, 300: the seed's way (scripts/spawn-pod.sh per task, serially), the
 *     raw floor (client-node createNamespacedPod, 50 at a time) and a real run through the worker;
 *   - per task: the agent's result line → the child workflow's close, with the breakdown by step read
 *     from the histories; history events per child and per parent; worker CPU and peak RSS (and the
 *     dev server's, apiserver's and etcd's CPU over the same window);
 *   - a log-heavy case (150 agents × 20 lines/s × 60 s): worker RSS/CPU and lines lost or repeated;
 *   - the in-memory fan-out (what bench:fanout measured): 100 tasks / maxParallel 20 and 400 / 50;
 *   - the parser's MB/s and the CLI's start time (test/bench/parser-bench.ts, cli-bench.ts) when present.
 * Prints a table, writes test-output/bench/<timestamp>.json and rewrites docs/benchmarks.md.
 *
 *   npm run bench [-- --sizes 50,150,300] [--quick] [--log-heavy-seconds 60] [--log-heavy-agents 150]
 *                    [--fanout 100x20,400x50] [--no-docs] [--skip seed,floor,worker,log-heavy,fanout,parser,cli]
 *                    [--profile-worker DIR]   (V8 CPU profiles of every worker thread, for `node --cpu-prof` viewers)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startDevServer } from '../../src/temporal/dev-server';
import { repoRoot } from '../../src/tools';
import { AGENT_IMAGE, makeRecordDir, podTemplate, startE2eStack } from '../e2e/support/stack';
import { clearPods, rawFloor, seedWay, workerRun, type Ctx, type FloorResult, type SeedResult, type WorkerRunResult } from './bench-pods';
import { fanout, type FanoutResult } from './bench-fanout';
import { findPid, loadAvg, log, machine, round } from './bench-util';
import { renderDocs, renderBreakdown, type Row } from './bench-report';

interface CliBench {
  measureCliStart(o: { temporalAddress: string; runId: string }): Promise<unknown>;
}
let cliLoad: number[] | undefined;
let parserLoad: number[] | undefined;

interface Args {
  sizes: number[];
  logHeavySeconds: number;
  logHeavyAgents: number;
  fanout: [number, number][];
  docs: boolean;
  quick: boolean;
  skip: Set<string>;
  profileDir?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sizes: [50, 150, 300], logHeavySeconds: 60, logHeavyAgents: 150, fanout: [[100, 20], [400, 50]], docs: true, quick: false, skip: new Set() };
  const set = { sizes: false, lhs: false, lha: false, fanout: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const positive = (v: string) => {
      if (!/^[1-9]\d*$/.test(v)) throw new Error(`${arg}: a positive whole number expected, got '${v}'`);
      return Number(v);
    };
    switch (arg) {
      case '--sizes':
        a.sizes = value().split(',').map(positive);
        set.sizes = true;
        break;
      case '--quick':
        a.quick = true;
        break;
      case '--log-heavy-seconds':
        a.logHeavySeconds = positive(value());
        set.lhs = true;
        break;
      case '--log-heavy-agents':
        a.logHeavyAgents = positive(value());
        set.lha = true;
        break;
      case '--fanout':
        a.fanout = value().split(',').map((p) => {
          const m = /^(\d+)x(\d+)$/.exec(p);
          if (!m) throw new Error(`--fanout: <tasks>x<maxParallel>[,…] expected, got '${p}'`);
          return [Number(m[1]), Number(m[2])] as [number, number];
        });
        set.fanout = true;
        break;
      case '--no-docs':
        a.docs = false;
        break;
      case '--profile-worker':
        a.profileDir = path.resolve(value());
        break;
      case '--skip':
        for (const s of value().split(',')) a.skip.add(s);
        break;
      case '-h':
      case '--help':
        console.log('npm run bench [-- --sizes 50,150,300] [--quick] [--log-heavy-seconds 60] [--log-heavy-agents 150] [--fanout 100x20,400x50] [--no-docs] [--skip seed,floor,worker,log-heavy,fanout,parser,cli] [--profile-worker DIR]');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${arg} (see --help)`);
    }
  }
  if (a.quick) {
    if (!set.sizes) a.sizes = [20];
    if (!set.lhs) a.logHeavySeconds = 5;
    if (!set.lha) a.logHeavyAgents = 20;
    if (!set.fanout) a.fanout = [[100, 20]];
    a.docs = false;
  }
  return a;
}

/** An optional benchmark module written alongside this one: loaded when its compiled file is there. */
function optionalModule<T>(name: string): T | undefined {
  const file = path.join(__dirname, `${name}.js`);
  if (!existsSync(file)) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as T;
}

function numericFields(prefix: string, v: unknown, out: [string, number][] = []): [string, number][] {
  if (typeof v === 'number') out.push([prefix, v]);
  else if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) numericFields(prefix ? `${prefix}.${k}` : k, x, out);
  return out;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // Re-renders docs/benchmarks.md from a run's JSON (no measuring): `npm run bench -- --docs-from test-output/bench/<file>.json`.
  if (argv[0] === '--docs-from') {
    const file = path.resolve(argv[1] ?? '');
    const json = JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof renderDocs>[0] & { table: Row[] };
    printTable(json.table);
    const docs = path.join(repoRoot, 'docs', 'benchmarks.md');
    writeFileSync(docs, renderDocs(json, json.table));
    console.log(`docs: ${path.relative(repoRoot, docs)} (from ${path.relative(repoRoot, file)})`);
    return;
  }
  const args = parseArgs(argv);
  const startedAt = new Date();
  const mach = machine();
  log(`machine: ${mach.cpus} × ${mach.cpuModel}, ${mach.memoryGiB} GiB, ${mach.kernel}, node ${mach.node}; load ${loadAvg().join(' ')}`);
  log(`sizes ${args.sizes.join(', ')}; log-heavy ${args.logHeavyAgents} agents × ${args.logHeavySeconds} s; fan-out ${args.fanout.map(([t, p]) => `${t}/${p}`).join(', ')}`);

  const server = await startDevServer({ headless: true });
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = server.namespace;
  const pidsBase = { 'temporal dev server': server.pid };
  const results: {
    fanout: FanoutResult[];
    sizes: { n: number; seed?: SeedResult; floor?: FloorResult; worker?: WorkerRunResult }[];
    logHeavy?: WorkerRunResult;
    parser?: unknown;
    cli?: unknown;
    notes: string[];
  } = { fanout: [], sizes: [], notes: [] };

  let stack: Awaited<ReturnType<typeof startE2eStack>> | undefined;
  let connection: Connection | undefined;
  try {
    // 1. In-memory fan-out (only the dev server up: nothing else competes).
    if (!args.skip.has('fanout')) {
      for (const [tasks, maxParallel] of args.fanout) {
        log(`fan-out ${tasks} tasks / maxParallel ${maxParallel} (in-memory cluster)`);
        results.fanout.push(await fanout(server.address, tasks, maxParallel, pidsBase));
      }
    }

    // 2. The stack.
    log('starting kube-apiserver + etcd, test kubelet, ServiceAccount, git remote');
    // The fake agent from the source tree (stack.ts finds it next to itself, which compiled is dist/support-build).
    stack = await startE2eStack('bench', { imageCommands: { [AGENT_IMAGE]: ['/bin/sh', path.join(repoRoot, 'test', 'e2e', 'support', 'fake-agent.sh')] } });
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: server.namespace });
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(stack.cluster.kubeconfigPath);
    const runnerKc = new KubeConfig();
    runnerKc.loadFromFile(stack.access.kubeconfigPath);
    const ctx: Ctx = {
      stack,
      client,
      pids: {
        ...pidsBase,
        'kube-apiserver': findPid('kube-apiserver', `--secure-port=${new URL(stack.cluster.server).port}`),
        etcd: findPid('etcd', (a) => a.includes(stack!.cluster.dataDir)),
      },
      admin: adminKc.makeApiClient(CoreV1Api),
      adminKc,
      runnerCore: runnerKc.makeApiClient(CoreV1Api),
      seedBudgetSeconds: 180,
      profileDir: args.profileDir,
    };
    // The template the worker reads for the creation runs (its record dir is per phase; the rest is the same).
    const seedTemplate = podTemplate({ E2E_RECORD_DIR: makeRecordDir(stack.scratch, 'records-seed'), E2E_PRESET_SHA: stack.repo.baseSha });

    for (const n of args.sizes) {
      const entry: (typeof results.sizes)[number] = { n };
      results.sizes.push(entry);
      if (!args.skip.has('seed')) {
        log(`N=${n}: the seed's way (scripts/spawn-pod.sh per task, serially)`);
        entry.seed = await seedWay(ctx, n, seedTemplate);
        log(`  ${entry.seed.seconds} s${entry.seed.extrapolated ? ` (scaled from ${entry.seed.measuredPods} pods in ${entry.seed.measuredSeconds} s)` : ''}`);
      }
      if (!args.skip.has('floor')) {
        log(`N=${n}: raw floor (createNamespacedPod, 50 at a time)`);
        entry.floor = await rawFloor(ctx, n, seedTemplate);
        log(`  ${entry.floor.seconds} s`);
      }
      if (!args.skip.has('worker')) {
        log(`N=${n}: a run through the production worker process`);
        // The CLI's start time is measured after the first run, its worker still up (status queries it).
        const cliMod = !args.skip.has('cli') && results.cli === undefined ? optionalModule<CliBench>('cli-bench') : undefined;
        const afterRun = cliMod?.measureCliStart
          ? async (runIds: string[]) => {
              log(`CLI start (test/bench/cli-bench.ts), status of ${runIds[0]}`);
              cliLoad = loadAvg();
              results.cli = await cliMod.measureCliStart({ temporalAddress: server.address, runId: runIds[0]! });
            }
          : undefined;
        entry.worker = await workerRun(ctx, { name: `n${n}`, n, afterRun });
        log(`  all pods ${entry.worker.allPodsExistSeconds} s, done ${entry.worker.completionSeconds} s, result→close p95 ${entry.worker.breakdown.resultToClose.p95} s`);
      }
    }

    if (!args.skip.has('log-heavy')) {
      log(`log-heavy: ${args.logHeavyAgents} agents × 20 lines/s × ${args.logHeavySeconds} s`);
      results.logHeavy = await workerRun(ctx, {
        name: 'log-heavy',
        n: args.logHeavyAgents,
        agentEnv: { E2E_CHAT_SECONDS: String(args.logHeavySeconds), E2E_CHAT_LINES_PER_SECOND: '20' },
        taskTimeoutSeconds: args.logHeavySeconds + 300,
      });
      log(`  lines printed ${results.logHeavy.lines?.printed}, recorded ${results.logHeavy.lines?.recorded}; worker peak RSS ${results.logHeavy.workerPeakRssMb} MB`);
    }
    await clearPods(ctx).catch(() => undefined);

    // Parser and CLI: another engineer's modules, loaded when they are there.
    if (!args.skip.has('parser')) {
      const mod = optionalModule<{ measureParser(): Promise<unknown> }>('parser-bench');
      if (mod?.measureParser) {
        log('parser (test/bench/parser-bench.ts)');
        parserLoad = loadAvg();
        results.parser = await mod.measureParser();
      } else results.notes.push('parser MB/s: HOOK — test/bench/parser-bench.ts (measureParser) was not there when this ran');
    }
    if (!args.skip.has('cli') && results.cli === undefined) {
      results.notes.push(`CLI start: HOOK — ${optionalModule<CliBench>('cli-bench') ? 'no worker run to point status at (--skip worker)' : 'test/bench/cli-bench.ts (measureCliStart) was not there when this ran'}`);
    }
  } finally {
    await connection?.close().catch(() => undefined);
    await stack?.stop().catch((err) => log(`stopping the stack: ${String(err)}`));
    await server.stop();
  }

  const rows = tableRows(results);
  const finishedAt = new Date();
  const json = { startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), args: { ...args, skip: [...args.skip] }, machine: mach, results, table: rows };
  const outDir = path.join(repoRoot, 'test-output', 'bench');
  mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(outFile, JSON.stringify(json, null, 2));

  printTable(rows);
  for (const s of results.sizes) if (s.worker) console.log(`\nN=${s.n}: where the time goes (child workflow histories; seconds)\n${renderBreakdown(s.worker.breakdown, 'text')}`);
  if (results.logHeavy) console.log(`\nlog-heavy: where the time goes\n${renderBreakdown(results.logHeavy.breakdown, 'text')}`);
  for (const note of results.notes) console.log(`note: ${note}`);
  console.log(`\nJSON: ${path.relative(repoRoot, outFile)}`);
  if (args.docs) {
    const docs = path.join(repoRoot, 'docs', 'benchmarks.md');
    writeFileSync(docs, renderDocs(json, rows));
    console.log(`docs: ${path.relative(repoRoot, docs)}`);
  }
  // Figures are written either way; a run whose tasks failed or whose log lines differ is not a green one.
  const runsOf = [...results.sizes.map((x) => x.worker), results.logHeavy].filter((x): x is WorkerRunResult => x !== undefined);
  const bad = runsOf.filter((x) => x.succeeded !== x.n).map((x) => `${x.n - x.succeeded} of ${x.n} tasks did not succeed: ${x.failures.join('; ')}`);
  if (results.logHeavy?.lines && (results.logHeavy.lines.lost || results.logHeavy.lines.repeated || results.logHeavy.lines.tasksWithMismatch.length)) bad.push(`log lines differ: ${results.logHeavy.lines.tasksWithMismatch.join('; ')}`);
  for (const b of bad) console.error(`bench: ${b}`);
  process.exit(bad.length ? 1 : 0);
}

const s = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? '—' : `${round(x, digits)} s`);
const times = (x: number) => (Number.isFinite(x) ? `${round(x, 1)}×` : '—');

function tableRows(r: {
  fanout: FanoutResult[];
  sizes: { n: number; seed?: SeedResult; floor?: FloorResult; worker?: WorkerRunResult }[];
  logHeavy?: WorkerRunResult;
  parser?: unknown;
  cli?: unknown;
}): Row[] {
  const rows: Row[] = [];
  for (const { n, seed, floor, worker } of r.sizes) {
    const g = `N=${n}`;
    if (seed) rows.push({ group: g, figure: "all pods exist — the seed's way (spawn-pod.sh, serially)", value: s(seed.seconds) + (seed.extrapolated ? ` (scaled from ${seed.measuredPods})` : ''), baseline: '', ratio: `${seed.podsPerSecond} pods/s` });
    if (floor) rows.push({ group: g, figure: 'all pods exist — raw floor (createNamespacedPod, 50 at a time)', value: s(floor.seconds, 3), baseline: '', ratio: `${floor.podsPerSecond} pods/s` });
    if (!worker) continue;
    const split = worker.runs > 1 ? ` (${worker.runs} runs × maxParallel ${worker.maxParallelPerRun})` : ` (maxParallel ${worker.maxParallelPerRun})`;
    rows.push({ group: g, figure: `all pods exist — a run through the worker${split}`, value: s(worker.allPodsExistSeconds), baseline: seed ? `seed ${s(seed.seconds)}` : '', ratio: seed ? `${times(seed.seconds / worker.allPodsExistSeconds)} faster` : '' });
    if (floor) rows.push({ group: g, figure: '… the same against the raw floor', value: s(worker.allPodsExistSeconds), baseline: `floor ${s(floor.seconds, 3)}`, ratio: `${times(worker.allPodsExistSeconds / floor.seconds)} slower` });
    rows.push({ group: g, figure: 'pod creation rate through the worker', value: `${worker.podsPerSecond} pods/s`, baseline: floor ? `floor ${floor.podsPerSecond} pods/s` : '', ratio: floor ? `${round((worker.podsPerSecond / floor.podsPerSecond) * 100, 1)} % of floor` : '' });
    rows.push({ group: g, figure: 'run completion (start → all tasks closed)', value: s(worker.completionSeconds), baseline: '', ratio: `${worker.succeeded}/${n} succeeded` });
    const b = worker.breakdown;
    const goal = n <= 50 ? 1 : n <= 150 ? 2 : NaN;
    rows.push({ group: g, figure: "agent's result line → child closed, p50 / p95 / max", value: `${b.resultToClose.p50} / ${b.resultToClose.p95} / ${b.resultToClose.max} s`, baseline: Number.isFinite(goal) ? `goal p95 ≤ ${goal} s` : '', ratio: Number.isFinite(goal) ? `${times(b.resultToClose.p95 / goal)} of goal` : '' });
    rows.push({ group: g, figure: 'child start → createAgentPod scheduled (local: recorded), p50 / p95', value: `${b.childStartToCreateScheduled.p50} / ${b.childStartToCreateScheduled.p95} s`, baseline: '', ratio: '' });
    rows.push({ group: g, figure: 'history events per child, min / median / max', value: `${b.eventsPerChild.min} / ${b.eventsPerChild.p50} / ${b.eventsPerChild.max}`, baseline: 'goal ≤ 20', ratio: times(b.eventsPerChild.p50 / 20) + ' of goal' });
    rows.push({ group: g, figure: 'history events per parent', value: worker.parentEvents.join(', '), baseline: '', ratio: '' });
    rows.push({ group: g, figure: 'workflow task schedule→start / start→complete, p50 / p95 (children)', value: `${round(b.workflowTaskQueueMs.p50, 0)} / ${round(b.workflowTaskQueueMs.p95, 0)} ms, ${round(b.workflowTaskRunMs.p50, 0)} / ${round(b.workflowTaskRunMs.p95, 0)} ms`, baseline: '', ratio: '' });
    rows.push({ group: g, figure: 'worker peak RSS (VmHWM)', value: `${worker.workerPeakRssMb} MB`, baseline: '', ratio: '' });
    const c = worker.cpu.cpuSeconds;
    rows.push({ group: g, figure: `CPU seconds over the run (${worker.cpu.wallSeconds} s wall)`, value: Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', '), baseline: '', ratio: `${round(Object.values(c).filter(Number.isFinite).reduce((a, x) => a + x, 0) / worker.cpu.wallSeconds, 2)} cores busy` });
    rows.push({ group: g, figure: 'load average before (1/5/15 min): seed, floor, worker', value: [seed?.loadBefore, floor?.loadBefore, worker.loadBefore].map((l) => (l ? l.join('/') : '—')).join('; '), baseline: '', ratio: '' });
  }
  const lh = r.logHeavy;
  if (lh) {
    const g = `log-heavy (${lh.n} agents)`;
    rows.push({ group: g, figure: 'worker peak RSS (VmHWM)', value: `${lh.workerPeakRssMb} MB`, baseline: 'goal ≤ 300 MB', ratio: times(lh.workerPeakRssMb / 300) + ' of goal' });
    rows.push({ group: g, figure: `CPU seconds (${lh.cpu.wallSeconds} s wall)`, value: Object.entries(lh.cpu.cpuSeconds).map(([k, v]) => `${k} ${v}`).join(', '), baseline: '', ratio: '' });
    if (lh.lines) {
      rows.push({ group: g, figure: 'lines printed by the agents / recorded by the run (logLines)', value: `${lh.lines.printed} / ${lh.lines.recorded}`, baseline: '', ratio: lh.lines.printed === lh.lines.recorded && lh.lines.tasksWithMismatch.length === 0 ? 'equal' : 'DIFFERENT' });
      rows.push({ group: g, figure: 'lines lost / repeated', value: `${lh.lines.lost} / ${lh.lines.repeated}`, baseline: 'must be 0', ratio: lh.lines.lost === 0 && lh.lines.repeated === 0 ? 'ok' : 'FAIL' });
    }
    rows.push({ group: g, figure: "agent's result line → child closed, p50 / p95 / max", value: `${lh.breakdown.resultToClose.p50} / ${lh.breakdown.resultToClose.p95} / ${lh.breakdown.resultToClose.max} s`, baseline: '', ratio: `${lh.succeeded}/${lh.n} succeeded` });
    rows.push({ group: g, figure: 'load average before', value: lh.loadBefore.join('/'), baseline: '', ratio: '' });
  }
  if (r.parser) {
    const p = r.parser as { fileMB?: number; mbPerSecond?: number; baseline?: { name?: string; mbPerSecond?: number } };
    if (typeof p.mbPerSecond === 'number') {
      rows.push({ group: 'parser', figure: `tasks.md parser throughput (${p.fileMB ?? '?'} MB file)`, value: `${p.mbPerSecond} MB/s`, baseline: p.baseline?.mbPerSecond ? `${p.baseline.name ?? 'baseline'}: ${p.baseline.mbPerSecond} MB/s` : '', ratio: p.baseline?.mbPerSecond ? `${times(p.mbPerSecond / p.baseline.mbPerSecond)} the baseline` : '' });
      rows.push({ group: 'parser', figure: 'tasks.md parser throughput against the goal', value: `${p.mbPerSecond} MB/s`, baseline: 'goal ≥ 30 MB/s', ratio: `${times(p.mbPerSecond / 30)} of goal` });
    }
    for (const [k, v] of numericFields('', r.parser).filter(([k]) => k !== 'mbPerSecond' && k !== 'baseline.mbPerSecond')) rows.push({ group: 'parser', figure: k, value: String(round(v, 3)), baseline: '', ratio: '' });
    if (parserLoad) rows.push({ group: 'parser', figure: 'load average before', value: parserLoad.join('/'), baseline: '', ratio: '' });
  } else rows.push({ group: 'parser', figure: 'MB/s', value: 'not measured (hook: test/bench/parser-bench.ts)', baseline: 'goal ≥ 30', ratio: '' });
  if (Array.isArray(r.cli)) {
    const timings = r.cli as { command: string; p50Ms: number; p95Ms: number; runs: number }[];
    const floor = timings.find((t) => t.command.startsWith('node -e'));
    for (const t of timings) {
      const isFloor = t === floor;
      rows.push({ group: 'CLI', figure: `${t.command} — spawn → exit, p50 / p95 (${t.runs} runs)`, value: `${t.p50Ms} / ${t.p95Ms} ms`, baseline: floor && !isFloor ? `node -e '' ${floor.p50Ms} ms` : '', ratio: floor && !isFloor ? `+${round(t.p50Ms - floor.p50Ms, 0)} ms (${times(t.p50Ms / floor.p50Ms)})` : '' });
    }
    const status = timings.find((t) => t.command.startsWith('sdlc-runner status'));
    if (status) rows.push({ group: 'CLI', figure: 'sdlc-runner status against the goal', value: `${status.p50Ms} ms`, baseline: 'goal ≤ 500 ms', ratio: `${times(status.p50Ms / 500)} of goal` });
    if (cliLoad) rows.push({ group: 'CLI', figure: 'load average before', value: cliLoad.join('/'), baseline: '', ratio: '' });
  } else if (r.cli) {
    for (const [k, v] of numericFields('', r.cli)) rows.push({ group: 'CLI', figure: k, value: String(round(v, 3)), baseline: '', ratio: '' });
  } else rows.push({ group: 'CLI', figure: 'start time', value: 'not measured (hook: test/bench/cli-bench.ts)', baseline: 'goal status ≤ 0.5 s', ratio: '' });
  for (const f of r.fanout) {
    const g = `fan-out ${f.tasks}/${f.maxParallel} (in-memory cluster)`;
    rows.push({ group: g, figure: 'run wall time / tasks per second', value: `${s(f.runWallSeconds)} / ${f.tasksPerSecond}`, baseline: '', ratio: `${f.succeeded}/${f.tasks} succeeded` });
    rows.push({ group: g, figure: 'parent history events', value: String(f.parentEvents), baseline: '', ratio: '' });
    rows.push({ group: g, figure: `CPU seconds (${f.cpu.wallSeconds} s wall; worker in the bench process); load average before`, value: Object.entries(f.cpu.cpuSeconds).map(([k, v]) => `${k} ${v}`).join(', '), baseline: '', ratio: f.loadBefore.join('/') });
    rows.push({ group: g, figure: 'max pods alive (Pending/Running) / existing / children open, at once', value: `${f.maxPodsAlive} / ${f.maxPodsExisting} / ${f.maxChildrenOpen}`, baseline: `maxParallel ${f.maxParallel}`, ratio: '' });
    rows.push({ group: g, figure: 'median ms a pod is alive / exists / a child is open; pods created per s', value: `${round(f.podAliveMsP50, 0)} / ${round(f.podExistsMsP50, 0)} / ${round(f.childOpenMsP50, 0)} ms; ${f.podsCreatedPerSecond}/s`, baseline: '', ratio: `alive ≈ rate × alive time = ${round((f.podsCreatedPerSecond * f.podAliveMsP50) / 1000, 1)}` });
  }
  return rows;
}

function printTable(rows: Row[]): void {
  const w = [0, 0, 0, 0];
  const cells = rows.map((r) => [`${r.group}: ${r.figure}`, r.value, r.baseline, r.ratio]);
  for (const c of cells) c.forEach((x, i) => (w[i] = Math.min(90, Math.max(w[i]!, x.length))));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i]!)).join('  ');
  console.log('\n' + line(['figure', 'value', 'baseline', 'ratio']));
  console.log(w.map((x) => '-'.repeat(x)).join('  '));
  for (const c of cells) console.log(line(c));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
