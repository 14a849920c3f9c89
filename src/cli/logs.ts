/**
 * `sdlc-runner logs <run> [--task T012 ...] [--follow]`: the agent logs of a run's pods, interleaved,
 * each line prefixed with its task (`[T012]`, coloured on a terminal). With --follow it keeps
 * following — reconnecting after any stream cut without repeating a line, picking up pods the run
 * creates later — and exits once every followed pod has ended.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { createClientGateway, type ClientGateway } from '../k8s/client-gateway';
import { KubernetesError, LABELS, type LogLine, type PodStatus } from '../k8s/gateway';
import { LogResume } from '../k8s/log-resume';
import { compareLogTimestamps } from '../k8s/timestamps';

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
}

/** Bright, distinguishable ANSI foreground colours; a task keeps its colour for the whole command. */
const PALETTE = [36, 33, 35, 32, 34, 91, 96, 93, 95, 92, 94, 31];
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

function isEnded(pod: PodStatus | undefined): boolean {
  return !pod || pod.phase === 'Succeeded' || pod.phase === 'Failed';
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

class Printer {
  private readonly colours = new Map<string, number>();
  private width = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
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
    this.out.write(`${this.prefix(label)} ${text}\n`);
  }

  note(label: string, text: string): void {
    this.out.write(`${this.prefix(label)} ${this.color ? `${DIM}${text}${RESET}` : text}\n`);
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

/** Follows one pod to its end; returns false on an error that retrying cannot fix. */
async function followPod(gw: ClientGateway, name: string, label: string, printer: Printer, err: NodeJS.WritableStream, signal: AbortSignal): Promise<boolean> {
  const resume = new LogResume();
  let delay = 250;
  const emit = (line: LogLine) => {
    if (resume.accept(line)) printer.line(label, line.text);
  };
  while (!signal.aborted) {
    try {
      let pod = await gw.getPod(name);
      if (pod?.phase === 'Pending') {
        pod = await gw.waitForPod(name, (p) => !p || p.phase !== 'Pending', { signal, timeoutMs: 30_000 });
        if (pod?.phase === 'Pending') continue;
      }
      if (!pod) {
        printer.note(label, describeEnd(pod));
        return true;
      }
      resume.beginStream();
      for await (const line of gw.followLogs(name, { sinceTime: resume.lastTs, signal })) emit(line);
      if (signal.aborted) break;
      // The stream ended: the container ended, or the connection was cut (then: reconnect).
      const after = await gw.waitForPod(name, isEnded, { signal, timeoutMs: 1_000 });
      if (isEnded(after)) {
        if (after) {
          // Lines written between a cut and the end would otherwise be lost: one last read.
          resume.beginStream();
          for await (const line of gw.readLogs(name, { sinceTime: resume.lastTs, signal })) emit(line);
        }
        printer.note(label, describeEnd(after));
        return true;
      }
      delay = 250;
    } catch (e) {
      if (signal.aborted) break;
      if (e instanceof KubernetesError && !e.retryable) {
        err.write(`sdlc-runner logs: ${label}: ${e.message}\n`);
        return false;
      }
      await sleep(delay, signal);
      delay = Math.min(5_000, delay * 2);
    }
  }
  return true;
}

export async function runLogsCommand(opts: LogsCommandOptions): Promise<number> {
  const err = opts.err ?? process.stderr;
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  const gw = createClientGateway({ namespace: opts.namespace, kubeConfig: kc });
  const printer = new Printer(opts.out, opts.color);
  const wanted = opts.tasks?.length ? new Set(opts.tasks) : undefined;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const runPods = async (): Promise<PodStatus[]> => {
    const pods = await gw.listPods({ [LABELS.run]: opts.runLabel });
    return pods.filter((p) => !wanted || wanted.has(p.labels[LABELS.task] ?? ''));
  };
  const labelsFor = (pods: PodStatus[]) => {
    const attempts = new Map<string, number>();
    for (const p of pods) attempts.set(p.labels[LABELS.task] ?? p.name, (attempts.get(p.labels[LABELS.task] ?? p.name) ?? 0) + 1);
    return (p: PodStatus) => printer.label(p, attempts.get(p.labels[LABELS.task] ?? p.name) ?? 1);
  };
  const byTaskThenName = (a: PodStatus, b: PodStatus) =>
    (a.labels[LABELS.task] ?? '').localeCompare(b.labels[LABELS.task] ?? '', undefined, { numeric: true }) || a.name.localeCompare(b.name);

  try {
    const pods = (await runPods()).sort(byTaskThenName);
    if (pods.length === 0) {
      const which = wanted ? ` with task ${[...wanted].join(', ')}` : '';
      err.write(`sdlc-runner logs: no agent pods of run "${opts.runLabel}"${which} in namespace "${opts.namespace}".\n`);
      return 1;
    }
    let labelOf = labelsFor(pods);
    pods.forEach((p) => printer.register(labelOf(p)));

    if (!opts.follow) {
      // Everything so far, merged in time order across pods (stable within a pod).
      const lines: { label: string; line: LogLine; seq: number }[] = [];
      let seq = 0;
      for (const p of pods) {
        for await (const line of gw.readLogs(p.name, { signal: stop.signal })) lines.push({ label: labelOf(p), line, seq: seq++ });
      }
      lines.sort((a, b) => compareLogTimestamps(a.line.ts, b.line.ts) || a.seq - b.seq);
      for (const l of lines) printer.line(l.label, l.line.text);
      return 0;
    }

    const followed = new Map<string, Promise<boolean>>();
    const startFollowing = (list: PodStatus[]) => {
      for (const p of list) {
        if (followed.has(p.name)) continue;
        const label = labelOf(p);
        printer.register(label);
        followed.set(p.name, followPod(gw, p.name, label, printer, err, stop.signal));
      }
    };
    startFollowing(pods);
    // Pods the run creates later (retries, tasks unblocked by others) join while others still run.
    for (;;) {
      const results = await Promise.race([
        Promise.all(followed.values()).then((r) => ({ all: r })),
        sleep(opts.discoverIntervalMs ?? 5_000, stop.signal).then(() => undefined),
      ]);
      if (results && results.all.length === followed.size) {
        if (stop.signal.aborted) return 130;
        return results.all.every(Boolean) ? 0 : 1;
      }
      if (stop.signal.aborted) {
        await Promise.all(followed.values());
        return 130;
      }
      try {
        const now = await runPods();
        const fresh = now.filter((p) => !followed.has(p.name) && !isEnded(p));
        if (fresh.length) {
          labelOf = labelsFor([...pods, ...now]);
          startFollowing(fresh.sort(byTaskThenName));
        }
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
