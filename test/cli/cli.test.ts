/**
 * The CLI driven as a user would: the built binary (dist/src/cli/main.js) in a git checkout with a
 * spec-kit feature, against the real Temporal dev server and a real Worker (in-memory cluster).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { AgentPodRequest } from '../../src/k8s/gateway';
import { MemoryGit, MemoryKubernetesGateway, type PodScript } from '../support/memory-gateway';
import { eventually, startWorker, type RunningWorker } from '../support/temporal';

const CLI = path.resolve(__dirname, '../../dist/src/cli/main.js');
const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout = 120_000): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, timeout });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A checkout with `specs/<feature>/tasks.md` and an origin remote (never contacted: the cluster is in memory). */
function specKitRepo(feature: string, tasks: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-cli-'));
  execFileSync('git', ['init', '-q', '-b', 'main', dir]);
  execFileSync('git', ['-C', dir, 'remote', 'add', 'origin', 'https://git.example.test/acme/shop.git']);
  mkdirSync(path.join(dir, 'specs', feature), { recursive: true });
  writeFileSync(path.join(dir, 'specs', feature, 'spec.md'), `# ${feature}\n`);
  writeFileSync(path.join(dir, 'specs', feature, 'tasks.md'), tasks);
  return dir;
}

const TASKS = `# Tasks: Checkout

## Phase 1: Setup

- [ ] T001 [SYNC] Decide the payment provider with the team
- [ ] T002 [P] [ASYNC] Create the Cart model in \`src/cart.ts\`
- [ ] T003 [P] [ASYNC] Create the Price model in \`src/price.ts\`
- [x] T004 [ASYNC] Already done before
- [ ] T005 [ASYNC] Wire cart and price together (depends on T002, T003)
`;

