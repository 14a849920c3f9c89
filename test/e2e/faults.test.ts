/**
 * The fault suite (issue 11): one 10-task run per fault, through the production worker process, the real
 * kube-apiserver + etcd (audit log on) and the test kubelet, with fake-agent.sh printing a known, numbered
 * set of lines. Each run's figures are computed from what happened, not assumed, and must all be 0:
 *
 *   tasks lost          tasks not `succeeded` when the run ended (all of them when the run did not complete)
 *   pods created twice  per task: pods created (201s to the runner in the audit log, or agents started, whichever
 *                       is more) beyond 1 + the infrastructure replacements the run itself reports; a pod name
 *                       created twice counts too
 *   orphans left        the run's agent pods (run label) still in the API 30 s after the run ended
 *   lines lost/repeated per task, the lines its final pod's agent printed (its own record, E2E_ECHO_DIR) against
 *                       the lines the follow activity recorded (linesSeen and lastLines of the completed
 *                       followAgentPod in the task workflow's history; 20 lines per agent = the whole log)
 *
 * Faults: (a) the worker SIGKILLed at 5 points chosen by a seeded random (FAULT_SEED=<n> replays the same
 * choices), a new worker process after each; (b) a dedicated Temporal dev server stopped and started again on
 * the same port with its SQLite file; (c) the kube-apiserver killed and restarted; (d) running agent pods
 * deleted by an admin and evicted through the policy/v1 Eviction API (one replacement evicted again);
 * (e) every open log stream cut every 2 s. The figures are printed as a table at the end and written to
 * test-output/faults/figures.json; docs/reliability.md has the last green run's figures.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { FollowAgentPodInput, FollowOutcome } from '../../activities/types';
import type { RunSummary, TaskState } from '../../workflows/types';
import { LABELS } from '../../src/k8s/gateway';
import { labelValue } from '../../src/k8s/names';
import { repoRoot } from '../../src/tools';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import type { AuditEvent } from '../support/cluster';
import { eventually, makeRecordDir, recordedRuns, startE2eStack, startRun, temporalClient, type E2eStack } from './support/stack';

const TASKS = 10;
/** Numbered lines each agent prints, E2E_LINE_SECONDS apart: with start, 3 steps, done and the result line, 20 in all. */
const NUMBERED_LINES = 14;
const LINE_SECONDS = 0.6;
/** The follow activity keeps the last 20 lines (activities/log-cursor.ts): an agent printing 20 is followed whole. */
const KEPT_LINES = 20;
const SEED = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : randomInt(1, 2 ** 31 - 1);
const OUT_DIR = path.join(repoRoot, 'test-output', 'faults');

/** mulberry32: a small seeded generator, so FAULT_SEED replays the same fault choices. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** `n` distinct integers from lo..hi, sorted. */
function pick(random: () => number, n: number, lo: number, hi: number): number[] {
  const pool = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  const out: number[] = [];
  while (out.length < n) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0]!);
  return out.sort((x, y) => x - y);
}
const taskId = (i: number) => `T${String(i).padStart(3, '0')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => Math.round(ms / 100) / 10;
// eslint-disable-next-line no-console
const say = (s: string) => console.log(`[faults] ${s}`);

interface Figures {
  scenario: string;
  fault: string;
  tasks: number;
  seconds: number;
  tasksLost: number;
  podsCreatedTwice: number;
  orphansLeft: number;
  linesLost: number;
  linesRepeated: number;
  /** What was injected, and when (the facts the doc quotes). */
  injected: string[];
  /** Anything the figures do not show: per-task discrepancies, follow attempts, replacements. */
  notes: string[];
}

let stack: E2eStack;
let shared: { client: Client; close(): Promise<void> };
let admin: CoreV1Api;
const workers: WorkerProcess[] = [];
const servers: DevServer[] = [];
const results: Figures[] = [];

beforeAll(async () => {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  say(`FAULT_SEED=${SEED} (set it to replay this run's fault choices)`);
  shared = await temporalClient();
  stack = await startE2eStack('faults');
  const kc = new KubeConfig();
  kc.loadFromFile(stack.cluster.kubeconfigPath);
  admin = kc.makeApiClient(CoreV1Api);
}, 180_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
  await shared?.close();
  await stack?.stop();
  const rows = results.map((f) => `| ${f.scenario} | ${f.seconds} s | ${f.tasksLost} | ${f.podsCreatedTwice} | ${f.orphansLeft} | ${f.linesLost} | ${f.linesRepeated} |`);
  const table = [
    `FAULT_SEED=${SEED}`,
    '| scenario | start → result | tasks lost | pods created twice | orphans left | lines lost | lines repeated |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    ...results.flatMap((f) => [`${f.scenario}: ${f.fault}`, ...f.injected.map((s) => `  - ${s}`), ...f.notes.map((s) => `  * ${s}`)]),
  ].join('\n');
  writeFileSync(path.join(OUT_DIR, 'figures.json'), JSON.stringify({ seed: SEED, date: new Date().toISOString(), scenarios: results }, null, 2) + '\n');
  say(`figures (also in ${path.relative(repoRoot, OUT_DIR)}/figures.json):\n${table}`);
});

