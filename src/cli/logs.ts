/**
 * `sdlc-runner logs <run> [--task T012 ...] [--follow]`: the agent logs of a run's pods, interleaved,
 * each line prefixed with its task (`[T012]`, coloured on a terminal). With --follow it keeps
 * following — reconnecting after any stream cut without repeating a line, picking up pods the run
 * creates later — and exits once every followed pod has ended. A pod that is gone is read from its log
 * archive in the run's repository (log-archive.ts).
 */
import { KubeConfig } from '../k8s/client-node';
import { createClientGateway, RUN_UID_LABEL, type ClientGateway } from '../k8s/client-gateway';
import { KubernetesError, LABELS, type LogLine, type PodStatus } from '../k8s/gateway';
import { LogResume } from '../k8s/log-resume';
import { followPodLog, isTerminalPod as isEnded } from '../k8s/pod-log-follower';
import { compareLogTimestamps } from '../k8s/timestamps';
import { labelValue } from '../k8s/names';
import { CliError } from './errors';
import { kubeConfigProblem } from '../k8s/kubeconfig';
import { readLogArchives, type ArchivedPodLog } from './log-archive';
import { sleep } from '../util/sleep';

export { kubeConfigProblem };

export interface LogsCommandOptions {
  namespace: string;
  /** Path of a kubeconfig; default: KUBECONFIG / ~/.kube/config / in-cluster. */
  kubeconfig?: string;
  /** Value of the sdlc-runner.dev/run label. */
  runLabel: string;
  /** Only these task ids (label sdlc-runner.dev/task), e.g. ["T012"]. */
  tasks?: string[];
  follow: boolean;
  out: NodeJS.WritableStream;
  /** Colour the prefixes (the caller decides, typically `out.isTTY`). */
  color: boolean;
  /** Where diagnostics go (default: process.stderr). */
  err?: NodeJS.WritableStream;
  /** Stops following (e.g. on SIGINT); the command then returns 130. */
  signal?: AbortSignal;
  /** How often to look for new pods of the run while following (ms). */
  discoverIntervalMs?: number;
  /** The run's repository and its log archive prefix: pods that are gone are read from there. */
  archive?: { repoUrl: string; prefix: string };
}

/** Bright, distinguishable ANSI foreground colours; a task keeps its colour for the whole command. */
const PALETTE = [36, 33, 35, 32, 34, 91, 96, 93, 95, 92, 94, 31];
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** One log line of a run's agent, as `--logs` and `sdlc-runner logs` show it. */
export interface RunLogLine {
  /** The task (`T012`, or `T012#2` when several attempts of it are shown). */
  task: string;
  text: string;
  /** A line of ours (the pod ended, was deleted), not the agent's. */
  note: boolean;
  /** `[T012] text`, the prefix padded to the widest task and coloured when asked; no newline. */
  formatted: string;
}

export type RunLogSink = (line: RunLogLine) => void;

class Printer {
  private readonly colours = new Map<string, number>();
  private width = 0;

  constructor(
    private readonly sink: RunLogSink,
    private readonly color: boolean,
  ) {}

  label(pod: PodStatus, attemptsOfTask: number): string {
    const task = pod.labels[LABELS.task] ?? pod.name;
    const attempt = pod.labels[LABELS.attempt];
    return attemptsOfTask > 1 && attempt ? `${task}#${attempt}` : task;
  }

  register(label: string): void {
    if (!this.colours.has(label)) this.colours.set(label, PALETTE[this.colours.size % PALETTE.length]!);
    this.width = Math.max(this.width, label.length + 2);
  }

  private prefix(label: string): string {
    const tag = `[${label}]`.padEnd(this.width);
    return this.color ? `\x1b[${this.colours.get(label) ?? 0}m${tag}${RESET}` : tag;
  }

  line(label: string, text: string): void {
    this.sink({ task: label, text, note: false, formatted: `${this.prefix(label)} ${text}` });
  }

  note(label: string, text: string): void {
    this.sink({ task: label, text, note: true, formatted: `${this.prefix(label)} ${this.color ? `${DIM}${text}${RESET}` : text}` });
  }
}

