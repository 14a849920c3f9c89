/**
 * Issue 4's last check, the whole chain with the REAL agent: `implementFeature` (Temporal client) →
 * production worker process → agent pod on the real kube-apiserver → the test kubelet runs the very
 * docker/agent-entrypoint.sh the image runs → the real `opencode` binary against the scripted model
 * server → commit and push to the authenticated git server → the workflow's branch verification
 * (`git ls-remote` with the worker's own read token) agrees with the agent's result line.
 *
 * The agent pod is configured as the chart configures it (support/real-agent-stack.ts).
 */
import type { WorkflowHandle } from '@temporalio/client';
import { SCRIPTED_MODEL_ID } from '../support/model-server';
import { startRealAgentStack, type RealAgentStack } from './support/real-agent-stack';
import { execFile } from 'node:child_process';
import { getRunStateQuery } from '../../workflows/definitions';
import { eventually, runResult, startRun, temporalTarget, timing } from './support/stack';

const FEATURE = '001-greeting';

/** The built CLI, run without blocking this process (its servers answer the CLI). */
function cli(bin: string, args: string[], opts: { encoding: 'utf8'; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { ...opts, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}
const REPO = 'greeting';

let real: RealAgentStack;

beforeAll(async () => {
  real = await startRealAgentStack('agent-chain', {
    repo: REPO,
    files: {
      'README.md': '# Greeting service\n',
      'src/greeting.txt': 'hello\n',
      [`specs/${FEATURE}/spec.md`]: '# Spec\nThe service greets people.\n',
      [`specs/${FEATURE}/plan.md`]: '# Plan\nPlain text files.\n',
      [`specs/${FEATURE}/tasks.md`]: '# Tasks\n\n## Phase 1\n\n- [ ] T001 [ASYNC] Write the welcome file\n',
    },
    scenario: {
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome, friend!\n' } }] },
        { text: 'Created welcome.txt.' },
      ],
      usage: { prompt: 1000, completion: 200 },
    },
  });
}, 180_000);

afterAll(async () => {
  await real?.stop();
});

it('implementFeature → agent pod → real opencode + scripted model → push to the git server: the verified commit is the branch head and holds the agent\'s file', async () => {
  const { gitServer, model, worker, stack } = real;
  const base = gitServer.branchHead(REPO, 'main');
  const t0 = Date.now();
  const handle: WorkflowHandle = await startRun(real.temporal.client, {
    taskQueue: real.queue,
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
  expect(model.requests.filter((r) => !r.title).every((r) => r.authorization === `Bearer ${real.modelKey}`)).toBe(true);
  expect(gitServer.requests.some((r) => r.authorized && r.url.includes('git-receive-pack'))).toBe(true);
  expect(worker.output()).not.toContain(real.gitToken);
  await eventually(async () => (await stack.pods()).length === 0, 'the agent pod to be deleted', 30_000);

  // The pod is gone; its log is not (issue 11): `sdlc-runner logs` reads it from the repository, every line
  // the follower saw exactly once, as the user's own git (here: its credentials in GIT_CONFIG_*) fetches it.
  const { address, namespace } = temporalTarget();
  const userGit = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`me:${real.gitToken}`).toString('base64')}` };
  // Not spawnSync: the git server answers from this very process.
  const logs = await cli(process.execPath, ['dist/src/cli/main.js', 'logs', handle.workflowId, '--address', address, '--namespace', namespace, '--kubeconfig', stack.cluster.kubeconfigPath, '--k8s-namespace', stack.namespace], { encoding: 'utf8', env: { ...process.env, ...userGit } });
  expect({ code: logs.code, stderr: logs.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('1 pod is gone: their lines come from the log archive refs/sdlc-runner/logs/') });
  const lines = logs.stdout.split('\n').filter(Boolean);
  const followed = (await handle.query(getRunStateQuery)).tasks[0]!.logLines;
  expect(lines.filter((l) => !l.startsWith('[T001] '))).toEqual([]);
  expect(lines.length).toBe(followed);
  expect(new Set(lines).size).toBe(lines.length);
  expect(lines.filter((l) => l.includes('assistant: Created welcome.txt.'))).toHaveLength(1);
  expect(lines.at(-1)).toMatch(/^\[T001\] ::sdlc-result::\{.*"status":"succeeded"/);
  // The transcript is where the docs say: next to log.txt in the pod's archive ref.
  const refs = gitServer.git(REPO, 'for-each-ref', '--format=%(refname)', 'refs/sdlc-runner/logs/');
  expect(refs.split('\n')).toHaveLength(1);
  expect(refs).toMatch(new RegExp(`^refs/sdlc-runner/logs/${handle.workflowId}/[0-9a-f-]{36}/${task.podName}$`));
  expect(gitServer.git(REPO, 'show', `${refs}:transcript.jsonl`)).toContain('Created welcome.txt.');
  expect(gitServer.git(REPO, 'show', `${refs}:log.txt`)).not.toContain(real.gitToken);
  // The summary says where the logs stay.
  const status = await cli(process.execPath, ['dist/src/cli/main.js', 'watch', handle.workflowId, '--address', address, '--namespace', namespace], { encoding: 'utf8' });
  expect(status.stdout).toContain(`agent logs: sdlc-runner logs ${handle.workflowId} (kept after the pods are gone in ${gitServer.url(REPO)} under refs/sdlc-runner/logs/${handle.workflowId}/)`);
}, 240_000);
