/**
 * Issue 4's last check, the whole chain with the REAL agent: `implementFeature` (Temporal client) →
 * production worker process → agent pod on the real kube-apiserver → the test kubelet runs the very
 * docker/agent-entrypoint.sh the image runs → the real `opencode` binary against the scripted model
 * server → commit and push to the authenticated git server → the workflow's branch verification
 * (`git ls-remote` with the worker's own read token) agrees with the agent's result line.
 *
 * The agent pod is configured as the chart configures it: the git token, the provider key and the
 * OpenCode provider config come from a Secret and a ConfigMap (secretKeyRef, secret/configMap
 * volumes, emptyDirs for /workspace and /home/agent), which the kubelet materialises (mountVolumes).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { repoRoot, toolPath } from '../../src/tools';
import { startGitServer, type GitServer } from '../support/git-server';
import { scriptedProviderConfig, SCRIPTED_MODEL_ID, startModelServer, type ModelServer } from '../support/model-server';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { agentPodTemplate, createAgentPodSecrets } from './support/agent-pod';
import { AGENT_IMAGE, eventually, runResult, startE2eStack, startRun, temporalClient, timing, type E2eStack } from './support/stack';

const ENTRYPOINT = path.join(repoRoot, 'docker', 'agent-entrypoint.sh');
const GIT_TOKEN = `gtok-e2e-${randomBytes(8).toString('hex')}`;
const MODEL_KEY = `sk-e2e-${randomBytes(8).toString('hex')}`;
const FEATURE = '001-greeting';
const REPO = 'greeting';

let stack: E2eStack;
let gitServer: GitServer;
let model: ModelServer;
let temporal: { client: Client; close(): Promise<void> };
let worker: WorkerProcess | undefined;
let hostFiles: string;
const queue = `e2e-agent-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  const t0 = Date.now();
  // Fail loudly, never skip, when a piece of the agent is missing.
  const opencode = toolPath('opencode');
  temporal = await temporalClient();
  stack = await startE2eStack('agent', { mountVolumes: true, imageCommands: { [AGENT_IMAGE]: ['/bin/sh', ENTRYPOINT] } });
  gitServer = await startGitServer({ token: GIT_TOKEN });
  gitServer.createRepo(REPO, {
    'README.md': '# Greeting service\n',
    'src/greeting.txt': 'hello\n',
    [`specs/${FEATURE}/spec.md`]: '# Spec\nThe service greets people.\n',
    [`specs/${FEATURE}/plan.md`]: '# Plan\nPlain text files.\n',
    [`specs/${FEATURE}/tasks.md`]: '# Tasks\n\n## Phase 1\n\n- [ ] T001 [ASYNC] Write the welcome file\n',
  });
  model = await startModelServer({
    turns: [
      { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome, friend!\n' } }] },
      { text: 'Created welcome.txt.' },
    ],
    usage: { prompt: 1000, completion: 200 },
  });

  await createAgentPodSecrets(stack.cluster.kubeconfigPath, stack.namespace, {
    gitToken: GIT_TOKEN,
    apiKey: MODEL_KEY,
    opencodeConfig: scriptedProviderConfig(model.baseURL),
  });

  // Files for the worker process, which runs beside the kubelet (not in a pod).
  hostFiles = mkdtempSync(path.join(stack.scratch, 'worker-'));
  const templateFile = path.join(hostFiles, 'pod-template.yaml');
  writeFileSync(templateFile, agentPodTemplate({ image: AGENT_IMAGE, opencodeBin: opencode, provider: { id: 'scripted', api: 'openai', baseURL: model.baseURL }, pricing: { '*': { input: 3, output: 15 } } }));
  const workerToken = path.join(hostFiles, 'git-read-token');
  writeFileSync(workerToken, GIT_TOKEN, { mode: 0o400 });
  worker = await startWorkerProcess({
    env: { ...stack.workerEnv(queue, templateFile), SDLC_GIT_TOKEN_FILE: workerToken },
    logFile: path.join(stack.scratch, 'worker.log'),
  });
  timing('agent-chain: setup (cluster, kubelet, git server, model server, worker)', Date.now() - t0);
}, 180_000);

afterAll(async () => {
  await worker?.kill();
  await temporal?.close();
  await stack?.stop();
  await model?.stop();
  await gitServer?.stop();
  if (hostFiles) rmSync(hostFiles, { recursive: true, force: true });
});

it('implementFeature → agent pod → real opencode + scripted model → push to the git server: the verified commit is the branch head and holds the agent\'s file', async () => {
  const base = gitServer.branchHead(REPO, 'main');
  const t0 = Date.now();
  const handle = await startRun(temporal.client, {
    taskQueue: queue,
    tasks: 1,
    feature: FEATURE,
    repo: { url: gitServer.url(REPO), baseBranch: 'main' },
    options: { maxParallel: 1, model: `scripted/${SCRIPTED_MODEL_ID}`, taskTimeoutSeconds: 180 },
  });
  const summary = await runResult(handle);
  timing('agent-chain: one task with the real agent (start → result)', Date.now() - t0);

  const task = summary.tasks[0]!;
  expect([task.id, task.status, task.reason, task.lastLines]).toEqual(['T001', 'succeeded', undefined, undefined]);
  expect(summary.status).toBe('succeeded');
  // The workflow's verified commit is the git server's branch head, one commit on top of main, with the agent's file.
  const head = gitServer.branchHead(REPO, task.branch);
  expect(task.branch).toBe(`specs/${FEATURE}/T001-async`);
  expect(task.commit).toBe(head);
  expect(gitServer.git(REPO, 'rev-parse', `${head}^`)).toBe(base);
  expect(gitServer.readFile(REPO, head!, 'welcome.txt')).toBe('Welcome, friend!\n');
  expect(gitServer.git(REPO, 'log', '-1', '--format=%an <%ae>', head!)).toBe('SDLC Agent <agent@sdlc.test>');
  // Tokens and cost as the pod's model gateway counted them (its pricing table) travelled through the result line into the run state.
  expect(task.tokens).toMatchObject({ input: 2000, output: 400 });
  expect(task.cost).toBeCloseTo((2000 * 3 + 400 * 15) / 1e6, 8);
  // The provider key reached the model from the Secret; the push went through the token-authenticated git server.
  expect(model.requests.filter((r) => !r.title).every((r) => r.authorization === `Bearer ${MODEL_KEY}`)).toBe(true);
  expect(gitServer.requests.some((r) => r.authorized && r.url.includes('git-receive-pack'))).toBe(true);
  expect(worker!.output()).not.toContain(GIT_TOKEN);
  await eventually(async () => (await stack.pods()).length === 0, 'the agent pod to be deleted', 30_000);
}, 240_000);
