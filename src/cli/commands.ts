/**
 * The run commands (implement, status, runs, retry, cancel): thin layers over the Temporal client.
 * Each returns the process exit code; user errors are thrown as CliError.
 */
import path from 'node:path';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { loadTasksFile } from '../tasks/load';
import { TasksFileError } from '../tasks/errors';
import { refNameProblem } from '../tasks/ref-name';
import { SA_FEATURE, SA_REPOSITORY, SA_RUN_STATUS } from '../temporal/search-attributes';
import { logArchivePrefix } from '../contract/log-archive';
import { workflowUiLink } from '../temporal/connection';
import { cancelTasksUpdate, getRunStateQuery, retryTasksUpdate, setMaxParallelUpdate } from '../../workflows/definitions';
import { integrationBranchName, MAX_DISPATCHED_TASKS, runIsOngoing, type ImplementFeatureInput, type IntegrationState, type RunOptions, type RunState, type StackMode } from '../../workflows/types';
import type { IntegrateFeatureInput } from '../../workflows/integrate-feature';
import { CliError, rootMessage } from './errors';
import { keptState, QUERY_ANSWER_MS, StateQuery, workerDownLine, workerPresence, type WorkerPresence } from './kept-state';
import { emit, followRun, integrationLines, summaryLines } from './follow';
import { closedState, pollRun } from './run-poller';
import { originUrl, resolveRepository, runWorkflowId } from './repo';
import type { PlanFlags } from './plan';
import { connectTemporal, type TemporalFlags } from './temporal-client';
import type { RunLogs } from './logs';