async function spawnWorker(env: Record<string, string>, name: string): Promise<WorkerProcess> {
  const w = await startWorkerProcess({ env, logFile: path.join(OUT_DIR, `${name}.log`), name });
  workers.push(w);
  return w;
}

/** One 10-task run: its agents print 20 known lines each over ~9 s and record them (E2E_ECHO_DIR). */
interface Run {
  scenario: string;
  client: Client;
  handle: WorkflowHandle;
  workflowId: string;
  /** Every pod name of this run starts with it. */
  podPrefix: string;
  records: string;
  queue: string;
  template: string;
  t0: number;
}

type Prepared = Omit<Run, 'client' | 'handle' | 't0'> & { feature: string };

async function prepareRun(scenario: string, env: Record<string, string> = {}): Promise<Prepared> {
  const records = makeRecordDir(stack.scratch, `run-${scenario}`);
  const template = stack.writePodTemplate({ E2E_RECORD_DIR: records, E2E_ECHO_DIR: records, E2E_LINES: String(NUMBERED_LINES), E2E_LINE_SECONDS: String(LINE_SECONDS), ...env });
  const feature = `flt-${scenario}-${randomBytes(3).toString('hex')}`;
  return { scenario, records, template, feature, workflowId: `sdlc-${feature}`, podPrefix: `sdlc-${feature}-`, queue: `e2e-faults-${scenario}-${randomBytes(3).toString('hex')}` };
}

async function startTenTaskRun(client: Client, prepared: Prepared, maxParallel: number): Promise<Run> {
  const t0 = Date.now();
  const handle = await startRun(client, {
    taskQueue: prepared.queue,
    tasks: TASKS,
    feature: prepared.feature,
    repo: stack.repo,
    options: { maxParallel, heartbeatTimeoutSeconds: 5, taskTimeoutSeconds: 300, pendingTimeoutSeconds: 120 },
  });
  expect(handle.workflowId).toBe(prepared.workflowId);
  return { ...prepared, client, handle, t0 };
}

/** Every agent of the run has started, and one at least is still printing (the last to start surely is). */
const allStartedOnePrinting = (run: Run) => recordedRuns(run.records).length === TASKS && printing(run, 6).length > 0;

/** What an agent pod printed (its own record), [] when it never started. */
function printed(run: Run, podName: string): string[] {
  const file = path.join(run.records, `${podName}.out`);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(0, -1) : [];
}

/** Agent pods of the run that have printed at least `lines` lines and not yet their result line. */
function printing(run: Run, lines: number): string[] {
  return readdirSync(run.records)
    .filter((f) => f.endsWith('.out') && f.startsWith(run.podPrefix))
    .map((f) => f.slice(0, -'.out'.length))
    .filter((pod) => {
      const p = printed(run, pod);
      return p.length >= lines && !p.some((l) => l.startsWith('::sdlc-result::'));
    });
}

