/**
 * Issue 9's whole chain with the REAL agent: a five-task spec-kit feature whose later tasks build on
 * earlier ones. implementFeature → production worker process (stacks each dependant's branch with real
 * git against the authenticated git server) → agent pods on the real kube-apiserver, run by the test
 * kubelet with the very docker/agent-entrypoint.sh → the real `opencode` against a scripted model that
 * first lists the files it sees (the agent's own view of its starting point), then writes its file →
 * the run integrates every task branch into one branch.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { repoRoot, toolPath } from '../../src/tools';
import { createCliGitGateway } from '../../src/git/cli-gateway';
import { startGitServer, type GitServer } from '../support/git-server';
import { messageText, opencodeConfig, startScriptedModel, type ScenarioContext, type ScriptedModel, type Turn } from '../integration/support/scripted-model';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { agentPodTemplate, createAgentPodSecrets } from './support/agent-pod';
import { AGENT_IMAGE, eventually, runResult, runState, startE2eStack, startRun, temporalClient, timing, type E2eStack } from './support/stack';

const ENTRYPOINT = path.join(repoRoot, 'docker', 'agent-entrypoint.sh');
const GIT_TOKEN = `gtok-e2e-${randomBytes(8).toString('hex')}`;
const FEATURE = '002-calculator';
const REPO = 'calculator';

const TASKS_MD = `# Tasks: Calculator

## Phase 1: Setup

- [x] T001 Create the project skeleton
- [ ] T002 [SYNC] Review the operation names with the team

## Phase 2: Operations (ASYNC)

- [ ] T003 [P] Create the add operation in \`src/add.js\`
- [ ] T004 [P] Create the subtract operation in \`src/subtract.js\`
- [ ] T005 [P] Create the multiply operation in \`src/multiply.js\`
- [ ] T006 Export all operations from \`src/index.js\` (depends on T003-T005)

## Phase 3: Polish

- [ ] T007 [SYNC] Review numeric precision of T006 output (depends on T006)
- [ ] T008 [ASYNC] Document the operations in \`docs/operations.md\` (depends on T006)
`;

/** What each agent writes: one file per task. */
const TASK_FILES: Record<string, string> = {
  T003: 'src/add.js',
  T004: 'src/subtract.js',
  T005: 'src/multiply.js',
  T006: 'src/index.js',
  T008: 'docs/operations.md',
};

function taskOf(ctx: ScenarioContext): string {
  for (const m of ctx.request.messages) {
    const id = /## Task (T\d+)/.exec(messageText(m))?.[1];
    if (id) return id;
  }
  throw new Error('no task in the prompt');
}

/** Each conversation: list the files the agent sees, write the task's file, summarise. */
function scenario(ctx: ScenarioContext): Turn {
  const id = taskOf(ctx);
  const file = TASK_FILES[id]!;
  if (ctx.toolOutputs.length === 0) return { bash: { command: 'echo "FILES-SEEN-BY ' + id + '"; git ls-files | sort', description: 'List the files on this branch' } };
  if (ctx.toolOutputs.length === 1) {
    return { bash: { command: `mkdir -p "$(dirname ${file})" && printf '%s\\n' '// ${id}: written by its agent' > ${file} && ls ${file}`, description: `Write ${file}` } };
  }
  return { text: `Implemented ${id} in ${file}.` };
}

let stack: E2eStack;
let gitServer: GitServer;
let model: ScriptedModel;
let temporal: { client: Client; close(): Promise<void> };
let worker: WorkerProcess | undefined;
let hostFiles: string;
let workerToken: string;
const queue = `e2e-stack-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  const t0 = Date.now();
  const opencode = toolPath('opencode');
  temporal = await temporalClient();
  stack = await startE2eStack('stacking', { mountVolumes: true, imageCommands: { [AGENT_IMAGE]: ['/bin/sh', ENTRYPOINT] } });
  gitServer = await startGitServer({ token: GIT_TOKEN });
  gitServer.createRepo(REPO, {
    'README.md': '# Calculator\n',
    'package.json': '{ "name": "calculator" }\n',
    [`specs/${FEATURE}/spec.md`]: '# Spec\nA calculator library.\n',
    [`specs/${FEATURE}/plan.md`]: '# Plan\nOne module per operation, exported from src/index.js.\n',
    [`specs/${FEATURE}/tasks.md`]: TASKS_MD,
  });
  model = await startScriptedModel(scenario);
  await createAgentPodSecrets(stack.cluster.kubeconfigPath, stack.namespace, { gitToken: GIT_TOKEN, apiKey: 'not-a-secret', opencodeConfig: opencodeConfig(model.baseUrl) });
  hostFiles = mkdtempSync(path.join(stack.scratch, 'worker-'));
  const templateFile = path.join(hostFiles, 'pod-template.yaml');
  writeFileSync(templateFile, agentPodTemplate({ image: AGENT_IMAGE, opencodeBin: opencode, provider: { id: 'scripted', api: 'openai', baseURL: model.baseUrl } }));
  // The worker pushes the stacked starting points and the integration branch: a token with write access.
  workerToken = path.join(hostFiles, 'git-token');
  writeFileSync(workerToken, GIT_TOKEN, { mode: 0o400 });
  worker = await startWorkerProcess({
    env: { ...stack.workerEnv(queue, templateFile), SDLC_GIT_TOKEN_FILE: workerToken },
    logFile: path.join(stack.scratch, 'worker.log'),
  });
  timing('stacking: setup (cluster, kubelet, git server, model, worker)', Date.now() - t0);
}, 180_000);

afterAll(async () => {
  await worker?.kill();
  await temporal?.close();
  await stack?.stop();
  await model?.close();
  await gitServer?.stop();
  if (hostFiles) rmSync(hostFiles, { recursive: true, force: true });
});

/** The files an agent listed before it changed anything: its own view of its starting point. */
function filesSeenBy(id: string): string[] {
  const marker = `FILES-SEEN-BY ${id}`;
  for (const req of model.requests) {
    const out = req.messages.filter((m) => m.role === 'tool').map(messageText).find((t) => t.includes(marker));
    if (out) return out.split('\n').map((l) => l.trim()).filter((l) => l && !l.includes(marker));
  }
  throw new Error(`${id}'s agent never listed its files`);
}

