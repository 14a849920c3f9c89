#!/usr/bin/env node
/**
 * sdlc-runner: run the [ASYNC] tasks of a spec-kit tasks.md as a durable Temporal run of agent pods.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { formatPlanTable } from '../tasks/format';
import { DEFAULT_RUN_OPTIONS } from '../../workflows/types';
import { TasksFileError } from '../tasks/errors';
import { labelValue } from '../k8s/names';
import { CliError } from './errors';
import type { PlanFlags } from './commands';
import { cancelCommand, implementCommand, loadPlan, parallelCommand, retryCommand,
  integrateCommand, runsCommand, statusCommand, watchCommand } from './commands';
import { devCommand } from './dev';
import { openRunLogs, runLogsCommand, type RunLogs } from './logs';
import { startProductionWorker } from '../../worker/run-worker';
import { ConfigError } from '../config/worker-config';
import { initCommand } from '../init/command';
import { implementLiveCommand, watchLiveCommand } from './live-view';

const io = { out: process.stdout, err: process.stderr };

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return n;
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
const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

function temporalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', 'Temporal frontend').env('TEMPORAL_ADDRESS'))
    .addOption(new Option('--namespace <ns>', 'Temporal namespace').env('TEMPORAL_NAMESPACE'))
    .addOption(new Option('--task-queue <queue>', 'task queue the workers poll').env('TEMPORAL_TASK_QUEUE'))
    .addOption(new Option('--ui-url <url>', 'Temporal UI base URL for links').env('SDLC_TEMPORAL_UI_URL'));
}

/** How tasks.md becomes a plan and which branches it must stay clear of: `plan` and `implement` read it the same way. */
function planOptions(cmd: Command): Command {
  return cmd
    .option(
      '--file-overlap <serialize|ignore>',
      'open [ASYNC] tasks that name the same file with no order between them: serialize = the later waits for the earlier',
      oneOf('serialize', 'ignore'),
      DEFAULT_RUN_OPTIONS.fileOverlap,
    )
    .option('--base <branch>', 'base branch the agents start from (default: the current branch)')
    .option('--integration-branch <pattern|none>', 'branch the feature is integrated into ({feature}), or none', DEFAULT_RUN_OPTIONS.integrationBranch);
}

/** `--logs` and where to find the agent pods (the same flags as `logs`). */
function agentLogOptions(cmd: Command): Command {
  return cmd
    .option('--logs', "interleave the agents' log lines, prefixed with their task ([T012]); needs the agent pods' cluster")
    .addOption(new Option('--k8s-namespace <ns>', 'namespace of the agent pods (with --logs)').env('SDLC_K8S_NAMESPACE').default('default'))
    .option('--kubeconfig <path>', 'kubeconfig (with --logs; default: KUBECONFIG, ~/.kube/config or in-cluster)');
}

/** With --logs, the cluster is checked before anything starts: an unreachable one is an error, not a silent gap. */
function agentLogs(o: { logs?: boolean; k8sNamespace: string; kubeconfig?: string }): Promise<RunLogs | undefined> {
  if (!o.logs) return Promise.resolve(undefined);
  return openRunLogs({ namespace: o.k8sNamespace, kubeconfig: o.kubeconfig, color: !!process.stdout.isTTY && !process.env.NO_COLOR, err: io.err });
}

let exitCode = 0;
const program = new Command()
  .name('sdlc-runner')
  .description('Run the [ASYNC] tasks of a spec-kit tasks.md as durable Temporal workflows, one OpenCode agent pod per task.')
  .showHelpAfterError()
  .configureOutput({ outputError: (s, write) => write(s) })
  // Usage errors (bad option values, missing arguments) are bad input: exit 2 as documented, not commander's 1.
  .exitOverride();

program
  .command('init')
  .description('install the OpenCode commands (/implement-async, /implement-async-retry) and the spec-kit implement hooks into this repository')
  .option('--force', 'overwrite files you edited (and entries of ours you changed)')
  .option('--dry-run', 'show what would be written; write nothing')
  .option('--dir <path>', 'repository to install into (default: the current one)')
  .action((o: { force?: boolean; dryRun?: boolean; dir?: string }) => {
    exitCode = initCommand(o, io);
  });