describe('sdlc-runner CLI (built binary)', () => {
  let worker: RunningWorker;
  let k8s: MemoryKubernetesGateway;
  let behaviour: (req: AgentPodRequest) => PodScript = () => ({});
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const git = new MemoryGit();
    k8s = new MemoryKubernetesGateway((req) => behaviour(req), git);
    worker = await startWorker({ kubernetes: k8s, git });
    env = { TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE: worker.taskQueue, SDLC_TEMPORAL_UI_URL: 'http://127.0.0.1:8233' };
  });
  afterAll(async () => worker?.stop());

  test('plan prints the table and --json the documented shape; a missing file is a clear error', async () => {
    const dir = specKitRepo('010-plan', TASKS);
    const table = await cli(['plan', 'specs/010-plan/tasks.md'], dir, env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/T002\s+open\s+async\s+P/);
    expect(table.stdout).toContain('Dispatch');
    const json = await cli(['plan', 'specs/010-plan/tasks.md', '--json'], dir, env);
    const plan = JSON.parse(json.stdout);
    expect(Object.keys(plan)).toEqual(['file', 'feature', 'tasks', 'dispatch', 'warnings']);
    expect(Object.keys(plan.tasks[0]).sort()).toEqual(
      ['branch', 'dependsOn', 'details', 'files', 'id', 'labels', 'line', 'mode', 'orderedAfter', 'parallel', 'phase', 'status', 'story', 'title', 'waitsOnAgents'].sort(),
    );
    expect(plan.feature).toBe('010-plan');
    expect(plan.dispatch).toEqual(['T002', 'T003', 'T005']);
    expect(plan.tasks.find((t: { id: string }) => t.id === 'T005')).toMatchObject({ status: 'open', mode: 'async', dependsOn: ['T002', 'T003'], branch: 'specs/010-plan/T005-async', line: 9 });
    expect(plan.tasks.find((t: { id: string }) => t.id === 'T001')).toMatchObject({ mode: 'sync', branch: null });
    const missing = await cli(['plan', 'specs/nope/tasks.md'], dir, env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('specs/nope/tasks.md: does not exist');
    // What a bug report starts with: the version, exit 0.
    const version = await cli(['--version'], dir, env);
    expect(version).toMatchObject({ code: 0, stdout: `${(JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version}\n` });
  });

  test('a tasks.md that cannot run (no task, a duplicate [ASYNC] ID) is refused with file:line and the fix, exit 2, and implement starts nothing', async () => {
    const empty = specKitRepo('011-empty', '# Tasks\n\nNothing here yet.\n');
    const none = await cli(['plan', 'specs/011-empty/tasks.md'], empty, env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^sdlc-runner: specs\/011-empty\/tasks\.md:1: no task found: .*\. Fix: add tasks as list items/m);

    const dup = specKitRepo('012-dup', '# Tasks\n\n- [ ] T001 [ASYNC] a\n- [ ] T001 [ASYNC] b\n');
    const plan = await cli(['plan', 'specs/012-dup/tasks.md'], dup, env);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(/^sdlc-runner: specs\/012-dup\/tasks\.md:3: two open \[ASYNC\] tasks have the same ID T001.*\(lines 3, 4\)\. Fix: /m);
    const implement = await cli(['implement', 'specs/012-dup/tasks.md'], dup, env);
    expect({ code: implement.code, stderr: implement.stderr }).toEqual({ code: 2, stderr: plan.stderr });
    // Nothing half-created: no run for the feature exists in Temporal.
    const runs = await cli(['status', 'sdlc-shop-012-dup'], dup, env);
    expect(runs.stderr).toContain("no run 'sdlc-shop-012-dup'");
    expect(k8s.created.filter((name) => name.includes('012-dup'))).toEqual([]);
  });

  test('branch names git cannot use, and bad --file-overlap/--stack/--base/--integration-branch values, are refused by plan and implement alike (exit 2, nothing started)', async () => {
    const dir = specKitRepo('015-branches', TASKS);
    const pattern = await cli(['plan', 'specs/015-branches/tasks.md', '--branch-pattern', 'agents/{feature}/{task}'], dir, env);
    expect(pattern.code).toBe(2);
    expect(pattern.stderr).toBe(
      `sdlc-runner: specs/015-branches/tasks.md: the branch pattern "agents/{feature}/{task}" has the unknown placeholder {task}. Fix: use only {feature}, {taskId}, {taskIdLower} (e.g. --branch-pattern 'specs/{feature}/{taskId}-async')\n`,
    );
    const implement = await cli(['implement', 'specs/015-branches/tasks.md', '--branch-pattern', 'agents/{feature}/{task}'], dir, env);
    expect({ code: implement.code, stderr: implement.stderr }).toEqual({ code: 2, stderr: pattern.stderr });

    // A feature folder with a space: every task branch would have it; the lines of the dispatched tasks and both fixes.
    const spaced = specKitRepo('016 my feature', TASKS);
    const plan = await cli(['plan', 'specs/016 my feature/tasks.md'], spaced, env);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toBe(
      'sdlc-runner: specs/016 my feature/tasks.md:6: the branch "specs/016 my feature/T002-async" of T002 (and those of T003 and T005) is not a valid git branch name: it contains a space (lines 6, 7, 9). ' +
        `Fix: rename the feature folder "016 my feature" (e.g. "016-my-feature"), or pass --branch-pattern without {feature} (e.g. 'agents/{taskId}')\n`,
    );
    expect(await cli(['implement', 'specs/016 my feature/tasks.md'], spaced, env)).toMatchObject({ code: 2, stderr: plan.stderr });
    // Without {feature} in the task branches, the integration branch still has it.
    const integration = await cli(['plan', 'specs/016 my feature/tasks.md', '--branch-pattern', 'agents/{taskId}'], spaced, env);
    expect(integration.code).toBe(2);
    expect(integration.stderr).toContain(
      `the integration branch "specs/016 my feature/integration" (--integration-branch 'specs/{feature}/integration') is not a valid git branch name: it contains a space. Fix: rename the feature folder "016 my feature", or pass --integration-branch without {feature} (or none)`,
    );
    const fine = await cli(['plan', 'specs/016 my feature/tasks.md', '--branch-pattern', 'agents/{taskId}', '--integration-branch', 'none'], spaced, env);
    expect(fine.code).toBe(0);
    expect(fine.stdout).toContain('Dispatch (3): T002, T003, T005');

    const overlap = await cli(['implement', 'specs/015-branches/tasks.md', '--file-overlap', 'sometimes'], dir, env);
    expect(overlap.code).toBe(2);
    expect(overlap.stderr).toContain("option '--file-overlap <serialize|ignore>' argument 'sometimes' is invalid. must be serialize or ignore");
    expect((await cli(['plan', 'specs/015-branches/tasks.md', '--file-overlap', 'sometimes'], dir, env)).code).toBe(2);
    const stack = await cli(['implement', 'specs/015-branches/tasks.md', '--stack', 'all'], dir, env);
    expect(stack.code).toBe(2);
    expect(stack.stderr).toContain('must be dependencies or none');
    const base = await cli(['implement', 'specs/015-branches/tasks.md', '--base', 'main..dev'], dir, env);
    expect(base.code).toBe(2);
    expect(base.stderr).toContain(`sdlc-runner: --base 'main..dev' is not a valid git branch name: it contains "..". Fix: `);
    const placeholder = await cli(['plan', 'specs/015-branches/tasks.md', '--integration-branch', 'int/{taskId}'], dir, env);
    expect(placeholder.code).toBe(2);
    expect(placeholder.stderr).toContain("--integration-branch 'int/{taskId}' has the unknown placeholder {taskId}");
    // The base branch (here the checkout's current one) may not be a task branch.
    const onBase = await cli(['plan', 'specs/015-branches/tasks.md', '--branch-pattern', '{taskId}', '--base', 'T003'], dir, env);
    expect(onBase.code).toBe(2);
    expect(onBase.stderr).toContain('tasks.md:7: the branch of T003 is "T003", the base branch of the run');

    expect((await cli(['status', 'sdlc-shop-015-branches'], dir, env)).stderr).toContain("no run 'sdlc-shop-015-branches'");
  });

  test('plan shows the order file overlap adds and the session tasks that wait on agents; --file-overlap ignore drops the order', async () => {
    const dir = specKitRepo(
      '017-overlap',
      [
        '- [ ] T001 [ASYNC] Create the model in `src/user.ts`',
        '- [ ] T002 [ASYNC] Validate it in `src/user.ts`',
        '- [ ] T003 [SYNC] Review it (depends on T002)',
        '',
      ].join('\n'),
    );
    const table = await cli(['plan', 'specs/017-overlap/tasks.md'], dir, env);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('Ordering (file overlap):\n  T002 after T001: both change src/user.ts\n');
    expect(table.stdout).toContain('Waiting on agents (do these after their branches exist):\n  T003 [SYNC] waits on T002\n');
    const json = JSON.parse((await cli(['plan', 'specs/017-overlap/tasks.md', '--json'], dir, env)).stdout);
    expect(json.tasks.map((t: { orderedAfter: unknown; waitsOnAgents: unknown }) => [t.orderedAfter, t.waitsOnAgents])).toEqual([
      [[], []],
      [[{ id: 'T001', files: ['src/user.ts'] }], []],
      [[], ['T002']],
    ]);
    const ignored = JSON.parse((await cli(['plan', 'specs/017-overlap/tasks.md', '--json', '--file-overlap', 'ignore'], dir, env)).stdout);
    expect(ignored.tasks[1].orderedAfter).toEqual([]);
  });

  test('implement --follow: progress lines, a non-zero exit when a task failed, then retry and watch to success', async () => {
    behaviour = (req) => ({ runMs: 200, result: req.labels['sdlc-runner.dev/task'] === 'T003' && req.labels['sdlc-runner.dev/attempt'] === '1' ? 'failure' : 'success' });
    const dir = specKitRepo('011-checkout', TASKS);
    const res = await cli(['implement', 'specs/011-checkout/tasks.md', '--follow'], dir, env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(1);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe('run started id=sdlc-shop-011-checkout tasks=T002,T003,T005 ui=http://127.0.0.1:8233/namespaces/default/workflows/sdlc-shop-011-checkout');
    expect(lines).toContainEqual(expect.stringMatching(/^task T002 started attempt=1 pod=sdlc-shop-011-checkout-t002-a1-\w+ branch=specs\/011-checkout\/T002-async$/));
    expect(lines).toContainEqual(expect.stringMatching(/^task T002 succeeded attempt=1 branch=specs\/011-checkout\/T002-async commit=[0-9a-f]{12} tokens=1000\/200 cost=\$0\.0100 duration=\d+s$/));
    expect(lines).toContainEqual(expect.stringMatching(/^task T003 failed attempt=1 branch=specs\/011-checkout\/T003-async duration=\d+s reason="the agent made no change"$/));
    expect(lines).toContainEqual('task T005 blocked attempt=0 branch=specs/011-checkout/T005-async reason="dependency T003 failed"');
    expect(lines).toContainEqual('run awaiting-decision');
    expect(lines).toContainEqual(expect.stringMatching(/^run finished id=sdlc-shop-011-checkout status=awaiting-decision/));
    expect(lines).toContainEqual('retry with: sdlc-runner retry sdlc-shop-011-checkout --task T003 --task T005');

    // The same feature cannot be started twice while its run is open.
    const again = await cli(['implement', 'specs/011-checkout/tasks.md'], dir, env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('a run for feature 011-checkout of https://git.example.test/acme/shop.git is already running (sdlc-shop-011-checkout)');

    const status = await cli(['status', 'sdlc-shop-011-checkout'], dir, env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/T003\s+failed\s+1\s+specs\/011-checkout\/T003-async\s+-\s+the agent made no change/);
    const json = JSON.parse((await cli(['status', 'sdlc-shop-011-checkout', '--json'], dir, env)).stdout);
    expect(json.status).toBe('awaiting_decision');

    const bad = await cli(['retry', 'sdlc-shop-011-checkout', '--task', 'T099'], dir, env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown task(s) T099; dispatched tasks are');

    const retry = await cli(['retry', 'sdlc-shop-011-checkout', '--task', 'T003'], dir, env);
    expect(retry.code).toBe(0);
    // T005 depends on T003: it was blocked, and comes along.
    expect(retry.stdout).toContain('retrying T003 in sdlc-shop-011-checkout (with T005, blocked on it until now)');
    const watch = await cli(['watch', 'sdlc-shop-011-checkout'], dir, env);
    expect(watch.code).toBe(0);
    expect(watch.stdout).toMatch(/task T003 succeeded attempt=2 /);
    expect(watch.stdout).toMatch(/task T005 succeeded attempt=1 /);
    expect(watch.stdout).toContain('run finished id=sdlc-shop-011-checkout status=succeeded succeeded=3');
    // The retry completed the run: its task branches are integrated into one branch.
    expect(watch.stdout).toMatch(/^ready to merge: specs\/011-checkout\/integration @ [0-9a-f]{7} \(T002, T003, T005\)$/m);
    expect(watch.stdout).toMatch(/^integration specs\/011-checkout\/integration integrated commit=[0-9a-f]{12} tasks=T002,T003,T005$/m);

    const runs = await cli(['runs', '--limit', '200'], dir, env);
    expect(runs.stdout).toMatch(/^RUN\s+WORKFLOW\s+RUN STATUS\s+FEATURE\s+STARTED$/m);
    expect(runs.stdout).toMatch(/^sdlc-shop-011-checkout\s+COMPLETED\s+succeeded\s+011-checkout\s+\d{4}-/m);
  });

  test('status and runs never cut a run ID or a branch, however long the feature name (they are what users copy)', async () => {
    behaviour = () => ({ runMs: 200 });
    const feature = '013-user-authentication-with-a-long-name';
    const dir = specKitRepo(feature, TASKS);
    const run = `sdlc-shop-${feature}`;
    expect((await cli(['implement', `specs/${feature}/tasks.md`, '--follow'], dir, env)).code).toBe(0);
    const status = await cli(['status', run], dir, env);
    expect(status.code).toBe(0);
    for (const id of ['T002', 'T003', 'T005']) expect(status.stdout).toMatch(new RegExp(`^${id}\\s+succeeded\\s+1\\s+specs/${feature}/${id}-async\\s+[0-9a-f]{12}\\s`, 'm'));
    const runs = await cli(['runs', '--limit', '200'], dir, env);
    expect(runs.stdout).toMatch(new RegExp(`^${run}\\s+COMPLETED\\s+succeeded\\s+${feature}\\s+\\d{4}-`, 'm'));
    expect(status.stdout + runs.stdout).not.toContain('…');
  });

  test('cancel one task, then the whole run: pods are deleted and the run ends cancelled', async () => {
    behaviour = () => ({ hang: true });
    const dir = specKitRepo('012-cancel', TASKS);
    const started = await cli(['implement', 'specs/012-cancel/tasks.md', '--json'], dir, env);
    expect(started.code).toBe(0);
    const event = JSON.parse(started.stdout.trim());
    expect(event).toMatchObject({ event: 'run_started', run: 'sdlc-shop-012-cancel', tasks: ['T002', 'T003', 'T005'] });
    await eventually(() => [...k8s.pods.values()].filter((p) => p.req.labels['sdlc-runner.dev/run'] === 'sdlc-shop-012-cancel' && p.status.phase === 'Running').length === 2, 'two pods running');
    const lower = await cli(['parallel', 'sdlc-shop-012-cancel', '1'], dir, env);
    expect(lower.code).toBe(0);
    expect(lower.stdout).toBe('maxParallel of sdlc-shop-012-cancel: 4 → 1\n');
    const tooMany = await cli(['parallel', 'sdlc-shop-012-cancel', '500'], dir, env);
    expect(tooMany.code).toBe(2);
    // Refused where it enters, with the run's own bound (the workflow's update validator has the same one).
    expect(tooMany.stderr).toBe("sdlc-runner: parallel <n> 500 is out of range: from 1 to 100 (a run's limit)\n");
    expect(JSON.parse((await cli(['status', 'sdlc-shop-012-cancel', '--json'], dir, env)).stdout).options.maxParallel).toBe(1);
    const one = await cli(['cancel', 'sdlc-shop-012-cancel', '--task', 'T002'], dir, env);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('cancelling T002 in sdlc-shop-012-cancel');
    const all = await cli(['cancel', 'sdlc-shop-012-cancel'], dir, env);
    expect(all.code).toBe(0);
    const status = await eventually(async () => {
      const s = JSON.parse((await cli(['status', 'sdlc-shop-012-cancel', '--json'], dir, env)).stdout);
      return s.status === 'cancelled' && s;
    }, 'run cancelled');
    // T005 depends on T002: it was blocked as soon as T002 was cancelled, before the run was.
    expect(status.tasks.map((t: { id: string; status: string; reason: string }) => [t.id, t.status, t.reason])).toEqual([
      ['T002', 'cancelled', 'cancelled by request'],
      ['T003', 'cancelled', 'cancelled by request'],
      ['T005', 'blocked', 'dependency T002 cancelled'],
    ]);
    await eventually(() => ![...k8s.pods.values()].some((p) => p.req.labels['sdlc-runner.dev/run'] === 'sdlc-shop-012-cancel'), 'pods deleted');
    const again = await cli(['cancel', 'sdlc-shop-012-cancel'], dir, env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('run sdlc-shop-012-cancel is not running');
  });

  test('watch ends (exit 1) when the run was terminated or failed in Temporal, instead of polling its last state forever', async () => {
    behaviour = () => ({ hang: true });
    const dir = specKitRepo('014-terminated', TASKS);
    const started = await cli(['implement', 'specs/014-terminated/tasks.md', '--json'], dir, env);
    expect(started.code).toBe(0);
    await eventually(async () => JSON.parse((await cli(['status', 'sdlc-shop-014-terminated', '--json'], dir, env)).stdout).tasks.some((t: { status: string }) => t.status === 'running'), 'a task running');
    const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
    try {
      await new Client({ connection }).workflow.getHandle('sdlc-shop-014-terminated').terminate('operator stopped it');
    } finally {
      await connection.close();
    }
    const watch = await cli(['watch', 'sdlc-shop-014-terminated'], dir, env, 30_000);
    expect(watch.code).toBe(1);
    expect(watch.stdout).toContain('run closed in Temporal as TERMINATED');
    const json = await cli(['watch', 'sdlc-shop-014-terminated', '--json'], dir, env, 30_000);
    expect(json.code).toBe(1);
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l))).toContainEqual({ event: 'run_closed', run: 'sdlc-shop-014-terminated', temporalStatus: 'TERMINATED' });
    // On a terminal (the live table), the same.
    const tty = await run('script', ['-qec', `${process.execPath} ${CLI} watch sdlc-shop-014-terminated`, '/dev/null'], { cwd: dir, env: { ...process.env, ...env }, timeout: 30_000 }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code?: number; stdout?: string }) => ({ code: e.code, stdout: e.stdout ?? '' }),
    );
    expect(tty.code).toBe(1);
    expect(tty.stdout).toContain('run closed in Temporal as TERMINATED');
    // status says so too, instead of the last reported 'running'.
    const status = await cli(['status', 'sdlc-shop-014-terminated'], dir, env);
    expect(status.stdout).toContain('run closed in Temporal as TERMINATED');
    expect(status.stdout).toMatch(/status=failed/);
    const statusJson = JSON.parse((await cli(['status', 'sdlc-shop-014-terminated', '--json'], dir, env)).stdout);
    expect(statusJson).toMatchObject({ status: 'failed', temporalStatus: 'TERMINATED' });
  });

  test('bad input: unknown run, credentials in the repo URL, unreachable Temporal', async () => {
    const dir = specKitRepo('013-bad', TASKS);
    const unknown = await cli(['status', 'sdlc-nope'], dir, env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no run 'sdlc-nope'");
    const creds = await cli(['implement', 'specs/013-bad/tasks.md', '--repo', 'https://bob:ghp_secret123@github.com/acme/shop.git'], dir, env);
    expect(creds.code).toBe(2);
    expect(creds.stderr).toContain('the repository URL carries credentials');
    expect(creds.stderr).not.toContain('ghp_secret123');
    // A model the agent pods would refuse (not provider/model) is refused before any run starts.
    const model = await cli(['implement', 'specs/013-bad/tasks.md', '--model', 'gpt-4o'], dir, env);
    expect(model.code).toBe(2);
    expect(model.stderr).toContain("'gpt-4o' is invalid");
    expect(model.stderr).toContain('provider/model');
    expect((await cli(['status', 'sdlc-shop-013-bad'], dir, env)).stderr).toContain("no run 'sdlc-shop-013-bad'");
    const down = await cli(['status', 'x'], dir, { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
  });
});
