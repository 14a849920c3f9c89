/**
 * kube-apiserver killed (SIGKILL) and restarted while a pod's log is being followed: the follow
 * reconnects (retryable errors while it is down), and ends with every line exactly once; the shared
 * watch comes back by itself and still reports the pod's end.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatResultLine } from '../../src/contract/result-line';
import type { ClientGateway } from '../../src/k8s/client-gateway';
import type { LogLine } from '../../src/k8s/gateway';
import { agentRequest, newRunId, startTestEnv, type TestEnv } from './support/env';
import { followToEnd } from './support/follow';

let env: TestEnv;
let gw: ClientGateway;

beforeAll(async () => {
  env = await startTestEnv('restart');
  gw = env.gateway();
}, 240_000);

afterAll(async () => {
  await env?.stop();
});

it('the follow resumes after the apiserver was killed and restarted, without losing or repeating a line', async () => {
  const release = path.join(env.scratch, 'release');
  const result = formatResultLine({ v: 1, status: 'succeeded', taskId: 'T100', branch: 'b', commits: 0 });
  // Ticks until the test releases it, then prints the result line: the pod outlives the outage.
  const script = `i=1; while [ ! -e "$RELEASE" ]; do echo "tick $i"; i=$((i+1)); sleep 0.1; done; echo "released after $i"; printf '%s\\n' "$RESULT_LINE"`;
  const req = agentRequest(newRunId(), 'T100', script, { env: { RELEASE: release, RESULT_LINE: result } });
  await gw.createPod(req);

  let seenAfterRestart = 0;
  let restarted = false;
  const onLine = (_line: LogLine) => {
    if (restarted && ++seenAfterRestart === 5 && !existsSync(release)) writeFileSync(release, '');
  };
  const following = followToEnd(gw, req.name, { onLine, timeoutMs: 180_000 });

  await gw.waitForPod(req.name, (p) => p?.phase === 'Running', { timeoutMs: 30_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = Date.now();
  await env.cluster.restartApiserver();
  const outageMs = Date.now() - t0;
  restarted = true;
  // eslint-disable-next-line no-console
  console.log(`[timing] apiserver kill → ready again: ${outageMs} ms`);

  const followed = await following;
  const texts = followed.lines.map((l) => l.text);
  const ticks = texts.filter((t) => t.startsWith('tick '));
  // Every tick exactly once, in order, none missing.
  expect(ticks).toEqual(ticks.map((_, i) => `tick ${i + 1}`));
  expect(texts[texts.length - 2]).toBe(`released after ${ticks.length + 1}`);
  expect(texts[texts.length - 1]).toBe(result);
  expect(followed.final?.phase).toBe('Succeeded');
  expect(followed.streams).toBeGreaterThanOrEqual(2);
  // While it was down, only retryable errors reached the caller (how many depends on timing).
  expect(followed.retriedErrors.every((m) => /Cannot reach the Kubernetes API server|API server failed/.test(m))).toBe(true);

  // The shared watch recovered on its own: it reconnected and saw the pod end.
  const stats = gw.watchStats();
  expect(stats.watches).toBeGreaterThanOrEqual(2);
  expect(stats.openWatches).toBe(1);
  expect((await gw.getPod(req.name))?.phase).toBe('Succeeded');
  // eslint-disable-next-line no-console
  console.log(`[stats] ${ticks.length} ticks, ${followed.streams} streams, ${followed.retriedErrors.length} retried errors, watch ${JSON.stringify(stats)}`);
});
