/**
 * The whole chain with the REAL agent, as the chart configures it: the production worker process, agent
 * pods on the real kube-apiserver run by the test kubelet with the very docker/agent-entrypoint.sh the
 * image runs (four containers: the model gateway sidecar, checkout, agent, publish, each its own uid), the
 * real `opencode` against a scripted model, an authenticated git server. The git token and the provider
 * key reach the pod only as Secrets (mounted in checkout/publish and in the gateway, never in the agent).
 *
 * Egress as the chart's proxy mode: each pod runs in a network namespace of its own (the test kubelet's
 * isolateNetwork) whose only way out is the egress proxy (the real one, in this process, on
 * POD_NETWORK_HOST_IP); the git server and the model stand for internet hosts on 127.0.0.2, which the
 * pod reaches only through the proxy, with the ticket the worker signed for the attempt.
 *
 * `runtime: 'podman'`: the pods run as real containers of the BUILT agent image (localhost/sdlc-runner/agent:dev,
 * `npm run images`) on the kubelet's container backend (test/support/kubelet/podman.ts), each container with the
 * chart's hardening (withChartContainerSecurity: its uid, read-only root, no capabilities, no privilege
 * escalation, its /tmp emptyDir, the chart's memory limits) and the image's own opencode. The pods share the
 * host's network there, so there is no egress proxy: they reach the git server and the model directly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import { repoRoot, toolPath } from '../../../src/tools';
import { startGitServer, type GitServer } from '../../support/git-server';
import { scriptedProviderConfig, startModelServer, type ModelServer, type Scenario } from '../../support/model-server';
import { parseEntries } from '../../../src/egress/allowlist';
import type { LogRecord } from '../../../src/egress/log';
import { startEgressProxy, type EgressProxy } from '../../../src/egress/proxy';
import { deniedRanges } from '../../../src/egress/ranges';
import { POD_NETWORK_HOST_IP } from '../../support/kubelet';
import { requirePodmanImages } from '../../support/kubelet/podman';
import { startWorkerProcess, type WorkerProcess } from './worker-process';
import { agentPodTemplate, createAgentPodSecrets } from './agent-pod';
import { AGENT_IMAGE, startE2eStack, temporalClient, timing, type E2eStack } from './stack';

const ENTRYPOINT = path.join(repoRoot, 'docker', 'agent-entrypoint.sh');
/** Where the stand-ins for internet hosts listen: not the pods' loopback, so only the proxy reaches them. */
export const INTERNET_HOST = '127.0.0.2';
/** The built agent image (`npm run images`), run by the kubelet's podman backend. */
export const BUILT_AGENT_IMAGE = 'localhost/sdlc-runner/agent:dev';
/** The image's own opencode (docker/Dockerfile.opencode's OPENCODE_BIN). */
const IMAGE_OPENCODE = '/usr/local/lib/node_modules/opencode-linux-x64/bin/opencode';

/**
 * The chart's per-container settings (charts/.../_agent-pod.tpl: agentContainerSecurity, the /tmp emptyDirs and
 * HOME=/tmp of checkout, publish and the gateway, the values' memory limits) applied to agent-pod.ts's template,
 * for a runtime that enforces them. `agentMemory`: the agent container's limit (the chart's default 4Gi).
 */
export function withChartContainerSecurity(template: string, o: { agentMemory?: string } = {}): string {
  const pod = YAML.parse(template) as V1Pod;
  const spec = pod.spec!;
  const tmpOf: Record<string, string> = { agent: 'tmp', checkout: 'phase-tmp', publish: 'phase-tmp', gateway: 'gateway-tmp' };
  const memory: Record<string, string> = { agent: o.agentMemory ?? '4Gi', checkout: '1Gi', publish: '1Gi', gateway: '256Mi' };
  for (const c of [...(spec.initContainers ?? []), ...spec.containers] as V1Container[]) {
    const uid = c.securityContext?.runAsUser;
    c.securityContext = {
      runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, privileged: false, allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    };
    c.resources = { limits: { memory: memory[c.name]! } };
    c.volumeMounts = [...(c.volumeMounts ?? []), { name: tmpOf[c.name]!, mountPath: '/tmp' }];
    if (c.name !== 'agent' && !c.env?.some((e) => e.name === 'HOME')) c.env = [{ name: 'HOME', value: '/tmp' }, ...(c.env ?? [])];
  }
  spec.volumes = [...(spec.volumes ?? []), ...['tmp', 'phase-tmp', 'gateway-tmp'].map((name) => ({ name, emptyDir: {} }))];
  return YAML.stringify(pod);
}

