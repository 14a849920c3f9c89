/**
 * The TTY view of a run: a compact table (task, status, attempt, elapsed, tokens/cost, last line)
 * redrawn in place until every task has ended, then the same summary the line-oriented output ends
 * with. Only used when stdout is a terminal; pipes and --json keep the greppable event lines.
 *
 * The "last line" of a running task is the newest agent log line the follow activity has heartbeated
 * (read from the task workflow's pending activity), so it trails the pod by up to a heartbeat interval;
 * `sdlc-runner logs <run> -f` streams every line. A finished task shows its commit or its reason.
 */
import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { runIsOngoing, type RunState, type TaskState } from '../../workflows/types';
import { summaryLines } from './follow';
import { pollRun } from './run-poller';
import { workerDownLine } from './kept-state';
import { countTasks } from './run-events';
import { workflowUiLink } from '../temporal/connection';
import { describeRun, firstRunId, implementCommand, type ImplementFlags, type Output } from './commands';
import { CliError } from './errors';
import { connectTemporal, type TemporalFlags } from './temporal-client';
import type { RunLogs, RunLogsFollower } from './logs';

const ESC = '\x1b[';

export interface LiveViewOptions {
  out: NodeJS.WriteStream | NodeJS.WritableStream;
  uiLink?: string;
  pollMs?: number;
  color?: boolean;
  /** Stop redrawing when aborted (Ctrl-C): the run goes on. */
  signal?: AbortSignal;
  now?: () => number;
  /** `--logs`: the agents' log lines, printed above the table (which stays redrawn at the bottom). */
  logs?: RunLogs;
}

function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function cell(s: string, n: number): string {
  return s.length > n ? s.slice(0, Math.max(0, n - 1)) + '…' : s.padEnd(n);
}

const STATUS_COLOR: Record<string, string> = { succeeded: '32', running: '33', pending: '2', failed: '31', timed_out: '31', budget_exceeded: '31', blocked: '35', cancelled: '2' };

function detail(t: TaskState, lastLine: string | undefined): string {
  switch (t.status) {
    case 'succeeded':
      return `${t.commit?.slice(0, 12) ?? ''} → ${t.branch}`;
    case 'running':
      return lastLine ?? (t.podName ? `pod ${t.podName}` : 'starting');
    case 'pending':
      return t.reason ?? (t.dependsOn.length ? `waits for ${t.dependsOn.join(', ')}` : 'queued');
    default:
      return t.reason ?? t.lastLines?.at(-1) ?? t.status;
  }
}

/** One frame of the table, each line cut to the terminal width (a wrapped line would break the redraw). */
export function renderFrame(state: RunState, opts: { now: number; width: number; lastLines?: Map<string, string>; uiLink?: string; color?: boolean }): string[] {
  const paint = (code: string, s: string) => (opts.color ? `${ESC}${code}m${s}${ESC}0m` : s);
  const counts = Object.entries(countTasks(state)).map(([k, v]) => `${k}=${v}`).join(' ');
  const runElapsed = (state.endedAt ? Date.parse(state.endedAt) : opts.now) - Date.parse(state.startedAt);
  const lines = [`run ${state.workflowId}  ${state.status.replace('_', '-')}  ${counts}  ${fmtDuration(runElapsed)}`];
  if (opts.uiLink) lines.push(`ui  ${opts.uiLink}`);
  lines.push('');
  const fixed = 8 + 11 + 4 + 8 + 20;
  const lastWidth = Math.max(10, opts.width - fixed - 1);
  lines.push(`${cell('TASK', 8)}${cell('STATUS', 11)}${cell('ATT', 4)}${cell('ELAPSED', 8)}${cell('TOKENS/COST', 20)}${cell('LAST LINE', lastWidth)}`.trimEnd());
  for (const t of state.tasks) {
    const elapsed = t.startedAt ? fmtDuration((t.endedAt && t.status !== 'running' ? Date.parse(t.endedAt) : opts.now) - Date.parse(t.startedAt)) : '-';
    const tokens = t.tokens ? `${t.tokens.input}/${t.tokens.output}${t.cost !== undefined ? ` $${t.cost.toFixed(4)}` : ''}` : '-';
    const status = cell(t.status.replace('_', '-'), 11);
    lines.push(`${cell(t.id, 8)}${paint(STATUS_COLOR[t.status] ?? '0', status)}${cell(String(t.attempt || '-'), 4)}${cell(elapsed, 8)}${cell(tokens, 20)}${cell(detail(t, opts.lastLines?.get(t.id)).replace(/\s+/g, ' '), lastWidth).trimEnd()}`);
  }
  return lines.map((l) => (visibleLength(l) > opts.width - 1 ? l.slice(0, opts.width - 1) : l));
}