/** Agents that have printed their result line. */
const finishedAgents = (run: Run) => readdirSync(run.records).filter((f) => f.endsWith('.out') && printed(run, f.slice(0, -4)).some((l) => l.startsWith('::sdlc-result::'))).length;

async function runPods(run: Run): Promise<V1Pod[]> {
  return (await admin.listNamespacedPod({ namespace: stack.namespace, labelSelector: `${LABELS.run}=${labelValue(run.workflowId)}` })).items;
}

/** The completed followAgentPod of `podName` in a task workflow's history: its last attempt and outcome. */
async function followOf(run: Run, childWorkflowId: string, podName: string): Promise<{ attempt: number; outcome: FollowOutcome } | undefined> {
  const events = (await run.client.workflow.getHandle(childWorkflowId).fetchHistory()).events ?? [];
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name !== 'followAgentPod' || !s.input?.payloads?.[0]) continue;
    const input = defaultPayloadConverter.fromPayload<FollowAgentPodInput>(s.input.payloads[0]);
    if (input.podName !== podName) continue;
    const id = String(e.eventId);
    const started = events.find((x) => String(x.activityTaskStartedEventAttributes?.scheduledEventId) === id)?.activityTaskStartedEventAttributes;
    const completed = events.find((x) => String(x.activityTaskCompletedEventAttributes?.scheduledEventId) === id)?.activityTaskCompletedEventAttributes;
    if (!completed?.result?.payloads?.[0]) return undefined;
    return { attempt: started?.attempt ?? 1, outcome: defaultPayloadConverter.fromPayload<FollowOutcome>(completed.result.payloads[0]) };
  }
  return undefined;
}

/** Multiset difference: the lines of `a` not matched by a line of `b`. */
function missingFrom(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const l of b) left.set(l, (left.get(l) ?? 0) + 1);
  return a.filter((l) => {
    const n = left.get(l) ?? 0;
    if (n === 0) return true;
    left.set(l, n - 1);
    return false;
  });
}

