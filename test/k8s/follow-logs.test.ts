/**
 * `sdlc-runner implement --follow --logs` through the built binary, off a terminal (as inside an
 * OpenCode bash tool call), every part real: the jest Temporal dev server, the production worker
 * PROCESS, agent pods on the real kube-apiserver run by the test kubelet (the agent image is
 * test/e2e/support/fake-agent.sh: it prints progress lines, pushes a commit, prints its result line),
 * and the CLI following the run's pods by label as the least-privilege ServiceAccount.
 * On a terminal (tmux), the same lines scroll above the live table, which stays at the bottom.
 * Also: with --logs and no reachable cluster, the command fails before any run starts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { agentRequest, IMAGE_COMMANDS, startTestEnv, type TestEnv } from './support/env';
import { RUN_UID_LABEL } from '../../src/k8s/client-gateway';
import { AGENT_IMAGE, FAKE_AGENT, podTemplate, tasksMarkdown, temporalClient, temporalTarget } from '../e2e/support/stack';
import { createBareRepo, type BareRepo } from '../e2e/support/git-repo';
import { startWorkerProcess, type WorkerProcess } from '../e2e/support/worker-process';
import { freePort } from '../../src/util/free-port';
import { CLI, runCli } from '../integration/support/cli';

const TASKS = ['T001', 'T002', 'T003'];
let env: TestEnv;
let repo: BareRepo;
let worker: WorkerProcess;
let holdDir: string;
const queue = `follow-logs-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  const t0 = Date.now();
  env = await startTestEnv('follow-logs', { imageCommands: { ...IMAGE_COMMANDS, [AGENT_IMAGE]: ['/bin/sh', FAKE_AGENT] } });
  repo = await createBareRepo('follow-logs');
  const template = path.join(env.scratch, 'pod-template.yaml');
  // Each agent prints its three steps 1 s apart: the pods' lines overlap in time with each other and with the events.
  // A test can hold a run's agents after their last step (E2E_HOLD_DIR/<run id>).
  holdDir = path.join(env.scratch, 'holds');
  mkdirSync(holdDir, { recursive: true });
  writeFileSync(template, podTemplate({ E2E_STEP_SECONDS: '1', E2E_HOLD_DIR: holdDir }));
  const t = temporalTarget();
  worker = await startWorkerProcess({
    env: {
      TEMPORAL_ADDRESS: t.address,
      TEMPORAL_NAMESPACE: t.namespace,
      TEMPORAL_TASK_QUEUE: queue,
      SDLC_K8S_NAMESPACE: env.namespace,
      SDLC_POD_TEMPLATE_FILE: template,
      SDLC_ALLOWED_GIT_HOSTS: 'file://',
      SDLC_SHUTDOWN_GRACE_SECONDS: '5',
      KUBECONFIG: env.access.kubeconfigPath,
    },
    logFile: path.join(env.scratch, 'worker.log'),
    name: 'worker-follow-logs',
  });
  // eslint-disable-next-line no-console
  console.log(`[timing] follow-logs: cluster + kubelet + git repo + worker ready in ${Date.now() - t0} ms`);
}, 240_000);

afterAll(async () => {
  await worker?.kill();
  await env?.stop();
  repo?.remove();
});

/** A spec-kit feature folder (specs/<feature>/tasks.md) with three open [ASYNC] tasks, outside any git checkout. */
function featureTasksFile(): { feature: string; file: string } {
  const feature = `follow-logs-${randomBytes(3).toString('hex')}`;
  const dir = path.join(env.scratch, 'specs', feature);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'tasks.md');
  writeFileSync(file, tasksMarkdown(TASKS.length, 'Follow logs'));
  return { feature, file };
}

/** What fake-agent.sh prints for task `t`, in order. */
function agentLinesOf(t: string, feature: string): unknown[] {
  const branch = `specs/${feature}/${t}-async`;
  return [
    expect.stringMatching(new RegExp(`^agent\\[${t}\\]: start: branch ${branch} from main, attempt 1, pod sdlc-\\S+$`)),
    `agent[${t}]: working, step 1/3`,
    `agent[${t}]: working, step 2/3`,
    `agent[${t}]: working, step 3/3`,
    expect.stringMatching(new RegExp(`^agent\\[${t}\\]: done at [0-9a-f]{40}$`)),
    expect.stringMatching(new RegExp(`^::sdlc-result::\\{"v":1,"status":"succeeded","taskId":"${t}".*\\}$`)),
  ];
}

