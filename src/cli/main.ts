#!/usr/bin/env node
/**
 * sdlc-runner: run the [ASYNC] tasks of a spec-kit tasks.md as a durable Temporal run of agent pods.
 */
import './compile-cache';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { repoRoot } from '../tools';
import { formatPlanTable } from '../tasks/format';
import { DEFAULT_RUN_OPTIONS } from '../../workflows/types';
import { labelValue } from '../k8s/names';
import { CliError, asCliError } from './errors';
import type { PlanFlags } from './plan';
import type { TemporalFlags } from './temporal-client';
import type { RunLogs } from './logs';
import { branchNameArg, branchPatternArg, costArg, egressHostsArg, existingDirArg, existingFileArg, hostPortArg, httpUrlArg, intArg, k8sNamespaceArg, minutesArg, portArg, runIdArg, runOptionBounds, taskIdsArg } from './input';
import { repoUrlArg } from './repo';

const io = { out: process.stdout, err: process.stderr };
// A command's modules load when it runs: a mistyped flag or argument is refused before the Temporal,
// Kubernetes and worker SDKs are loaded (about a second on a busy machine).
/* eslint-disable @typescript-eslint/no-require-imports */
const commands = (): typeof import('./commands') => require('./commands');
const planModule = (): typeof import('./plan') => require('./plan');
const liveView = (): typeof import('./live-view') => require('./live-view');
const logsModule = (): typeof import('./logs') => require('./logs');
const initModule = (): typeof import('../init/command') => require('../init/command');
const devModule = (): typeof import('./dev') => require('./dev');
const workerModule = (): typeof import('../../worker/run-worker') => require('../../worker/run-worker');
/* eslint-enable @typescript-eslint/no-require-imports */
// The bounds of maxParallel are the run schema's, and the schema loads zod (about 0.1 s): they are read
// when the value is given or the help shown, not whenever the CLI starts.
const maxParallel = () => runOptionBounds('maxParallel');
const maxParallelHelp = () => `agent pods at once (${maxParallel().min}–${maxParallel().max})`;
const maxParallelArg = (flag: string) => (value: string) => intArg(flag, maxParallel().min, maxParallel().max, "a run's limit")(value);
/** An option's or argument's help text, computed when the help is shown. */
function describedLater<T extends Option | Argument>(item: T, describe: () => string): T {
  Object.defineProperty(item, 'description', {
    get: describe,
    set: (value: string) => Object.defineProperty(item, 'description', { value, writable: true, enumerable: true, configurable: true }),
    enumerable: true,
    configurable: true,
  });
  return item;
}
/** The agent pods accept only provider/model (docker/agent/config.js): refuse anything else before a run starts. */
function modelName(value: string): string {
  if (!/^[^/\s]+\/\S+$/.test(value)) throw new InvalidArgumentError('must be provider/model as OpenCode names it, e.g. anthropic/claude-sonnet-4-5');
  return value;
}
/** A flag with a fixed set of values: anything else is refused before anything starts (exit 2). */
function oneOf<T extends string>(...values: T[]): (value: string) => T {
  return (value) => {
    if (!(values as string[]).includes(value)) throw new InvalidArgumentError(`must be ${values.slice(0, -1).join(', ')} or ${values.at(-1)}`);
    return value as T;
  };
}
function temporalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', 'Temporal frontend').env('TEMPORAL_ADDRESS').argParser(hostPortArg('--address', 'TEMPORAL_ADDRESS')))
    .addOption(new Option('--namespace <ns>', 'Temporal namespace').env('TEMPORAL_NAMESPACE'))
    .addOption(new Option('--task-queue <queue>', 'task queue the workers poll').env('TEMPORAL_TASK_QUEUE'))
    .addOption(new Option('--ui-url <url>', 'Temporal UI base URL for links').env('SDLC_TEMPORAL_UI_URL').argParser(httpUrlArg('--ui-url', 'SDLC_TEMPORAL_UI_URL')));
}

/** Where the agent pods are: the same flags and checks for `logs` and `--logs`. */
const k8sNamespaceOption = (description: string) =>
  new Option('--k8s-namespace <ns>', description).env('SDLC_K8S_NAMESPACE').default('default').argParser(k8sNamespaceArg('--k8s-namespace', 'SDLC_K8S_NAMESPACE'));