function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** Newest heartbeated log line of each running task's follow activity. */
async function lastLinesOf(client: Client, state: RunState): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  await Promise.all(
    state.tasks
      .filter((t) => t.status === 'running' && t.childWorkflowId)
      .map(async (t) => {
        try {
          const desc = await client.workflow.getHandle(t.childWorkflowId!).describe();
          for (const a of desc.raw.pendingActivities ?? []) {
            const payload = a.heartbeatDetails?.payloads?.[0];
            if (!payload) continue;
            const progress = defaultPayloadConverter.fromPayload(payload as never) as { lastLines?: string[] };
            const line = progress.lastLines?.at(-1);
            if (line) result.set(t.id, line);
          }
        } catch {
          // The child may not have started yet or already be closed: no line then.
        }
      }),
  );
  return result;
}

/** Redraws until every task has ended (or the signal aborts); returns the last state seen. */
export async function liveView(client: Client, workflowId: string, opts: LiveViewOptions): Promise<RunState | undefined> {
  const out = opts.out;
  const now = opts.now ?? Date.now;
  const width = () => Math.max(60, (out as NodeJS.WriteStream).columns ?? 100);
  let drawn = 0;
  let frame: string[] = [];
  let state: RunState | undefined;
  let logLines: string[] = [];
  const draw = (next: string[]) => {
    // Up to the first line of the previous frame, clear to the end of the screen, then any new log
    // lines (they scroll up and stay), then the table anew.
    const above = logLines.length ? logLines.join('\n') + '\n' : '';
    logLines = [];
    out.write((drawn ? `${ESC}${drawn}F` : '') + `${ESC}J` + above + next.join('\n') + (next.length ? '\n' : ''));
    frame = next;
    drawn = next.length;
  };
  // Log lines come in bursts: batch them into one redraw every 100 ms rather than one per line.
  let flush: NodeJS.Timeout | undefined;
  const logFollower: RunLogsFollower | undefined = opts.logs?.follow(
    workflowId,
    (l) => {
      logLines.push(l.formatted);
      flush ??= setTimeout(() => {
        flush = undefined;
        draw(frame);
      }, 100);
    },
    opts.logs && (await firstRunId(client, workflowId)),
  );
  const finishLogs = async () => {
    await logFollower?.finish(opts.signal?.aborted ? 1_000 : undefined);
    clearTimeout(flush);
    flush = undefined;
  };
  out.write(`${ESC}?25l`);
  /** A line of ours above the table (it scrolls up with the agents' lines; the table is redrawn below). */
  const note = (line: string) => logLines.push(line);
  const show = async (s: RunState, ended: boolean) => {
    const lastLines = ended ? undefined : await lastLinesOf(client, s);
    if (ended) await finishLogs(); // the last agent lines above the final frame
    draw(renderFrame(s, { now: now(), width: width(), lastLines, uiLink: opts.uiLink, color: opts.color }));
  };
  try {
    const polls = pollRun(client, workflowId, { pollMs: opts.pollMs, signal: opts.signal });
    for (;;) {
      const next = await polls.next();
      if (next.done) {
        // The end as the poll saw it (settled, closed in Temporal, or what Temporal keeps with no worker).
        if (next.value) {
          state = next.value;
          await show(state, true);
        }
        return state;
      }
      const o = next.value;
      switch (o.kind) {
        case 'unreachable':
          note(`Temporal is not answering; reconnecting… (giving up after ${o.giveUpMs / 1000}s; the run goes on)`);
          if (frame.length) draw(frame);
          break;
        case 'reconnected':
          note('reconnected to Temporal: following');
          break;
        case 'worker-down':
          note(`${workerDownLine(o.taskQueue ?? '?', o.presence)}${o.closed ? '' : '; waiting for one'}`);
          if (o.kept) {
            state = o.kept;
            draw(renderFrame(o.kept, { now: now(), width: width(), uiLink: opts.uiLink, color: opts.color }));
          } else if (frame.length) draw(frame);
          break;
        case 'worker-up':
          note('a worker answers again: following');
          break;
        case 'state':
          state = o.state;
          if (o.closed) note(`run closed in Temporal as ${o.closed}; tasks show their last reported state`);
          // A run that has ended is drawn once more when the poll returns it.
          if (!o.closed && runIsOngoing(o.state.status)) await show(o.state, false);
          break;
      }
    }
  } finally {
    await finishLogs();
    if (logLines.length) draw(frame);
    out.write(`${ESC}?25h`);
  }
}