function describeEnd(pod: PodStatus | undefined): string {
  if (!pod) return '--- pod deleted';
  const parts = [`--- pod ${pod.phase}`];
  if (pod.exitCode !== undefined) parts.push(`exit ${pod.exitCode}`);
  if (pod.terminatedReason) parts.push(pod.terminatedReason);
  if (pod.reason) parts.push(pod.reason);
  return parts.join(', ');
}

/** Follows one pod to its end (the activity's follower); returns false on an error that retrying cannot fix. */
async function followPod(gw: ClientGateway, name: string, label: string, printer: Printer, err: NodeJS.WritableStream, signal: AbortSignal): Promise<boolean> {
  try {
    const end = await followPodLog(gw, name, new LogResume(), {
      onLine: (line) => printer.line(label, line.text),
      // A pod still scheduling or pulling its image: keep waiting (Ctrl-C stops).
      onPending: () => 30_000,
    }, { signal, pollMs: 1_000 });
    if (end.kind === 'gone') printer.note(label, describeEnd(undefined));
    if (end.kind === 'ended') printer.note(label, describeEnd(end.pod));
    return true;
  } catch (e) {
    err.write(`sdlc-runner logs: ${label}: ${(e as Error).message}\n`);
    return false;
  }
}

const byTaskThenName = (a: PodStatus, b: PodStatus) =>
  (a.labels[LABELS.task] ?? '').localeCompare(b.labels[LABELS.task] ?? '', undefined, { numeric: true }) || a.name.localeCompare(b.name);

/** The agent pods of one run (found by the run label), each followed once to its end by its own follower. */
class RunPodFollowers {
  private readonly followed = new Map<string, Promise<boolean>>();
  private seen: PodStatus[] = [];
  private labelOf: (p: PodStatus) => string = (p) => this.printer.label(p, 1);

  constructor(
    private readonly gw: ClientGateway,
    /** The run label, and the run-uid label when only one run of that ID is wanted. */
    private readonly selector: Record<string, string>,
    private readonly wanted: Set<string> | undefined,
    readonly printer: Printer,
    private readonly err: NodeJS.WritableStream,
    private readonly signal: AbortSignal,
  ) {}

  async list(): Promise<PodStatus[]> {
    const pods = await this.gw.listPods(this.selector);
    return pods.filter((p) => !this.wanted || this.wanted.has(p.labels[LABELS.task] ?? '')).sort(byTaskThenName);
  }

  /** Labels are `T012`, or `T012#2` once a task has several pods (attempts) in view. */
  relabel(pods: PodStatus[]): void {
    this.seen = [...this.seen, ...pods.filter((p) => !this.seen.some((s) => s.name === p.name))];
    const attempts = new Map<string, number>();
    for (const p of this.seen) attempts.set(p.labels[LABELS.task] ?? p.name, (attempts.get(p.labels[LABELS.task] ?? p.name) ?? 0) + 1);
    this.labelOf = (p) => this.printer.label(p, attempts.get(p.labels[LABELS.task] ?? p.name) ?? 1);
  }

  labelFor(p: PodStatus): string {
    return this.labelOf(p);
  }

  follow(pods: PodStatus[]): void {
    for (const p of pods) {
      if (this.followed.has(p.name)) continue;
      const label = this.labelOf(p);
      this.printer.register(label);
      this.followed.set(p.name, followPod(this.gw, p.name, label, this.printer, this.err, this.signal));
    }
  }

  /** Starts following the run's pods not followed yet; `includeEnded` also takes pods that ended between two looks. */
  async discover(includeEnded: boolean): Promise<void> {
    const now = await this.list();
    const fresh = now.filter((p) => !this.followed.has(p.name) && (includeEnded || !isEnded(p)));
    if (!fresh.length) return;
    this.relabel(now);
    this.follow(fresh);
  }

  get size(): number {
    return this.followed.size;
  }

  all(): Promise<boolean[]> {
    return Promise.all(this.followed.values());
  }
}

/** An archived pod as the printer labels pods: its task and attempt. */
function archivedPod(a: ArchivedPodLog): PodStatus {
  return { name: a.pod, phase: 'Succeeded', labels: { [LABELS.task]: a.taskId, [LABELS.attempt]: a.attempt }, annotations: {}, deleting: false };
}

