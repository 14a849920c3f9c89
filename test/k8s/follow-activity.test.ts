/**
 * The follow activity (activities/index.ts followAgentPod) on the real gateway, against the real
 * apiserver and the test kubelet, run in Temporal's MockActivityEnvironment (no server needed).
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import type { FollowOutcome, FollowProgress } from '../../activities/types';
import type { GitGateway } from '../../src/git/gateway';
import { KubernetesError, LABELS, type KubernetesGateway } from '../../src/k8s/gateway';
import type { ClientGateway } from '../../src/k8s/client-gateway';
import { agentRequest, newRunId, numberedLines, RESULT, startTestEnv, type TestEnv } from './support/env';

let env: TestEnv;
let gw: ClientGateway;

beforeAll(async () => {
  env = await startTestEnv('follow-activity');
  gw = env.gateway();
}, 240_000);

afterAll(async () => {
  await env?.stop();
});

afterEach(async () => {
  await env?.kubelet.clearFaults();
});

const noGit = {} as GitGateway;

async function follow(
  podName: string,
  pollIntervalMs = 10_000,
  onHeartbeat?: (details: unknown) => void,
  opts: { pendingTimeoutSeconds?: number } = {},
): Promise<FollowOutcome> {
  const activities = createActivities({ kubernetes: gw, git: noGit, pollIntervalMs });
  const mock = new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 });
  if (onHeartbeat) mock.on('heartbeat', onHeartbeat);
  return mock.run(activities.followAgentPod, { podName, taskId: 'T001', pendingTimeoutSeconds: opts.pendingTimeoutSeconds ?? 60 });
}

/**
 * The follow activity as Temporal runs it: a retryable failure (e.g. the apiserver answering 500 to
 * a log request whose kubelet connection dropped) ends the attempt, and the next attempt resumes
 * from the details of the last heartbeat (round-tripped through JSON, as Temporal stores them).
 */
async function followWithRetries(
  podName: string,
  kubernetes: KubernetesGateway,
  pollIntervalMs: number,
): Promise<{ outcome: FollowOutcome; retriedErrors: string[]; heartbeats: FollowProgress[] }> {
  const activities = createActivities({ kubernetes, git: noGit, pollIntervalMs });
  const retriedErrors: string[] = [];
  const heartbeats: FollowProgress[] = [];
  let details: FollowProgress | undefined;
  for (let attempt = 1; attempt <= 10; attempt++) {
    const mock = new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000, attempt, heartbeatDetails: details });
    mock.on('heartbeat', (d: unknown) => heartbeats.push((details = JSON.parse(JSON.stringify(d)) as FollowProgress)));
    try {
      return { outcome: await mock.run(activities.followAgentPod, { podName, taskId: 'T001', pendingTimeoutSeconds: 60 }), retriedErrors, heartbeats };
    } catch (err) {
      if (!(err instanceof KubernetesError) || !err.retryable) throw err;
      retriedErrors.push(err.message);
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
  throw new Error(`follow of ${podName} failed 10 times: ${retriedErrors.join(' | ')}`);
}

/** Resolves once the pod runs and its agent has printed its first line (so a fault hits a working agent). */
async function firstLine(podName: string): Promise<string> {
  await gw.waitForPod(podName, (p) => p?.phase !== 'Pending', { timeoutMs: 60_000 });
  for await (const line of gw.followLogs(podName)) return line.text;
  throw new Error(`pod ${podName} ended without a log line`);
}


it('a log stream cut just before the agent prints its result and exits: the result line is still read', async () => {
  const runId = newRunId('cut-end');
  await env.kubelet.injectFault({ kind: 'cutLogStream', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } }, afterLines: 3 });
  const script = `echo one; sleep 0.2; echo two; sleep 0.2; echo three; sleep 0.5; echo four; printf '%s\\n' "$RESULT_LINE"; exit 0`;
  const req = agentRequest(runId, 'T001', script, { env: { RESULT_LINE: RESULT } });
  await gw.createPod(req);
  const outcome = await follow(req.name);
  expect(outcome.kind).toBe('exited');
  if (outcome.kind !== 'exited') return;
  expect(outcome.exitCode).toBe(0);
  expect(outcome.lastLines).toEqual(['one', 'two', 'three', 'four', RESULT]);
  expect(outcome.linesSeen).toBe(5);
  expect(outcome.result?.status).toBe('succeeded');
});

