/**
 * Every input is checked where it enters: the built CLI, one row per mistake (argv, environment, set-up)
 * → the exit code, the first stderr line (what is wrong, where, how to fix it) and nothing created: no
 * file in the checkout or in $HOME, and for `implement` no workflow with the run's ID in Temporal.
 *
 * Rows with `temporal: false` point the CLI at an address nothing listens on: had they tried to connect
 * before refusing the input, they would exit 3 after the connect deadline, not 2 at once. Only the rows
 * that start a run (warnings, the long task list) need a worker; it starts with the first of them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runWorkflowId } from '../../src/cli/repo';
import { getRunStateQuery } from '../../workflows/definitions';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker, testEnv, type RunningWorker } from '../support/temporal';
import { CLI, runCli, type CliResult } from '../integration/support/cli';

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
  /** The row's folder: the checkout, $HOME and anything the row sets up. Nothing in it may change (bar .git). */
  root: string;
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
  /** The first stdout line. */
  stdout?: RegExp;
  /** All of stdout. */
  stdoutAll?: RegExp;
  /** The CLI's working directory (default: the checkout). */
  cwd?: (c: Ctx) => string;
  /** Run the CLI as a user who may not write the checkout (root may write anywhere: then as nobody, the checkout made theirs). */
  readOnly?: boolean;
  /** Asked before and after the command, must be equal: what the row must leave unchanged (e.g. a run in Temporal). */
  unchanged?: () => Promise<unknown>;
}

const FORMS = String.raw`\(https://host/owner/repo\.git, ssh://git@host/owner/repo\.git or git@host:owner/repo\.git\)`;
const EMPTY_RUN = /^sdlc-runner: empty run ID; list runs with 'sdlc-runner runs'$/;
const implement = (c: Ctx, ...rest: string[]) => ['implement', c.tasks, ...rest];

