/**
 * The test kubelet's Node object: registered with the node's own credentials (NodeRestriction lets
 * a node create and update only itself), InternalIP 127.0.0.1, the log endpoint's port, capacity,
 * and a Ready condition that the nodeNotReady fault flips.
 */
import os from 'node:os';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1NodeStatus } from '@kubernetes/client-node';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export const KUBELET_VERSION = 'v1.35.4-testkubelet';

export interface NodeReadiness {
  ready: boolean;
  message?: string;
}

export function nodeStatus(kubeletPort: number, readiness: NodeReadiness, since: Date): V1NodeStatus {
  const now = new Date();
  const pressure = (type: string, reason: string) => ({ type, status: 'False', reason, lastHeartbeatTime: now, lastTransitionTime: since });
  return {
    addresses: [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'Hostname', address: os.hostname() },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
    capacity: { cpu: '8', memory: '16Gi', pods: '250', 'ephemeral-storage': '100Gi' },
    allocatable: { cpu: '8', memory: '16Gi', pods: '250', 'ephemeral-storage': '100Gi' },
    conditions: [
      pressure('MemoryPressure', 'KubeletHasSufficientMemory'),
      pressure('DiskPressure', 'KubeletHasNoDiskPressure'),
      pressure('PIDPressure', 'KubeletHasSufficientPID'),
      {
        type: 'Ready',
        status: readiness.ready ? 'True' : 'False',
        reason: readiness.ready ? 'KubeletReady' : 'KubeletNotReady',
        message: readiness.ready ? 'kubelet is posting ready status' : (readiness.message ?? 'container runtime network not ready'),
        lastHeartbeatTime: now,
        lastTransitionTime: since,
      },
    ],
    nodeInfo: {
      machineID: 'sdlc-test',
      systemUUID: 'sdlc-test',
      bootID: 'sdlc-test',
      kernelVersion: os.release(),
      osImage: 'test kubelet (processes on the host)',
      containerRuntimeVersion: 'testkubelet://1.0.0',
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    },
  };
}

export async function registerNode(api: CoreV1Api, nodeName: string): Promise<void> {
  try {
    await api.createNode({
      body: {
        metadata: {
          name: nodeName,
          labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch },
        },
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err; // re-registration after a restart is fine
  }
}

export async function patchNodeStatus(api: CoreV1Api, nodeName: string, status: V1NodeStatus): Promise<void> {
  await api.patchNodeStatus({ name: nodeName, body: { status } }, mergePatch);
}
