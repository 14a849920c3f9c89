/**
 * `npm run cluster:up` (scripts/cluster-up.sh compiles and runs this): a local control plane (etcd + kube-apiserver) with the test kubelet, for
 * manual use and the demo. Prints the KUBECONFIG to use and stays up until Ctrl-C.
 *
 * Options (env): CLUSTER_DATA_DIR keeps state in that directory (default: a temp dir, removed on exit);
 * CLUSTER_NAMESPACE also creates that namespace with the runner's least-privilege ServiceAccount
 * and prints its kubeconfig; CLUSTER_IMAGE_COMMANDS is JSON {"image": ["argv", ...]} for the kubelet.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLeastPrivilegeAccess, startCluster } from './index';
import { startKubelet } from '../kubelet';

async function main(): Promise<void> {
  const verbose = process.env.CLUSTER_VERBOSE === '1';
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const cluster = await startCluster({ dataDir: process.env.CLUSTER_DATA_DIR || undefined, log: verbose ? log : undefined });
  const imageCommands = process.env.CLUSTER_IMAGE_COMMANDS ? (JSON.parse(process.env.CLUSTER_IMAGE_COMMANDS) as Record<string, string[]>) : {};
  const kubelet = await startKubelet({ ...cluster.kubeletOptions(), imageCommands, log });

  const lines = [
    `# kube-apiserver ${cluster.server} ready in ${cluster.startupMs} ms; test kubelet node "${kubelet.nodeName}" (logs on :${kubelet.port})`,
    `export KUBECONFIG=${cluster.kubeconfigPath}`,
  ];
  const namespace = process.env.CLUSTER_NAMESPACE;
  if (namespace) {
    const access = await createLeastPrivilegeAccess(cluster, { namespace });
    lines.push(`# least-privilege kubeconfig for namespace ${namespace} (ServiceAccount ${access.serviceAccount}):`, `# ${access.kubeconfigPath}`);
  }
  const envFile = path.join(cluster.dataDir, 'cluster.env');
  writeFileSync(envFile, lines.filter((l) => l.startsWith('export')).join('\n') + '\n');
  lines.push(`# (also written to ${envFile}) — Ctrl-C to stop`);
  process.stdout.write(lines.join('\n') + '\n');

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\nstopping cluster…\n');
    await kubelet.stop();
    await cluster.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}

main().catch((err: Error) => {
  process.stderr.write(`cluster:up failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
