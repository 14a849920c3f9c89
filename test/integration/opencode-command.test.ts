/**
 * The whole /implement-async path as a user runs it: `sdlc-runner init` in a spec-kit repository,
 * then the REAL opencode runs the installed command against a scripted model that issues the tool calls
 * the command prescribes (plan → implement → the [SYNC] tasks → status → watch → summary). The CLI
 * talks to the real Temporal dev server; a real Worker (in this process, own task queue) runs the
 * workflows with the in-memory cluster double. The spec-kit hook commands init installs
 * (speckit.sdlc-runner.dispatch, then speckit.sdlc-runner.report in the same session, as /speckit.implement
 * runs its before_implement/after_implement hooks) are run the same way.
 */
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker, testEnv, type RunningWorker } from '../support/temporal';
import { getRunStateQuery } from '../../workflows/definitions';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { runCliSync } from './support/cli';
import { runOpencodeCommand, sdlcRunnerOnPath } from './support/opencode';
import { messageText, startScriptedModel, type ChatRequest, type ScenarioContext, type Turn } from './support/scripted-model';
import { ASYNC_TASKS, createSampleRepo, FEATURE, SYNC_TASKS, TASKS_MD, type SampleRepo } from './support/sample-repo';

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let k8s: MemoryKubernetesGateway;
let scratch: string;
let repo: SampleRepo;
/** `<repository URL>#<task ID>` whose agent reports a failure ("the agent made no change"); every other agent succeeds. */
const failingAgents = new Set<string>();
/** Every agent pod the cluster was asked for: repository URL and task ID. */
const agentPods: { repo: string; task: string }[] = [];