/** The 8 patterns of the issue: each refused with the name git would refuse and why, before anything starts. */
const BRANCH_PATTERNS: [string, RegExp][] = [
  ['specs/../{taskId}', /^sdlc-runner: specs\/\S+\/tasks\.md:4: the branch "specs\/\.\.\/T002" of T002 \(and those of T003 and T005\) is not a valid git branch name: it contains "\.\." \(lines 4, 5, 6\)\. Fix: change the branch pattern "specs\/\.\.\/\{taskId\}" so that it gives valid git branch names \(e\.g\. --branch-pattern 'specs\/\{feature\}\/\{taskId\}-async'\)$/],
  ['my branch/{taskId}', /^sdlc-runner: specs\/\S+\/tasks\.md:4: the branch "my branch\/T002" of T002 \(and those of T003 and T005\) is not a valid git branch name: it contains a space \(lines 4, 5, 6\)\. Fix: change the branch pattern "my branch\/\{taskId\}"/],
  ['feat~{taskId}^x:y', /^sdlc-runner: specs\/\S+\/tasks\.md:4: the branch "feat~T002\^x:y" of T002 \(and those of T003 and T005\) is not a valid git branch name: it contains "~" \(git does not allow any of ~ \^ : \? \* \[ \\\) \(lines 4, 5, 6\)\. Fix: change the branch pattern/],
  ['{taskId}.lock', /^sdlc-runner: specs\/\S+\/tasks\.md:4: the branch "T002\.lock" of T002 \(and those of T003 and T005\) is not a valid git branch name: a path component ends with "\.lock" \("T002\.lock"\) \(lines 4, 5, 6\)\. Fix: change the branch pattern/],
  ['{taskId}/', /^sdlc-runner: specs\/\S+\/tasks\.md:4: the branch "T002\/" of T002 \(and those of T003 and T005\) is not a valid git branch name: it ends with "\/" \(lines 4, 5, 6\)\. Fix: change the branch pattern/],
  ['specs/{featur}/{taskId}', /^sdlc-runner: specs\/\S+\/tasks\.md: the branch pattern "specs\/\{featur\}\/\{taskId\}" has the unknown placeholder \{featur\}\. Fix: use only \{feature\}, \{taskId\}, \{taskIdLower\} \(e\.g\. --branch-pattern 'specs\/\{feature\}\/\{taskId\}-async'\)$/],
  ['specs/{feature}/async', /^sdlc-runner: specs\/\S+\/tasks\.md: the branch pattern "specs\/\{feature\}\/async" has no \{taskId\} or \{taskIdLower\}, so every task gets the same branch: T002.* would push to "specs\/\S+\/async"\. Fix: put \{taskId\} or \{taskIdLower\} in it/],
  ['', /^sdlc-runner: --branch-pattern is empty: every task would push to the same unnamed branch\. Fix: e\.g\. --branch-pattern 'specs\/\{feature\}\/\{taskId\}-async', or leave it out for that default$/],
];

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
  { name: 'TEMPORAL_ADDRESS with port 99999 (runs)', argv: () => ['runs'], env: () => ({ TEMPORAL_ADDRESS: '127.0.0.1:99999' }), code: 2, stderr: /^sdlc-runner: --address \(or TEMPORAL_ADDRESS\) '127\.0\.0\.1:99999' is not host:port \(port 99999 is out of range: a TCP port is from 1 to 65535\)\. Fix: / },
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
  // 9. Branch patterns git cannot use: refused by implement before anything starts, and by plan the same way
  ...BRANCH_PATTERNS.flatMap(([pattern, first]): Row[] => [
    { name: `implement --branch-pattern '${pattern}'`, argv: (c) => implement(c, '--branch-pattern', pattern), temporal: true, code: 2, stderr: first },
    { name: `plan --branch-pattern '${pattern}'`, argv: (c) => ['plan', c.tasks, '--branch-pattern', pattern], code: 2, stderr: first },
  ]),
  // 10. The base branch: a name git can use, the branch's own name
  { name: "implement --base 'my branch'", argv: (c) => implement(c, '--base', 'my branch'), temporal: true, code: 2, stderr: /^sdlc-runner: --base 'my branch' is not a valid git branch name: it contains a space\. Fix: pass the branch the agents start from, e\.g\. --base main$/ },
  { name: "plan --base 'my branch'", argv: (c) => ['plan', c.tasks, '--base', 'my branch'], code: 2, stderr: /^sdlc-runner: --base 'my branch' is not a valid git branch name: it contains a space\. Fix: pass the branch the agents start from, e\.g\. --base main$/ },
  // 11. init's target: a git repository it may write in; nothing claimed as created when it cannot
  {
    name: 'init outside a git repository',
    argv: () => ['init'],
    setup: (c) => void (mkdirSync(path.join(c.root, 'notes')), writeFileSync(path.join(c.root, 'notes', 'todo.txt'), 'x\n')),
    cwd: (c) => path.join(c.root, 'notes'),
    code: 2,
    stderr: /^sdlc-runner: \S+\/notes is not in a git repository: the commands init installs start runs of the repository's origin\. Fix: run 'sdlc-runner init' inside your repository \(after 'git init' for a new one\), or pass --dir <repository>$/,
  },
  { name: 'init --dir <a regular file>', argv: (c) => ['init', '--dir', c.tasks], code: 2, stderr: /^sdlc-runner: --dir 'specs\/\S+\/tasks\.md' is a file, not a directory\. Fix: pass an existing repository folder$/ },
  { name: 'init in a read-only repository', argv: () => ['init'], readOnly: true, code: 2, stderr: /^sdlc-runner: cannot write in \S+\/shop: EACCES \(\S+\/shop\/\.opencode\S*\)\. Fix: run init where you may write \(check the folder's permissions and that nothing there is a file where a folder is needed\)\. Nothing was written\.$/ },
  // 12. A very long task list: the count and the first ten
  {
    name: 'implement with 10,000 tasks prints the count and the first 10',
    argv: (c) => implement(c, '--max-parallel', '1'),
    tasksMd: asyncTasks(10_000),
    temporal: true,
    starts: true,
    code: 0,
    stderr: /^$/,
    stdout: /^run started id=sdlc-badinput-\S+ tasks=10000 \(T001,T002,T003,T004,T005,T006,T007,T008,T009,T010,…\) ui=http:\/\/127\.0\.0\.1:8233\/namespaces\/default\/workflows\/sdlc-badinput-\S+$/,
  },
  {
    name: 'implement with 10,001 tasks: more than a run can hold (own)',
    argv: (c) => implement(c),
    tasksMd: asyncTasks(10_001),
    temporal: true,
    code: 2,
    stderr: /^sdlc-runner: specs\/\S+\/tasks\.md: 10001 open \[ASYNC\] tasks to dispatch; a run takes at most 10000 \(its state, which status and watch read, must fit in one Temporal answer\)\. Fix: split the tasks over several features, or mark fewer of them \[ASYNC\]$/,
  },
  // 13. Beyond the issue's list: the same mistakes in other places a user meets them
  // branch and ref names
  { name: "implement --base 'main..next' (own)", argv: (c) => implement(c, '--base', 'main..next'), temporal: true, code: 2, stderr: /^sdlc-runner: --base 'main\.\.next' is not a valid git branch name: it contains "\.\."\. Fix: pass the branch the agents start from, e\.g\. --base main$/ },
  { name: 'implement --base refs/heads/main (own)', argv: (c) => implement(c, '--base', 'refs/heads/main'), temporal: true, code: 2, stderr: /^sdlc-runner: --base 'refs\/heads\/main' is a full ref, not a branch name\. Fix: pass the branch's own name, --base main$/ },
  { name: 'implement --base origin/main, the remote-tracking name (own)', argv: (c) => implement(c, '--base', 'origin/main'), temporal: true, code: 2, stderr: /^sdlc-runner: --base 'origin\/main' is this checkout's name for the branch 'main' of the remote 'origin'; the agents clone the repository and start from a branch by its own name\. Fix: --base main$/ },
  { name: "plan --branch-pattern '   ' (own)", argv: (c) => ['plan', c.tasks, '--branch-pattern', '   '], code: 2, stderr: /^sdlc-runner: --branch-pattern is empty: every task would push to the same unnamed branch\./ },
  { name: "implement --integration-branch 'my integration' (own)", argv: (c) => implement(c, '--integration-branch', 'my integration'), temporal: true, code: 2, stderr: /^sdlc-runner: the integration branch "my integration" \(--integration-branch 'my integration'\) is not a valid git branch name: it contains a space\. Fix: pass a valid --integration-branch, e\.g\. 'specs\/\{feature\}\/integration', or none$/ },
  { name: "integrate <run> --branch 'a b' (own)", argv: () => ['integrate', 'sdlc-x', '--branch', 'a b'], code: 2, stderr: /^sdlc-runner: --branch 'a b' is not a valid git branch name: it contains a space\. Fix: pass the integration branch's name, e\.g\. --branch specs\/001-login\/integration$/ },
  // URLs
  { name: '--repo with credentials in it, never echoed (own)', argv: (c) => implement(c, '--repo', 'https://bob:ghp_s3cret@github.com/acme/shop.git'), temporal: true, code: 2, stderr: /^sdlc-runner: --repo: the repository URL carries credentials \(user:token@host\)\. Fix: remove them from the URL \(https:\/\/host\/owner\/repo\.git\): agents read git credentials from a mounted Secret, and a URL is stored in workflow history$/ },
  {
    name: 'origin with a token in it (own)',
    argv: (c) => implement(c),
    setup: (c) => execFileSync('git', ['-C', c.dir, 'remote', 'set-url', 'origin', `https://x-access-token:ghp_s3cret@git.example.test/acme/badinput-${SUFFIX}.git`]),
    temporal: true,
    code: 2,
    stderr: /^sdlc-runner: git remote 'origin' of \S+\/shop: the repository URL carries credentials \(user:token@host\)\. Fix: remove them/,
  },
  { name: '--repo pasted with a trailing newline (own)', argv: (c) => implement(c, '--repo', 'https://github.com/acme/shop.git\n'), temporal: true, code: 2, stderr: /^sdlc-runner: --repo "https:\/\/github\.com\/acme\/shop\.git\\n" starts or ends with whitespace \(pasted with a space or newline\?\)\. Fix: pass the URL alone, e\.g\. --repo https:\/\/github\.com\/acme\/shop\.git$/ },
  { name: "--ui-url 'http://' (no host) (own)", argv: (c) => implement(c, '--ui-url', 'http://'), temporal: true, code: 2, stderr: /^sdlc-runner: --ui-url \(or SDLC_TEMPORAL_UI_URL\) 'http:\/\/' is not an http\(s\) URL\. Fix: e\.g\. --ui-url http:\/\/127\.0\.0\.1:8233$/ },
  // paths
  { name: 'logs --kubeconfig <a directory> (own)', argv: (c) => ['logs', 'sdlc-x', '--kubeconfig', c.home], code: 2, stderr: /^sdlc-runner: --kubeconfig '\S+\/home' is a directory\. Fix: pass the path of a kubeconfig file/ },
  { name: 'implement <a feature folder, not its tasks.md> (own)', argv: (c) => ['implement', `specs/${c.feature}`], code: 2, stderr: /^sdlc-runner: specs\/\S+: is a directory, not a tasks\.md file\. Fix: pass the file inside it, e\.g\. specs\/\S+\/tasks\.md$/ },
  {
    name: 'init --dir <a file inside a folder that is not a repository> (own)',
    argv: (c) => ['init', '--dir', path.join(c.root, 'notes', 'todo.txt')],
    setup: (c) => void (mkdirSync(path.join(c.root, 'notes')), writeFileSync(path.join(c.root, 'notes', 'todo.txt'), 'x\n')),
    code: 2,
    stderr: /^sdlc-runner: --dir '\S+\/notes\/todo\.txt' is a file, not a directory\. Fix: pass an existing repository folder$/,
  },
  {
    name: 'init --dir <a folder that is not a repository> (own)',
    argv: (c) => ['init', '--dir', path.join(c.root, 'notes')],
    setup: (c) => void (mkdirSync(path.join(c.root, 'notes')), writeFileSync(path.join(c.root, 'notes', 'todo.txt'), 'x\n')),
    code: 2,
    stderr: /^sdlc-runner: \S+\/notes is not in a git repository: the commands init installs start runs of the repository's origin\./,
  },
  // run IDs
  { name: 'a run ID with a newline in it (own)', argv: () => ['logs', 'sdlc-shop-001\nsdlc-shop-002'], code: 2, stderr: /^sdlc-runner: run ID "sdlc-shop-001\\nsdlc-shop-002" has a control character; list runs with 'sdlc-runner runs'$/ },
  { name: 'two run IDs as one argument (own)', argv: () => ['watch', 'sdlc-shop-001 sdlc-shop-002'], code: 2, stderr: /^sdlc-runner: run ID 'sdlc-shop-001 sdlc-shop-002' has a space, which no run ID has \(sdlc-<repo>-<feature>\)\. Fix: pass one run ID, quoted whole; list runs with 'sdlc-runner runs'$/ },
  { name: 'a run ID of 300 characters (own)', argv: () => ['status', `sdlc-${'x'.repeat(295)}`], temporal: true, code: 2, stderr: /^sdlc-runner: no run 'sdlc-x{295}'\. List runs with 'sdlc-runner runs'\.$/ },
];

/**
 * The commands of the issue that waited out Temporal's query deadline when no worker polls (and one of ours,
 * integrate): a read answers from what Temporal keeps; a change says a worker is needed (exit 3) and changes nothing.
 */
const DEAD_QUEUE = `bad-input-noworker-${SUFFIX}`;
/** The dead run's repository, its own: `status` without a run in a checkout of it reads that repository's latest run. */
const DEAD_ORIGIN = `https://git.example.test/acme/badinput-${SUFFIX}-noworker.git`;
const noWorkerEnv = () => ({ TEMPORAL_TASK_QUEUE: DEAD_QUEUE, SDLC_QUERY_TIMEOUT_SECONDS: '2' });
const needsWorker = (what: string) => new RegExp(`^sdlc-runner: cannot ${what} in sdlc-badinput-${SUFFIX}-noworker-999-bad: no worker answered for task queue ${DEAD_QUEUE} within 2s \\(no poll seen recently\\)\\. A change needs a running worker: start one \\(sdlc-runner worker\\), then try again$`);
const NO_WORKER_ROWS: Row[] = [
  {
    name: 'status (the latest run of this repository) with no worker',
    argv: () => ['status'],
    // Other suites start runs on the same Temporal server meanwhile: the latest is the one of this checkout's origin.
    setup: (c) => execFileSync('git', ['-C', c.dir, 'remote', 'set-url', 'origin', DEAD_ORIGIN]),
    env: noWorkerEnv,
    temporal: true,
    unchanged: deadRunRecord,
    code: 0,
    stderr: /^$/,
    stdout: new RegExp(`^no worker answered for task queue ${DEAD_QUEUE} within 2s \\(no poll seen recently\\): the worker is down; showing the run as Temporal keeps it — start a worker \\(sdlc-runner worker\\) for the full state$`),
    stdoutAll: new RegExp(`\\nrun sdlc-badinput-${SUFFIX}-noworker-999-bad  feature=999-bad  status=running  repo=https://git\\.example\\.test/acme/badinput-${SUFFIX}-noworker\\.git\\n`),
  },
  { name: 'retry <run> --task T999 with no worker', argv: () => ['retry', deadId, '--task', 'T999'], env: noWorkerEnv, temporal: true, unchanged: deadRunRecord, code: 3, stderr: needsWorker('retry') },
  { name: 'cancel <run> --task T999 with no worker', argv: () => ['cancel', deadId, '--task', 'T999'], env: noWorkerEnv, temporal: true, unchanged: deadRunRecord, code: 3, stderr: needsWorker('cancel') },
  // With a worker, a task the run does not have is bad input (exit 2), and the run is left as it was.
  { name: 'retry <run> --task T999 with a worker', argv: () => ['retry', liveId, '--task', 'T999'], temporal: true, unchanged: liveRunRecord, code: 2, stderr: /^sdlc-runner: cannot retry in sdlc-badinput-\w+-998-bad: unknown task\(s\) T999; dispatched tasks are T002, T003, T005$/ },
  { name: 'cancel <run> --task T999 with a worker', argv: () => ['cancel', liveId, '--task', 'T999'], temporal: true, unchanged: liveRunRecord, code: 2, stderr: /^sdlc-runner: cannot cancel in sdlc-badinput-\w+-998-bad: unknown task\(s\) T999; dispatched tasks are T002, T003, T005$/ },
  { name: 'integrate <run> with no worker (own)', argv: () => ['integrate', deadId], env: noWorkerEnv, temporal: true, unchanged: deadRunRecord, code: 3, stderr: needsWorker('integrate the tasks') },
];

// ---- shared, started only by the rows that need them ----

let temporal: Promise<TestWorkflowEnvironment> | undefined;

/** A run started as a user would (`implement`) on a task queue no worker polls. */
let dead: Promise<void> | undefined;
let deadId = '';
function deadRun(): Promise<void> {
  return (dead ??= (async () => {
    const c = checkout(999, TASKS);
    execFileSync('git', ['-C', c.dir, 'remote', 'set-url', 'origin', DEAD_ORIGIN]);
    const r = await runCli(['implement', c.tasks], { cwd: c.dir, timeoutMs: 60_000, env: { HOME: c.home, TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: undefined, TEMPORAL_TASK_QUEUE: DEAD_QUEUE, NO_COLOR: '1' } });
    if (r.code !== 0) throw new Error(`implement on ${DEAD_QUEUE} failed (${r.code}): ${r.stderr}`);
    deadId = runWorkflowId(DEAD_ORIGIN, c.feature);
    startedRuns.push(deadId);
  })());
}
/** A run started as a user would on the queue the test worker polls (its agents never finish). */
let live: Promise<void> | undefined;
let liveId = '';
function liveRun(): Promise<void> {
  return (live ??= (async () => {
    await needWorker();
    const c = checkout(998, TASKS);
    const r = await runCli(['implement', c.tasks], { cwd: c.dir, timeoutMs: 60_000, env: { HOME: c.home, TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: undefined, TEMPORAL_TASK_QUEUE: TASK_QUEUE, NO_COLOR: '1' } });
    if (r.code !== 0) throw new Error(`implement on ${TASK_QUEUE} failed (${r.code}): ${r.stderr}`);
    startedRuns.push(c.runId);
    liveId = c.runId;
  })());
}
async function liveRunRecord(): Promise<unknown> {
  const s = await (await client()).workflow.getHandle(liveId).query(getRunStateQuery);
  return { status: s.status, tasks: s.tasks.map((t) => [t.id, t.status, t.attempt]) };
}

/** The dead run as Temporal describes it: a command refused for want of a worker changes nothing in it. */
async function deadRunRecord(): Promise<unknown> {
  const d = await (await client()).workflow.getHandle(deadId).describe();
  return { status: d.status.name, historyLength: d.historyLength };
}
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

/** Every file under `dir` (not in a .git), so a row can show it wrote nothing. */
function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => !f.split(path.sep).includes('.git')).sort();
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
  return { root, dir, home, feature, tasks: `specs/${feature}/tasks.md`, runId: runWorkflowId(ORIGIN, feature) };
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

/** As `nobody` when the tests run as root (root writes through any mode bits), with the row's folder theirs and read-only. */
const NOBODY = 65534;
function makeReadOnly(c: Ctx): number | undefined {
  const asNobody = process.getuid?.() === 0;
  if (asNobody) {
    for (const d of [scratch, c.root]) chmodSync(d, 0o755);
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, c.root]);
  }
  execFileSync('chmod', ['-R', 'a-w', c.dir]);
  return asNobody ? NOBODY : undefined;
}

function runCliAs(uid: number, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, uid, gid: uid, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function runRow(row: Row & { i: number }): Promise<void> {
  const c = checkout(row.i, row.tasksMd ?? TASKS);
  row.setup?.(c);
  if (row.starts) await needWorker();
  const uid = row.readOnly ? makeReadOnly(c) : undefined;
  const before = { files: listing(c.root), unchanged: await row.unchanged?.() };
  const argv = row.argv(c);
  const t0 = Date.now();
  const opts = {
    cwd: row.cwd?.(c) ?? c.dir,
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
  };
  const r = uid === undefined ? await runCli(argv, opts) : await runCliAs(uid, argv, opts);
  const elapsed = Date.now() - t0;
  const context = `sdlc-runner ${argv.map((a) => JSON.stringify(a)).join(' ')} (${elapsed} ms)\nstdout:\n${r.stdout.slice(0, 4000)}\nstderr:\n${r.stderr}`;
  const stderrLines = r.stderr.split('\n').filter(Boolean);
  expect({ context, code: r.code, first: stderrLines[0] ?? '' }).toEqual({ context, code: row.code, first: expect.stringMatching(row.stderr) });
  if (row.code !== 0) {
    // One line, and nothing else: no help text, no stack.
    expect({ context, lines: stderrLines.length, stdout: r.stdout }).toEqual({ context, lines: 1, stdout: '' });
  }
  if (row.stdout) expect({ context, first: r.stdout.split('\n')[0] }).toEqual({ context, first: expect.stringMatching(row.stdout) });
  if (row.stdoutAll) expect({ context, stdout: r.stdout }).toEqual({ context, stdout: expect.stringMatching(row.stdoutAll) });
  // Nothing written in the checkout, in $HOME or in the row's other folders (the dev database, a kube cache, an init target...).
  expect({ context, files: listing(c.root), unchanged: await row.unchanged?.() }).toEqual({ context, ...before });
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
}

test.concurrent.each(ROWS.map((row, i) => ({ ...row, i })))('$name', runRow);

// After the rows above (jest awaits the concurrent tests in order before it reaches these): `status` without
// a run, in a checkout of the dead run's repository, reads that run (on a task queue no worker polls).
describe('with no worker polling the run\'s task queue', () => {
  test.each(NO_WORKER_ROWS.map((row, i) => ({ ...row, i: ROWS.length + i })))('$name', async (row) => {
    // In this order: `status` without a run reads the latest, the dead one.
    await liveRun();
    await deadRun();
    await runRow(row);
  });
});
