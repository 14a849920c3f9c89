/**
 * The whole /implement-async path as a user runs it: `sdlc-runner init` in a spec-kit repository,
 * then the REAL opencode runs the installed command against a scripted model that issues the tool calls
 * the command prescribes (plan → implement → the [SYNC] tasks → status → watch → summary). The CLI
 * talks to the real Temporal dev server; a real Worker (in this process, own task queue) runs the
 * workflows with the in-memory cluster double.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker, testEnv, type RunningWorker } from '../support/temporal';
import { getRunStateQuery } from '../../workflows/definitions';
import { runCliSync } from './support/cli';
import { runOpencodeCommand, sdlcRunnerOnPath } from './support/opencode';
import { messageText, startScriptedModel, type ScenarioContext, type Turn } from './support/scripted-model';
import { ASYNC_TASKS, createSampleRepo, FEATURE, type SampleRepo } from './support/sample-repo';

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let k8s: MemoryKubernetesGateway;
let scratch: string;
let repo: SampleRepo;

beforeAll(async () => {
  env = await testEnv();
  const git = new MemoryGit();
  // Agents that take a few seconds and print a few lines, so the session sees tasks start, progress and finish.
  k8s = new MemoryKubernetesGateway(() => ({ pendingMs: 300, lines: ['cloning repository', 'running opencode', 'committing', 'pushing branch'], lineIntervalMs: 2500, tokens: { input: 1200, output: 340 }, cost: 0.0123 }), git);
  worker = await startWorker({ kubernetes: k8s, git });
  scratch = mkdtempSync(path.join(os.tmpdir(), 'sdlc-oc-'));
  repo = createSampleRepo({ parent: scratch, originName: `greeting-${randomUUID().slice(0, 8)}` });
});

afterAll(async () => {
  await worker?.stop();
  await env?.teardown();
  rmSync(scratch, { recursive: true, force: true });
});

const TASKS = `specs/${FEATURE}/tasks.md`;

/** What a model following /implement-async does, step by step; later steps use earlier outputs (the run ID). */
function implementAsyncScenario({ toolOutputs }: ScenarioContext): Turn {
  const runId = () => {
    const m = /^run started id=(\S+)/m.exec(toolOutputs[1] ?? '');
    if (!m) throw new Error(`no run ID in the implement output: ${toolOutputs[1]}`);
    return m[1]!;
  };
  switch (toolOutputs.length) {
    case 0:
      return { bash: { command: `sdlc-runner plan ${TASKS}`, description: 'Preview which tasks go to agents' } };
    case 1:
      return { bash: { command: `sdlc-runner implement ${TASKS}`, description: 'Start the durable run for the [ASYNC] tasks' } };
    case 2:
      // The [SYNC] tasks, done here and marked [X] (stands in for the real edits a model would make).
      return { bash: { command: `sed -i -e 's/^- \\[ \\] T001 /- [X] T001 /' -e 's/^- \\[ \\] T004 /- [X] T004 /' ${TASKS}`, description: 'Mark the local tasks done' } };
    case 3:
      return { bash: { command: `sdlc-runner status ${runId()}`, description: 'Check on the agents' } };
    case 4:
      return { bash: { command: `timeout -s INT 540 sdlc-runner watch ${runId()}`, description: 'Wait for the agents', timeout: 600_000 } };
    default: {
      const watch = toolOutputs[4] ?? '';
      const ready = /^ready to merge: (.*)$/m.exec(watch)?.[1] ?? 'none';
      return { text: `Run ${runId()} finished. Ready to merge: ${ready}. T001 and T004 were done here.` };
    }
  }
}