beforeAll(async () => {
  env = await testEnv();
  const git = new MemoryGit();
  // Agents that take a few seconds and print a few lines, so the session sees tasks start, progress and finish.
  k8s = new MemoryKubernetesGateway((req) => {
    const repoUrl = req.env[AGENT_ENV.REPO_URL]!;
    const task = req.env[AGENT_ENV.TASK_ID]!;
    agentPods.push({ repo: repoUrl, task });
    return { pendingMs: 300, lines: ['cloning repository', 'running opencode', 'committing', 'pushing branch'], lineIntervalMs: 2500, tokens: { input: 1200, output: 340 }, cost: 0.0123, result: failingAgents.has(`${repoUrl}#${task}`) ? 'failure' : 'success' };
  }, git);
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
    // Every task succeeded: the feature comes back as one integrated branch, and the session is told how to build on it.
    const integrated = new RegExp(`^ready to merge: specs/${FEATURE}/integration @ [0-9a-f]{7} \\(${ASYNC_TASKS.join(', ')}\\)$`);
    expect(lines).toContainEqual(expect.stringMatching(integrated));
    expect(lines).toContain(`build on it locally: git fetch origin specs/${FEATURE}/integration && git merge --no-edit FETCH_HEAD`);
    expect(run.texts.join('\n')).toContain(`Run ${runId} finished. Ready to merge: specs/${FEATURE}/integration @ `);

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

/** The tool outputs of the current command only: those after the session's last user message (the command's prompt). */
function sinceCommand(request: ChatRequest): string[] {
  const lastUser = request.messages.map((m) => m.role).lastIndexOf('user');
  return request.messages.slice(lastUser + 1).filter((m) => m.role === 'tool').map(messageText);
}

/** The text of the command's prompt as the model received it (the session's last user message). */
function commandPrompt(request: ChatRequest): string {
  const users = request.messages.filter((m) => m.role === 'user');
  return messageText(users[users.length - 1]!);
}

/** `run started id=… tasks=… ui=…`, from any tool output earlier in the session. */
function runStarted(request: ChatRequest): { id: string; tasks: string; ui: string } {
  for (const m of request.messages) {
    const hit = m.role === 'tool' ? /^run started id=(\S+) tasks=(\S+) ui=(\S+)$/m.exec(messageText(m)) : null;
    if (hit) return { id: hit[1]!, tasks: hit[2]!, ui: hit[3]! };
  }
  throw new Error('no "run started" line earlier in this session');
}

/**
 * What a model following speckit.sdlc-runner.dispatch (the before_implement hook) does: find tasks.md with
 * spec-kit's check-prerequisites script, preview, start the run, tell the user the run ID and UI link, check on
 * the agents. (/speckit.implement then does the [SYNC] tasks; that is spec-kit's part, not the hook's.)
 */
function dispatchScenario({ request }: ScenarioContext): Turn {
  const outputs = sinceCommand(request);
  const tasksMd = () => `${(JSON.parse(outputs[0]!) as { FEATURE_DIR: string }).FEATURE_DIR}/tasks.md`;
  switch (outputs.length) {
    case 0:
      return { bash: { command: '.specify/scripts/bash/check-prerequisites.sh --json --require-tasks --include-tasks', description: 'Find the feature and its tasks.md' } };
    case 1:
      return { bash: { command: `sdlc-runner plan ${tasksMd()}`, description: 'Preview which tasks go to agents' } };
    case 2:
      return { bash: { command: `sdlc-runner implement ${tasksMd()}`, description: 'Start the durable run for the [ASYNC] tasks' } };
    case 3:
      return { bash: { command: `sdlc-runner status ${runStarted(request).id}`, description: 'Check on the agents' } };
    default: {
      const run = runStarted(request);
      return { text: `Started sdlc-runner run ${run.id} for ${run.tasks} (Temporal UI: ${run.ui}). These tasks are delegated to the run; /speckit.implement does the others here.` };
    }
  }
}

/** What a model following speckit.sdlc-runner.report (the after_implement hook) does: watch the run, then summarise. */
function reportScenario({ request }: ScenarioContext): Turn {
  const outputs = sinceCommand(request);
  const run = runStarted(request); // started earlier in this session, by the dispatch hook
  if (outputs.length === 0) return { bash: { command: `timeout -s INT 540 sdlc-runner watch ${run.id}`, description: 'Wait for the agents', timeout: 600_000 } };
  const watch = outputs[0]!;
  const ready = [...watch.matchAll(/^ {2}(T\d+) succeeded branch=(\S+) commit=(\S+)$/gm)].map(([, id, branch, commit]) => `${id} ${branch} @ ${commit}`);
  const failed = [...watch.matchAll(/^ {2}(T\d+) (failed|timed_out|blocked|cancelled) branch=\S+(?: reason=(".*"))?$/gm)].map(([, id, status, reason]) => `${id} ${status}: ${reason ? (JSON.parse(reason) as string) : 'no reason given'}`);
  const retry = /^retry with: (.*)$/m.exec(watch)?.[1];
  return {
    text: [
      `Run ${run.id} has finished.`,
      `Ready to merge: ${ready.join('; ') || 'none'}.`,
      `Not done: ${failed.join('; ') || 'none'}.`,
      ...(retry ? [`Retry with: ${retry} (or /implement-async-retry ${run.id} ${failed.map((f) => f.split(' ')[0]).join(' ')})`] : []),
      `Temporal UI: ${run.ui}`,
    ].join('\n'),
  };
}

test('opencode runs the spec-kit hook commands: dispatch starts a run with exactly the [ASYNC] tasks, report names the run, the branches to merge and the retry command', async () => {
  const started = Date.now();
  // A second project, on its feature branch with spec-kit's scripts, so its run is not the first test's.
  const parent = path.join(scratch, 'hooks');
  mkdirSync(parent);
  const hooksRepo = createSampleRepo({ parent, originName: `hooks-${randomUUID().slice(0, 8)}`, specKitScripts: true });
  failingAgents.add(`${hooksRepo.url}#T005`);
  const init = runCliSync(['init'], { cwd: hooksRepo.dir });
  expect(init.code).toBe(0);
  // The hook entries name the commands this test runs.
  const extensions = readFileSync(path.join(hooksRepo.dir, '.specify/extensions.yml'), 'utf8');
  expect(extensions).toMatch(/before_implement:\n\s+- extension: sdlc-runner\n\s+command: speckit\.sdlc-runner\.dispatch\n/);
  expect(extensions).toMatch(/after_implement:\n\s+- extension: sdlc-runner\n\s+command: speckit\.sdlc-runner\.report\n/);

  const bin = sdlcRunnerOnPath(scratch);
  const ocEnv = {
    PATH: `${bin}:${process.env.PATH}`,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: worker.taskQueue,
    SDLC_TEMPORAL_UI_URL: process.env.TEMPORAL_UI_URL,
    SDLC_PROGRESS_EVERY_SECONDS: '1',
  };

  // before_implement: the dispatch hook.
  const dispatchModel = await startScriptedModel(dispatchScenario);
  let dispatch: Awaited<ReturnType<typeof runOpencodeCommand>>;
  try {
    dispatch = await runOpencodeCommand({ cwd: hooksRepo.dir, command: 'speckit.sdlc-runner.dispatch', args: '', modelBaseUrl: dispatchModel.baseUrl, scratch, env: ocEnv });
  } finally {
    await dispatchModel.close();
  }
  expect({ code: dispatch.code, errors: dispatch.events.filter((e) => e.type === 'error') }).toEqual({ code: 0, errors: [] });
  // opencode sent the installed hook command's text.
  const dispatchPrompt = commandPrompt(dispatchModel.requests[0]!);
  expect(dispatchPrompt).toContain('This hook runs before `/speckit.implement`');
  expect(dispatchPrompt).toContain('sdlc-runner implement <tasks.md>');
  expect(dispatch.bash.map((b) => b.command.split(' ').slice(0, 2).join(' '))).toEqual(['.specify/scripts/bash/check-prerequisites.sh --json', 'sdlc-runner plan', 'sdlc-runner implement', 'sdlc-runner status']);
  const [prereq, plan, implement, status] = dispatch.bash;
  expect(prereq!.exit).toBe(0);
  expect(JSON.parse(prereq!.output)).toEqual({ FEATURE_DIR: realpathSync(path.dirname(hooksRepo.tasksFile)), AVAILABLE_DOCS: ['tasks.md'] });
  expect(plan!.exit).toBe(0);
  expect(implement!.exit).toBe(0);
  const startedLine = /^run started id=(\S+) tasks=(\S+) ui=(\S+)$/m.exec(implement!.output);
  expect(startedLine).not.toBeNull();
  const [, runId, tasks, ui] = startedLine!;
  expect(tasks!.split(',')).toEqual(ASYNC_TASKS);
  expect(ui).toBe(`${process.env.TEMPORAL_UI_URL}/namespaces/default/workflows/${runId}`);
  expect(status!.output).toContain(`run ${runId}`);
  // The user is told the run ID and the UI link word for word.
  expect(dispatch.texts.join('\n')).toContain(`Started sdlc-runner run ${runId} for T002,T003,T005 (Temporal UI: ${ui})`);
  // The run has exactly the [ASYNC] tasks; no agent pod for a [SYNC] task; the hook marked nothing done.
  const dispatched = await env.client.workflow.getHandle(runId!).query(getRunStateQuery);
  expect(dispatched.tasks.map((t) => t.id)).toEqual(ASYNC_TASKS);
  expect(readFileSync(hooksRepo.tasksFile, 'utf8')).toBe(TASKS_MD);

  const dispatchMs = Date.now() - started;
  // after_implement: the report hook, later in the same session (as /speckit.implement runs it).
  const reportModel = await startScriptedModel(reportScenario);
  let report: Awaited<ReturnType<typeof runOpencodeCommand>>;
  try {
    report = await runOpencodeCommand({ cwd: hooksRepo.dir, command: 'speckit.sdlc-runner.report', args: '', modelBaseUrl: reportModel.baseUrl, scratch, env: ocEnv, session: dispatch.sessionId });
  } finally {
    await reportModel.close();
  }
  const elapsed = Date.now() - started;
  expect({ code: report.code, errors: report.events.filter((e) => e.type === 'error') }).toEqual({ code: 0, errors: [] });
  expect(report.sessionId).toBe(dispatch.sessionId);
  const reportPrompt = commandPrompt(reportModel.requests[0]!);
  expect(reportPrompt).toContain('This hook runs after `/speckit.implement`');
  expect(reportPrompt).toContain('sdlc-runner watch <run>');
  expect(report.bash.map((b) => b.command)).toEqual([`timeout -s INT 540 sdlc-runner watch ${runId}`]);
  const watch = report.bash[0]!;
  expect(watch.exit).toBe(1); // not every task succeeded
  const lines = watch.output.split('\n');
  expect(lines).toContain(`run finished id=${runId} status=awaiting-decision succeeded=2 failed=1`);
  expect(lines).toContain(`retry with: sdlc-runner retry ${runId} --task T005`);
  expect(lines).toContain(`ready to merge: specs/${FEATURE}/T002-async specs/${FEATURE}/T003-async`);

  // What the user reads at the end: the run, the branches to merge (with commits), the failure and why, the retry command.
  const finalState = await env.client.workflow.getHandle(runId!).query(getRunStateQuery);
  const commit = (id: string) => finalState.tasks.find((t) => t.id === id)!.commit!.slice(0, 12);
  expect(report.texts.join('\n')).toBe(
    [
      `Run ${runId} has finished.`,
      `Ready to merge: T002 specs/${FEATURE}/T002-async @ ${commit('T002')}; T003 specs/${FEATURE}/T003-async @ ${commit('T003')}.`,
      `Not done: T005 failed: the agent made no change.`,
      `Retry with: sdlc-runner retry ${runId} --task T005 (or /implement-async-retry ${runId} T005)`,
      `Temporal UI: ${ui}`,
    ].join('\n'),
  );
  expect(finalState.tasks.map((t) => [t.id, t.status])).toEqual([['T002', 'succeeded'], ['T003', 'succeeded'], ['T005', 'failed']]);
  // The cluster saw one agent pod per [ASYNC] task of this repository, none for the [SYNC] ones.
  const pods = agentPods.filter((p) => p.repo === hooksRepo.url).map((p) => p.task);
  expect([...pods].sort()).toEqual(ASYNC_TASKS);
  for (const id of SYNC_TASKS) expect(pods).not.toContain(id);
  // eslint-disable-next-line no-console
  console.log(`[opencode-command] init + dispatch hook (${dispatchMs} ms) + report hook in one opencode session + 3-task run: ${elapsed} ms`);
});
