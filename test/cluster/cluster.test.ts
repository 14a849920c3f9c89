/**
 * The test control plane itself: etcd + kube-apiserver from scripts/build-kube.sh, started by the
 * harness, used with the real kubectl. Fails (does not skip) when a binary is missing.
 */
import https from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../src/tools';
import { createLeastPrivilegeAccess, startCluster, type Cluster } from '../support/cluster';
import { bashPod, coreApi, kubectl, readPod } from './helpers';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ audit: true });
  // eslint-disable-next-line no-console
  console.log(`[cluster.test] control plane ready in ${cluster.startupMs} ms at ${cluster.server}`);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

function getText(path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(`${cluster.server}${path}`, { ca: cluster.caPem, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('the apiserver answers /readyz on a loopback port with the generated CA', async () => {
  expect(cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  const ready = await getText('/readyz', cluster.adminToken);
  expect(ready).toEqual({ status: 200, body: 'ok' });
  // Anonymous requests may see health, never resources: RBAC is on.
  const anon = await getText('/api/v1/namespaces/default/pods');
  expect([401, 403]).toContain(anon.status);
});

test('kubectl works with the admin kubeconfig and reports server v1.35', async () => {
  const version = await kubectl(cluster.kubeconfigPath, ['version', '-o', 'json']);
  expect(version.code).toBe(0);
  const v = JSON.parse(version.stdout) as { serverVersion: { gitVersion: string; major: string; minor: string } };
  expect(v.serverVersion.gitVersion).toMatch(/^v1\.35\.\d+$/);
  expect(v.serverVersion).toMatchObject({ major: '1', minor: '35' });

  const ns = await kubectl(cluster.kubeconfigPath, ['get', 'namespaces', '-o', 'name']);
  expect(ns.stdout.split('\n')).toEqual(expect.arrayContaining(['namespace/default', 'namespace/kube-system']));
  // The kubeconfig holds a bearer token: owner-only.
  expect(readFileSync(cluster.kubeconfigPath, 'utf8')).toContain(cluster.server);
  expect(statSync(cluster.kubeconfigPath).mode & 0o777).toBe(0o600);
});

test('a new namespace gets its default ServiceAccount, so pods can be created in it', async () => {
  expect((await kubectl(cluster.kubeconfigPath, ['create', 'namespace', 'fresh'])).code).toBe(0);
  const deadline = Date.now() + 30_000;
  let sa = await kubectl(cluster.kubeconfigPath, ['-n', 'fresh', 'get', 'serviceaccount', 'default', '-o', 'name']);
  while (sa.code !== 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    sa = await kubectl(cluster.kubeconfigPath, ['-n', 'fresh', 'get', 'serviceaccount', 'default', '-o', 'name']);
  }
  expect(sa.stdout.trim()).toBe('serviceaccount/default');
});

test('least-privilege kubeconfig: pods and pods/log in its namespace, nothing else', async () => {
  const access = await createLeastPrivilegeAccess(cluster, { namespace: 'runner' });
  expect(access.kubeconfigPath).not.toBe(cluster.kubeconfigPath);
  const can = async (...args: string[]) => (await kubectl(access.kubeconfigPath, ['auth', 'can-i', ...args])).stdout.trim();

  expect(await can('create', 'pods')).toBe('yes');
  expect(await can('watch', 'pods')).toBe('yes');
  expect(await can('delete', 'pods')).toBe('yes');
  expect(await can('get', 'pods', '--subresource=log')).toBe('yes');
  expect(await can('get', 'secrets')).toBe('no');
  expect(await can('create', 'pods', '-n', 'default')).toBe('no');
  expect(await can('create', 'pods', '--subresource=exec')).toBe('no');
  expect(await can('list', 'nodes')).toBe('no');

  // And the apiserver enforces it, not just reports it.
  const api = coreApi(access.kubeconfigPath);
  await api.createNamespacedPod({ namespace: 'runner', body: bashPod('lp-pod', 'echo hi') });
  expect((await readPod(api, 'runner', 'lp-pod'))?.metadata?.name).toBe('lp-pod');
  const secrets = await kubectl(access.kubeconfigPath, ['get', 'secrets']);
  expect(secrets.code).not.toBe(0);
  expect(secrets.stderr).toMatch(/forbidden/i);
});

test('the audit log lets a test count watch requests per user', async () => {
  const access = await createLeastPrivilegeAccess(cluster, { namespace: 'audited' });
  for (let i = 0; i < 2; i++) {
    // The timeout ends each watch; the list kubectl makes first must fit in it too, even on a loaded machine.
    await kubectl(access.kubeconfigPath, ['get', 'pods', '--watch', '--request-timeout=3s']);
  }
  const watches = cluster
    .auditEvents()
    .filter((e) => e.stage === 'ResponseStarted' && e.verb === 'watch' && e.objectRef?.resource === 'pods')
    .filter((e) => e.user.username === 'system:serviceaccount:audited:sdlc-runner');
  expect(watches).toHaveLength(2);
  expect(watches[0]?.objectRef?.namespace).toBe('audited');
});

test('restartApiserver: kill -9 and back on the same port, state kept in etcd', async () => {
  expect((await kubectl(cluster.kubeconfigPath, ['create', 'configmap', 'survivor', '--from-literal=k=v'])).code).toBe(0);
  const server = cluster.server;
  const started = Date.now();
  await cluster.restartApiserver();
  // eslint-disable-next-line no-console
  console.log(`[cluster.test] apiserver restart took ${Date.now() - started} ms`);
  expect(cluster.server).toBe(server);
  const cm = await kubectl(cluster.kubeconfigPath, ['get', 'configmap', 'survivor', '-o', 'jsonpath={.data.k}']);
  expect(cm.stdout).toBe('v');
});

test('stop() kills the servers and removes the temp data dir', async () => {
  const other = await startCluster();
  const dir = other.dataDir;
  expect(existsSync(dir)).toBe(true);
  await other.stop();
  expect(existsSync(dir)).toBe(false);
  await expect(getTextFrom(other.server)).rejects.toThrow();
}, 180_000);

function getTextFrom(server: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(`${server}/readyz`, { rejectUnauthorized: false }, (res) => resolve(res.statusCode ?? 0)).on('error', reject);
  });
}

describe('npm run cluster:up (scripts/cluster-up.sh)', () => {
  function launch(): { child: ChildProcess; ready: Promise<{ kubeconfig: string; server: string }> } {
    // The script compiles, then execs node: the child's pid ends up being the cluster-up process.
    const child = spawn('bash', [path.join(repoRoot, 'scripts', 'cluster-up.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const ready = new Promise<{ kubeconfig: string; server: string }>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const kubeconfig = /^export KUBECONFIG=(.+)$/m.exec(out)?.[1];
        const server = /kube-apiserver (https:\/\/127\.0\.0\.1:\d+) ready/.exec(out)?.[1];
        if (kubeconfig && server) resolve({ kubeconfig, server });
      });
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => reject(new Error(`cluster-up exited (${code}) before ready:\n${out}`)));
    });
    return { child, ready };
  }

  test('prints KUBECONFIG for a cluster with a Ready test node; Ctrl-C stops it and cleans up', async () => {
    const { child, ready } = launch();
    const { kubeconfig } = await ready;
    const nodes = await kubectl(kubeconfig, ['get', 'nodes', '-o', 'jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}']);
    expect(nodes.stdout).toBe('True');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(existsSync(kubeconfig)).toBe(false); // its temp data dir is gone
  }, 180_000);

  test('a SIGKILLed cluster:up leaves no servers behind', async () => {
    const { child, ready } = launch();
    const { kubeconfig, server } = await ready;
    child.kill('SIGKILL');
    const deadline = Date.now() + 30_000;
    let answering = true;
    while (answering && Date.now() < deadline) {
      answering = await getTextFrom(server).then(
        () => true,
        () => false,
      );
      if (answering) await new Promise((r) => setTimeout(r, 200));
    }
    expect(answering).toBe(false);
    rmSync(path.dirname(path.dirname(kubeconfig)), { recursive: true, force: true }); // SIGKILL leaves the temp dir
  }, 180_000);
});
