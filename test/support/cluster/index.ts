/**
 * A real Kubernetes control plane for tests and the local demo: etcd + kube-apiserver (built by
 * scripts/build-kube.sh) on free loopback ports, with generated PKI, a service-account signing key,
 * a static token file and Node,RBAC authorization. No scheduler, no controller-manager: the test
 * kubelet (test/support/kubelet) binds and runs pods, and a small built-in controller creates each
 * namespace's `default` ServiceAccount (the ServiceAccount admission plugin rejects pods without it).
 *
 *   const cluster = await startCluster();
 *   const kubelet = await startKubelet({ ...cluster.kubeletOptions() });
 *   ... KUBECONFIG=cluster.kubeconfigPath ...
 *   await kubelet.stop(); await cluster.stop();
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { toolPath } from '../../../src/tools';
import { createCertificateAuthority, createServiceAccountKeyPair } from './pki';
import { writeKubeconfig } from './kubeconfig';
import { ManagedProcess } from './processes';
import { freePort } from '../../../src/util/free-port';
import { startDefaultServiceAccountController, type Controller } from './default-service-accounts';

export { createNamespace, createLeastPrivilegeAccess, type LeastPrivilegeAccess } from './access';
export { startWatchLoop, type WatchLoop, type WatchLoopOptions } from './watch-loop';

export const DEFAULT_NODE_NAME = 'sdlc-test-node';
/** What the apiserver allocates Service IPs from; its first address is the `kubernetes` Service. */
export const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface StartClusterOptions {
  /** Where PKI, etcd data, kubeconfigs and logs go. Created if missing; kept on stop(). Default: a temp dir, removed on stop(). */
  dataDir?: string;
  /** Receives the servers' output lines (they are always written to <dataDir>/logs too). */
  log?: (s: string) => void;
  /** Node identities to provision (token + serving certificate each). Default: [DEFAULT_NODE_NAME]. */
  nodeNames?: string[];
  /** How long to wait for /readyz. Default 120 s (a loaded 2-core CI machine is slow). */
  startTimeoutMs?: number;
  /**
   * Write an audit log (level Metadata: who did what to which resource) so tests can count API
   * requests per user, e.g. pod watches opened by the runner. Off by default (it costs disk writes).
   */
  audit?: boolean;
}

