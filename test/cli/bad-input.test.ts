/**
 * Every input is checked where it enters: the built CLI, one row per mistake (argv, environment, set-up)
 * → the exit code, the first stderr line (what is wrong, where, how to fix it) and nothing created: no
 * file in the checkout or in $HOME, and for `implement` no workflow with the run's ID in Temporal.
 *
 * Rows with `temporal: false` point the CLI at an address nothing listens on: had they tried to connect
 * before refusing the input, they would exit 3 after the connect deadline, not 2 at once. Only the rows
 * that start a run (warnings, the long task list) need a worker; it starts with the first of them.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runWorkflowId } from '../../src/cli/repo';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker, testEnv, type RunningWorker } from '../support/temporal';
import { runCli } from '../integration/support/cli';

const SUFFIX = randomBytes(3).toString('hex');
/** The checkouts' origin: the run IDs are `sdlc-badinput-<suffix>-<feature>`, apart from other runs of the suite. */
const ORIGIN = `https://git.example.test/acme/badinput-${SUFFIX}.git`;
const NOWHERE = '127.0.0.1:1';
const TASK_QUEUE = `bad-input-${SUFFIX}`;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'sdlc-bad-input-'));

const TASKS = `# Tasks: Checkout

- [ ] T001 [SYNC] Decide the payment provider with the team
- [ ] T002 [P] [ASYNC] Create the Cart model in \`src/cart.ts\`
- [ ] T003 [P] [ASYNC] Create the Price model in \`src/price.ts\`
- [ ] T005 [ASYNC] Wire cart and price together (depends on T002, T003)
`;
const asyncTasks = (n: number) => Array.from({ length: n }, (_, i) => `- [ ] T${String(i + 1).padStart(3, '0')} [P] [ASYNC] Create module ${i + 1} in \`src/m${i + 1}.ts\``).join('\n') + '\n';

interface Ctx {
  /** The checkout (cwd): `specs/<feature>/tasks.md`, origin ORIGIN. */
  dir: string;
  /** An empty $HOME. */
  home: string;
  feature: string;
  tasks: string;
  /** The run ID `implement` would start. */
  runId: string;
}

interface Row {
  name: string;
  argv: (c: Ctx) => string[];
  env?: (c: Ctx) => NodeJS.ProcessEnv;
  /** tasks.md (default TASKS). */
  tasksMd?: string;
  /** Set-up in the checkout before anything is looked at. */
  setup?: (c: Ctx) => void;
  /** Point the CLI at the real Temporal server (default: at an address nothing listens on). */
  temporal?: boolean;
  /** Starts a run (needs the worker); afterwards the run exists. Otherwise no run with its ID may exist. */
  starts?: boolean;
  code: number;
  /** The first stderr line. */
  stderr: RegExp;
  stdout?: RegExp;
}

const FORMS = String.raw`\(https://host/owner/repo\.git, ssh://git@host/owner/repo\.git or git@host:owner/repo\.git\)`;
const EMPTY_RUN = /^sdlc-runner: empty run ID; list runs with 'sdlc-runner runs'$/;
const implement = (c: Ctx, ...rest: string[]) => ['implement', c.tasks, ...rest];