/** The TTY counterpart of `watch`/`implement --follow`: the live table, then the summary; the same exit codes. */
export async function watchLive(client: Client, workflowId: string, opts: LiveViewOptions & { err: NodeJS.WritableStream }): Promise<number> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const state = await liveView(client, workflowId, { ...opts, signal: abort.signal });
    if (!state) {
      opts.err.write(`run ${workflowId} ended before its state could be read; see 'sdlc-runner status ${workflowId}'\n`);
      return 1;
    }
    if (abort.signal.aborted && runIsOngoing(state.status)) {
      opts.err.write(`stopped watching; the run goes on. Attach again with 'sdlc-runner watch ${workflowId}'.\n`);
      return 130;
    }
    opts.out.write('\n' + summaryLines(state, workflowId).join('\n') + '\n');
    return state.tasks.every((t) => t.status === 'succeeded') ? 0 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

// ---- glue for the CLI: `implement --follow` and `watch` on a terminal ----

async function watchLiveWith(flags: TemporalFlags, run: string, io: Output, logs?: RunLogs): Promise<number> {
  const t = await connectTemporal(flags);
  try {
    await describeRun(t.client, run);
    return await watchLive(t.client, run, {
      out: io.out,
      err: io.err,
      uiLink: workflowUiLink(t.uiUrl, t.namespace, run),
      color: !process.env.NO_COLOR,
      pollMs: Number(process.env.SDLC_LIVE_VIEW_POLL_MS) || 1000,
      logs,
    });
  } finally {
    await t.close();
  }
}

/** `watch <run>` on a terminal. */
export function watchLiveCommand(run: string, flags: TemporalFlags, io: Output, logs?: RunLogs): Promise<number> {
  return watchLiveWith(flags, run, io, logs);
}

/** `implement --follow` on a terminal: start the run exactly as the plain path does, then the live table. */
export async function implementLiveCommand(tasksPath: string, flags: ImplementFlags, io: Output, logs?: RunLogs): Promise<number> {
  let printed = '';
  const tee = new Writable({
    write(chunk, _enc, done) {
      printed += String(chunk);
      io.out.write(chunk, done);
    },
  });
  const code = await implementCommand(tasksPath, { ...flags, follow: false, json: false }, { out: tee, err: io.err });
  if (code !== 0) return code;
  const run = /^run started id=(\S+)/m.exec(printed)?.[1];
  if (!run) throw new CliError('the run started, but its ID was not printed; follow it with sdlc-runner watch <run>', 1);
  return watchLiveWith(flags, run, io, logs);
}