/** The fields of an audit.k8s.io/v1 Event that tests use. */
export interface AuditEvent {
  stage: 'ResponseStarted' | 'ResponseComplete' | 'Panic';
  /** One request's events share it. */
  auditID?: string;
  /** When this stage was reached (RFC 3339, microseconds). */
  stageTimestamp?: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/** Everything startKubelet needs for one node; spread it into startKubelet's options. */
export interface KubeletClusterOptions {
  nodeName: string;
  /** Acts as user system:node:<nodeName> (group system:nodes): what the Node authorizer allows a kubelet. */
  kubeconfigPath: string;
  /** Acts as system:kube-scheduler: allowed to bind pods (pods/binding), which a node is not. */
  schedulerKubeconfigPath: string;
  /** HTTPS serving certificate for 127.0.0.1, signed by the cluster CA; clientCaFile authenticates the apiserver. */
  tls: { certFile: string; keyFile: string; clientCaFile: string };
}

export interface Cluster {
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig (user `admin`, group system:masters). */
  kubeconfigPath: string;
  caFile: string;
  caPem: string;
  adminToken: string;
  dataDir: string;
  /** Wall time startCluster took, from spawn to /readyz ok. */
  startupMs: number;
  /** Writes a kubeconfig for a bearer token (e.g. from the TokenRequest API) and returns its path. */
  kubeconfigFor(user: { token: string; name?: string; namespace?: string }): string;
  kubeletOptions(nodeName?: string): KubeletClusterOptions;
  /** Audit events so far (requires startCluster({ audit: true })). A watch shows up as one ResponseStarted event. */
  auditEvents(): AuditEvent[];
  /** kill -9 the apiserver and start it again on the same port (etcd keeps running); resolves when ready. */
  restartApiserver(): Promise<void>;
  stop(): Promise<void>;
}

interface Paths {
  root: string;
  pki: string;
  logs: string;
  etcdData: string;
}

function layout(dataDir: string): Paths {
  const p = { root: dataDir, pki: path.join(dataDir, 'pki'), logs: path.join(dataDir, 'logs'), etcdData: path.join(dataDir, 'etcd') };
  for (const dir of [p.pki, p.logs]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  return p;
}

function token(): string {
  return randomBytes(24).toString('hex');
}

/** GET <server>/readyz with the admin token until it answers 200 "ok", or the process dies. */
async function waitForReady(server: string, caPem: string, adminToken: string, proc: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.exited) throw new Error(`kube-apiserver exited during start:\n${proc.recentOutput}`);
    last = await new Promise<string>((resolve) => {
      const req = https.get(`${server}/readyz`, { ca: caPem, headers: { authorization: `Bearer ${adminToken}` }, timeout: 2000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `${res.statusCode}: ${body.slice(-400)}`));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve(err.message));
    });
    if (last === 'ok') return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`kube-apiserver not ready at ${server} within ${timeoutMs} ms (last /readyz: ${last})\n${proc.recentOutput}`);
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const started = Date.now();
  const ownsDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'sdlc-cluster-'));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const paths = layout(dataDir);
  const nodeNames = opts.nodeNames ?? [DEFAULT_NODE_NAME];
  const startTimeoutMs = opts.startTimeoutMs ?? 120_000;
  const apiserverBin = toolPath('kube-apiserver');
  const etcdBin = toolPath('etcd');
  const file = (name: string, content: string) => {
    const f = path.join(paths.pki, name);
    writeFileSync(f, content, { mode: 0o600 });
    return f;
  };

  // PKI: one CA signs the apiserver's serving cert, its client cert towards kubelets, and each
  // node's serving cert; the apiserver verifies kubelets against it (no --kubelet-insecure...).
  const ca = await createCertificateAuthority('sdlc-test-ca');
  const caFile = file('ca.crt', ca.certPem);
  const serving = await ca.issue({
    commonName: 'kube-apiserver',
    usage: 'server',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ipAddresses: ['127.0.0.1', '10.96.0.1'],
  });
  const kubeletClient = await ca.issue({ commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' });
  const saKeys = createServiceAccountKeyPair();

  const adminToken = token();
  const schedulerToken = token();
  const nodeTokens = new Map(nodeNames.map((n) => [n, token()]));
  // Static token file: token,user,uid,"groups". It never leaves the data dir (0600).
  const tokenLines = [
    `${adminToken},admin,admin,"system:masters"`,
    `${schedulerToken},system:kube-scheduler,system:kube-scheduler,""`,
    ...[...nodeTokens].map(([n, t]) => `${t},system:node:${n},system:node:${n},"system:nodes"`),
  ];
  const tokenFile = file('tokens.csv', tokenLines.join('\n') + '\n');
  const nodeTls = new Map<string, { certFile: string; keyFile: string }>();
  for (const n of nodeNames) {
    const c = await ca.issue({ commonName: `system:node:${n}`, organizations: ['system:nodes'], usage: 'server', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost', n] });
    nodeTls.set(n, { certFile: file(`kubelet-${n}.crt`, c.certPem), keyFile: file(`kubelet-${n}.key`, c.keyPem) });
  }

  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [etcdClientPort, etcdPeerPort, apiserverPort] = [...ports] as [number, number, number];
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  const etcd = new ManagedProcess({
    name: 'etcd',
    command: etcdBin,
    args: [
      '--name=sdlc-test',
      `--data-dir=${paths.etcdData}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=sdlc-test=${peerUrl}`,
      // Test data is disposable: skipping fsync makes every write (and so every test) faster.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logFile: path.join(paths.logs, 'etcd.log'),
    log: opts.log,
  });

  const server = `https://127.0.0.1:${apiserverPort}`;
  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${apiserverPort}`,
    '--advertise-address=127.0.0.1',
    // The `kubernetes` Endpoints may not hold a loopback address, so the reconciler would only log errors.
    '--endpoint-reconciler-type=none',
    `--cert-dir=${path.join(dataDir, 'apiserver-certs')}`,
    `--tls-cert-file=${file('apiserver.crt', serving.certPem)}`,
    `--tls-private-key-file=${file('apiserver.key', serving.keyPem)}`,
    `--client-ca-file=${caFile}`,
    `--token-auth-file=${tokenFile}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--api-audiences=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${file('sa.pub', saKeys.publicKeyPem)}`,
    `--service-account-signing-key-file=${file('sa.key', saKeys.privateKeyPem)}`,
    `--kubelet-client-certificate=${file('apiserver-kubelet-client.crt', kubeletClient.certPem)}`,
    `--kubelet-client-key=${file('apiserver-kubelet-client.key', kubeletClient.keyPem)}`,
    `--kubelet-certificate-authority=${caFile}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--profiling=false',
    '--v=0',
  ];
  const auditLog = path.join(paths.logs, 'audit.log');
  if (opts.audit) {
    const policy = file('audit-policy.yaml', 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n');
    apiserverArgs.push(`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`, '--audit-log-maxbackup=0', '--audit-log-maxsize=0');
  }
  let apiserver: ManagedProcess | undefined;
  const startApiserver = () =>
    new ManagedProcess({ name: 'kube-apiserver', command: apiserverBin, args: apiserverArgs, logFile: path.join(paths.logs, 'kube-apiserver.log'), log: opts.log });

  let controller: Controller | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    controller?.stop();
    await apiserver?.stop();
    await etcd.stop();
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
  };

  const kubeconfigsDir = path.join(dataDir, 'kubeconfigs');
  mkdirSync(kubeconfigsDir, { recursive: true, mode: 0o700 });
  let kubeconfigCount = 0;
  const kubeconfigFor = (user: { token: string; name?: string; namespace?: string }) => {
    const name = user.name ?? `user-${++kubeconfigCount}`;
    return writeKubeconfig(path.join(kubeconfigsDir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.kubeconfig`), {
      server,
      caPem: ca.certPem,
      userName: name,
      token: user.token,
      namespace: user.namespace,
    });
  };

  try {
    apiserver = startApiserver();
    await waitForReady(server, ca.certPem, adminToken, apiserver, startTimeoutMs);
    const kubeconfigPath = kubeconfigFor({ token: adminToken, name: 'admin' });
    controller = await startDefaultServiceAccountController(kubeconfigPath, opts.log);
    const schedulerKubeconfigPath = kubeconfigFor({ token: schedulerToken, name: 'system:kube-scheduler' });
    return {
      server,
      kubeconfigPath,
      caFile,
      caPem: ca.certPem,
      adminToken,
      dataDir,
      startupMs: Date.now() - started,
      kubeconfigFor,
      auditEvents() {
        if (!opts.audit) throw new Error('auditEvents() needs startCluster({ audit: true })');
        if (!existsSync(auditLog)) return [];
        return readFileSync(auditLog, 'utf8')
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l) as AuditEvent);
      },
      kubeletOptions(nodeName = nodeNames[0]!) {
        const t = nodeTokens.get(nodeName);
        const tls = nodeTls.get(nodeName);
        if (!t || !tls) throw new Error(`node ${nodeName} was not provisioned; pass it in startCluster({ nodeNames })`);
        return {
          nodeName,
          kubeconfigPath: kubeconfigFor({ token: t, name: `system:node:${nodeName}` }),
          schedulerKubeconfigPath,
          tls: { ...tls, clientCaFile: caFile },
        };
      },
      async restartApiserver() {
        await apiserver?.crash();
        apiserver = startApiserver();
        await waitForReady(server, ca.certPem, adminToken, apiserver, startTimeoutMs);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