/** Waits for the run's result (bounded): undefined when it did not complete in time. */
async function resultWithin(run: Run, ms: number): Promise<RunSummary | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run.handle.result() as Promise<RunSummary>,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every figure of a finished (or given-up) run, from the run's result, its histories, the audit log, the agents' records and the API. */
async function measure(run: Run, summary: RunSummary | undefined, fault: string, injected: string[], extraNotes: string[] = []): Promise<Figures> {
  const seconds = secs(Date.now() - run.t0);
  const notes = [...extraNotes];
  const tasks: TaskState[] = summary?.tasks ?? [];
  if (!summary) notes.push(`the run did not complete (${(await run.handle.describe().catch(() => undefined))?.status.name ?? 'unknown status'})`);
  else if (summary.status !== 'succeeded') notes.push(`run status ${summary.status}`);
  const tasksLost = summary ? TASKS - tasks.filter((t) => t.status === 'succeeded').length : TASKS;
  for (const t of tasks) if (t.status !== 'succeeded') notes.push(`${t.id} ${t.status}: ${t.reason ?? ''}`);

  // Pods created twice: the audit log's 201s for this run's pods, cross-checked with the agents that started.
  const created = stack.podCreations().filter((n) => n.startsWith(run.podPrefix));
  const started = recordedRuns(run.records).filter((r) => r.pod.startsWith(run.podPrefix));
  let podsCreatedTwice = 0;
  const replaced: string[] = [];
  for (let i = 1; i <= TASKS; i++) {
    const id = taskId(i);
    const slug = `-${id.toLowerCase()}-a`;
    const names = created.filter((n) => n.includes(slug));
    const agentPods = new Set(started.filter((r) => r.task === id).map((r) => r.pod));
    const count = Math.max(names.length, agentPods.size);
    const dupNames = names.length - new Set(names).size;
    const t = tasks.find((x) => x.id === id);
    const expected = 1 + (t?.infraRetries ?? 0);
    const extra = Math.max(count - expected, dupNames, 0);
    podsCreatedTwice += extra;
    if ((t?.infraRetries ?? 0) > 0) replaced.push(`${id}×${t!.infraRetries}`);
    if (extra || agentPods.size !== names.length || (t && t.attempt !== 1)) {
      notes.push(`${id}: ${names.length} pods created (audit), ${agentPods.size} agent pods started, attempt ${t?.attempt}, infraRetries ${t?.infraRetries ?? 0}: ${names.join(', ')}`);
    }
  }
  if (replaced.length) notes.push(`replacement pods the run reports: ${replaced.join(', ')}`);
  const conflicts = stack.cluster
    .auditEvents()
    .filter((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'pods' && !e.objectRef.subresource && e.objectRef.name?.startsWith(run.podPrefix) && e.responseStatus?.code === 409);
  if (conflicts.length) notes.push(`pod creates answered 409 AlreadyExists (a create retried after the pod was made): ${conflicts.length}`);
  // Refusals the runner met during the run (the evidence when a fault turns into a 403), with the authorizer's reason.
  const refused = stack.cluster
    .auditEvents()
    .filter((e) => e.stage === 'ResponseComplete' && e.user.username === stack.runnerUser && e.responseStatus?.code === 403 && Date.parse(e.stageTimestamp ?? '') >= run.t0);
  if (refused.length) {
    const first = refused[0]! as AuditEvent & { annotations?: Record<string, string> };
    notes.push(
      `${refused.length} API requests of the runner answered 403, from +${secs(Date.parse(first.stageTimestamp!) - run.t0)} s to +${secs(Date.parse(refused.at(-1)!.stageTimestamp!) - run.t0)} s: ` +
        `${[...new Set(refused.map((e) => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`))].join(', ')}; first: ${first.requestURI}, ${JSON.stringify(first.annotations ?? {})}`,
    );
  }

  // Orphans: the run's pods still in the API once the run and its cleanup are done (bounded wait).
  let left: V1Pod[] = [];
  await eventually(async () => (left = await runPods(run)).length === 0, 'the run pods deleted', 30_000).catch(() => undefined);
  const orphansLeft = left.length;
  if (orphansLeft) notes.push(`orphans: ${left.map((p) => `${p.metadata?.name} (${p.status?.phase}${p.metadata?.deletionTimestamp ? ', deleting' : ''})`).join(', ')}`);

  // Lines: what each task's final agent printed vs what the follow activity recorded.
  let linesLost = 0;
  let linesRepeated = 0;
  const followAttempts: string[] = [];
  for (const t of tasks) {
    if (t.status !== 'succeeded' || !t.podName || !t.childWorkflowId) continue;
    const want = printed(run, t.podName);
    const follow = await followOf(run, t.childWorkflowId, t.podName);
    if (!follow || follow.outcome.kind !== 'exited') {
      linesLost += want.length;
      notes.push(`${t.id}: no completed follow of ${t.podName} in the history (${follow?.outcome.kind ?? 'none'})`);
      continue;
    }
    const { linesSeen, lastLines } = follow.outcome;
    if (follow.attempt > 1) followAttempts.push(`${t.id}:${follow.attempt}`);
    let lost: string[];
    let repeated: string[];
    if (linesSeen <= KEPT_LINES && lastLines.length === linesSeen) {
      // lastLines is everything the follow read, in order.
      lost = missingFrom(want, lastLines);
      repeated = missingFrom(lastLines, want);
      if (!lost.length && !repeated.length && lastLines.join('\n') !== want.join('\n')) notes.push(`${t.id}: lines out of order: ${JSON.stringify(lastLines)}`);
    } else {
      const tail = want.slice(-lastLines.length);
      lost = [...missingFrom(tail, lastLines), ...Array(Math.max(0, want.length - linesSeen)).fill('<count>')];
      repeated = [...missingFrom(lastLines, tail), ...Array(Math.max(0, linesSeen - want.length)).fill('<count>')];
    }
    if (want.length !== NUMBERED_LINES + 6) notes.push(`${t.id}: its agent recorded ${want.length} lines, not ${NUMBERED_LINES + 6}`);
    if (t.logLines !== linesSeen) notes.push(`${t.id}: the run reports ${t.logLines} log lines, the follow ${linesSeen}`);
    if (lost.length || repeated.length) notes.push(`${t.id} (${t.podName}): printed ${want.length}, followed ${linesSeen}; lost ${JSON.stringify(lost)}, repeated ${JSON.stringify(repeated)}`);
    linesLost += lost.length;
    linesRepeated += repeated.length;
  }
  if (followAttempts.length) notes.push(`follow activities that needed more than one attempt (task:attempt): ${followAttempts.join(', ')}`);
  const f: Figures = { scenario: run.scenario, fault, tasks: TASKS, seconds, tasksLost, podsCreatedTwice, orphansLeft, linesLost, linesRepeated, injected, notes };
  results.push(f);
  say(`${run.scenario}: ${JSON.stringify(f)}`);
  return f;
}

function expectZero(f: Figures): void {
  expect({ scenario: f.scenario, tasksLost: f.tasksLost, podsCreatedTwice: f.podsCreatedTwice, orphansLeft: f.orphansLeft, linesLost: f.linesLost, linesRepeated: f.linesRepeated, notes: f.notes }).toEqual({
    scenario: f.scenario,
    tasksLost: 0,
    podsCreatedTwice: 0,
    orphansLeft: 0,
    linesLost: 0,
    linesRepeated: 0,
    notes: expect.any(Array),
  });
}

it('a. the worker process SIGKILLed at 5 seeded-random points of a 10-task run, a new worker after each', async () => {
  // T010's agent, after its 20 lines, waits (silently) until the last worker is up: the run is surely still running at every kill.
  const holdDir = makeRecordDir(stack.scratch, 'holds-a');
  const prepared = await prepareRun('a-worker-kill', { E2E_HOLD_DIR: holdDir, E2E_HOLD_TASKS: taskId(TASKS) });
  const hold = path.join(holdDir, prepared.workflowId);
  writeFileSync(hold, '');
  const env = stack.workerEnv(prepared.queue, prepared.template);
  let worker = await spawnWorker(env, 'a-worker-1');
  // Kill i: once the k_i-th agent has started (5 distinct k from 1..10), after a further 0–2.5 s.
  const random = seeded(SEED); // its own generator: `-t '^a\.'` with the seed replays the same points
  const ks = pick(random, 5, 1, TASKS);
  const delays = ks.map(() => Math.floor(random() * 2500));
  const run = await startTenTaskRun(shared.client, prepared, 4);
  const injected: string[] = [`kill points (seed ${SEED}): after agent start #${ks.join(', #')}, + ${delays.join(', ')} ms`];
  for (let i = 0; i < ks.length; i++) {
    await eventually(() => recordedRuns(run.records).length >= ks[i]!, `agent #${ks[i]} started`, 120_000, 100);
    await sleep(delays[i]!);
    const status = (await run.handle.describe()).status.name;
    const at = { s: secs(Date.now() - run.t0), started: recordedRuns(run.records).length, finished: finishedAgents(run), pods: (await runPods(run)).length };
    expect(await worker.kill()).toBe(137);
    injected.push(`kill ${i + 1} at +${at.s} s (run ${status}): ${at.started} agents started, ${at.finished} finished, ${at.pods} pods in the API`);
    expect(status).toBe('RUNNING');
    const t = Date.now();
    worker = await spawnWorker(env, `a-worker-${i + 2}`);
    injected.push(`  worker ${i + 2} ready ${secs(Date.now() - t)} s after the kill`);
  }
  rmSync(hold);
  injected.push(`${taskId(TASKS)}'s agent held after its lines until worker 6 was ready (+${secs(Date.now() - run.t0)} s)`);
  const summary = await resultWithin(run, 180_000);
  const resumed = [2, 3, 4, 5, 6].map((n) => (readFileSync(path.join(OUT_DIR, `a-worker-${n}.log`), 'utf8').match(/resuming follow from heartbeat/g) ?? []).length);
  const f = await measure(run, summary, 'worker SIGKILL at 5 random points, a new worker process after each', injected, [`follows resumed from their heartbeat by workers 2–6: ${resumed.join(', ')}`]);
  await worker.stop();
  expectZero(f);
}, 400_000);