const ROWS: Row[] = [
  // 1. Repository URLs
  { name: "--repo 'not a url'", argv: (c) => implement(c, '--repo', 'not a url'), temporal: true, code: 2, stderr: new RegExp(`^sdlc-runner: --repo 'not a url' is not a git URL ${FORMS}$`) },
  { name: '--repo a local path', argv: (c) => implement(c, '--repo', '/srv/git/shop.git'), temporal: true, code: 2, stderr: new RegExp(`^sdlc-runner: --repo '/srv/git/shop\\.git' is a local path, not a git URL: the agent pods clone from the repository's server ${FORMS}$`) },
  { name: '--repo ftp://', argv: (c) => implement(c, '--repo', 'ftp://git.example.test/acme/shop.git'), temporal: true, code: 2, stderr: /^sdlc-runner: --repo 'ftp:\/\/git\.example\.test\/acme\/shop\.git' uses ftp:\/\/, which the runner does not clone from \(https:/ },
  { name: '--repo with a host and no repository', argv: (c) => implement(c, '--repo', 'https://github.com/'), temporal: true, code: 2, stderr: /^sdlc-runner: --repo 'https:\/\/github\.com\/' names no repository \(https:/ },
  {
    name: "origin is a local path (no --repo)",
    argv: (c) => implement(c),
    setup: (c) => execFileSync('git', ['-C', c.dir, 'remote', 'set-url', 'origin', '../shop.git']),
    temporal: true,
    code: 2,
    stderr: /^sdlc-runner: git remote 'origin' of \S+: '\.\.\/shop\.git' is a local path, not a git URL: .* Fix: pass --repo with the repository's URL on its server, or set origin to it \('git remote set-url origin <url>'\)$/,
  },
  // Usage errors commander finds (a choice, an option it does not know, a missing argument): one line too, no help dump.
  { name: '--stack sideways', argv: (c) => implement(c, '--stack', 'sideways'), code: 2, stderr: /^sdlc-runner: option '--stack <dependencies\|none>' argument 'sideways' is invalid\. must be dependencies or none$/ },
  { name: '--file-overlap sometimes (plan)', argv: (c) => ['plan', c.tasks, '--file-overlap', 'sometimes'], code: 2, stderr: /^sdlc-runner: option '--file-overlap <serialize\|ignore>' argument 'sometimes' is invalid\. must be serialize or ignore$/ },
  { name: 'an unknown option', argv: (c) => implement(c, '--max-paralel', '2'), code: 2, stderr: /^sdlc-runner: unknown option '--max-paralel' \(Did you mean --max-parallel\?\)$/ },
  { name: 'a missing argument', argv: () => ['implement'], code: 2, stderr: /^sdlc-runner: missing required argument 'tasks\.md'$/ },
  // 2. The Temporal UI URL and the Temporal address
  { name: "--ui-url 'not a url'", argv: (c) => implement(c, '--ui-url', 'not a url'), temporal: true, code: 2, stderr: /^sdlc-runner: --ui-url \(or SDLC_TEMPORAL_UI_URL\) 'not a url' is not an http\(s\) URL\. Fix: e\.g\. --ui-url http:\/\/127\.0\.0\.1:8233$/ },
  { name: 'SDLC_TEMPORAL_UI_URL=ftp://… (status)', argv: () => ['status', 'sdlc-x'], env: () => ({ SDLC_TEMPORAL_UI_URL: 'ftp://ui.example.test' }), code: 2, stderr: /^sdlc-runner: --ui-url \(or SDLC_TEMPORAL_UI_URL\) 'ftp:\/\/ui\.example\.test' is not an http\(s\) URL/ },
  { name: '--address with a scheme', argv: (c) => implement(c, '--address', 'http://127.0.0.1:7233'), code: 2, stderr: /^sdlc-runner: --address \(or TEMPORAL_ADDRESS\) 'http:\/\/127\.0\.0\.1:7233' is not host:port \(no scheme: gRPC takes host:port\)\. Fix: e\.g\. --address 127\.0\.0\.1:7233/ },
  { name: 'TEMPORAL_ADDRESS with port 99999 (runs)', argv: () => ['runs'], env: () => ({ TEMPORAL_ADDRESS: '127.0.0.1:99999' }), code: 2, stderr: /^sdlc-runner: --address \(or TEMPORAL_ADDRESS\) '127\.0\.0\.1:99999' is not host:port\. Fix: / },
  // 3. Numeric flags: digits only, within the run schema's bounds
  { name: '--task-timeout-minutes 1e12', argv: (c) => implement(c, '--task-timeout-minutes', '1e12'), temporal: true, code: 2, stderr: /^sdlc-runner: --task-timeout-minutes '1e12' is not a whole number: use digits only \(no exponent, decimals or sign\), from 1 to 10080 \(7 days, a run's limit\)$/ },
  { name: '--task-timeout-minutes 10081', argv: (c) => implement(c, '--task-timeout-minutes', '10081'), temporal: true, code: 2, stderr: /^sdlc-runner: --task-timeout-minutes 10081 is out of range: from 1 to 10080 \(7 days, a run's limit\)$/ },
  { name: '--pending-timeout-minutes 1.5', argv: (c) => implement(c, '--pending-timeout-minutes', '1.5'), temporal: true, code: 2, stderr: /^sdlc-runner: --pending-timeout-minutes '1\.5' is not a whole number: .* from 1 to 1440 \(1 day, a run's limit\)$/ },
  { name: '--pending-timeout-minutes 1441', argv: (c) => implement(c, '--pending-timeout-minutes', '1441'), temporal: true, code: 2, stderr: /^sdlc-runner: --pending-timeout-minutes 1441 is out of range: from 1 to 1440 \(1 day/ },
  { name: '--max-parallel 101', argv: (c) => implement(c, '--max-parallel', '101'), temporal: true, code: 2, stderr: /^sdlc-runner: --max-parallel 101 is out of range: from 1 to 100 \(a run's limit\)$/ },
  { name: '--max-cost-per-run abc', argv: (c) => implement(c, '--max-cost-per-run', 'abc'), temporal: true, code: 2, stderr: /^sdlc-runner: --max-cost-per-run 'abc' is not an amount in USD: use digits with an optional decimal point, e\.g\. 2\.50$/ },
  { name: '--max-cost-per-task 0', argv: (c) => implement(c, '--max-cost-per-task', '0'), temporal: true, code: 2, stderr: /^sdlc-runner: --max-cost-per-task 0 is out of range: more than 0, at most 1000000 \(a run's limit\)$/ },
  { name: '--max-tokens-per-task 1.5', argv: (c) => implement(c, '--max-tokens-per-task', '1.5'), temporal: true, code: 2, stderr: /^sdlc-runner: --max-tokens-per-task '1\.5' is not a whole number/ },
  { name: "--allow-egress '*.com'", argv: (c) => implement(c, '--allow-egress', 'registry.npmjs.org,*.com'), temporal: true, code: 2, stderr: /^sdlc-runner: --allow-egress '\*\.com': wildcard too broad: "\*\.com"; use host, \*\.domain or host:port, e\.g\. registry\.npmjs\.org or \*\.pypi\.org$/ },
  { name: "--allow-egress 'a,,b'", argv: (c) => implement(c, '--allow-egress', 'a.example,,b.example'), temporal: true, code: 2, stderr: /^sdlc-runner: --allow-egress 'a\.example,,b\.example' has an empty entry: list hosts separated by commas/ },
  { name: "--allow-egress 'https://x.example'", argv: (c) => implement(c, '--allow-egress', 'https://x.example'), temporal: true, code: 2, stderr: /^sdlc-runner: --allow-egress 'https:\/\/x\.example': .*; use host, \*\.domain or host:port/ },
  { name: '--max-parallel 0x10', argv: (c) => implement(c, '--max-parallel', '0x10'), temporal: true, code: 2, stderr: /^sdlc-runner: --max-parallel '0x10' is not a whole number: .* from 1 to 100/ },
  { name: 'parallel <run> 1e1', argv: () => ['parallel', 'sdlc-x', '1e1'], code: 2, stderr: /^sdlc-runner: parallel <n> '1e1' is not a whole number: .* from 1 to 100/ },
  { name: 'runs --limit 0', argv: () => ['runs', '--limit', '0'], code: 2, stderr: /^sdlc-runner: --limit 0 is out of range: 1 or more$/ },
  { name: 'dev --port 70000 (no server, no database)', argv: () => ['dev', '--port', '70000'], code: 2, stderr: /^sdlc-runner: --port 70000 is out of range: from 1 to 65535 \(a TCP port\)$/ },
  // 4. Plan warnings: printed by implement as by plan, and the run still starts
  {
    name: 'implement with a dependency on no task: warns, then starts',
    argv: (c) => implement(c),
    tasksMd: TASKS.replace('(depends on T002, T003)', '(depends on T002, T003, T099)'),
    temporal: true,
    starts: true,
    code: 0,
    stderr: /^specs\/\S+\/tasks\.md:6: warning: T005 depends on T099, which is not a task in this file$/,
    stdout: /^run started id=sdlc-badinput-\w+-\S+ tasks=T002,T003,T005 ui=http:\/\/127\.0\.0\.1:8233\/namespaces\/default\/workflows\/sdlc-badinput-/,
  },
  // 5. Run IDs: one validator for every command that takes one
  ...(['status', 'cancel', 'watch', 'retry', 'logs', 'integrate'] as const).map((cmd): Row => ({ name: `${cmd} ''`, argv: () => [cmd, ''], code: 2, stderr: EMPTY_RUN })),
  { name: "parallel '' 2", argv: () => ['parallel', '', '2'], code: 2, stderr: EMPTY_RUN },
  { name: 'a run ID pasted with a trailing space', argv: () => ['status', 'sdlc-shop-001 '], code: 2, stderr: /^sdlc-runner: run ID 'sdlc-shop-001 ' starts or ends with whitespace \(copied with it\?\)\. Fix: pass 'sdlc-shop-001'; list runs with 'sdlc-runner runs'$/ },
  { name: "cancel --task '' (would cancel the whole run)", argv: () => ['cancel', 'sdlc-x', '--task', ''], code: 2, stderr: /^sdlc-runner: --task '' names no task\. Fix: --task T012 \(repeatable or comma-separated\), or leave --task out for every task$/ },
  { name: "retry --task 'T1 T2'", argv: () => ['retry', 'sdlc-x', '--task', 'T1 T2'], code: 2, stderr: /^sdlc-runner: --task 'T1 T2': 'T1 T2' is not a task ID \(it has a space\)\. Fix: separate task IDs with commas/ },
  // 6. logs: the run, the namespace and the Kubernetes configuration
  {
    name: 'logs <unknown run>',
    argv: (c) => ['logs', `sdlc-nope-${SUFFIX}`, '--kubeconfig', path.join(c.dir, 'kubeconfig')],
    setup: (c) => writeFileSync(path.join(c.dir, 'kubeconfig'), 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\ncontexts: [{name: c, context: {cluster: c}}]\ncurrent-context: c\n'),
    temporal: true,
    code: 2,
    stderr: new RegExp(`^sdlc-runner: no run 'sdlc-nope-${SUFFIX}'\\. List runs with 'sdlc-runner runs'\\.$`),
  },
  { name: 'logs --k8s-namespace Bad_NS', argv: () => ['logs', 'sdlc-x', '--k8s-namespace', 'Bad_NS'], code: 2, stderr: /^sdlc-runner: --k8s-namespace \(or SDLC_K8S_NAMESPACE\) 'Bad_NS' is not a valid Kubernetes namespace: a DNS-1123 label is lower-case letters, digits and '-', at most 63/ },
  { name: 'logs --kubeconfig /nope/kubeconfig', argv: () => ['logs', 'sdlc-x', '--kubeconfig', '/nope/kubeconfig'], code: 2, stderr: /^sdlc-runner: --kubeconfig '\/nope\/kubeconfig' does not exist\. Fix: pass the path of a kubeconfig file/ },
  { name: 'logs with KUBECONFIG=/nope/kubeconfig', argv: () => ['logs', 'sdlc-x'], env: () => ({ KUBECONFIG: '/nope/kubeconfig' }), code: 2, stderr: /^sdlc-runner: KUBECONFIG names '\/nope\/kubeconfig', which does not exist\. Fix: set KUBECONFIG to your kubeconfig file\(s\), or pass --kubeconfig$/ },
  { name: 'logs with no Kubernetes configuration at all', argv: () => ['logs', 'sdlc-x'], code: 2, stderr: /^sdlc-runner: no Kubernetes configuration: set KUBECONFIG or pass --kubeconfig \(there is no \S+\/\.kube\/config, and this is not a pod with a service account\)$/ },
  { name: 'implement --follow --logs with no Kubernetes configuration', argv: (c) => implement(c, '--follow', '--logs'), temporal: true, code: 2, stderr: /^sdlc-runner: no Kubernetes configuration: set KUBECONFIG or pass --kubeconfig/ },
  { name: 'implement --follow --logs --kubeconfig /nope/kubeconfig', argv: (c) => implement(c, '--follow', '--logs', '--kubeconfig', '/nope/kubeconfig'), temporal: true, code: 2, stderr: /^sdlc-runner: --kubeconfig '\/nope\/kubeconfig' does not exist/ },
  // 7. A long task list: the count and the first ten; up to 20, every ID as before
  {
    name: 'implement with 25 tasks prints the count and the first 10',
    argv: (c) => implement(c, '--max-parallel', '1'),
    tasksMd: asyncTasks(25),
    temporal: true,
    starts: true,
    code: 0,
    stderr: /^$/,
    stdout: /^run started id=sdlc-badinput-\S+ tasks=25 \(T001,T002,T003,T004,T005,T006,T007,T008,T009,T010,…\) ui=http:\/\/127\.0\.0\.1:8233\/namespaces\/default\/workflows\/sdlc-badinput-\S+$/,
  },
  {
    name: 'implement with 20 tasks prints all of them',
    argv: (c) => implement(c, '--max-parallel', '1'),
    tasksMd: asyncTasks(20),
    temporal: true,
    starts: true,
    code: 0,
    stderr: /^$/,
    stdout: new RegExp(`^run started id=sdlc-badinput-\\S+ tasks=${Array.from({ length: 20 }, (_, i) => `T${String(i + 1).padStart(3, '0')}`).join(',')} ui=http://`),
  },
  // 8. A Temporal namespace that does not exist
  {
    name: 'implement --namespace no-such-ns',
    argv: (c) => implement(c, '--namespace', 'no-such-ns'),
    temporal: true,
    code: 2,
    stderr: /^sdlc-runner: Temporal namespace 'no-such-ns' does not exist at 127\.0\.0\.1:\d+\. Fix: create it with 'temporal operator namespace create --namespace no-such-ns', or check --namespace \/ TEMPORAL_NAMESPACE$/,
  },
  // Paths: nothing is created to make a typo work
  { name: 'init --dir that does not exist', argv: () => ['init', '--dir', 'no-such-dir'], code: 2, stderr: /^sdlc-runner: --dir 'no-such-dir' does not exist\. Fix: pass an existing repository folder \(nothing is created for it\)$/ },
  { name: 'dev --pod-template that does not exist', argv: () => ['dev', '--no-worker', '--pod-template', 'pod.yaml', '--port', '7999'], code: 2, stderr: /^sdlc-runner: --pod-template 'pod\.yaml' does not exist\. Fix: pass the path of an agent pod template/ },
];

// ---- shared, started only by the rows that need them ----

let temporal: Promise<TestWorkflowEnvironment> | undefined;
const client = async () => (await (temporal ??= testEnv())).client;
let worker: Promise<RunningWorker> | undefined;
const startedRuns: string[] = [];

function needWorker(): Promise<RunningWorker> {
  return (worker ??= (() => {
    const git = new MemoryGit();
    // The agents never finish: the runs are terminated at the end.
    return startWorker({ kubernetes: new MemoryKubernetesGateway(() => ({ hang: true }), git), git }, { taskQueue: TASK_QUEUE });
  })());
}

afterAll(async () => {
  if (temporal) {
    const c = await client();
    await Promise.all(startedRuns.map((id) => c.workflow.getHandle(id).terminate('bad-input test done').catch(() => undefined)));
  }
  await (await worker)?.stop();
  await (await temporal)?.teardown();
  rmSync(scratch, { recursive: true, force: true });
});

/** Every file under `dir` (not .git), so a row can show it wrote nothing. */
function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f !== '.git' && !f.startsWith(`.git${path.sep}`)).sort();
}

function checkout(i: number, tasksMd: string): Ctx {
  const root = path.join(scratch, `row-${i}`);
  const dir = path.join(root, 'shop');
  const home = path.join(root, 'home');
  const feature = `${String(i).padStart(3, '0')}-bad`;
  mkdirSync(path.join(dir, 'specs', feature), { recursive: true });
  mkdirSync(home);
  execFileSync('git', ['init', '-q', '-b', 'main', dir]);
  execFileSync('git', ['-C', dir, 'remote', 'add', 'origin', ORIGIN]);
  writeFileSync(path.join(dir, 'specs', feature, 'tasks.md'), tasksMd);
  return { dir, home, feature, tasks: `specs/${feature}/tasks.md`, runId: runWorkflowId(ORIGIN, feature) };
}

async function runExists(id: string): Promise<boolean> {
  try {
    await (await client()).workflow.getHandle(id).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

test.concurrent.each(ROWS.map((row, i) => ({ ...row, i })))('$name', async (row) => {
  const c = checkout(row.i, row.tasksMd ?? TASKS);
  row.setup?.(c);
  if (row.starts) await needWorker();
  const before = { dir: listing(c.dir), home: listing(c.home) };
  const argv = row.argv(c);
  const t0 = Date.now();
  const r = await runCli(argv, {
    cwd: c.dir,
    timeoutMs: 60_000,
    env: {
      HOME: c.home,
      TEMPORAL_ADDRESS: row.temporal ? process.env.TEMPORAL_ADDRESS : NOWHERE,
      TEMPORAL_NAMESPACE: undefined,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      SDLC_TEMPORAL_UI_URL: undefined,
      SDLC_K8S_NAMESPACE: undefined,
      KUBECONFIG: undefined,
      NO_COLOR: '1',
      ...row.env?.(c),
    },
  });
  const elapsed = Date.now() - t0;
  const context = `sdlc-runner ${argv.map((a) => JSON.stringify(a)).join(' ')} (${elapsed} ms)\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  const stderrLines = r.stderr.split('\n').filter(Boolean);
  expect({ context, code: r.code, first: stderrLines[0] ?? '' }).toEqual({ context, code: row.code, first: expect.stringMatching(row.stderr) });
  if (row.code !== 0) {
    // One line, and nothing else: no help text, no stack.
    expect({ context, lines: stderrLines.length, stdout: r.stdout }).toEqual({ context, lines: 1, stdout: '' });
  }
  if (row.stdout) expect({ context, first: r.stdout.split('\n')[0] }).toEqual({ context, first: expect.stringMatching(row.stdout) });
  // Nothing written in the checkout or in $HOME (the dev database, a kube cache, an init target...).
  expect({ context, dir: listing(c.dir), home: listing(c.home) }).toEqual({ context, ...before });
  if (row.starts) {
    startedRuns.push(c.runId);
    expect(await runExists(c.runId)).toBe(true);
  } else if (row.temporal || argv[0] === 'implement') {
    // No run under the checkout's ID, nor under the one a --repo would give.
    const repo = argv.indexOf('--repo');
    const ids = [c.runId, ...(repo > 0 ? [runWorkflowId(argv[repo + 1]!, c.feature)] : [])];
    for (const id of ids) expect({ id, exists: await runExists(id) }).toEqual({ id, exists: false });
  }
  // Bad input is found before anything is contacted: no row waits on a connect deadline.
  if (!row.starts) expect({ context, fast: elapsed < 20_000 }).toEqual({ context, fast: true });
});