/** The archived logs of the run's pods that are gone (one line on stderr when the archive cannot be read). */
async function goneFromCluster(opts: LogsCommandOptions, pods: PodStatus[], wanted: Set<string> | undefined, err: NodeJS.WritableStream): Promise<ArchivedPodLog[]> {
  if (!opts.archive) return [];
  const live = new Set(pods.map((p) => p.name));
  try {
    const archived = await readLogArchives(opts.archive.repoUrl, opts.archive.prefix, { wanted: (t) => !wanted || wanted.has(t), signal: opts.signal });
    const gone = archived.filter((a) => !live.has(a.pod));
    if (gone.length) err.write(`sdlc-runner logs: ${gone.length} pod${gone.length === 1 ? ' is' : 's are'} gone: their lines come from the log archive ${opts.archive.prefix}* in ${opts.archive.repoUrl}\n`);
    return gone;
  } catch (e) {
    err.write(`sdlc-runner logs: cannot read the log archive ${opts.archive.prefix}* in ${opts.archive.repoUrl}: ${(e as Error).message}\n`);
    return [];
  }
}

/** kubeConfigProblem as bad input (exit 2). */
export function assertKubeConfig(kubeconfig: string | undefined): void {
  const problem = kubeConfigProblem(kubeconfig);
  if (problem) throw new CliError(problem);
}

function gatewayFor(namespace: string, kubeconfig: string | undefined): ClientGateway {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  return createClientGateway({ namespace, kubeConfig: kc });
}

export async function runLogsCommand(opts: LogsCommandOptions): Promise<number> {
  const err = opts.err ?? process.stderr;
  assertKubeConfig(opts.kubeconfig);
  const gw = gatewayFor(opts.namespace, opts.kubeconfig);
  const printer = new Printer((l) => opts.out.write(l.formatted + '\n'), opts.color);
  const wanted = opts.tasks?.length ? new Set(opts.tasks) : undefined;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const run = new RunPodFollowers(gw, { [LABELS.run]: opts.runLabel }, wanted, printer, err, stop.signal);

  try {
    const pods = await run.list();
    const archived = await goneFromCluster(opts, pods, wanted, err);
    if (pods.length === 0 && archived.length === 0) {
      const which = wanted ? ` with task ${[...wanted].join(', ')}` : '';
      const kept = opts.archive ? ` and no log archive (${opts.archive.prefix}*) in ${opts.archive.repoUrl}` : '';
      err.write(`sdlc-runner logs: no agent pods of run "${opts.runLabel}"${which} in namespace "${opts.namespace}"${kept}.\n`);
      return 1;
    }
    run.relabel([...archived.map(archivedPod), ...pods]);
    [...archived.map(archivedPod), ...pods].forEach((p) => printer.register(run.labelFor(p)));
    // Everything so far, merged in time order across pods (stable within a pod): archived pods first.
    const lines: { label: string; line: LogLine; seq: number }[] = [];
    let seq = 0;
    for (const a of archived) for (const line of a.lines) lines.push({ label: run.labelFor(archivedPod(a)), line, seq: seq++ });
    const printMerged = () => {
      lines.sort((a, b) => compareLogTimestamps(a.line.ts, b.line.ts) || a.seq - b.seq);
      for (const l of lines) printer.line(l.label, l.line.text);
      lines.length = 0;
    };

    if (!opts.follow) {
      const notStarted: { label: string; pod: PodStatus }[] = [];
      for (const p of pods) {
        try {
          for await (const line of gw.readLogs(p.name, { signal: stop.signal })) lines.push({ label: run.labelFor(p), line, seq: seq++ });
        } catch (e) {
          // A pod still Pending (scheduling, image pull) has no log yet: that is news, not a failure of the command.
          if (!(e instanceof KubernetesError && e.retryable && (e.statusCode === 400 || e.statusCode === 404))) throw e;
          notStarted.push({ label: run.labelFor(p), pod: (await gw.getPod(p.name)) ?? p });
        }
      }
      printMerged();
      for (const { label, pod } of notStarted) {
        printer.note(label, `--- pod ${pod.phase}, not started yet${pod.waitingReason ? ` (${pod.waitingReason})` : ''}: no log`);
      }
      return 0;
    }

    printMerged();
    if (!pods.length) return 0;
    run.follow(pods);
    // Pods the run creates later (retries, tasks unblocked by others) join while others still run.
    for (;;) {
      const results = await Promise.race([
        run.all().then((r) => ({ all: r })),
        sleep(opts.discoverIntervalMs ?? 5_000, stop.signal).then(() => undefined),
      ]);
      if (results && results.all.length === run.size) {
        if (stop.signal.aborted) return 130;
        return results.all.every(Boolean) ? 0 : 1;
      }
      if (stop.signal.aborted) {
        await run.all();
        return 130;
      }
      try {
        await run.discover(false);
      } catch {
        // Discovery is best effort; the followers report their own errors.
      }
    }
  } catch (e) {
    err.write(`sdlc-runner logs: ${(e as Error).message}\n`);
    return 1;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await gw.close();
  }
}