it('b. the Temporal dev server stopped and started again on the same port with its database file, mid-run', async () => {
  const db = path.join(stack.scratch, 'temporal-b.db');
  let server = await startDevServer({ headless: true, dbFilename: db });
  servers.push(server);
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection, namespace: server.namespace });
    const prepared = await prepareRun('b-temporal-restart');
    const worker = await spawnWorker({ ...stack.workerEnv(prepared.queue, prepared.template), TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace }, 'b-worker');
    const run = await startTenTaskRun(client, prepared, TASKS);
    await eventually(() => allStartedOnePrinting(run), 'all 10 agents started, one printing', 120_000, 100);
    const busy = printing(run, 1).length;
    const port = Number(server.address.split(':').pop());
    const injected: string[] = [];
    const down = Date.now();
    await server.stop();
    const stopped = Date.now();
    // Down for longer than the follows' heartbeat timeout (5 s): the agents go on printing meanwhile.
    await sleep(6_000);
    const restart = Date.now();
    server = await startDevServer({ headless: true, dbFilename: db, port });
    servers.push(server);
    injected.push(
      `Temporal stopped (SIGTERM, ${secs(stopped - down)} s to exit) at +${secs(down - run.t0)} s with ${busy} agents printing, started again on :${port} with its ${path.basename(db)} ` +
        `(ready ${secs(Date.now() - restart)} s after the start): ${secs(Date.now() - down)} s without Temporal, ${finishedAgents(run)} agents finished meanwhile`,
    );
    const summary = await resultWithin(run, 150_000);
    const f = await measure(run, summary, 'Temporal dev server stopped and restarted with its database, mid-run', injected, [`worker still up after the restart: ${(await Promise.race([worker.exited.then((c) => `no, exited ${c}`), sleep(10).then(() => 'yes')]))}`]);
    await worker.stop();
    expectZero(f);
  } finally {
    await connection.close();
  }
}, 300_000);