const baseBranchArg = branchNameArg('--base', 'the branch the agents start from, e.g. --base main');
const kubeconfigArg = existingFileArg('--kubeconfig', 'a kubeconfig file (or leave --kubeconfig out to use KUBECONFIG or ~/.kube/config)');

/** How tasks.md becomes a plan and which branches it must stay clear of: `plan` and `implement` read it the same way. */
function planOptions(cmd: Command): Command {
  return cmd
    .option(
      '--file-overlap <serialize|ignore>',
      'open [ASYNC] tasks that name the same file with no order between them: serialize = the later waits for the earlier',
      oneOf('serialize', 'ignore'),
      DEFAULT_RUN_OPTIONS.fileOverlap,
    )
    .option('--base <branch>', 'base branch the agents start from (default: the current branch)', baseBranchArg)
    .option('--integration-branch <pattern|none>', 'branch the feature is integrated into ({feature}), or none', DEFAULT_RUN_OPTIONS.integrationBranch);
}

/** `--logs` and where to find the agent pods (the same flags as `logs`). */
function agentLogOptions(cmd: Command): Command {
  return cmd
    .option('--logs', "interleave the agents' log lines, prefixed with their task ([T012]); needs the agent pods' cluster")
    .addOption(k8sNamespaceOption('namespace of the agent pods (with --logs)'))
    .option('--kubeconfig <path>', 'kubeconfig (with --logs; default: KUBECONFIG, ~/.kube/config or in-cluster)', kubeconfigArg);
}

/** With --logs, the cluster is checked before anything starts: an unreachable one is an error, not a silent gap. */
function agentLogs(o: { logs?: boolean; k8sNamespace: string; kubeconfig?: string }): Promise<RunLogs | undefined> {
  if (!o.logs) return Promise.resolve(undefined);
  return logsModule().openRunLogs({ namespace: o.k8sNamespace, kubeconfig: o.kubeconfig, color: !!process.stdout.isTTY && !process.env.NO_COLOR, err: io.err });
}