// ---- `implement --follow --logs` / `watch --logs`: the same followers, fed into the event view ----

export interface RunLogsOptions {
  /** Namespace of the agent pods. */
  namespace: string;
  kubeconfig?: string;
  /** Colour the task prefixes (a terminal). */
  color: boolean;
  /** Where followers report errors they cannot retry. */
  err: NodeJS.WritableStream;
  /** How often to look for the run's new pods (ms); short, because a finished pod is soon deleted. */
  discoverIntervalMs?: number;
  /** How long the cluster check may take before `--logs` gives up (ms). */
  connectTimeoutMs?: number;
}

/** A running follow of one run's agent logs. */
export interface RunLogsFollower {
  /**
   * The run has ended: look for pods one last time, then wait (at most `graceMs`) until every followed
   * pod's log has been read to its end, so the lines come before the summary.
   */
  finish(graceMs?: number): Promise<void>;
}

/** The agent pods' cluster, checked reachable before anything starts (so `--logs` fails first, not mid-run). */
export interface RunLogs {
  /**
   * Follows every pod of the run `workflowId` (label `labelValue(workflowId)`), old and new, until
   * `finish`. `runUid` (the run's first execution run ID) leaves out the pods an earlier run of the
   * same feature kept (failed pods stay for inspection), which carry the same run label.
   */
  follow(workflowId: string, sink: RunLogSink, runUid?: string): RunLogsFollower;
  close(): Promise<void>;
}

export async function openRunLogs(opts: RunLogsOptions): Promise<RunLogs> {
  const where = `namespace "${opts.namespace}"${opts.kubeconfig ? `, kubeconfig ${opts.kubeconfig}` : ''}`;
  const hint = 'Pass --kubeconfig and --k8s-namespace (env SDLC_K8S_NAMESPACE) of the cluster the agent pods run in, or drop --logs.';
  assertKubeConfig(opts.kubeconfig);
  let gw: ClientGateway;
  try {
    gw = gatewayFor(opts.namespace, opts.kubeconfig);
  } catch (e) {
    throw new CliError(`--logs: cannot load the Kubernetes configuration (${where}): ${(e as Error).message}. ${hint}`);
  }
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    // Listing pods is what following needs (RBAC included), so it is the check.
    await Promise.race([
      gw.listPods({ [LABELS.run]: 'sdlc-runner-logs-check' }),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs))),
    ]);
  } catch (e) {
    await gw.close();
    throw new CliError(`--logs: cannot reach Kubernetes to list the agent pods (${where}): ${(e as Error).message}. ${hint}`);
  } finally {
    clearTimeout(timer);
  }
  return {
    follow(workflowId, sink, runUid) {
      const stop = new AbortController();
      const selector = { [LABELS.run]: labelValue(workflowId), ...(runUid ? { [RUN_UID_LABEL]: labelValue(runUid) } : {}) };
      const run = new RunPodFollowers(gw, selector, undefined, new Printer(sink, opts.color), opts.err, stop.signal);
      let finishing = false;
      const discovering = (async () => {
        while (!finishing) {
          // Ended pods too: a short task can start and end between two looks.
          await run.discover(true).catch(() => undefined);
          await sleep(opts.discoverIntervalMs ?? 500, stop.signal);
        }
      })();
      let finished: Promise<void> | undefined;
      return {
        finish(graceMs = 15_000) {
          finished ??= (async () => {
            finishing = true;
            await discovering;
            await run.discover(true).catch(() => undefined);
            await Promise.race([run.all(), sleep(graceMs, stop.signal)]);
            stop.abort();
            await run.all();
          })();
          return finished;
        },
      };
    },
    close: () => gw.close(),
  };
}