it('c. the kube-apiserver killed and restarted mid-run', async () => {
  const prepared = await prepareRun('c-apiserver-restart');
  const worker = await spawnWorker(stack.workerEnv(prepared.queue, prepared.template), 'c-worker');
  const run = await startTenTaskRun(shared.client, prepared, TASKS);
  await eventually(() => allStartedOnePrinting(run), 'all 10 agents started, one printing', 120_000, 100);
  const busy = printing(run, 1).length;
  const t = Date.now();
  stack.killApiserver();
  await sleep(2_000);
  const restart = Date.now();
  await stack.cluster.restartApiserver();
  const injected: string[] = [`kube-apiserver SIGKILLed at +${secs(t - run.t0)} s with ${busy} agents printing, left down 2 s, started again on the same port (etcd kept) at +${secs(restart - run.t0)} s, /readyz ok at +${secs(Date.now() - run.t0)} s (${secs(Date.now() - t)} s after the kill); ${finishedAgents(run)} agents finished by then`];
  // Whether the worker had read a pod directly (not from its watch cache) before the restart: the gateway rides out
  // a warming-up apiserver's 403 only for a verb it has been allowed before (src/k8s/grant-memory.ts).
  const gets = stack.cluster
    .auditEvents()
    .filter((e) => e.stage === 'ResponseComplete' && e.user.username === stack.runnerUser && e.verb === 'get' && e.objectRef?.resource === 'pods' && !e.objectRef.subresource && e.responseStatus?.code === 200)
    .map((e) => Date.parse(e.stageTimestamp ?? ''))
    .filter((ms) => ms >= run.t0);
  injected.push(`direct GETs of a pod answered 200 to the worker: ${gets.filter((ms) => ms < t).length} before the kill, ${gets.filter((ms) => ms >= t).length} after`);
  const summary = await resultWithin(run, 150_000);
  const f = await measure(run, summary, 'kube-apiserver SIGKILL + restart, mid-run', injected);
  await worker.stop();
  expectZero(f);
}, 300_000);