function cliEnv(): NodeJS.ProcessEnv {
  const t = temporalTarget();
  return { TEMPORAL_ADDRESS: t.address, TEMPORAL_NAMESPACE: t.namespace, TEMPORAL_TASK_QUEUE: queue, SDLC_PROGRESS_EVERY_SECONDS: '2', NO_COLOR: '1' };
}

it('implement --follow --logs (non-TTY): each agent line once, [T00x]-prefixed and in order, interleaved with the event lines; exit 0', async () => {
  const { feature, file } = featureTasksFile();
  // A pod an earlier run of the same feature kept (same run label, another run-uid): not this run's logs.
  const gw = env.gateway();
  const leftover = agentRequest(`sdlc-app-${feature}`, 'T001', 'echo "from an earlier run"', { labels: { [RUN_UID_LABEL]: 'an-earlier-run' } });
  await gw.createPod(leftover);
  await gw.waitForPod(leftover.name, (p) => p?.phase === 'Succeeded', { timeoutMs: 60_000 });
  const t0 = Date.now();
  const r = await runCli(
    ['implement', file, '--follow', '--logs', '--repo', repo.url, '--base', repo.baseBranch, '--k8s-namespace', env.namespace, '--kubeconfig', env.access.kubeconfigPath],
    { cwd: env.scratch, env: cliEnv(), timeoutMs: 150_000 },
  );
  const elapsed = Date.now() - t0;
  const context = `\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\nworker:\n${worker.output()}`;
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const lines = r.stdout.trimEnd().split('\n');
  const runId = `sdlc-app-${feature}`;
  expect(lines[0]).toMatch(new RegExp(`^run started id=${runId} tasks=T001,T002,T003 ui=`));

  // Every agent's own lines, each exactly once and in the order it printed them (plain prefix: no colour off a terminal).
  for (const t of TASKS) {
    const agentLines = lines.filter((l) => l.startsWith(`[${t}] `) && !l.startsWith(`[${t}] ---`)).map((l) => l.slice(`[${t}] `.length));
    expect({ task: t, lines: agentLines }).toEqual({ task: t, lines: agentLinesOf(t, feature) });
    // At most one line of ours saying how the pod ended, after the agent's last line.
    const notes = lines.filter((l) => l.startsWith(`[${t}] ---`));
    expect(notes.length).toBeLessThanOrEqual(1);
    if (notes.length) expect(lines.indexOf(notes[0]!)).toBeGreaterThan(lines.findIndex((l) => l.startsWith(`[${t}] ::sdlc-result::`)));
  }
  expect(r.stdout).not.toMatch(/\x1b\[/);
  expect(r.stdout).not.toContain('from an earlier run');

  // Everything else is an event line, then the summary; the log lines sit between "run started" and "run succeeded".
  const end = lines.indexOf('run succeeded');
  expect(end).toBeGreaterThan(0);
  const isLog = (l: string) => /^\[T00[123]\] /.test(l);
  const events = lines.slice(1, end).filter((l) => !isLog(l));
  for (const e of events) {
    const known =
      /^task T00[123] started attempt=1 pod=\S+ branch=\S+$/.test(e) ||
      /^task T00[123] succeeded attempt=1 branch=\S+ commit=[0-9a-f]{12} tokens=120\/30 cost=\$0\.0012 duration=\d+s$/.test(e) ||
      /^progress( \w+=\d+)+( running=\S+)?$/.test(e) ||
      /^integration specs\/\S+\/integration integrated commit=[0-9a-f]{12} tasks=T001,T002,T003$/.test(e);
    if (!known) {
      throw new Error(`unexpected event line ${JSON.stringify(e)}${context}`);
    }
  }
  expect(events.filter((e) => / started /.test(e)).length).toBe(3);
  expect(events.filter((e) => / succeeded /.test(e)).length).toBe(3);
  expect(lines.slice(end).some(isLog)).toBe(false);
  // Interleaved, not a block before or after the events: event lines come between agent lines.
  const logIdx = lines.map((l, i) => (isLog(l) ? i : -1)).filter((i) => i >= 0);
  const firstStarted = lines.findIndex((l) => /^task T00\d started /.test(l));
  const lastSucceeded = lines.map((l, i) => (/^task T00\d succeeded /.test(l) ? i : -1)).reduce((a, b) => Math.max(a, b));
  expect(firstStarted).toBeLessThan(logIdx.at(-1)!);
  expect(logIdx[0]!).toBeLessThan(lastSucceeded);
  expect(lines.slice(end)).toEqual([
    'run succeeded',
    `run finished id=${runId} status=succeeded succeeded=3`,
    ...TASKS.map((t) => expect.stringMatching(new RegExp(`^  ${t} succeeded branch=specs/${feature}/${t}-async commit=[0-9a-f]{12}$`))),
    expect.stringMatching(new RegExp(`^ready to merge: specs/${feature}/integration @ [0-9a-f]{7} \\(T001, T002, T003\\)$`)),
    `build on it locally: git fetch origin specs/${feature}/integration && git merge --no-edit FETCH_HEAD`,
    expect.stringMatching(/^agent logs: sdlc-runner logs /),
  ]);
  // eslint-disable-next-line no-console
  console.log(`[timing] implement --follow --logs of a 3-task run (agents ~3 s each): ${elapsed} ms`);
});

it('watch --logs (non-TTY) attaches to a run already going: its agent lines once each, then the summary; exit 0', async () => {
  const { feature, file } = featureTasksFile();
  const runId = `sdlc-app-${feature}`;
  // The agents hold after their last step until `watch` has shown it for every task: the run is surely
  // still going when watch attaches, however slowly the CLI starts on a loaded machine.
  const hold = path.join(holdDir, runId);
  writeFileSync(hold, '');
  let r;
  try {
    const start = await runCli(['implement', file, '--repo', repo.url, '--base', repo.baseBranch], { cwd: env.scratch, env: cliEnv() });
    expect({ code: start.code, stderr: start.stderr }).toEqual({ code: 0, stderr: '' });
    r = await runCli(['watch', runId, '--logs', '--kubeconfig', env.access.kubeconfigPath], {
      cwd: env.scratch,
      env: { ...cliEnv(), SDLC_K8S_NAMESPACE: env.namespace },
      timeoutMs: 150_000,
      onStdout: (out) => {
        if (TASKS.every((t) => out.includes(`[${t}] agent[${t}]: working, step 3/3`))) rmSync(hold, { force: true });
      },
    });
  } finally {
    rmSync(hold, { force: true });
  }
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const lines = r.stdout.trimEnd().split('\n');
  for (const t of TASKS) {
    const agentLines = lines.filter((l) => l.startsWith(`[${t}] `) && !l.startsWith(`[${t}] ---`)).map((l) => l.slice(`[${t}] `.length));
    expect({ task: t, lines: agentLines }).toEqual({ task: t, lines: agentLinesOf(t, feature) });
  }
  const end = lines.indexOf('run succeeded');
  expect(end).toBeGreaterThan(0);
  expect(lines.slice(end + 1).some((l) => l.startsWith('['))).toBe(false);
  expect(lines.at(-3)).toMatch(new RegExp(`^ready to merge: specs/${feature}/integration @ [0-9a-f]{7} \\(T001, T002, T003\\)$`));
  expect(lines.at(-2)).toBe(`build on it locally: git fetch origin specs/${feature}/integration && git merge --no-edit FETCH_HEAD`);
  expect(lines.at(-1)).toMatch(new RegExp(`^agent logs: sdlc-runner logs ${runId} \\(kept after the pods are gone in `));
});

function tmux(socket: string, ...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
}

it('implement --follow --logs on a terminal (tmux): the agent lines scroll above the live table, which is redrawn in place at the bottom', async () => {
  if (!existsSync('/usr/bin/tmux')) throw new Error('tmux is missing: run scripts/setup.sh (it installs the Debian package)');
  const { feature, file } = featureTasksFile();
  const runId = `sdlc-app-${feature}`;
  const socket = `sdlc-follow-logs-${process.pid}`;
  const script = path.join(env.scratch, 'tty.sh');
  const { NO_COLOR: _plain, ...colourEnv } = cliEnv();
  const exports = Object.entries({ ...colourEnv, PATH: process.env.PATH, SDLC_LIVE_VIEW_POLL_MS: '300' })
    .map(([k, v]) => `export ${k}='${v}'`)
    .join('\n');
  const args = ['implement', file, '--follow', '--logs', '--repo', repo.url, '--base', repo.baseBranch, '--k8s-namespace', env.namespace, '--kubeconfig', env.access.kubeconfigPath];
  writeFileSync(script, `${exports}\n'${process.execPath}' '${CLI}' ${args.map((a) => `'${a}'`).join(' ')}\necho "EXIT=$?"\nsleep 600\n`);
  tmux(socket, 'new-session', '-d', '-x', '140', '-y', '45', '-s', 'live', `bash ${script}`);
  try {
    let screen = '';
    const deadline = Date.now() + 120_000;
    let coloured = '';
    while (!/^EXIT=\d+$/m.test(screen)) {
      if (Date.now() > deadline) throw new Error(`the live view did not finish:\n${screen}`);
      await new Promise((r) => setTimeout(r, 250));
      screen = tmux(socket, 'capture-pane', '-p', '-t', 'live');
      if (!coloured && /\[T00\d\] agent/.test(screen)) coloured = tmux(socket, 'capture-pane', '-p', '-e', '-t', 'live');
    }
    // Everything the terminal showed (history included, wrapped lines joined).
    const history = tmux(socket, 'capture-pane', '-p', '-J', '-S', '-', '-E', '-', '-t', 'live').split('\n').map((l) => l.trimEnd());
    // One table, redrawn in place: its header is on the screen once, below every agent line.
    const headers = history.map((l, i) => (/^TASK\s+STATUS\s+ATT\s+ELAPSED/.test(l) ? i : -1)).filter((i) => i >= 0);
    expect(headers).toHaveLength(1);
    const lastLog = history.map((l, i) => (/^\[T00\d\] /.test(l) ? i : -1)).reduce((a, b) => Math.max(a, b));
    expect(lastLog).toBeLessThan(headers[0]!);
    expect(history.findIndex((l) => l.startsWith('run started id='))).toBeLessThan(history.findIndex((l) => /^\[T00\d\] /.test(l)));
    for (const t of TASKS) {
      const agentLines = history.filter((l) => l.startsWith(`[${t}] `) && !l.startsWith(`[${t}] ---`)).map((l) => l.slice(`[${t}] `.length));
      expect({ task: t, lines: agentLines }).toEqual({ task: t, lines: agentLinesOf(t, feature) });
    }
    // The final frame, then the summary and the exit code.
    const top = history.findIndex((l) => l.startsWith(`run ${runId}  `));
    expect(top).toBeGreaterThan(lastLog);
    expect(history[top]).toMatch(new RegExp(`^run ${runId} {2}succeeded {2}succeeded=3 {2}\\d+s$`));
    for (const t of TASKS) expect(history.slice(top).some((l) => new RegExp(`^${t} +succeeded +1 +\\d+s +120/30 \\$0\\.0012 +[0-9a-f]{12} → specs/${feature}/${t}-async$`).test(l))).toBe(true);
    expect(history.slice(top)).toEqual(expect.arrayContaining([`build on it locally: git fetch origin specs/${feature}/integration && git merge --no-edit FETCH_HEAD`, 'EXIT=0']));
    // On a terminal the task prefixes are coloured.
    expect(coloured).toMatch(/\x1b\[\d+m\[T00\d\]/);
  } finally {
    try {
      tmux(socket, 'kill-server');
    } catch {
      // already gone
    }
  }
});

it('--logs without a reachable cluster: a clear error and a non-zero exit before any run starts', async () => {
  const { feature, file } = featureTasksFile();
  const port = await freePort(); // nothing listens there
  const kubeconfig = path.join(env.scratch, 'unreachable.kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: c, context: {cluster: gone, user: u, namespace: default}}]
current-context: c
`,
  );
  const t0 = Date.now();
  const r = await runCli(['implement', file, '--follow', '--logs', '--repo', repo.url, '--base', repo.baseBranch, '--kubeconfig', kubeconfig], { cwd: env.scratch, env: cliEnv(), timeoutMs: 60_000 });
  const elapsed = Date.now() - t0;
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^sdlc-runner: --logs: cannot reach Kubernetes to list the agent pods \(namespace "default", kubeconfig .*unreachable\.kubeconfig\): .+ Pass --kubeconfig and --k8s-namespace/);
  expect(r.stderr).not.toContain('not-a-secret');
  // Nothing started: no run of this feature exists in Temporal.
  const temporal = await temporalClient();
  try {
    await expect(temporal.client.workflow.getHandle(`sdlc-app-${feature}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  } finally {
    await temporal.close();
  }
  // eslint-disable-next-line no-console
  console.log(`[timing] --logs with an unreachable cluster fails in ${elapsed} ms`);
});
