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
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { repoRoot, toolPath } from '../../../src/tools';
import { startGitServer, type GitServer } from '../../support/git-server';
import { scriptedProviderConfig, startModelServer, type ModelServer, type Scenario } from '../../support/model-server';
import { parseEntries } from '../../../src/egress/allowlist';
import type { LogRecord } from '../../../src/egress/log';
import { startEgressProxy, type EgressProxy } from '../../../src/egress/proxy';
import { deniedRanges } from '../../../src/egress/ranges';
import { POD_NETWORK_HOST_IP } from '../../support/kubelet';
import { startWorkerProcess, type WorkerProcess } from './worker-process';
import { agentPodTemplate, createAgentPodSecrets } from './agent-pod';
import { AGENT_IMAGE, startE2eStack, temporalClient, timing, type E2eStack } from './stack';

const ENTRYPOINT = path.join(repoRoot, 'docker', 'agent-entrypoint.sh');
/** Where the stand-ins for internet hosts listen: not the pods' loopback, so only the proxy reaches them. */
export const INTERNET_HOST = '127.0.0.2';

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

export async function startRealAgentStack(name: string, o: { repo: string; files: Record<string, string>; scenario: Scenario }): Promise<RealAgentStack> {
  const t0 = Date.now();
  // Fail loudly, never skip, when a piece of the agent is missing.
  const opencode = toolPath('opencode');
  const gitToken = `gtok-e2e-${randomBytes(8).toString('hex')}`;
  const modelKey = `sk-e2e-${randomBytes(8).toString('hex')}`;
  const queue = `e2e-${name}-${randomBytes(4).toString('hex')}`;
  const temporal = await temporalClient();
  const stack = await startE2eStack(name, { mountVolumes: true, isolateNetwork: true, imageCommands: { [AGENT_IMAGE]: ['/bin/sh', ENTRYPOINT] } });
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
  writeFileSync(templateFile, agentPodTemplate({ image: AGENT_IMAGE, opencodeBin: opencode, provider: { id: 'scripted', api: 'openai', baseURL: model.baseURL }, pricing: { '*': { input: 3, output: 15 } } }));
  const workerToken = path.join(hostFiles, 'git-read-token');
  writeFileSync(workerToken, gitToken, { mode: 0o400 });
  const ticketKeyFile = path.join(hostFiles, 'egress-ticket-keys');
  writeFileSync(ticketKeyFile, `${ticketKey}\n`, { mode: 0o400 });
  const worker = await startWorkerProcess({
    env: {
      ...stack.workerEnv(queue, templateFile),
      SDLC_GIT_TOKEN_FILE: workerToken,
      SDLC_ALLOWED_GIT_HOSTS: `http://${INTERNET_HOST}:*`,
      SDLC_EGRESS_PROXY: `${POD_NETWORK_HOST_IP}:${proxy.port}`,
      SDLC_EGRESS_TICKET_KEY_FILE: ticketKeyFile,
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
