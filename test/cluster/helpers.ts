/** Small helpers for the control-plane tests: kubectl as a user runs it, and pod polling through the API. */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig, type V1EnvVar, type V1Pod } from '@kubernetes/client-node';
import { toolPath } from '../../src/tools';
import { createNamespace, startCluster, type Cluster } from '../support/cluster';
import { startKubelet, type StartKubeletOptions, type TestKubelet } from '../support/kubelet';

export interface KubeletTestEnv {
  cluster: Cluster;
  kubelet: TestKubelet;
  api: CoreV1Api;
  /** A temp dir of the test file's own, removed by stop(). */
  scratch: string;
  stop(): Promise<void>;
}

/** A control plane, a test kubelet on it and a namespace: what each kubelet test file starts in its beforeAll. */
export async function startKubeletTestEnv(namespace: string, kubeletOptions: Partial<StartKubeletOptions> = {}): Promise<KubeletTestEnv> {
  const cluster = await startCluster();
  const kubelet = await startKubelet({ ...cluster.kubeletOptions(), ...kubeletOptions });
  await createNamespace(cluster, namespace);
  const scratch = mkdtempSync(path.join(os.tmpdir(), `${namespace}-`));
  return {
    cluster,
    kubelet,
    api: coreApi(cluster.kubeconfigPath),
    scratch,
    async stop() {
      await kubelet.stop();
      await cluster.stop();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs .tools/bin/kubectl with KUBECONFIG set; never throws on a non-zero exit (tests assert on it). */
export function kubectl(kubeconfig: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolve) => {
    execFile(
      toolPath('kubectl'),
      args,
      { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** `kubectl logs -f`-style streaming: resolves when kubectl exits, with every stdout line. */
export function kubectlStream(kubeconfig: string, args: string[]): { lines: string[]; done: Promise<KubectlResult> } {
  const lines: string[] = [];
  const child = spawn(toolPath('kubectl'), args, { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<KubectlResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
  return { lines, done };
}

export function coreApi(kubeconfigPath: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc.makeApiClient(CoreV1Api);
}

export async function readPod(api: CoreV1Api, namespace: string, name: string): Promise<V1Pod | undefined> {
  try {
    return await api.readNamespacedPod({ namespace, name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** Polls until `until(pod)` holds; throws with the last seen pod after timeoutMs. */
export async function waitForPod(
  api: CoreV1Api,
  namespace: string,
  name: string,
  until: (pod: V1Pod | undefined) => boolean,
  timeoutMs = 30_000,
): Promise<V1Pod | undefined> {
  const deadline = Date.now() + timeoutMs;
  let pod: V1Pod | undefined;
  for (;;) {
    pod = await readPod(api, namespace, name);
    if (until(pod)) return pod;
    if (Date.now() > deadline) throw new Error(`pod ${namespace}/${name}: condition not met in ${timeoutMs} ms; last: ${JSON.stringify(pod?.status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const phaseIs =
  (...phases: string[]) =>
  (pod: V1Pod | undefined): boolean =>
    !!pod?.status?.phase && phases.includes(pod.status.phase);

/** A single-container pod that runs `bash -c script`. */
export function bashPod(name: string, script: string, extra: { nodeName?: string; activeDeadlineSeconds?: number; terminationGracePeriodSeconds?: number; image?: string; env?: V1EnvVar[] } = {}): V1Pod {
  return {
    metadata: { name, labels: { test: 'cluster' } },
    spec: {
      restartPolicy: 'Never',
      ...(extra.nodeName ? { nodeName: extra.nodeName } : {}),
      ...(extra.activeDeadlineSeconds ? { activeDeadlineSeconds: extra.activeDeadlineSeconds } : {}),
      ...(extra.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: extra.terminationGracePeriodSeconds } : {}),
      automountServiceAccountToken: false,
      containers: [{ name: 'main', image: extra.image ?? 'docker.io/library/bash:5', command: ['bash', '-c', script], ...(extra.env ? { env: extra.env } : {}) }],
    },
  };
}