it('log reads of an ended pod that end early but cleanly (a connection cut after the apiserver began to answer): read again until the result line', async () => {
  // 20 lines 0.25 s apart, then the result line; the follow starts once the pod has ended.
  const script = `${numberedLines(20, 0.25)}; printf '%s\\n' "$RESULT_LINE"; exit 0`;
  const req = agentRequest(newRunId('clean-cut'), 'T001', script, { env: { RESULT_LINE: RESULT } });
  await gw.createPod(req);
  await gw.waitForPod(req.name, (p) => p?.phase === 'Succeeded', { timeoutMs: 60_000 });
  // The first two reads stop after 6 lines without an error, as a truncated answer does.
  let reads = 0;
  const cutting: KubernetesGateway = Object.assign(Object.create(gw) as KubernetesGateway, {
    async *followLogs(name: string, opts: Parameters<KubernetesGateway['followLogs']>[1]) {
      const cut = ++reads <= 2;
      let n = 0;
      for await (const line of gw.followLogs(name, opts)) {
        yield line;
        if (cut && ++n >= 6) return;
      }
    },
  });
  const activities = createActivities({ kubernetes: cutting, git: noGit, pollIntervalMs: 1000 });
  const outcome: FollowOutcome = await new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 }).run(activities.followAgentPod, { podName: req.name, taskId: 'T001', pendingTimeoutSeconds: 60 });
  expect(reads).toBeGreaterThanOrEqual(3);
  expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, linesSeen: 21, result: { status: 'succeeded' } });
  if (outcome.kind === 'exited') expect(outcome.lastLines.slice(-2)).toEqual(['line 20', RESULT]);
});

it('an agent that prints very long lines: the heartbeat and the outcome stay far below Temporal\'s payload limit (2 MB)', async () => {
  // 25 lines of 150 kB each (think: a minified bundle or a base64 blob cat'ed to stdout), then a malformed result line of 300 kB.
  const script = `i=0; while [ $i -lt 25 ]; do head -c 150000 /dev/zero | tr '\\0' x; echo; i=$((i+1)); done; printf '::sdlc-result::{'; head -c 300000 /dev/zero | tr '\\0' y; echo`;
  const req = agentRequest(newRunId('long'), 'T001', script);
  await gw.createPod(req);
  let largestHeartbeat = 0;
  const outcome = await follow(req.name, 10_000, (d) => (largestHeartbeat = Math.max(largestHeartbeat, JSON.stringify(d).length)));
  expect(outcome.kind).toBe('exited');
  if (outcome.kind !== 'exited') return;
  expect(outcome.linesSeen).toBe(26);
  expect(outcome.lastLines).toHaveLength(20);
  expect(outcome.lastLines[0]!.startsWith('x'.repeat(1000))).toBe(true);
  expect(JSON.stringify(outcome).length).toBeLessThan(256_000);
  expect(largestHeartbeat).toBeLessThan(256_000);
});

describe('how a pod ended, through the follow activity', () => {
  it('an agent OOM-killed while it runs: exited, reason OOMKilled, exit code 137, its last lines kept', async () => {
    const req = agentRequest(newRunId('oom'), 'T001', 'echo allocating; sleep 120');
    await gw.createPod(req);
    const outcome = follow(req.name, 1000);
    expect(await firstLine(req.name)).toBe('allocating');
    await env.kubelet.injectFault({ kind: 'oomKill', target: { namespace: env.namespace, name: req.name } });
    const o = await outcome;
    expect(o).toMatchObject({ kind: 'exited', exitCode: 137, reason: 'OOMKilled', lastLines: ['allocating'], linesSeen: 1 });
    if (o.kind === 'exited') expect(o.result).toBeUndefined();
  }, 120_000);

  it('an agent pod evicted while it runs: exited with podReason Evicted', async () => {
    const req = agentRequest(newRunId('evict'), 'T001', 'echo working; sleep 120');
    await gw.createPod(req);
    const outcome = follow(req.name, 1000);
    expect(await firstLine(req.name)).toBe('working');
    await env.kubelet.injectFault({ kind: 'evict', target: { namespace: env.namespace, name: req.name }, message: 'The node was low on resource: memory.' });
    const o = await outcome;
    expect(o).toMatchObject({ kind: 'exited', podReason: 'Evicted', lastLines: ['working'] });
    if (o.kind === 'exited') expect(o.result).toBeUndefined();
  }, 120_000);

  it('a pod whose image cannot be pulled: pending_timeout after pendingTimeoutSeconds, with the waiting reason and message', async () => {
    const runId = newRunId('pull');
    await env.kubelet.injectFault({ kind: 'imagePullFailure', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } }, message: 'manifest unknown' });
    const req = agentRequest(runId, 'T001', 'echo never');
    await gw.createPod(req);
    try {
      // The pull has failed at least once before the clock starts: the timeout, not the kubelet's pace, decides the outcome.
      await gw.waitForPod(req.name, (p) => p?.waitingReason === 'ErrImagePull' || p?.waitingReason === 'ImagePullBackOff', { timeoutMs: 60_000 });
      const started = Date.now();
      const o = await follow(req.name, 10_000, undefined, { pendingTimeoutSeconds: 2 });
      expect(o.kind).toBe('pending_timeout');
      if (o.kind !== 'pending_timeout') return;
      expect(['ErrImagePull', 'ImagePullBackOff']).toContain(o.waitingReason);
      // The kubelet's own words alternate with the reason: the registry's error, then the back-off.
      expect(o.waitingMessage).toMatch(o.waitingReason === 'ErrImagePull' ? /manifest unknown/ : /Back-off pulling image "sdlc-test\/agent:1"/);
      expect(o.pendingSeconds).toBeGreaterThanOrEqual(2);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    } finally {
      await gw.deletePod(req.name, { gracePeriodSeconds: 0 });
    }
  }, 120_000);
});

