/**
 * The newcomer's first run (`npm run demo`), in its CI mode: `bash scripts/first-run.sh --ci` as a
 * user's shell runs it. It must bring the whole stack up, run the three [ASYNC] tasks of the sample
 * feature with the real opencode through the real CLI, worker and gateways, print what the README
 * promises, exit 0, and leave no process behind. The test watches the script's process tree while it
 * runs (/proc), so it knows every server and agent the demo started, and checks each one has gone.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { repoRoot } from '../../src/tools';
import { collectDescendants, readProc, stillAlive, type Proc } from './procs';

const SCRIPT = path.join(repoRoot, 'scripts', 'first-run.sh');
const ASYNC_TASKS: Record<string, string> = { T002: 'src/greet.js', T003: 'src/farewell.js', T005: 'docs/usage.md' };

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 10_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

it('`first-run.sh --ci` runs the sample feature\'s three [ASYNC] tasks with the real opencode, prints the run ID, the UI link, progress and the pushed branches, exits 0 and leaves no process behind', async () => {
  const t0 = Date.now();
  const child = spawn('bash', [SCRIPT, '--ci'], { cwd: repoRoot, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let uiStatus: Promise<number> | undefined;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    // The UI link must open while the run goes (the dev server runs with its UI).
    const ui = /^run started .* ui=(\S+)$/m.exec(stdout)?.[1];
    if (ui && !uiStatus) uiStatus = httpStatus(ui);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const seen = new Map<string, Proc>();
  const watcher = setInterval(() => collectDescendants(child.pid!, seen), 250);
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const code = await new Promise<number | null>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGTERM'), 170_000);
    child.once('exit', (c) => {
      clearTimeout(kill);
      resolve(c);
    });
  });
  // 'exit' can come before the pipes are drained: wait for the script's last lines (bounded, in case a
  // process it leaked still holds them — the leftover check below names it).
  await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000).unref())]);
  clearInterval(watcher);
  const wallMs = Date.now() - t0;
  // eslint-disable-next-line no-console
  console.log(`[demo timing] first-run.sh --ci: ${(wallMs / 1000).toFixed(1)} s, ${seen.size} descendant processes seen`);
  const context = `\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`;
  if (code !== 0) throw new Error(`first-run.sh --ci exited ${code}${context}`);

  // The run ID and the UI link (which answered while the run went).
  const runId = /^run started id=(\S+) tasks=T002,T003,T005 ui=(\S+)$/m.exec(stdout);
  expect(runId?.[1]).toBe('sdlc-greeting-001-greeting');
  expect(runId?.[2]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/sdlc-greeting-001-greeting$/);
  expect(await uiStatus).toBe(200);
  expect(stdout).toMatch(/^demo: Temporal 127\.0\.0\.1:\d+, UI http:\/\/127\.0\.0\.1:\d+$/m);

  for (const [task, file] of Object.entries(ASYNC_TASKS)) {
    const branch = `specs/001-greeting/${task}-async`;
    // Live progress: the task started in its own pod, and finished with a verified commit.
    expect(stdout).toMatch(new RegExp(`^task ${task} started attempt=1 pod=sdlc-greeting-001-greeting-${task.toLowerCase()}-a1-\\S+ branch=${branch}$`, 'm'));
    const done = new RegExp(`^task ${task} succeeded attempt=1 branch=${branch} commit=([0-9a-f]{12}) tokens=\\d+/\\d+ cost=\\$\\S+ duration=\\d+s$`, 'm').exec(stdout);
    if (!done) throw new Error(`no 'task ${task} succeeded' line${context}`);
    // The pushed branch, read back from the git server: its head is the commit the run verified, holding the agent's file.
    const pushed = new RegExp(`^demo: pushed branch ${branch} commit=([0-9a-f]{40}) files=(\\S+)$`, 'm').exec(stdout);
    if (!pushed) throw new Error(`no pushed branch line for ${task}${context}`);
    expect(pushed[1]!.startsWith(done[1]!)).toBe(true);
    expect(pushed[2]).toBe(file);
  }
  expect(stdout.match(/^task T\d+ succeeded /gm)).toHaveLength(3);
  // And the feature as one branch: every task's file on top of main.
  expect(stdout).toMatch(/^demo: pushed branch specs\/001-greeting\/integration commit=[0-9a-f]{40} files=docs\/usage\.md,src\/farewell\.js,src\/greet\.js$/m);
  expect(stdout.match(/^demo: pushed branch /gm)).toHaveLength(4);
  expect(stdout).toMatch(/^run finished id=sdlc-greeting-001-greeting status=succeeded succeeded=3$/m);
  expect(stdout).toMatch(/^demo: stopped$/m);
  // Its temp dirs are gone: the sample checkout's scratch dir and the control plane's data dir.
  const scratch = /\(checkout (\/\S+)\/app\)/.exec(stdout)?.[1];
  const clusterDir = /KUBECONFIG=(\/\S+)\/kubeconfigs\/admin\.kubeconfig/.exec(stdout)?.[1];
  expect([scratch, clusterDir].map((d) => d && existsSync(d))).toEqual([false, false]);

  // Every server and agent it started ran as a descendant of the script — and none outlived it.
  const procs = [...seen.values()];
  const started = (what: RegExp) => procs.some((p) => what.test(p.comm) || what.test(p.cmdline.split(' ')[0] ?? ''));
  for (const what of [/(^|\/)etcd$/, /(^|\/)kube-apiserver$/, /(^|\/)temporal$/, /(^|\/)opencode$/]) expect([what.source, started(what)]).toEqual([what.source, true]);
  // The production worker process: its pid comes from the demo's own output (a /proc sample can miss a
  // process's final cmdline on a loaded machine), and it must be gone like everything else.
  const workerPid = Number(/^demo: worker pid (\d+) ready/m.exec(stdout)?.[1]);
  expect(workerPid).toBeGreaterThan(0);
  expect(procs.filter((p) => p.cmdline.includes('dist/src/cli/main.js implement'))).not.toHaveLength(0);
  const deadline = Date.now() + 5_000;
  let left = procs.filter(stillAlive);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    left = procs.filter(stillAlive);
  }
  expect(left.map((p) => `${p.pid} ${p.comm}: ${p.cmdline.slice(0, 120)}`)).toEqual([]);
  const worker = readProc(workerPid);
  expect(worker === undefined || worker.state === 'Z' || !worker.cmdline.includes('dist/worker/main.js')).toBe(true);
}, 200_000);
