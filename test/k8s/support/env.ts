/**
 * The real control plane for the gateway tests: etcd + kube-apiserver (test/support/cluster) and
 * the process-backed test kubelet (test/support/kubelet), a namespace with the runner's
 * least-privilege ServiceAccount, and a pod template whose image runs a shell script from the
 * pod's env on this host. Missing binaries make startCluster throw — the tests fail, never skip.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { startCluster, createLeastPrivilegeAccess, type Cluster, type LeastPrivilegeAccess } from '../../support/cluster';
import { startKubelet, type TestKubelet, type StartKubeletOptions } from '../../support/kubelet';
import { createClientGateway, type ClientGateway } from '../../../src/k8s/client-gateway';
import { LABELS, type AgentPodRequest } from '../../../src/k8s/gateway';
import { podName } from '../../../src/k8s/names';
import { formatResultLine } from '../../../src/contract/result-line';

export const AGENT_IMAGE = 'sdlc-test/agent:1';
export const MISSING_IMAGE = 'sdlc-test/does-not-exist:1';

/** The agent "image" runs the script in AGENT_SCRIPT (per-task env) with sh. */
export const IMAGE_COMMANDS = {
  [AGENT_IMAGE]: ['/bin/sh', '-c', 'eval "$AGENT_SCRIPT"'],
  [MISSING_IMAGE]: ['/bin/sh', '-c', 'echo should never run'],
};

export const POD_TEMPLATE = `
apiVersion: v1
kind: Pod
metadata:
  labels:
    app.kubernetes.io/name: sdlc-agent
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: agent
      image: ${AGENT_IMAGE}
      env:
        - name: FROM_TEMPLATE
          value: "yes"
`;

export interface TestEnv {
  cluster: Cluster;
  kubelet: TestKubelet;
  access: LeastPrivilegeAccess;
  namespace: string;
  /** KubeConfig of the runner's least-privilege ServiceAccount. */
  saKubeConfig(): KubeConfig;
  gateway(opts?: { kubeConfig?: KubeConfig; podTemplate?: string }): ClientGateway;
  scratch: string;
  stop(): Promise<void>;
}

export async function startTestEnv(name: string, kubeletOpts: Partial<StartKubeletOptions> = {}): Promise<TestEnv> {
  const started = Date.now();
  const cluster = await startCluster();
  const gateways: ClientGateway[] = [];
  let kubelet: TestKubelet | undefined;
  try {
    kubelet = await startKubelet({ ...cluster.kubeletOptions(), imageCommands: IMAGE_COMMANDS, ...kubeletOpts });
    const namespace = `agents-${name}`;
    const access = await createLeastPrivilegeAccess(cluster, { namespace });
    const scratch = mkdtempSync(path.join(os.tmpdir(), `sdlc-k8s-${name}-`));
    // eslint-disable-next-line no-console
    console.log(`[k8s test env ${name}] cluster ${cluster.startupMs} ms, ready in ${Date.now() - started} ms`);
    const saKubeConfig = () => {
      const kc = new KubeConfig();
      kc.loadFromFile(access.kubeconfigPath);
      return kc;
    };
    return {
      cluster,
      kubelet,
      access,
      namespace,
      saKubeConfig,
      scratch,
      gateway(opts = {}) {
        const gw = createClientGateway({ namespace, kubeConfig: opts.kubeConfig ?? saKubeConfig(), podTemplate: opts.podTemplate ?? POD_TEMPLATE });
        gateways.push(gw);
        return gw;
      },
      async stop() {
        await Promise.all(gateways.map((g) => g.close()));
        await kubelet?.stop();
        await cluster.stop();
        rmSync(scratch, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await kubelet?.stop();
    await cluster.stop();
    throw err;
  }
}

let runSeq = 0;

/** A unique run id per call, so pods of different tests never share a name. */
/** The result line of an agent that succeeded (T001, one commit). */
export const RESULT = formatResultLine({ v: 1, status: 'succeeded', taskId: 'T001', branch: 'specs/001-x/T001', sha: 'a'.repeat(40), commits: 1 });

/** A shell loop an agent pod runs: prints `line 1` … `line <count>`, `sleep` seconds apart. */
export function numberedLines(count: number, sleep: number): string {
  return `i=1; while [ $i -le ${count} ]; do echo "line $i"; i=$((i+1)); sleep ${sleep}; done`;
}

export function newRunId(prefix = 'run'): string {
  return `${prefix}-${++runSeq}-${randomBytes(3).toString('hex')}`;
}

export function agentRequest(runId: string, taskId: string, script: string, extra: Partial<AgentPodRequest> = {}, attempt = 1): AgentPodRequest {
  return {
    name: podName(runId, taskId, attempt),
    labels: { [LABELS.run]: runId, [LABELS.task]: taskId, [LABELS.attempt]: String(attempt), ...(extra.labels ?? {}) },
    annotations: { 'sdlc-runner.dev/workflow-id': `wf-${runId}-${taskId}`, ...(extra.annotations ?? {}) },
    env: { SDLC_TASK_ID: taskId, AGENT_SCRIPT: script, ...(extra.env ?? {}) },
    activeDeadlineSeconds: extra.activeDeadlineSeconds ?? 300,
  };
}
