/**
 * The follow activity (activities/index.ts followAgentPod) on the real gateway, against the real
 * apiserver and the test kubelet, run in Temporal's MockActivityEnvironment (no server needed).
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import type { FollowOutcome } from '../../activities/types';
import type { GitGateway } from '../../src/git/gateway';
import { LABELS } from '../../src/k8s/gateway';
import type { ClientGateway } from '../../src/k8s/client-gateway';
import { agentRequest, newRunId, RESULT, startTestEnv, type TestEnv } from './support/env';

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

async function follow(podName: string, pollIntervalMs = 10_000, onHeartbeat?: (details: unknown) => void): Promise<FollowOutcome> {
  const activities = createActivities({ kubernetes: gw, git: noGit, pollIntervalMs });
  const mock = new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 });
  if (onHeartbeat) mock.on('heartbeat', onHeartbeat);
  return mock.run(activities.followAgentPod, { podName, taskId: 'T001', pendingTimeoutSeconds: 60 });
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