test('opencode runs /implement-async: the run starts with exactly the [ASYNC] tasks and the session sees run ID, progress and summary', async () => {
  const started = Date.now();
  const init = runCliSync(['init'], { cwd: repo.dir });
  expect(init.code).toBe(0);

  const model = await startScriptedModel(implementAsyncScenario);
  try {
    const bin = sdlcRunnerOnPath(scratch);
    const run = await runOpencodeCommand({
      cwd: repo.dir,
      command: 'implement-async',
      args: TASKS,
      modelBaseUrl: model.baseUrl,
      scratch,
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
        TEMPORAL_TASK_QUEUE: worker.taskQueue,
        SDLC_TEMPORAL_UI_URL: process.env.TEMPORAL_UI_URL,
        SDLC_PROGRESS_EVERY_SECONDS: '1',
      },
    });
    const elapsed = Date.now() - started;
    expect({ code: run.code, errors: run.events.filter((e) => e.type === 'error') }).toEqual({ code: 0, errors: [] });

    // opencode sent our installed command (not a built-in) with the user's argument.
    const prompt = model.requests[0]!.messages.filter((m) => m.role === 'user').map(messageText).join('\n');
    expect(prompt).toContain('sdlc-runner implement <tasks.md>');
    expect(prompt).toContain(TASKS);

    expect(run.bash.map((b) => b.command.split(' ').slice(0, 2).join(' '))).toEqual(['sdlc-runner plan', 'sdlc-runner implement', `sed -i`, 'sdlc-runner status', 'timeout -s']);
    const [plan, implement, , status, watch] = run.bash;

    expect(plan!.output).toMatch(/T002/);
    // The run ID and the UI link, as the session saw them.
    const started_ = /^run started id=(\S+) tasks=(\S+) ui=(\S+)$/m.exec(implement!.output);
    expect(started_).not.toBeNull();
    const [, runId, tasks, ui] = started_!;
    expect(tasks!.split(',')).toEqual(ASYNC_TASKS);
    expect(ui).toBe(`${process.env.TEMPORAL_UI_URL}/namespaces/default/workflows/${runId}`);
    expect(status!.output).toContain(`run ${runId}`);

    // The watch output, line by line: every [ASYNC] task started and succeeded, progress, the summary.
    const lines = watch!.output.split("\n");
    expect(watch!.exit).toBe(0);
    for (const id of ASYNC_TASKS) {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^task ${id} started attempt=1 pod=\\S+ branch=specs/${FEATURE}/${id}-async$`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^task ${id} succeeded attempt=1 branch=specs/${FEATURE}/${id}-async commit=[0-9a-f]{12} tokens=1200/340 cost=\\$0\\.0123 duration=\\d+s$`)));
    }
    expect(lines.some((l) => /^progress (pending=\d+ )?(running=\d+|succeeded=\d+)/.test(l))).toBe(true);
    expect(lines).toContain(`run finished id=${runId} status=succeeded succeeded=3`);
    expect(lines).toContain(`ready to merge: ${ASYNC_TASKS.map((id) => `specs/${FEATURE}/${id}-async`).join(' ')}`);
    expect(run.texts.join('\n')).toContain(`Run ${runId} finished. Ready to merge: specs/${FEATURE}/T002-async`);

    // What the cluster saw: one agent pod per [ASYNC] task, none for the [SYNC] ones.
    const state = await env.client.workflow.getHandle(runId!).query(getRunStateQuery);
    expect(state.tasks.map((t) => [t.id, t.status])).toEqual(ASYNC_TASKS.map((id) => [id, 'succeeded']));
    expect(k8s.created).toHaveLength(3);
    // The local lane: [SYNC] tasks marked done in tasks.md, [ASYNC] ones left for the branches to deliver.
    const tasksMd = readFileSync(repo.tasksFile, 'utf8');
    expect(tasksMd).toMatch(/^- \[X\] T001 /m);
    expect(tasksMd).toMatch(/^- \[X\] T004 /m);
    for (const id of ASYNC_TASKS) expect(tasksMd).toMatch(new RegExp(`^- \\[ \\] ${id} `, 'm'));
    // eslint-disable-next-line no-console
    console.log(`[opencode-command] init + opencode session + 3-task run: ${elapsed} ms`);
  } finally {
    await model.close();
  }
});