export interface RealAgentStack {
  stack: E2eStack;
  gitServer: GitServer;
  model: ModelServer;
  temporal: { client: Client; close(): Promise<void> };
  worker: WorkerProcess;
  queue: string;
  /** The egress proxy's connection log (one record per request or tunnel, as the proxy prints it). */
  egressLog: LogRecord[];
  gitToken: string;
  modelKey: string;
  stop(): Promise<void>;
}

export async function startRealAgentStack(
  name: string,
  o: { repo: string; files: Record<string, string>; scenario: Scenario; runtime?: 'process' | 'podman'; agentMemory?: string },
): Promise<RealAgentStack> {
  const t0 = Date.now();
  const containers = o.runtime === 'podman';
  // Fail loudly, never skip, when a piece of the agent is missing.
  if (containers) await requirePodmanImages([BUILT_AGENT_IMAGE]);
  const opencode = containers ? IMAGE_OPENCODE : toolPath('opencode');
  const gitToken = `gtok-e2e-${randomBytes(8).toString('hex')}`;
  const modelKey = `sk-e2e-${randomBytes(8).toString('hex')}`;
  const queue = `e2e-${name}-${randomBytes(4).toString('hex')}`;
  const temporal = await temporalClient();
  const stack = await startE2eStack(name, containers ? { runtime: 'podman' } : { mountVolumes: true, isolateNetwork: true, imageCommands: { [AGENT_IMAGE]: ['/bin/sh', ENTRYPOINT] } });
  const gitServer = await startGitServer({ token: gitToken, host: INTERNET_HOST });
  gitServer.createRepo(o.repo, o.files);
  const model = await startModelServer(o.scenario, INTERNET_HOST);
  // Always allowed, as the chart derives them: the git host and the model provider.
  const egressLog: LogRecord[] = [];
  const ticketKey = randomBytes(32).toString('hex');
  const proxy: EgressProxy = await startEgressProxy({
    host: '0.0.0.0',
    port: 0,
    keys: [Buffer.from(ticketKey)],
    alwaysAllow: parseEntries([new URL(gitServer.url(o.repo)).host, new URL(model.baseURL).host]),
    denied: deniedRanges({ allowLoopback: true }),
    log: (r) => egressLog.push(r),
  });
  await createAgentPodSecrets(stack.cluster.kubeconfigPath, stack.namespace, { gitToken, apiKey: modelKey, opencodeConfig: scriptedProviderConfig(model.baseURL) });

  // Files for the worker process, which runs beside the kubelet (not in a pod).
  const hostFiles = mkdtempSync(path.join(stack.scratch, 'worker-'));
  const templateFile = path.join(hostFiles, 'pod-template.yaml');
  const template = agentPodTemplate({ image: containers ? BUILT_AGENT_IMAGE : AGENT_IMAGE, opencodeBin: opencode, provider: { id: 'scripted', api: 'openai', baseURL: model.baseURL }, pricing: { '*': { input: 3, output: 15 } } });
  writeFileSync(templateFile, containers ? withChartContainerSecurity(template, { agentMemory: o.agentMemory }) : template);
  const workerToken = path.join(hostFiles, 'git-read-token');
  writeFileSync(workerToken, gitToken, { mode: 0o400 });
  const ticketKeyFile = path.join(hostFiles, 'egress-ticket-keys');
  writeFileSync(ticketKeyFile, `${ticketKey}\n`, { mode: 0o400 });
  const worker = await startWorkerProcess({
    env: {
      ...stack.workerEnv(queue, templateFile),
      SDLC_GIT_TOKEN_FILE: workerToken,
      SDLC_ALLOWED_GIT_HOSTS: `http://${INTERNET_HOST}:*`,
      // The podman backend's pods share the host's network: no proxy between them and the servers.
      ...(containers ? {} : { SDLC_EGRESS_PROXY: `${POD_NETWORK_HOST_IP}:${proxy.port}`, SDLC_EGRESS_TICKET_KEY_FILE: ticketKeyFile }),
    },
    logFile: path.join(stack.scratch, 'worker.log'),
  });
  timing(`${name}: setup (cluster, kubelet, git server, model server, egress proxy, worker)`, Date.now() - t0);
  return {
    stack,
    gitServer,
    model,
    temporal,
    worker,
    queue,
    egressLog,
    gitToken,
    modelKey,
    async stop() {
      await worker.kill();
      await temporal.close();
      await stack.stop();
      await proxy.close(0);
      await model.stop();
      await gitServer.stop();
      rmSync(hostFiles, { recursive: true, force: true });
    },
  };
}