planOptions(
  program
    .command('plan')
    .description('show how tasks.md is read: tasks, modes, phases, and what would be dispatched')
    .argument('<tasks.md>')
    .option('--json', 'machine-readable output')
    .option('--branch-pattern <pattern>', 'task branch name pattern ({feature}, {taskId}, {taskIdLower})'),
)
  .action(async (file: string, o: { json?: boolean } & PlanFlags) => {
    const { plan } = await loadPlan(file, o);
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
    .option('--repo <url>', 'repository URL the agents clone (default: git remote origin)')
    .option('--branch-pattern <pattern>', 'task branch pattern', 'specs/{feature}/{taskId}-async')
    .option('--stack <dependencies|none>', "where a task with dependencies starts: dependencies = the base plus its dependencies' commits", oneOf('dependencies', 'none'), DEFAULT_RUN_OPTIONS.stack)
    .option('--max-parallel <n>', 'agent pods at once', positiveInt)
    .option('--task-timeout-minutes <n>', 'deadline per task', positiveInt)
    .option('--pending-timeout-minutes <n>', 'how long a pod may stay Pending', positiveInt)
    .option('--model <provider/model>', 'OpenCode model for the agents', modelName)
    .option('-f, --follow', 'show progress until every task has ended; exit non-zero if any did not succeed')
    .option('--json', 'events as JSON lines'),
)))
  .action(async (file: string, o) => {
    if (o.logs && !o.follow) throw new CliError("--logs shows the agents' lines while following: add --follow (or use 'sdlc-runner logs <run> -f')");
    const logs = await agentLogs(o);
    try {
      // A terminal gets the live table; pipes (e.g. an OpenCode bash tool) and --json keep the event lines.
      exitCode = o.follow && !o.json && process.stdout.isTTY ? await implementLiveCommand(file, o, io, logs) : await implementCommand(file, o, io, logs);
    } finally {
      await logs?.close();
    }
  });

agentLogOptions(temporalOptions(program.command('watch').description('follow a run that is already going').argument('<run>').option('--json', 'events as JSON lines'))).action(async (run: string, o) => {
  const logs = await agentLogs(o);
  try {
    exitCode = !o.json && process.stdout.isTTY ? await watchLiveCommand(run, o, io, logs) : await watchCommand(run, o, io, logs);
  } finally {
    await logs?.close();
  }
});

temporalOptions(program.command('status').description("a run's tasks (default: the latest run)").argument('[run]').option('--json', 'the full state as JSON')).action(async (run: string | undefined, o) => {
  exitCode = await statusCommand(run, o, io);
});

temporalOptions(program.command('runs').description('recent runs').option('--json', 'JSON output').option('--limit <n>', 'how many', positiveInt, 20)).action(async (o) => {
  exitCode = await runsCommand(o, io);
});

temporalOptions(program.command('parallel').description('change how many agent pods a running run may have at once').argument('<run>').argument('<n>', 'agent pods at once (1–100)', positiveInt)).action(
  async (run: string, n: number, o) => {
    exitCode = await parallelCommand(run, n, o, io);
  },
);

temporalOptions(
  program.command('retry').description('retry failed, timed-out, cancelled, blocked or out-of-date tasks (default: all of them); a succeeded task is re-run when named').argument('<run>').option('--task <ids>', 'task ID (repeatable or comma-separated)', collect),
).action(async (run: string, o) => {
  exitCode = await retryCommand(run, o, io);
});

temporalOptions(
  program
    .command('integrate')
    .description("merge the run's succeeded task branches (as they are now) onto the base into its integration branch again")
    .argument('<run>')
    .option('--branch <name>', 'integration branch (default: the run\'s)')
    .option('--json', 'the result as JSON'),
).action(async (run: string, o) => {
  exitCode = await integrateCommand(run, o, io);
});

temporalOptions(
  program.command('cancel').description('cancel some tasks (--task) or the whole run; their pods are deleted').argument('<run>').option('--task <ids>', 'task ID (repeatable or comma-separated)', collect),
).action(async (run: string, o) => {
  exitCode = await cancelCommand(run, o, io);
});

program
  .command('logs')
  .description("agent logs of a run's pods, interleaved with [task] prefixes")
  .argument('<run>')
  .option('--task <ids>', 'only these tasks', collect)
  .option('-f, --follow', 'keep following until every pod has ended')
  .addOption(new Option('--k8s-namespace <ns>', 'namespace of the agent pods').env('SDLC_K8S_NAMESPACE').default('default'))
  .option('--kubeconfig <path>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config or in-cluster)')
  .action(async (run: string, o: { task?: string[]; follow?: boolean; k8sNamespace: string; kubeconfig?: string }) => {
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
    });
  });

program
  .command('worker')
  .description('run the worker (configured by environment: see the Helm chart ConfigMap / README)')
  .action(async () => {
    const handle = await startProductionWorker();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void handle.stop());
    await handle.done;
  });

program
  .command('dev')
  .description('a local Temporal dev server with its UI, plus a worker when a cluster and pod template are configured')
  .option('--port <port>', 'Temporal frontend port', positiveInt)
  .option('--ui-port <port>', 'Temporal UI port', positiveInt)
  .option('--db <file>', 'SQLite file that keeps runs across restarts')
  .option('--no-worker', 'only the server')
  .option('--pod-template <file>', 'agent pod template (docs/pod-template.md)')
  .option('--k8s-namespace <ns>', 'namespace for agent pods')
  .action(async (o) => {
    exitCode = await devCommand(o, io);
  });

program
  .parseAsync(process.argv)
  .then(() => process.exit(exitCode))
  .catch((err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed the message
    if (err instanceof CliError || err instanceof TasksFileError || err instanceof ConfigError) {
      io.err.write(`sdlc-runner: ${err.message}\n`);
      process.exit(err instanceof CliError ? err.exitCode : 2);
    }
    io.err.write(`sdlc-runner: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
