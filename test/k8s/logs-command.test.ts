/**
 * `sdlc-runner logs` (runLogsCommand) against the real apiserver + test kubelet: a 3-pod run,
 * interleaved `[T0xx]` prefixed lines, reconnecting after a stream cut without repeats, exiting 0
 * once every pod has ended.
 */
import { PassThrough } from 'node:stream';
import { runLogsCommand } from '../../src/cli/logs';
import type { ClientGateway } from '../../src/k8s/client-gateway';
import { LABELS } from '../../src/k8s/gateway';
import { agentRequest, newRunId, startTestEnv, type TestEnv } from './support/env';

let env: TestEnv;
let gw: ClientGateway;

beforeAll(async () => {
  env = await startTestEnv('logs');
  gw = env.gateway();
}, 240_000);

afterAll(async () => {
  await env?.stop();
});

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

const TASKS = ['T001', 'T002', 'T003'];
/**
 * Each task prints 8 numbered lines, 0.5 s apart: the three pods' lines overlap in time, even when the
 * test kubelet starts the pods a second apart on a loaded machine.
 */
const script = 'i=1; while [ $i -le 8 ]; do echo "$SDLC_TASK_ID step $i"; i=$((i+1)); sleep 0.5; done';

async function startRun(cutTask?: string): Promise<string> {
  const runId = newRunId('logs');
  if (cutTask) {
    await env.kubelet.injectFault({ kind: 'cutLogStream', target: { namespace: env.namespace, labels: { [LABELS.run]: runId, [LABELS.task]: cutTask } }, afterLines: 3 });
  }
  await Promise.all(TASKS.map((t) => gw.createPod(agentRequest(runId, t, script))));
  return runId;
}

/** Lines of one task, without their prefix, in output order. */
function linesOf(output: string, task: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith(`[${task}]`))
    .map((l) => l.slice(`[${task}]`.length).trim());
}

it('--follow: all pods of the run, interleaved with [T0xx] prefixes, no repeats after a cut, exit 0 when all ended', async () => {
  const runId = await startRun('T002');
  const out = capture();
  const err = capture();
  const t0 = Date.now();
  const code = await runLogsCommand({
    namespace: env.namespace,
    kubeconfig: env.access.kubeconfigPath,
    runLabel: runId,
    follow: true,
    out: out.stream,
    err: err.stream,
    color: false,
  });
  const output = out.text();
  expect(err.text()).toBe('');
  expect(code).toBe(0);
  for (const t of TASKS) {
    expect(linesOf(output, t)).toEqual([...Array.from({ length: 8 }, (_, i) => `${t} step ${i + 1}`), '--- pod Succeeded, exit 0, Completed']);
  }
  // Interleaved as they happened, not grouped per pod: some T002 line comes before T001's last one.
  const lines = output.split('\n');
  expect(lines.findIndex((l) => l.startsWith('[T002] T002 step 1'))).toBeLessThan(lines.findIndex((l) => l.startsWith('[T001] T001 step 8')));
  // Plain output: no escape codes.
  expect(output).not.toMatch(/\x1b\[/);
  // eslint-disable-next-line no-console
  console.log(`[timing] logs --follow of a 3-pod run (~4 s of output each): ${Date.now() - t0} ms`);
});

it('without --follow: the logs so far, merged in time order, coloured prefixes when asked; --task filters', async () => {
  const runId = await startRun();
  await Promise.all(
    TASKS.map((t) => gw.waitForPod(agentRequest(runId, t, '').name, (p) => p?.phase === 'Succeeded', { timeoutMs: 60_000 })),
  );
  const out = capture();
  expect(await runLogsCommand({ namespace: env.namespace, kubeconfig: env.access.kubeconfigPath, runLabel: runId, follow: false, out: out.stream, color: true })).toBe(0);
  const lines = out.text().trimEnd().split('\n');
  expect(lines).toHaveLength(24);
  // Each prefix is wrapped in an ANSI colour, different per task.
  const colours = new Map(TASKS.map((t) => [t, new RegExp(`^\\x1b\\[(\\d+)m\\[${t}\\]`).exec(lines.find((l) => l.includes(`[${t}]`))!)?.[1]]));
  expect(new Set(colours.values()).size).toBe(3);
  const plain = lines.map((l) => l.replace(/\x1b\[\d+m/g, ''));
  for (const t of TASKS) expect(linesOf(plain.join('\n'), t)).toEqual(Array.from({ length: 8 }, (_, i) => `${t} step ${i + 1}`));

  const only = capture();
  expect(await runLogsCommand({ namespace: env.namespace, kubeconfig: env.access.kubeconfigPath, runLabel: runId, tasks: ['T003'], follow: false, out: only.stream, color: false })).toBe(0);
  expect(only.text().trimEnd().split('\n')).toEqual(Array.from({ length: 8 }, (_, i) => `[T003] T003 step ${i + 1}`));
});

it('a run without pods: says so and exits 1', async () => {
  const err = capture();
  const code = await runLogsCommand({ namespace: env.namespace, kubeconfig: env.access.kubeconfigPath, runLabel: 'no-such-run', follow: true, out: capture().stream, err: err.stream, color: false });
  expect(code).toBe(1);
  expect(err.text()).toMatch(/no agent pods of run "no-such-run" in namespace "agents-logs"/);
});

it('without --follow, while one task\'s pod is still Pending (image pull): the other tasks\' logs are shown, the pending one is named, exit 0', async () => {
  const runId = newRunId('logs');
  await env.kubelet.injectFault({ kind: 'imagePullFailure', target: { namespace: env.namespace, labels: { [LABELS.run]: runId, [LABELS.task]: 'T002' } } });
  const done = agentRequest(runId, 'T001', 'echo "T001 one"; echo "T001 two"');
  const pending = agentRequest(runId, 'T002', 'echo never');
  await Promise.all([gw.createPod(done), gw.createPod(pending)]);
  await gw.waitForPod(done.name, (p) => p?.phase === 'Succeeded', { timeoutMs: 60_000 });
  await gw.waitForPod(pending.name, (p) => p?.waitingReason === 'ErrImagePull' || p?.waitingReason === 'ImagePullBackOff', { timeoutMs: 30_000 });
  const out = capture();
  const err = capture();
  const code = await runLogsCommand({ namespace: env.namespace, kubeconfig: env.access.kubeconfigPath, runLabel: runId, follow: false, out: out.stream, err: err.stream, color: false });
  expect(err.text()).toBe('');
  expect(code).toBe(0);
  expect(linesOf(out.text(), 'T001')).toEqual(['T001 one', 'T001 two']);
  expect(linesOf(out.text(), 'T002').join('\n')).toMatch(/not started yet|Pending/);
  await gw.deletePod(pending.name, { gracePeriodSeconds: 0 });
});