it('d. running agent pods deleted by an admin and evicted through the Eviction API (a replacement evicted again)', async () => {
  const prepared = await prepareRun('d-delete-evict');
  const worker = await spawnWorker(stack.workerEnv(prepared.queue, prepared.template), 'd-worker');
  const random = seeded(SEED + 1);
  const chosen = pick(random, 4, 1, TASKS).map(taskId);
  // Seeded order: the first two deleted, the last two evicted; the first one's replacement is evicted too.
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
  }
  const [del1, del2, ev1, ev2] = chosen as [string, string, string, string];
  const run = await startTenTaskRun(shared.client, prepared, TASKS);
  const ns = stack.namespace;
  const evict = (name: string) => admin.createNamespacedPodEviction({ name, namespace: ns, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } } });
  // Each disruption hits its pod while its agent prints (it has at least 8 s of lines left).
  const actions: [string, string, (pod: string) => Promise<unknown>][] = [
    [del1, 'a1', (pod) => admin.deleteNamespacedPod({ name: pod, namespace: ns })],
    [del2, 'a1', (pod) => admin.deleteNamespacedPod({ name: pod, namespace: ns })],
    [ev1, 'a1', evict],
    [ev2, 'a1', evict],
    [del1, 'a1r1', evict], // the replacement of the first deleted pod, evicted in its turn
  ];
  const injected: string[] = [];
  const done = new Set<number>();
  await eventually(async () => {
    const now = printing(run, 5);
    for (const [i, [id, tag, act]] of actions.entries()) {
      const pod = now.find((p) => p.includes(`-${id.toLowerCase()}-${tag}-`));
      if (done.has(i) || !pod) continue;
      done.add(i);
      await act(pod);
      injected.push(`+${secs(Date.now() - run.t0)} s: ${id} ${tag === 'a1' ? 'pod' : 'replacement pod'} ${pod} ${i < 2 ? 'deleted (admin)' : 'evicted (policy/v1 Eviction)'}`);
    }
    return done.size === actions.length;
  }, 'every chosen pod disrupted while printing', 120_000, 100);
  const summary = await resultWithin(run, 150_000);
  const f = await measure(run, summary, 'pod deletions (admin) and evictions (Eviction API) of running agent pods', injected);
  // The run reports exactly the disruptions injected.
  const retries = Object.fromEntries((summary?.tasks ?? []).filter((x) => x.infraRetries).map((x) => [x.id, x.infraRetries]));
  await worker.stop();
  expectZero(f);
  expect(retries).toEqual({ [del1]: 2, [del2]: 1, [ev1]: 1, [ev2]: 1 });
}, 300_000);

it('e. every open log stream cut every 2 s for the whole run', async () => {
  const prepared = await prepareRun('e-log-cuts');
  const worker = await spawnWorker(stack.workerEnv(prepared.queue, prepared.template), 'e-worker');
  const run = await startTenTaskRun(shared.client, prepared, 5);
  let cuts = 0;
  let streams = 0;
  const timer = setInterval(() => {
    cuts++;
    streams += stack.kubelet.cutLogStreams();
  }, 2_000);
  let summary: RunSummary | undefined;
  try {
    summary = await resultWithin(run, 150_000);
  } finally {
    clearInterval(timer);
  }
  const f = await measure(run, summary, 'every open log stream cut every 2 s', [`${cuts} cuts, ${streams} open log streams dropped in all`]);
  await worker.stop();
  expectZero(f);
  expect(streams).toBeGreaterThan(TASKS);
}, 300_000);