describe('log stream cuts, through the follow activity', () => {
  it('40 numbered lines and the result line, the stream cut twice: every line followed exactly once, in order', async () => {
    const runId = newRunId('cut2');
    // Two cuts: after 7 lines of the first stream and 7 lines of the second (a replay after a reconnect counts).
    await env.kubelet.injectFault({ kind: 'cutLogStream', target: { namespace: env.namespace, labels: { [LABELS.run]: runId } }, afterLines: 7, times: 2 });
    const req = agentRequest(runId, 'T001', `${numberedLines(40, 0.05)}; printf '%s\\n' "$RESULT_LINE"`, { env: { RESULT_LINE: RESULT } });
    await gw.createPod(req);
    let streams = 0;
    const counting: KubernetesGateway = Object.assign(Object.create(gw) as KubernetesGateway, {
      followLogs: (...args: Parameters<KubernetesGateway['followLogs']>) => {
        streams++;
        return gw.followLogs(...args);
      },
    });
    // Re-checks the pod every second: the follow reconnects while the agent still prints (not only after it ended).
    const { outcome: o, heartbeats, retriedErrors } = await followWithRetries(req.name, counting, 1000);
    const printed = [...Array.from({ length: 40 }, (_, i) => `line ${i + 1}`), RESULT];
    expect(o.kind).toBe('exited');
    if (o.kind !== 'exited') return;
    expect(o).toMatchObject({ exitCode: 0, result: { status: 'succeeded', taskId: 'T001' } });
    expect(o.linesSeen).toBe(printed.length);
    expect(o.lastLines).toEqual(printed.slice(-20));
    // The whole sequence, from the heartbeats: one comes at least every 20 new lines and at every stream end, each
    // with the last 20 lines and the count so far, so together they number every line followed. A repeat
    // would shift the numbering (a line under two numbers, or a number with two lines); a loss leaves a line out.
    const byNumber = new Map<number, string>();
    const conflicts: string[] = [];
    for (const h of [...heartbeats, o]) {
      h.lastLines.forEach((text, i) => {
        const n = h.linesSeen - h.lastLines.length + i + 1;
        const before = byNumber.get(n);
        if (before !== undefined && before !== text) conflicts.push(`line #${n}: ${JSON.stringify(before)} then ${JSON.stringify(text)}`);
        byNumber.set(n, text);
      });
    }
    expect(conflicts).toEqual([]);
    expect(Array.from({ length: byNumber.size }, (_, i) => byNumber.get(i + 1))).toEqual(printed);
    // Both cuts happened: two cut streams and at least one that read to the end. A cut can also reach the
    // activity as a retryable 500 (the kubelet dropped the connection before the apiserver had its answer);
    // Temporal then retries the activity, which resumes from its last heartbeat.
    expect(streams).toBeGreaterThanOrEqual(3);
    for (const e of retriedErrors) expect(e).toMatch(/pods\/log.*retry later/);
  }, 120_000);
});