export interface Output {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export type { PlanFlags } from './plan';
/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const planModule = (): typeof import('./plan') => require('./plan');
/** {@link import('./plan').loadPlan}, loaded when called: status, watch and the others read no tasks.md (the parser stays unloaded). */
export function loadPlan(tasksPath: string, flags: PlanFlags): ReturnType<typeof import('./plan').loadPlan> {
  return planModule().loadPlan(tasksPath, flags);
}

export interface ImplementFlags extends TemporalFlags, PlanFlags {
  repo?: string;
  stack?: StackMode;
  maxParallel?: number;
  taskTimeoutMinutes?: number;
  pendingTimeoutMinutes?: number;
  model?: string;
  maxTokensPerTask?: number;
  maxCostPerTask?: number;
  maxCostPerRun?: number;
  allowEgress?: string[];
  follow?: boolean;
  json?: boolean;
}

async function withTemporal<T>(flags: TemporalFlags, fn: (t: Awaited<ReturnType<typeof connectTemporal>>) => Promise<T>): Promise<T> {
  const t = await connectTemporal(flags);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

/** `logs`: the agents' log lines too (`--logs`), from a cluster already checked reachable. */
export async function implementCommand(tasksPath: string, flags: ImplementFlags, io: Output, logs?: RunLogs): Promise<number> {
  let loaded: Awaited<ReturnType<typeof loadTasksFile>>;
  try {
    loaded = await loadPlan(tasksPath, flags);
  } catch (err) {
    if (err instanceof TasksFileError) throw new CliError(err.message);
    throw err;
  }
  const { plan, text } = loaded;
  if (plan.dispatch.length === 0) {
    throw new CliError(`${tasksPath}: no open [ASYNC] task to dispatch (${plan.tasks.length} tasks found). Mark the tasks an agent may do with [ASYNC], or run 'sdlc-runner plan ${tasksPath}' to see how each task was read.`);
  }
  if (plan.dispatch.length > MAX_DISPATCHED_TASKS) {
    throw new CliError(
      `${tasksPath}: ${plan.dispatch.length} open [ASYNC] tasks to dispatch; a run takes at most ${MAX_DISPATCHED_TASKS} (its state, which status and watch read, must fit in one Temporal answer). Fix: split the tasks over several features, or mark fewer of them [ASYNC]`,
    );
  }
  const repository = await resolveRepository(tasksPath, flags);
  const featureDirAbs = path.dirname(path.resolve(tasksPath));
  const featureDir = repository.root ? path.relative(repository.root, featureDirAbs) : path.join('specs', plan.feature);
  const options: Partial<RunOptions> = {};
  if (flags.branchPattern) options.branchPattern = flags.branchPattern;
  if (flags.maxParallel !== undefined) options.maxParallel = flags.maxParallel;
  if (flags.taskTimeoutMinutes !== undefined) options.taskTimeoutSeconds = flags.taskTimeoutMinutes * 60;
  if (flags.pendingTimeoutMinutes !== undefined) options.pendingTimeoutSeconds = flags.pendingTimeoutMinutes * 60;
  if (flags.model) options.model = flags.model;
  const budget = { maxTokensPerTask: flags.maxTokensPerTask, maxCostPerTask: flags.maxCostPerTask, maxCostPerRun: flags.maxCostPerRun };
  if (Object.values(budget).some((v) => v !== undefined)) options.budget = Object.fromEntries(Object.entries(budget).filter(([, v]) => v !== undefined));
  if (flags.allowEgress?.length) options.allowEgress = flags.allowEgress;
  if (flags.fileOverlap) options.fileOverlap = flags.fileOverlap;
  if (flags.stack) options.stack = flags.stack;
  // The pattern, not the name: the workflow fills {feature} itself, as for branchPattern.
  if (flags.integrationBranch) options.integrationBranch = flags.integrationBranch;
  const input: ImplementFeatureInput = {
    repository: { url: repository.url, baseBranch: repository.baseBranch },
    feature: { name: plan.feature, dir: featureDir },
    tasksFile: path.relative(repository.root ?? process.cwd(), path.resolve(tasksPath)),
    tasksMarkdown: text,
    options,
  };
  const workflowId = runWorkflowId(repository.url, plan.feature);
  return withTemporal(flags, async (t) => {
    // What `plan` warns about, warned here too (not errors: the run starts), where a session sees it.
    for (const w of plan.warnings) io.err.write(`${tasksPath}:${w.line}: warning: ${w.message}\n`);
    try {
      await t.client.workflow.start('implementFeature', {
        taskQueue: t.taskQueue,
        workflowId,
        args: [input],
        typedSearchAttributes: [
          { key: SA_FEATURE, value: plan.feature },
          { key: SA_REPOSITORY, value: repository.url },
        ] as never,
        staticSummary: `implement ${plan.feature}: ${plan.dispatch.length} [ASYNC] task(s)`,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new CliError(`a run for feature ${plan.feature} of ${repository.url} is already running (${workflowId}). Follow it with 'sdlc-runner watch ${workflowId}', or cancel it with 'sdlc-runner cancel ${workflowId}'.`);
      }
      throw err;
    }
    await refusedAtStart(t.client, workflowId);
    const ui = workflowUiLink(t.uiUrl, t.namespace, workflowId);
    if (flags.json) emit(io.out, true, { event: 'run_started', run: workflowId, ui, feature: plan.feature, tasks: plan.dispatch });
    else io.out.write(`run started id=${workflowId} tasks=${taskList(plan.dispatch)} ui=${ui}\n`);
    if (!flags.follow) return 0;
    return watchRun(t, workflowId, !!flags.json, io, logs);
  });
}

/** The dispatched tasks as `run started` names them: all of them up to 20, else the count and the first 10. */
export function taskList(ids: string[]): string {
  return ids.length <= 20 ? ids.join(',') : `${ids.length} (${ids.slice(0, 10).join(',')},…)`;
}

/**
 * Waits until the run has taken its input (its state query answers) or refused it: a run the worker's
 * checks refuse (a repository or branch it does not allow, an invalid field) fails at its first step, and
 * that is bad input — one line, exit 2, not a 'run started' that silently ends.
 */
async function refusedAtStart(client: Awaited<ReturnType<typeof connectTemporal>>['client'], workflowId: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  const pause = (ms: number) => new Promise<false>((r) => setTimeout(() => r(false), ms));
  // Bounded: with no worker polling yet the run simply waits for one, and so does not this command.
  for (const end = Date.now() + 10_000; Date.now() < end; await pause(100)) {
    const desc = await handle.describe().catch(() => undefined);
    if (!desc) continue;
    if (desc.status.name !== 'RUNNING') {
      const failure = await handle.result().then(() => undefined, (err: unknown) => err as { cause?: { message?: string; type?: string } });
      const type = failure?.cause?.type;
      if (type === 'RunRefused' || type === 'InvalidRunInput' || type === 'InvalidTasksFile') throw new CliError(`run refused: ${failure!.cause!.message}`);
      return;
    }
    // A worker has picked the run up: its state answers once the input is accepted.
    if ((desc.historyLength ?? 0) > 2 && (await Promise.race([handle.query(getRunStateQuery).then(() => true, () => false), pause(2000)]))) return;
  }
}

async function watchRun(t: Awaited<ReturnType<typeof connectTemporal>>, workflowId: string, json: boolean, io: Output, logs?: RunLogs): Promise<number> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  // Log lines go to the same stream as the events, whole lines at a time, so they interleave cleanly.
  const logFollower = logs?.follow(workflowId, (l) => (json ? emit(io.out, true, { event: 'log', task: l.task, text: l.text }) : io.out.write(l.formatted + '\n')), logs && (await firstRunId(t.client, workflowId)));
  try {
    const state = await followRun(t.client, workflowId, { json, out: io.out, signal: abort.signal });
    // The rest of the agents' lines before the summary (briefly, when stopped with Ctrl-C).
    await logFollower?.finish(abort.signal.aborted ? 1_000 : undefined);
    if (abort.signal.aborted && (!state || runIsOngoing(state.status))) {
      io.err.write(`stopped following; the run goes on. Attach again with 'sdlc-runner watch ${workflowId}'.\n`);
      return 130;
    }
    if (!state) throw new CliError(`run ${workflowId} ended before its state could be read; see 'sdlc-runner status ${workflowId}'`, 1);
    if (json) emit(io.out, true, { event: 'run_finished', run: workflowId, status: state.status, tasks: state.tasks.map((x) => ({ id: x.id, status: x.status, branch: x.branch, commit: x.commit, reason: x.reason })) });
    else for (const line of summaryLines(state, workflowId)) io.out.write(line + '\n');
    return state.tasks.every((x) => x.status === 'succeeded') ? 0 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The run's first execution ID (its pods' run-uid label), when the server tells it. */
export async function firstRunId(client: Awaited<ReturnType<typeof connectTemporal>>['client'], workflowId: string): Promise<string | undefined> {
  const desc = await client.workflow.getHandle(workflowId).describe().catch(() => undefined);
  return desc?.raw.workflowExecutionInfo?.firstRunId || undefined;
}

/** What every command says of a run Temporal does not know. */
function noRun(run: string): string {
  return `no run '${run}'. List runs with 'sdlc-runner runs'.`;
}

/** The run as Temporal describes it (no worker needed); a run it does not know is bad input (exit 2). */
export async function describeRun(client: Awaited<ReturnType<typeof connectTemporal>>['client'], run: string) {
  try {
    return await client.workflow.getHandle(run).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(noRun(run));
    throw err;
  }
}

export async function watchCommand(run: string, flags: TemporalFlags & { json?: boolean }, io: Output, logs?: RunLogs): Promise<number> {
  return withTemporal(flags, async (t) => {
    await describeRun(t.client, run); // a clear error when the run does not exist
    return watchRun(t, run, !!flags.json, io, logs);
  });
}

/**
 * `logs`: a run Temporal does not know is bad input (exit 2), said before any cluster is asked. With Temporal
 * unreachable the pods are still worth reading, so that is no error here.
 */
export async function checkRunKnown(run: string, flags: TemporalFlags): Promise<{ repoUrl: string; prefix: string } | undefined> {
  let t: Awaited<ReturnType<typeof connectTemporal>>;
  try {
    t = await connectTemporal(flags);
  } catch (err) {
    if (err instanceof CliError && err.exitCode === 3) return undefined;
    throw err;
  }
  try {
    const desc = await describeRun(t.client, run).catch((err: unknown) => {
      if (err instanceof CliError) throw err; // any other failure: the pods are still worth reading
      return undefined;
    });
    // Where the run's pods keep their logs once they are gone: its repository, under its first execution's ID.
    const repoUrl = desc?.typedSearchAttributes.get(SA_REPOSITORY);
    const runUid = desc?.raw.workflowExecutionInfo?.firstRunId;
    return repoUrl && runUid ? { repoUrl, prefix: logArchivePrefix(run, runUid) } : undefined;
  } finally {
    await t.close();
  }
}

async function getState(client: Awaited<ReturnType<typeof connectTemporal>>['client'], run: string): Promise<RunState> {
  try {
    return await client.workflow.getHandle(run).query(getRunStateQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(noRun(run));
    throw new CliError(`cannot read run '${run}': ${rootMessage(err)}`, 1);
  }
}

function pad(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s.padEnd(n);
}

export function formatStatusTable(state: RunState): string {
  const rows = [`run ${state.workflowId}  feature=${state.feature.name}  status=${state.status}  repo=${state.repository.url}`, ''];
  // Branches are never cut: they are what a user merges.
  const branchWidth = Math.max(6, ...state.tasks.map((t) => t.branch.length));
  rows.push(`${pad('TASK', 8)} ${pad('STATUS', 10)} ${pad('ATT', 3)} ${'BRANCH'.padEnd(branchWidth)} ${pad('COMMIT', 12)} DETAIL`);
  for (const t of state.tasks) {
    const detail = (t.outdated ? `out of date: ${t.outdated}` : undefined) ?? t.reason ?? (t.tokens ? `tokens ${t.tokens.input}/${t.tokens.output}${t.cost !== undefined ? ` $${t.cost.toFixed(4)}` : ''}` : t.title);
    rows.push(`${pad(t.id, 8)} ${pad(t.status, 10)} ${pad(String(t.attempt), 3)} ${t.branch.padEnd(branchWidth)} ${pad(t.commit?.slice(0, 12) ?? '-', 12)} ${detail}`);
  }
  const integration = integrationLines(state, state.workflowId);
  if (integration.length) rows.push('', ...integration);
  return rows.join('\n') + '\n';
}

export async function statusCommand(run: string | undefined, flags: TemporalFlags & { json?: boolean }, io: Output): Promise<number> {
  return withTemporal(flags, async (t) => {
    const latest = run === undefined ? await latestRunId(t.client) : undefined;
    const id = run ?? latest?.id;
    if (!id) throw new CliError(`no runs${latest?.repo ? ` of ${latest.repo}` : ''} yet. Start one with 'sdlc-runner implement <tasks.md>'.`, 1);
    const desc = await describeRun(t.client, id);
    // The followers' poll, once: a worker's answer, or without one what Temporal keeps (a query needs a worker, even for a finished run).
    const polls = pollRun(t.client, id, { pollMs: 0 });
    const step = await polls.next();
    await polls.return(undefined); // ends the poll: a query still waiting for a worker is cancelled
    const first = step.done ? undefined : step.value;
    if (first?.kind === 'worker-down') {
      const kept = first.kept ?? (await keptState(t.client, id));
      if (flags.json) io.out.write(JSON.stringify({ ...kept, worker: { up: false, lastSeen: first.presence.lastSeen?.toISOString() } }, null, 2) + '\n');
      else io.out.write(`${workerDownLine(desc.taskQueue, first.presence)}\n${formatStatusTable(kept)}`);
      return 0;
    }
    if (first?.kind === 'unreachable') throw new CliError(`Temporal stopped answering while reading run '${id}'; try again once it is reachable`, 3);
    const answer = first?.kind === 'state' ? first : undefined;
    let state = await withLatestIntegration(t.client, id, answer?.state ?? (await getState(t.client, id)));
    // Terminated (or failed) in Temporal: the query still answers with the last state, 'running'.
    const closed = answer?.closed;
    if (closed) state = closedState(state, closed);
    if (flags.json) io.out.write(JSON.stringify(closed ? { ...state, temporalStatus: closed } : state, null, 2) + '\n');
    else io.out.write((closed ? `run closed in Temporal as ${closed}; tasks show their last reported state\n` : '') + formatStatusTable(state));
    return 0;
  });
}

/** The workflow ID of a run's on-demand integrations (`sdlc-runner integrate`); one at a time. */
export function integrateWorkflowId(run: string): string {
  return `${run}/integrate`;
}

/** The run's state with the newest integration: its own, or a later one made by `sdlc-runner integrate`. */
async function withLatestIntegration(client: Awaited<ReturnType<typeof connectTemporal>>['client'], run: string, state: RunState): Promise<RunState> {
  const handle = client.workflow.getHandle(integrateWorkflowId(run));
  const desc = await handle.describe().catch(() => undefined);
  if (desc?.status.name !== 'COMPLETED') return state;
  const later = (await handle.result().catch(() => undefined)) as IntegrationState | undefined;
  return later && (!state.integration || later.at > state.integration.at) ? { ...state, integration: later } : state;
}

/**
 * `integrate`: the run's succeeded task branches, as they are on the remote now (a user's fix included),
 * merged onto the base into the integration branch again. Exit 0 when integrated, 1 on a conflict or failure.
 */
export async function integrateCommand(run: string, flags: TemporalFlags & { branch?: string; json?: boolean }, io: Output): Promise<number> {
  return withTemporal(flags, async (t) => {
    // The run's state needs a worker, and so does the integration: without one, say so (exit 3) rather than wait out Temporal's query deadline.
    const state = await stateForChange(t, run, 'integrate the tasks');
    if (runIsOngoing(state.status)) throw new CliError(`run ${run} is still ${state.status}: it integrates by itself when every task has succeeded. Wait with 'sdlc-runner watch ${run}'.`);
    const branch = flags.branch ?? integrationBranchName(state.options, state.feature.name);
    if (!branch) throw new CliError(`run ${run} has no integration branch (started with --integration-branch none). Fix: pass --branch <name>`);
    const problem = refNameProblem(branch);
    if (problem) throw new CliError(`--branch '${branch}' is not a valid git branch name: ${problem}`);
    if (state.tasks.some((x) => x.branch === branch) || branch === state.repository.baseBranch) throw new CliError(`--branch '${branch}' is a task's branch or the base branch; the integration branch is replaced on every integration. Fix: pick another name`);
    const succeeded = state.tasks.filter((x) => x.status === 'succeeded');
    if (!succeeded.length) throw new CliError(`run ${run} has no succeeded task to integrate`, 1);
    const left = state.tasks.filter((x) => x.status !== 'succeeded').map((x) => `${x.id} (${x.status})`);
    const input: IntegrateFeatureInput = {
      repoUrl: state.repository.url,
      baseBranch: state.repository.baseBranch,
      branch,
      // No commit: each branch as it is on the remote now.
      sources: succeeded.map((x) => ({ taskId: x.id, title: x.title, branch: x.branch })),
      runId: run,
    };
    let result: IntegrationState;
    try {
      result = await t.client.workflow.execute('integrateFeature', {
        taskQueue: t.taskQueue,
        workflowId: integrateWorkflowId(run),
        args: [input],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `integrate ${state.feature.name} into ${branch}`,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new CliError(`an integration of ${run} is already running; wait for it (or see it in Temporal UI: ${integrateWorkflowId(run)})`);
      throw err;
    }
    const after = { ...state, integration: result };
    if (flags.json) io.out.write(JSON.stringify({ run, ...result, notIntegrated: left }) + '\n');
    else {
      if (left.length) io.out.write(`not integrated (did not succeed): ${left.join(', ')}\n`);
      for (const line of integrationLines(after, run)) io.out.write(line + '\n');
    }
    return result.status === 'integrated' ? 0 : 1;
  });
}

/**
 * The newest run: of this checkout's repository (its origin) when run inside one — a shared namespace holds
 * other people's runs — else of the whole namespace.
 */
async function latestRunId(client: Awaited<ReturnType<typeof connectTemporal>>['client']): Promise<{ id?: string; repo?: string }> {
  const repo = await originUrl(process.cwd());
  const byRepo = repo && !/[\\"]/.test(repo) ? ` AND ${SA_REPOSITORY.name} = "${repo}"` : '';
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'implementFeature'${byRepo}` })) return { id: wf.workflowId, repo: byRepo ? repo : undefined };
  return { repo: byRepo ? repo : undefined };
}

export async function runsCommand(flags: TemporalFlags & { json?: boolean; limit?: number }, io: Output): Promise<number> {
  return withTemporal(flags, async (t) => {
    const rows: { id: string; status: string; runStatus?: string; feature?: string; started: string }[] = [];
    // One row per run: a run that continued as new has one execution per generation (newest first).
    for await (const wf of t.client.workflow.list({ query: `WorkflowType = 'implementFeature' AND ExecutionStatus != 'ContinuedAsNew'` })) {
      if (rows.some((r) => r.id === wf.workflowId)) continue;
      rows.push({
        id: wf.workflowId,
        status: wf.status.name,
        runStatus: wf.typedSearchAttributes.get(SA_RUN_STATUS),
        feature: wf.typedSearchAttributes.get(SA_FEATURE),
        started: wf.startTime.toISOString(),
      });
      if (rows.length >= (flags.limit ?? 20)) break;
    }
    if (flags.json) io.out.write(JSON.stringify(rows, null, 2) + '\n');
    else if (!rows.length) io.out.write('no runs yet\n');
    else {
      // Run IDs and features are never cut: the ID is what `status`, `watch` and `retry` take.
      const idWidth = Math.max(3, ...rows.map((r) => r.id.length));
      const featureWidth = Math.max(7, ...rows.map((r) => (r.feature || '-').length));
      io.out.write(`${'RUN'.padEnd(idWidth)} ${pad('WORKFLOW', 16)} ${pad('RUN STATUS', 18)} ${'FEATURE'.padEnd(featureWidth)} STARTED\n`);
      for (const r of rows) io.out.write(`${r.id.padEnd(idWidth)} ${pad(r.status, 16)} ${pad(r.runStatus || '-', 18)} ${(r.feature || '-').padEnd(featureWidth)} ${r.started}\n`);
    }
    return 0;
  });
}

/**
 * The run's state for a command that changes it (retry, cancel --task, parallel): an update needs a worker,
 * so when none answers within the bound this says so (exit 3, as for Temporal unreachable: start one, try
 * again) instead of waiting out Temporal's own update timeout.
 */
async function stateForChange(t: Awaited<ReturnType<typeof connectTemporal>>, run: string, what: string): Promise<RunState> {
  const desc = await describeRun(t.client, run);
  const answer = await new StateQuery(() => t.client.workflow.getHandle(run).query(getRunStateQuery)).within(QUERY_ANSWER_MS);
  if (answer !== 'no-answer') return answer ?? getState(t.client, run);
  const presence = await workerPresence(t.client, t.namespace, desc.taskQueue).catch((): WorkerPresence => ({}));
  const since = presence.lastSeen ? `last poll ${presence.lastSeen.toISOString()}` : 'no poll seen recently';
  throw new CliError(`cannot ${what} in ${run}: no worker answered for task queue ${desc.taskQueue} within ${QUERY_ANSWER_MS / 1000}s (${since}). A change needs a running worker: start one (sdlc-runner worker), then try again`, 3);
}

export async function parallelCommand(run: string, value: number, flags: TemporalFlags, io: Output): Promise<number> {
  return withTemporal(flags, async (t) => {
    await stateForChange(t, run, 'change maxParallel');
    try {
      const previous = await t.client.workflow.getHandle(run).executeUpdate(setMaxParallelUpdate, { args: [value] });
      io.out.write(`maxParallel of ${run}: ${previous} → ${value}\n`);
      return 0;
    } catch (err) {
      throw new CliError(`cannot change maxParallel of ${run}: ${rootMessage(err)}`);
    }
  });
}

export async function retryCommand(run: string, flags: TemporalFlags & { task?: string[] }, io: Output): Promise<number> {
  return withTemporal(flags, async (t) => {
    await stateForChange(t, run, 'retry');
    try {
      const ids = await t.client.workflow.getHandle(run).executeUpdate(retryTasksUpdate, { args: [{ taskIds: flags.task }] });
      // The run also re-queues the tasks that were blocked on the retried ones: say so.
      const named = flags.task?.length ? ids.filter((id) => flags.task!.includes(id)) : ids;
      const along = ids.filter((id) => !named.includes(id));
      io.out.write(`retrying ${named.join(', ')} in ${run}${along.length ? ` (with ${along.join(', ')}, blocked on it until now)` : ''}; follow with 'sdlc-runner watch ${run}'\n`);
      return 0;
    } catch (err) {
      throw new CliError(`cannot retry in ${run}: ${rootMessage(err)}`);
    }
  });
}

export async function cancelCommand(run: string, flags: TemporalFlags & { task?: string[] }, io: Output): Promise<number> {
  return withTemporal(flags, async (t) => {
    const handle = t.client.workflow.getHandle(run);
    if (flags.task?.length) {
      await stateForChange(t, run, 'cancel');
      try {
        const ids = await handle.executeUpdate(cancelTasksUpdate, { args: [{ taskIds: flags.task }] });
        io.out.write(`cancelling ${ids.join(', ')} in ${run}; their pods are deleted\n`);
        return 0;
      } catch (err) {
        throw new CliError(`cannot cancel in ${run}: ${rootMessage(err)}`);
      }
    }
    // Cancelling the whole run needs no worker: Temporal records the request, and a worker acts on it.
    const desc = await describeRun(t.client, run);
    const state = await new StateQuery(() => handle.query(getRunStateQuery)).within(QUERY_ANSWER_MS);
    const noWorker = state === 'no-answer';
    // A run already cancelled keeps running in Temporal for a moment while its tasks delete their pods.
    if (!noWorker && state && (state.status === 'cancelling' || state.status === 'cancelled')) {
      throw new CliError(`run ${run} is not running (${state.status === 'cancelling' ? 'already being cancelled' : 'cancelled'})`);
    }
    if (desc.status.name !== 'RUNNING') throw new CliError(`run ${run} is not running (${desc.status.name.toLowerCase()})`);
    await handle.cancel();
    io.out.write(noWorker
      ? `cancel of run ${run} recorded; no worker is running, so its tasks are cancelled and their pods deleted once one is (sdlc-runner worker)\n`
      : `cancelling run ${run}: every task is cancelled and its pod deleted\n`);
    return 0;
  });
}
