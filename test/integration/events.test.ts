/**
 * What the main session sees while a run goes, through the built binary: the non-TTY event lines and
 * the --json event stream of `implement --follow`, checked line by line (every line must be one of the
 * documented events, in a valid order), and the TTY live table in a real pseudo-terminal (tmux), whose
 * final frame is asserted. One [ASYNC] task (T005) fails, so the exit code and retry hint show too.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { CLI, runCli } from './support/cli';
import { ASYNC_TASKS, createSampleRepo, FEATURE } from './support/sample-repo';
import { startTestBackend, type TestBackend } from './support/run-worker';

let backend: TestBackend;
let scratch: string;
const runIds: string[] = [];
const BRANCH = (id: string) => `specs/${FEATURE}/${id}-async`;

beforeAll(async () => {
  backend = await startTestBackend({ failTasks: ['T005'] });
  scratch = mkdtempSync(path.join(os.tmpdir(), 'sdlc-events-'));
});

afterAll(async () => {
  // Failed runs wait for a decision: end them so nothing is left running on the shared server.
  for (const id of runIds) await backend.env.client.workflow.getHandle(id).cancel().catch(() => undefined);
  await backend?.close();
  rmSync(scratch, { recursive: true, force: true });
});

function sampleRepo(tag: string) {
  return createSampleRepo({ parent: mkdtempSync(path.join(scratch, `${tag}-`)), originName: `events-${tag}-${randomUUID().slice(0, 6)}` });
}

test('non-TTY: implement --follow prints one greppable line per event, then the summary; exit 1 when a task failed', async () => {
  const repo = sampleRepo('plain');
  const r = await runCli(['implement', repo.tasksFile, '--follow'], { cwd: repo.dir, env: backend.cliEnv });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(1);
  const lines = r.stdout.trimEnd().split('\n');

  const first = /^run started id=(\S+) tasks=(\S+) ui=(\S+)$/.exec(lines[0]!);
  expect(first).not.toBeNull();
  const runId = first![1]!;
  runIds.push(runId);
  expect(first![2]).toBe(ASYNC_TASKS.join(','));
  expect(first![3]).toBe(`${process.env.TEMPORAL_UI_URL}/namespaces/default/workflows/${runId}`);

  // The event section: every line is a documented event; each task starts before it finishes.
  const end = lines.indexOf('run awaiting-decision');
  expect(end).toBeGreaterThan(0);
  const seen: string[] = [];
  for (const line of lines.slice(1, end)) {
    let m: RegExpExecArray | null;
    if ((m = /^task (T\d{3}) started attempt=1 pod=(\S+) branch=(\S+)$/.exec(line))) {
      expect(m[3]).toBe(BRANCH(m[1]!));
      seen.push(`${m[1]} started`);
    } else if ((m = /^task (T\d{3}) succeeded attempt=1 branch=(\S+) commit=[0-9a-f]{12} tokens=1200\/340 cost=\$0\.0123 duration=\d+s$/.exec(line))) {
      seen.push(`${m[1]} succeeded`);
    } else if ((m = /^task (T\d{3}) failed attempt=1 branch=(\S+) tokens=1200\/340 cost=\$0\.0123 duration=\d+s reason="the agent made no change"$/.exec(line))) {
      seen.push(`${m[1]} failed`);
    } else if (/^progress( (pending|running|succeeded|failed)=\d+)+( running=T\d{3}(,T\d{3})*)?$/.test(line)) {
      seen.push('progress');
    } else {
      throw new Error(`unexpected event line: ${JSON.stringify(line)}\n${r.stdout}`);
    }
  }
  for (const id of ASYNC_TASKS) {
    const startedAt = seen.indexOf(`${id} started`);
    const finishedAt = seen.findIndex((s) => s === `${id} succeeded` || s === `${id} failed`);
    expect({ id, started: startedAt >= 0, finishedAfterStart: finishedAt > startedAt }).toEqual({ id, started: true, finishedAfterStart: true });
  }
  expect(seen.filter((s) => s === 'T005 failed')).toHaveLength(1);
  expect(seen).toContain('progress');

  // The summary block, exactly.
  expect(lines.slice(end)).toEqual([
    'run awaiting-decision',
    expect.stringMatching(new RegExp(`^run finished id=${runId} status=awaiting-decision (succeeded=2 failed=1|failed=1 succeeded=2)$`)),
    expect.stringMatching(new RegExp(`^  T002 succeeded branch=${BRANCH('T002')} commit=[0-9a-f]{12}$`)),
    expect.stringMatching(new RegExp(`^  T003 succeeded branch=${BRANCH('T003')} commit=[0-9a-f]{12}$`)),
    `  T005 failed branch=${BRANCH('T005')} reason="the agent made no change"`,
    `retry with: sdlc-runner retry ${runId} --task T005`,
    `ready to merge: ${BRANCH('T002')} ${BRANCH('T003')}`,
    // Where the pods' logs stay once the pods are gone.
    expect.stringMatching(new RegExp(`^agent logs: sdlc-runner logs ${runId} \\(kept after the pods are gone in \\S+ under refs/sdlc-runner/logs/${runId}/\\)$`)),
  ]);
});

test('--json: the same events as JSON lines, one object per line', async () => {
  const repo = sampleRepo('json');
  const r = await runCli(['implement', repo.tasksFile, '--follow', '--json'], { cwd: repo.dir, env: backend.cliEnv });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(1);
  const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown> & { event: string });
  const runId = events[0]!.run as string;
  runIds.push(runId);
  expect(events[0]).toEqual({ event: 'run_started', run: runId, ui: `${process.env.TEMPORAL_UI_URL}/namespaces/default/workflows/${runId}`, feature: FEATURE, tasks: ASYNC_TASKS });
  for (const e of events.slice(1, -2)) {
    switch (e.event) {
      case 'task_started':
        expect(e).toEqual({ event: 'task_started', task: expect.stringMatching(/^T00[235]$/), title: expect.any(String), attempt: 1, pod: expect.any(String), branch: BRANCH(e.task as string) });
        break;
      case 'task_finished':
        if (e.task === 'T005') expect(e).toEqual({ event: 'task_finished', task: 'T005', status: 'failed', attempt: 1, branch: BRANCH('T005'), reason: 'the agent made no change', tokens: { input: 1200, output: 340 }, cost: 0.0123, durationSeconds: expect.any(Number) });
        else expect(e).toEqual({ event: 'task_finished', task: e.task, status: 'succeeded', attempt: 1, branch: BRANCH(e.task as string), commit: expect.stringMatching(/^[0-9a-f]{40}$/), tokens: { input: 1200, output: 340 }, cost: 0.0123, durationSeconds: expect.any(Number) });
        break;
      case 'progress':
        expect(e).toEqual({ event: 'progress', counts: expect.any(Object), running: expect.any(Array) });
        break;
      default:
        throw new Error(`unexpected event ${JSON.stringify(e)}`);
    }
  }
  expect(events.filter((e) => e.event === 'task_started').map((e) => e.task).sort()).toEqual(ASYNC_TASKS);
  expect(events.filter((e) => e.event === 'task_finished').map((e) => e.task).sort()).toEqual(ASYNC_TASKS);
  expect(events.at(-2)).toEqual({ event: 'run_status', status: 'awaiting_decision' });
  expect(events.at(-1)).toEqual({
    event: 'run_finished',
    run: runId,
    status: 'awaiting_decision',
    tasks: [
      { id: 'T002', status: 'succeeded', branch: BRANCH('T002'), commit: expect.stringMatching(/^[0-9a-f]{40}$/) },
      { id: 'T003', status: 'succeeded', branch: BRANCH('T003'), commit: expect.stringMatching(/^[0-9a-f]{40}$/) },
      { id: 'T005', status: 'failed', branch: BRANCH('T005'), reason: 'the agent made no change' },
    ],
  });
});

function tmux(socket: string, ...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
}

test('TTY: a live table redrawn in place, its final frame, then the summary (in a tmux pseudo-terminal)', async () => {
  if (!existsSync('/usr/bin/tmux')) throw new Error('tmux is missing: run scripts/setup.sh (it installs the Debian package)');
  const repo = sampleRepo('tty');
  const socket = `sdlc-events-${process.pid}`;
  const script = path.join(scratch, 'tty.sh');
  const exports = Object.entries({ ...backend.cliEnv, PATH: process.env.PATH, NO_COLOR: '1', SDLC_LIVE_VIEW_POLL_MS: '300' })
    .map(([k, v]) => `export ${k}='${v}'`)
    .join('\n');
  writeFileSync(script, `${exports}\ncd '${repo.dir}'\n'${process.execPath}' '${CLI}' implement specs/${FEATURE}/tasks.md --follow\necho "EXIT=$?"\nsleep 600\n`);
  tmux(socket, 'new-session', '-d', '-x', '120', '-y', '40', '-s', 'live', `bash ${script}`);
  try {
    let screen = '';
    const deadline = Date.now() + 90_000;
    let midRun = '';
    while (!/^EXIT=\d+$/m.test(screen)) {
      if (Date.now() > deadline) throw new Error(`the live view did not finish:\n${screen}`);
      await new Promise((r) => setTimeout(r, 250));
      screen = tmux(socket, 'capture-pane', '-p', '-t', 'live');
      if (!midRun && /^T00\d\s+running/m.test(screen)) midRun = screen;
    }
    // Everything the terminal ever showed (history included): the table was drawn once and redrawn in place.
    const history = tmux(socket, 'capture-pane', '-p', '-S', '-', '-E', '-', '-t', 'live');
    expect(history.match(/^TASK\s+STATUS\s+ATT\s+ELAPSED\s+TOKENS\/COST\s+LAST LINE$/gm)).toHaveLength(1);
    expect(midRun).toMatch(/^run \S+ {2}running {2}/m);

    const lines = screen.split('\n').map((l) => l.trimEnd());
    const runId = /^run started id=(\S+)/m.exec(screen)![1]!;
    runIds.push(runId);
    const top = lines.findIndex((l) => l.startsWith(`run ${runId}  `));
    // The final frame.
    expect(lines.slice(top, top + 7)).toEqual([
      expect.stringMatching(new RegExp(`^run ${runId} {2}awaiting-decision {2}succeeded=2 failed=1 {2}\\d+s$`)),
      `ui  ${process.env.TEMPORAL_UI_URL}/namespaces/default/workflows/${runId}`,
      '',
      expect.stringMatching(/^TASK {4}STATUS {5}ATT ELAPSED TOKENS\/COST {9}LAST LINE$/),
      expect.stringMatching(new RegExp(`^T002 {4}succeeded {2}1 {3}\\d+s\\s+1200/340 \\$0\\.0123 {4}[0-9a-f]{12} → ${BRANCH('T002')}$`)),
      expect.stringMatching(new RegExp(`^T003 {4}succeeded {2}1 {3}\\d+s\\s+1200/340 \\$0\\.0123 {4}[0-9a-f]{12} → ${BRANCH('T003')}$`)),
      // A failed agent still spent tokens: they are shown like a success's.
      expect.stringMatching(/^T005 {4}failed {5}1 {3}\d+s\s+1200\/340 \$0\.0123 {4}the agent made no change$/),
    ]);
    // Then the same summary as the line-oriented output, and the exit code.
    expect(lines.slice(top + 7)).toEqual(expect.arrayContaining([`retry with: sdlc-runner retry ${runId} --task T005`, `ready to merge: ${BRANCH('T002')} ${BRANCH('T003')}`, 'EXIT=1']));
  } finally {
    try {
      tmux(socket, 'kill-server');
    } catch {
      // already gone
    }
  }
});