it("dependants start from their dependencies' work (seen by the agent itself), and the feature comes back as one integrated branch", async () => {
  const base = gitServer.branchHead(REPO, 'main')!;
  const t0 = Date.now();
  const handle = await startRun(temporal.client, {
    taskQueue: queue,
    tasks: 0,
    markdown: TASKS_MD,
    feature: FEATURE,
    repo: { url: gitServer.url(REPO), baseBranch: 'main' },
    options: { maxParallel: 3, model: 'scripted/scripted-1', taskTimeoutSeconds: 180 },
  });
  const summary = await runResult(handle);
  timing('stacking: five tasks with the real agent, stacked and integrated (start → result)', Date.now() - t0);
  expect(summary.tasks.map((t) => [t.id, t.status, t.reason])).toEqual(['T003', 'T004', 'T005', 'T006', 'T008'].map((id) => [id, 'succeeded', undefined]));
  expect(summary.status).toBe('succeeded');
  const byId = Object.fromEntries(summary.tasks.map((t) => [t.id, t]));

  // The agents' own view: independent tasks see the base only; T006 sees T003–T005's modules; T008 sees all four.
  const baseFiles = ['README.md', 'package.json', `specs/${FEATURE}/plan.md`, `specs/${FEATURE}/spec.md`, `specs/${FEATURE}/tasks.md`];
  for (const id of ['T003', 'T004', 'T005']) expect(filesSeenBy(id)).toEqual(baseFiles);
  expect(filesSeenBy('T006')).toEqual(expect.arrayContaining([...baseFiles, 'src/add.js', 'src/subtract.js', 'src/multiply.js']));
  expect(filesSeenBy('T006')).not.toContain('src/index.js');
  expect(filesSeenBy('T008')).toEqual(expect.arrayContaining(['src/add.js', 'src/subtract.js', 'src/multiply.js', 'src/index.js']));
  expect(filesSeenBy('T008')).not.toContain('docs/operations.md');

  // T006's branch: the worker's merge of T003–T005 (fixed identity, explained), then the agent's commit.
  const t6 = byId.T006!;
  expect(t6.stackedOn).toEqual(['T003', 'T004', 'T005'].map((id) => ({ taskId: id, commit: byId[id]!.commit })));
  const t6Start = gitServer.git(REPO, 'rev-parse', `${t6.commit}^`);
  expect(gitServer.git(REPO, 'log', '-1', '--format=%an <%ae>%n%B', t6Start)).toMatch(/^sdlc-runner <sdlc-runner@users\.noreply\.invalid>\nStack T005 into T006: Create the multiply operation in `src\/multiply\.js`/);
  for (const id of ['T003', 'T004', 'T005']) expect(gitServer.git(REPO, 'merge-base', '--is-ancestor', byId[id]!.commit!, t6Start)).toBe('');
  // T008 has one dependency: its branch starts right at T006's commit (no merge commit needed).
  const t8 = byId.T008!;
  expect(gitServer.git(REPO, 'rev-parse', `${t8.commit}^`)).toBe(t6.commit);

  // The same inputs give the same starting commit: stacking T006 again (a retried activity) makes the very same merge.
  const state = await runState(handle);
  const git = createCliGitGateway({ tokenFile: workerToken });
  const again = await git.prepareTaskBranch({
    repoUrl: gitServer.url(REPO),
    baseBranch: 'main',
    branch: `specs/${FEATURE}/T006-replay`,
    taskId: 'T006',
    sources: ['T003', 'T004', 'T005'].map((id) => ({ taskId: id, title: byId[id]!.title, branch: byId[id]!.branch, commit: byId[id]!.commit })),
    timestamp: ['T003', 'T004', 'T005'].map((id) => state.tasks.find((t) => t.id === id)!.endedAt!).sort().pop()!,
  });
  expect(again).toMatchObject({ kind: 'ready', head: t6Start });

  // One integrated branch: every task's file, and a linear first-parent history naming each task.
  const integration = state.integration!;
  expect(integration).toMatchObject({ branch: `specs/${FEATURE}/integration`, status: 'integrated', skipped: [] });
  expect(integration.head).toBe(gitServer.branchHead(REPO, `specs/${FEATURE}/integration`));
  for (const file of Object.values(TASK_FILES)) expect(gitServer.readFile(REPO, integration.head!, file)).toMatch(/written by its agent/);
  expect(gitServer.git(REPO, 'log', '--first-parent', '--format=%s', `${base}..${integration.head}`).split('\n').reverse()).toEqual([
    'Integrate T003: Create the add operation in `src/add.js`',
    'Integrate T004: Create the subtract operation in `src/subtract.js`',
    'Integrate T005: Create the multiply operation in `src/multiply.js`',
    'Integrate T006: Export all operations from `src/index.js` (depends on T003-T005)',
    'Integrate T008: Document the operations in `docs/operations.md` (depends on T006)',
  ]);
  expect(worker!.output()).not.toContain(GIT_TOKEN);
  await eventually(async () => (await stack.pods()).length === 0, 'every agent pod deleted', 30_000);
}, 300_000);
