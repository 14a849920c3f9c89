/**
 * The whole chain on real containers: `implementFeature` (Temporal client) → the production worker process →
 * agent pods on the real kube-apiserver → the test kubelet's podman backend runs them as containers of the BUILT
 * agent image (localhost/sdlc-runner/agent:dev) with the chart's hardening (uids, read-only root, no
 * capabilities, the memory limits) → the image's own opencode against the scripted model → push to the git
 * server (support/real-agent-stack.ts, runtime 'podman').
 *
 * Three tasks at once. T002's first pod is OOM-killed for real: the scripted model makes its agent run a bash
 * tool that allocates past the agent container's memory limit, the kernel kills it, the kubelet reports the
 * container OOMKilled, and the workflow's infrastructure policy (retry.infraRetries) gives the task a new pod,
 * whose conversation the model scripts as a normal success. Fails loudly without podman or the image.
 */
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { WorkflowHandle } from '@temporalio/client';
import { podman } from '../support/kubelet/podman';
import { startWatchLoop, type WatchLoop } from '../support/cluster/watch-loop';
import { SCRIPTED_MODEL_ID, type Turn } from '../support/model-server';
import { startRealAgentStack, type RealAgentStack } from './support/real-agent-stack';
import { eventually, runResult, runState, startRun, timing } from './support/stack';

const FEATURE = '001-parts';
const REPO = 'parts';
const TASKS = ['T001', 'T002', 'T003'];
/** The agent container's limit here (the chart's is 4Gi): what the memory hog runs into. */
const AGENT_MEMORY = '768Mi';
const HOG = 'node -e "const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))"';

const writesPart = (id: string): Turn[] => [
  { toolCalls: [{ name: 'write', args: { filePath: `src/${id.toLowerCase()}.txt`, content: `part ${id}\n` } }] },
  { text: `Wrote src/${id.toLowerCase()}.txt.` },
];

let real: RealAgentStack;

beforeAll(async () => {
  real = await startRealAgentStack('containers', {
    runtime: 'podman',
    agentMemory: AGENT_MEMORY,
    repo: REPO,
    files: {
      'README.md': '# Parts\n',
      [`specs/${FEATURE}/spec.md`]: '# Spec\nThree parts.\n',
      [`specs/${FEATURE}/tasks.md`]: '# Tasks\n',
    },
    scenario: {
      turns: [],
      usage: { prompt: 1000, completion: 200 },
      tasks: {
        T001: [writesPart('T001')],
        // First pod: the hog (OOM-killed), then whatever the agent asks next ends its conversation. Second pod: the part.
        T002: [[{ toolCalls: [{ name: 'bash', args: { command: HOG, description: 'Allocate memory' } }] }, { text: 'The command was killed.' }], writesPart('T002')],
        T003: [writesPart('T003')],
      },
    },
  });
}, 180_000);

afterAll(async () => {
  await real?.stop();
});

it('three tasks as real containers: T002\'s first pod is OOM-killed (OOMKilled in its status and the task\'s record), retried by the infrastructure policy, and the run succeeds with every branch pushed and no pod left', async () => {
  const { gitServer, model, stack } = real;
  const base = gitServer.branchHead(REPO, 'main');

  // Every container end the kubelet reported, per pod (the pods are deleted once the workflow is done with them).
  const kc = new KubeConfig();
  kc.loadFromFile(stack.cluster.kubeconfigPath);
  const ends = new Map<string, { task: string; container: string; reason?: string; exitCode?: number }[]>();
  const record = (pod: V1Pod) => {
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    const task = pod.metadata?.labels?.['sdlc-runner.dev/task'] ?? '';
    ends.set(pod.metadata!.name!, statuses.filter((s) => s.state?.terminated).map((s) => ({ task, container: s.name, reason: s.state!.terminated!.reason, exitCode: s.state!.terminated!.exitCode })));
  };
  const watch: WatchLoop = startWatchLoop<V1Pod>({
    kubeConfig: kc,
    path: `/api/v1/namespaces/${stack.namespace}/pods`,
    list: () => stack.pods().then((items) => ({ items, metadata: {} })),
    onSync: (items) => items.forEach(record),
    onEvent: (type, pod) => type !== 'DELETED' && record(pod),
  });
  await watch.synced;

  const t0 = Date.now();
  let handle: WorkflowHandle | undefined;
  try {
    handle = await startRun(real.temporal.client, {
      taskQueue: real.queue,
      tasks: 3,
      feature: FEATURE,
      repo: { url: gitServer.url(REPO), baseBranch: 'main' },
      markdown: `# Tasks\n\n## Phase 1\n\n${TASKS.map((id) => `- [ ] ${id} [ASYNC] Write part ${id}`).join('\n')}\n`,
      options: { maxParallel: 3, model: `scripted/${SCRIPTED_MODEL_ID}`, taskTimeoutSeconds: 120, retry: { infraRetries: 1, agentRetries: 0 } },
    });
    // While it runs, the task's record says why its pod was replaced.
    const replaced = await eventually(async () => (await runState(handle!)).tasks.find((t) => t.id === 'T002' && (t.infraRetries ?? 0) > 0), 'T002 to get a new pod', 90_000, 250);
    const summary = await runResult(handle);
    timing('containers: three real-agent tasks as containers, one OOM-killed and retried (start → result)', Date.now() - t0);

    expect(replaced.reason).toMatch(/^infrastructure retry 1 after: the agent container was OOM-killed/);
    expect(summary.status).toBe('succeeded');
    expect(summary.tasks.map((t) => [t.id, t.status, t.attempt])).toEqual(TASKS.map((id) => [id, 'succeeded', 1]));
    for (const t of summary.tasks) {
      // Every branch pushed: the verified commit is the branch head, one commit on main, with the task's file.
      const head = gitServer.branchHead(REPO, t.branch);
      expect(t.commit).toBe(head);
      expect(gitServer.git(REPO, 'rev-parse', `${head}^`)).toBe(base);
      expect(gitServer.readFile(REPO, head!, `src/${t.id.toLowerCase()}.txt`)).toBe(`part ${t.id}\n`);
    }
    expect(summary.tasks.find((t) => t.id === 'T002')?.infraRetries).toBe(1);
    // T002 talked to the model from two pods, the others from one.
    expect(TASKS.map((id) => model.conversations(id))).toEqual([1, 2, 1]);

    // The kubelet's report of the OOM pod: its agent container OOMKilled. Exactly one such pod, T002's first.
    const oomPods = [...ends].filter(([, cs]) => cs.some((c) => c.reason === 'OOMKilled'));
    expect(oomPods.map(([, cs]) => cs.filter((c) => c.reason === 'OOMKilled').map((c) => [c.task.toUpperCase(), c.container]))).toEqual([[['T002', 'agent']]]);
    const [oomPod] = oomPods[0]!;
    expect(oomPod).not.toBe(summary.tasks.find((t) => t.id === 'T002')!.podName);
    expect(ends.size).toBe(4);

    // No pod left: not in the API, not in podman.
    await eventually(async () => (await stack.pods()).length === 0, 'every agent pod to be deleted', 30_000);
    const left = async () => (await podman(['ps', '--all', '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => n.includes(`-${stack.namespace}-`));
    await eventually(async () => (await left()).length === 0, 'every container to be removed', 30_000);
  } finally {
    watch.stop();
  }
}, 240_000);