/** This package's version (its package.json, found from dist/ or the sources alike). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

let exitCode = 0;
const program = new Command()
  .name('sdlc-runner')
  .description('Run the [ASYNC] tasks of a spec-kit tasks.md as durable Temporal workflows, one OpenCode agent pod per task.')
  .version(packageVersion(), '-V, --version', 'print the version of sdlc-runner')
  // One line for a usage error, as for every other bad input (the help is one --help away, not printed after it).
  .configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, 'sdlc-runner: ').replace(/\n(?=\(Did you mean)/, ' ')) })
  // Usage errors (bad option values, missing arguments) are bad input: exit 2 as documented, not commander's 1.
  .exitOverride();

program
  .command('init')
  .description('install the OpenCode commands (/implement-async, /implement-async-retry) and the spec-kit implement hooks into this repository')
  .option('--force', 'overwrite files you edited (and entries of ours you changed)')
  .option('--dry-run', 'show what would be written; write nothing')
  .option('--dir <path>', 'repository to install into (default: the current one)', existingDirArg('--dir', 'an existing repository folder'))
  .action((o: { force?: boolean; dryRun?: boolean; dir?: string }) => {
    exitCode = initModule().initCommand(o, io);
  });

planOptions(
  program
    .command('plan')
    .description('show how tasks.md is read: tasks, modes, phases, and what would be dispatched')
    .argument('<tasks.md>')
    .option('--json', 'machine-readable output')
    .option('--branch-pattern <pattern>', 'task branch name pattern ({feature}, {taskId}, {taskIdLower})', branchPatternArg),
)
  .action(async (file: string, o: { json?: boolean } & PlanFlags) => {
    const { plan } = await planModule().loadPlan(file, o);
    // A plan printed here is runnable (loadPlan refused any with errors), so `errors` is always empty:
    // the JSON keeps the documented shape { file, feature, tasks, dispatch, warnings }.
    const { errors: _none, ...shape } = plan;
    io.out.write(o.json ? JSON.stringify(shape, null, 2) + '\n' : formatPlanTable(plan));
  });

agentLogOptions(temporalOptions(planOptions(
  program
    .command('implement')
    .description('start a durable run for the open [ASYNC] tasks of tasks.md')
    .argument('<tasks.md>')
    .option('--repo <url>', 'repository URL the agents clone (default: git remote origin)', repoUrlArg)
    .option('--branch-pattern <pattern>', 'task branch pattern', branchPatternArg, 'specs/{feature}/{taskId}-async')
    .option('--stack <dependencies|none>', "where a task with dependencies starts: dependencies = the base plus its dependencies' commits", oneOf('dependencies', 'none'), DEFAULT_RUN_OPTIONS.stack)
    .addOption(describedLater(new Option('--max-parallel <n>').argParser(maxParallelArg('--max-parallel')), maxParallelHelp))
    .option('--task-timeout-minutes <n>', 'deadline per task', minutesArg('--task-timeout-minutes', 'taskTimeoutSeconds'))
    .option('--pending-timeout-minutes <n>', 'how long a pod may stay Pending', minutesArg('--pending-timeout-minutes', 'pendingTimeoutSeconds'))
    .option('--model <provider/model>', 'OpenCode model for the agents', modelName)
    .option('--max-tokens-per-task <n>', "a task whose model usage reaches this many tokens ends budget_exceeded (the pod's model gateway counts)", intArg('--max-tokens-per-task', 1, 1_000_000_000, "a run's limit"))
    .option('--max-cost-per-task <usd>', 'a task whose model usage reaches this cost ends budget_exceeded', costArg('--max-cost-per-task'))
    .option('--max-cost-per-run <usd>', "once the finished tasks' cost reaches this, no task starts and running ones are cancelled", costArg('--max-cost-per-run'))
    .option('--allow-egress <hosts>', 'extra hosts the agents may reach through the egress proxy: host, *.domain or host:port, comma-separated, repeatable', egressHostsArg)
    .option('-f, --follow', 'show progress until every task has ended; exit non-zero if any did not succeed')
    .option('--json', 'events as JSON lines'),
)))
  .action(async (file: string, o) => {
    if (o.logs && !o.follow) throw new CliError("--logs shows the agents' lines while following: add --follow (or use 'sdlc-runner logs <run> -f')");
    const logs = await agentLogs(o);
    try {
      // A terminal gets the live table; pipes (e.g. an OpenCode bash tool) and --json keep the event lines.
      exitCode = o.follow && !o.json && process.stdout.isTTY ? await liveView().implementLiveCommand(file, o, io, logs) : await commands().implementCommand(file, o, io, logs);
    } finally {
      await logs?.close();
    }
  });

agentLogOptions(temporalOptions(program.command('watch').description('follow a run that is already going').argument('<run>', 'run ID', runIdArg).option('--json', 'events as JSON lines'))).action(async (run: string, o) => {
  const logs = await agentLogs(o);
  try {
    exitCode = !o.json && process.stdout.isTTY ? await liveView().watchLiveCommand(run, o, io, logs) : await commands().watchCommand(run, o, io, logs);
  } finally {
    await logs?.close();
  }
});

temporalOptions(program.command('status').description("a run's tasks (default: the latest run)").argument('[run]', 'run ID (default: the latest run)', runIdArg).option('--json', 'the full state as JSON')).action(async (run: string | undefined, o) => {
  exitCode = await commands().statusCommand(run, o, io);
});

temporalOptions(program.command('runs').description('recent runs').option('--json', 'JSON output').option('--limit <n>', 'how many', intArg('--limit', 1, Number.MAX_SAFE_INTEGER), 20)).action(async (o) => {
  exitCode = await commands().runsCommand(o, io);
});

temporalOptions(program.command('parallel').description('change how many agent pods a running run may have at once').argument('<run>', 'run ID', runIdArg).addArgument(describedLater(new Argument('<n>').argParser(maxParallelArg('parallel <n>')), maxParallelHelp))).action(
  async (run: string, n: number, o) => {
    exitCode = await commands().parallelCommand(run, n, o, io);
  },
);

temporalOptions(
  program.command('retry').description('retry failed, timed-out, cancelled, blocked or out-of-date tasks (default: all of them); a succeeded task is re-run when named').argument('<run>', 'run ID', runIdArg).option('--task <ids>', 'task ID (repeatable or comma-separated)', taskIdsArg),
).action(async (run: string, o) => {
  exitCode = await commands().retryCommand(run, o, io);
});

temporalOptions(
  program
    .command('integrate')
    .description("merge the run's succeeded task branches (as they are now) onto the base into its integration branch again")
    .argument('<run>', 'run ID', runIdArg)
    .option('--branch <name>', 'integration branch (default: the run\'s)', branchNameArg('--branch', "the integration branch's name, e.g. --branch specs/001-login/integration"))
    .option('--json', 'the result as JSON'),
).action(async (run: string, o) => {
  exitCode = await commands().integrateCommand(run, o, io);
});

temporalOptions(
  program.command('cancel').description('cancel some tasks (--task) or the whole run; their pods are deleted').argument('<run>', 'run ID', runIdArg).option('--task <ids>', 'task ID (repeatable or comma-separated)', taskIdsArg),
).action(async (run: string, o) => {
  exitCode = await commands().cancelCommand(run, o, io);
});

temporalOptions(
  program
    .command('logs')
    .description("agent logs of a run's pods, interleaved with [task] prefixes")
    .argument('<run>', 'run ID', runIdArg)
    .option('--task <ids>', 'only these tasks', taskIdsArg)
    .option('-f, --follow', 'keep following until every pod has ended')
    .addOption(k8sNamespaceOption('namespace of the agent pods'))
    .option('--kubeconfig <path>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config or in-cluster)', kubeconfigArg),
).action(async (run: string, o: TemporalFlags & { task?: string[]; follow?: boolean; k8sNamespace: string; kubeconfig?: string }) => {
  // Everything local first; then a run Temporal does not know is bad input, before any cluster is asked.
  const { assertKubeConfig, runLogsCommand } = logsModule();
  assertKubeConfig(o.kubeconfig);
  const archive = await commands().checkRunKnown(run, o);
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  exitCode = await runLogsCommand({
    namespace: o.k8sNamespace,
    kubeconfig: o.kubeconfig,
    runLabel: labelValue(run),
    tasks: o.task,
    follow: !!o.follow,
    out: io.out,
    err: io.err,
    color: !!process.stdout.isTTY,
    signal: abort.signal,
    archive,
  });
});

program
  .command('worker')
  .description('run the worker (configured by environment: see the Helm chart ConfigMap / README)')
  .action(async () => {
    // Handlers first: a stop while the worker waits for the Kubernetes API ends it at once (as worker/main.ts).
    const abort = new AbortController();
    let handle: Awaited<ReturnType<ReturnType<typeof workerModule>['startProductionWorker']>> | undefined;
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => (handle ? void handle.stop() : abort.abort()));
    handle = await workerModule().startProductionWorker(undefined, undefined, { signal: abort.signal });
    if (abort.signal.aborted) void handle.stop();
    await handle.done;
  });

program
  .command('dev')
  .description('a local Temporal dev server with its UI, plus a worker when a cluster and pod template are configured')
  .option('--port <port>', 'Temporal frontend port', portArg('--port'))
  .option('--ui-port <port>', 'Temporal UI port', portArg('--ui-port'))
  .option('--db <file>', 'SQLite file that keeps runs across restarts')
  .option('--no-worker', 'only the server')
  .option('--pod-template <file>', 'agent pod template (docs/pod-template.md)', existingFileArg('--pod-template', 'an agent pod template (docs/pod-template.md)'))
  .option('--k8s-namespace <ns>', 'namespace for agent pods', k8sNamespaceArg('--k8s-namespace'))
  .action(async (o) => {
    exitCode = await devModule().devCommand(o, io);
  });

program
  .parseAsync(process.argv)
  .then(() => process.exit(exitCode))
  .catch((err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed the message
    const known = asCliError(err);
    if (known) {
      io.err.write(`sdlc-runner: ${known.message}\n`);
      process.exit(known.exitCode);
    }
    io.err.write(`sdlc-runner: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
