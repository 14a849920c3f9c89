/**
 * The worker's start checks against the agent namespace (worker/cluster-checks.ts), through the real
 * worker process (dist/worker/main.js) and a real kube-apiserver (RBAC, Pod Security admission):
 * - definite refusals (namespace missing, a right missing, Pod Security enforce, an invalid pod) → exit 2,
 *   one line per problem, no stack trace, and nothing created (the pod create is a dry run);
 * - Pod Security `warn` → the worker starts, with one warning line;
 * - the apiserver not answering → /healthz 200, /readyz 503 with the reason, polling starts once it answers;
 *   SIGTERM while waiting → exit 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { errorForStatus } from '../../src/k8s/errors';
import { freePort } from '../../src/util/free-port';
import { parsePodTemplate } from '../../src/k8s/pod-manifest';
import { checkAgentNamespace, warningTexts } from '../../worker/cluster-checks';
import { createNamespace, startCluster, type Cluster } from '../support/cluster';
import { RUNNER_ROLE_RULES } from '../support/cluster/access';

const WORKER = path.resolve(__dirname, '../../dist/worker/main.js');

let cluster: Cluster;
let core: CoreV1Api;
let rbac: RbacAuthorizationV1Api;
let dir: string;

beforeAll(async () => {
  cluster = await startCluster({ audit: true });
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-worker-cluster-'));
});
afterAll(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const TEMPLATE_OK = 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: agent\n      image: agent:test\n';
/** Explicitly allows privilege escalation: the runner's hardened defaults only fill what the template leaves out. */
const TEMPLATE_ESCALATES = 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: agent\n      image: agent:test\n      securityContext:\n        allowPrivilegeEscalation: true\n';
/** Valid to the runner's parser, invalid to the API (422). */
const TEMPLATE_BAD_PORT = 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: agent\n      image: agent:test\n      ports:\n        - containerPort: 70000\n';

let seq = 0;
function file(name: string, text: string): string {
  const p = path.join(dir, `${++seq}-${name}`);
  writeFileSync(p, text);
  return p;
}

/** A namespace whose ServiceAccount `sdlc-runner` is bound to a Role with exactly `rules`; returns its kubeconfig. */
async function serviceAccountIn(namespace: string, rules: V1PolicyRule[], labels: Record<string, string> = {}): Promise<string> {
  await core.createNamespace({ body: { metadata: { name: namespace, labels } } });
  await createNamespace(cluster, namespace);
  const name = 'sdlc-runner';
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [{ kind: 'ServiceAccount', name, namespace }] },
  });
  const token = (await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } })).status!.token!;
  return cluster.kubeconfigFor({ token, name: `${namespace}-${name}`, namespace });
}

/** The runner's Role (the chart's) without one rule's verb. */
function rulesWithout(resource: string, verb: string): V1PolicyRule[] {
  return RUNNER_ROLE_RULES.map((r) => ({ ...r, verbs: r.resources.includes(resource) ? r.verbs.filter((v) => v !== verb) : r.verbs })).filter((r) => r.verbs.length);
}

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  health: number;
}

async function startWorker(env: Record<string, string>): Promise<Proc> {
  const health = await freePort();
  const child = spawn(process.execPath, [WORKER], {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: `worker-cluster-${Date.now()}-${seq}`,
      SDLC_ALLOWED_GIT_HOSTS: 'github.com',
      SDLC_HEALTH_PORT: String(health),
      SDLC_METRICS_PORT: String(await freePort()),
      SDLC_SHUTDOWN_GRACE_SECONDS: '2',
      SDLC_ORPHAN_SWEEP_SECONDS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  void exited.then(() => process.off('exit', kill));
  return { child, stdout: () => out, stderr: () => err, exited, health };
}

async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function probe(port: number, p: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${p}`);
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** Agent pods (the runner's label) anywhere in the cluster: a start check must never leave one. */
async function runnerPods(): Promise<string[]> {
  const list = await core.listPodForAllNamespaces({ labelSelector: 'app.kubernetes.io/managed-by=agentic-sdlc-runner' });
  return list.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
}

/** Pod creates the apiserver saw in `namespace`, with whether each was a dry run. */
function podCreates(namespace: string): { dryRun: boolean; code?: number }[] {
  return cluster
    .auditEvents()
    .filter((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'pods' && !e.objectRef.subresource && e.objectRef.namespace === namespace)
    .map((e) => ({ dryRun: /[?&]dryRun=All(&|$)/.test(e.requestURI), code: e.responseStatus?.code }));
}

describe('refusals: exit 2, one line per problem, nothing created', () => {
  const rows: {
    name: string;
    setup: (ns: string) => Promise<{ kubeconfig: string; template?: string; namespace?: string }>;
    line: (ns: string) => RegExp;
    problems: number;
  }[] = [
    {
      name: 'the agent namespace does not exist',
      setup: async () => ({ kubeconfig: cluster.kubeconfigPath }),
      line: (ns) => new RegExp(`^  - SDLC_K8S_NAMESPACE="${ns}": namespace ${ns} does not exist \\(404 on a dry-run pod create\\)\\. Fix: create it \\(kubectl create namespace ${ns}\\) or set SDLC_K8S_NAMESPACE`),
      problems: 1,
    },
    {
      // No namespace controller in the test cluster: a deleted namespace stays Terminating, as one being cleaned up would.
      name: 'the agent namespace is being deleted (403, not RBAC: said in the API\'s words)',
      setup: async (ns) => {
        await createNamespace(cluster, ns);
        await core.deleteNamespace({ name: ns });
        return { kubeconfig: cluster.kubeconfigPath };
      },
      line: (ns) => new RegExp(`^  - SDLC_K8S_NAMESPACE="${ns}": Kubernetes refuses the agent pod \\(dry-run create, 403\\) although the worker may create pods there: .*because it is being terminated\\. Fix: the cause it names`),
      problems: 1,
    },
    {
      name: 'the Role lacks pods/log get',
      setup: async (ns) => ({ kubeconfig: await serviceAccountIn(ns, rulesWithout('pods/log', 'get')) }),
      line: (ns) => new RegExp(`^  - SDLC_K8S_NAMESPACE="${ns}": the worker \\(system:serviceaccount:${ns}:sdlc-runner\\) may not get pods/log in namespace "${ns}" \\(a SelfSubjectAccessReview says no.*\\)\\. Fix: allow verb "get" on resource "pods/log" — the chart's Role "<release>-agent-pods"`),
      problems: 1,
    },
    {
      name: 'the Role lacks pods create',
      setup: async (ns) => ({ kubeconfig: await serviceAccountIn(ns, rulesWithout('pods', 'create')) }),
      line: (ns) => new RegExp(`^  - SDLC_K8S_NAMESPACE="${ns}": the worker \\(system:serviceaccount:${ns}:sdlc-runner\\) may not create pods in namespace "${ns}" .*Fix: allow verb "create" on resource "pods" — the chart's Role`),
      problems: 1,
    },
    {
      name: 'the Role lacks pods watch and delete (one line each)',
      setup: async (ns) => ({ kubeconfig: await serviceAccountIn(ns, rulesWithout('pods', 'watch').map((r) => ({ ...r, verbs: r.verbs.filter((v) => v !== 'delete') }))) }),
      line: (ns) => new RegExp(`^  - SDLC_K8S_NAMESPACE="${ns}": the worker \\(system:serviceaccount:${ns}:sdlc-runner\\) may not watch pods in namespace "${ns}"`),
      problems: 2,
    },
    {
      name: 'Pod Security enforce=restricted refuses the template (allowPrivilegeEscalation: true)',
      setup: async (ns) => ({ kubeconfig: await serviceAccountIn(ns, RUNNER_ROLE_RULES, { 'pod-security.kubernetes.io/enforce': 'restricted' }), template: file('escalates.yaml', TEMPLATE_ESCALATES) }),
      line: (ns) => new RegExp(`^  - SDLC_POD_TEMPLATE_FILE=".*escalates\\.yaml": the agent pod built from it violates the Pod Security level "restricted:latest" that namespace "${ns}" enforces: allowPrivilegeEscalation != false \\(container "agent" must set securityContext\\.allowPrivilegeEscalation=false\\)\\. Fix: adjust the pod template \\(docs/pod-template\\.md\\), or the namespace's pod-security\\.kubernetes\\.io/enforce label$`),
      problems: 1,
    },
    {
      name: 'the pod is invalid for the API (422 names the field)',
      setup: async (ns) => ({ kubeconfig: await serviceAccountIn(ns, RUNNER_ROLE_RULES), template: file('bad-port.yaml', TEMPLATE_BAD_PORT) }),
      line: () => /^ {2}- SDLC_POD_TEMPLATE_FILE=".*bad-port\.yaml": the agent pod built from it is invalid for the Kubernetes API \(dry-run create, 422\): .*spec\.containers\[0\]\.ports\[0\]\.containerPort: Invalid value: 70000.*Fix: correct the pod template/,
      problems: 1,
    },
  ];

  test.each(rows)('$name', async ({ setup, line, problems }) => {
    const ns = `chk-${++seq}-${Date.now().toString(36)}`;
    const s = await setup(ns);
    const started = Date.now();
    const p = await startWorker({ KUBECONFIG: s.kubeconfig, SDLC_K8S_NAMESPACE: ns, SDLC_POD_TEMPLATE_FILE: s.template ?? file('ok.yaml', TEMPLATE_OK) });
    const code = await p.exited;
    const lines = p.stderr().trimEnd().split('\n');
    expect({ code, first: lines[0], problem: lines[1], problems: lines.length - 1 }).toEqual({ code: 2, first: 'invalid worker configuration:', problem: expect.stringMatching(line(ns)), problems });
    expect(p.stderr()).not.toMatch(/\n\s+at /);
    expect(p.stdout()).not.toContain('worker polling');
    // Nothing created: no runner pod anywhere, and every pod create the apiserver saw in the namespace was a dry run.
    expect(await runnerPods()).toEqual([]);
    expect(podCreates(ns).filter((c) => !c.dryRun)).toEqual([]);
    process.stdout.write(`  ${ns}: exit ${code} in ${Date.now() - started} ms\n${process.env.SHOW_WORKER_OUTPUT ? p.stderr() : ""}`);
  });
});

describe('Pod Security warn', () => {
  test('warn=restricted only: the worker starts, with one warning line naming the violation', async () => {
    const ns = `warn-${Date.now().toString(36)}`;
    const kubeconfig = await serviceAccountIn(ns, RUNNER_ROLE_RULES, { 'pod-security.kubernetes.io/warn': 'restricted' });
    const p = await startWorker({ KUBECONFIG: kubeconfig, SDLC_K8S_NAMESPACE: ns, SDLC_POD_TEMPLATE_FILE: file('escalates.yaml', TEMPLATE_ESCALATES) });
    await until(async () => p.child.exitCode !== null || (await probe(p.health, '/readyz'))?.status === 200, 'readyz 200');
    const warnings = p.stdout().split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(`^warning: Kubernetes warns about the agent pod built from SDLC_POD_TEMPLATE_FILE=".*escalates\\.yaml" \\(dry-run create in namespace "${ns}"; admitted\\): would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false .*Fix before the namespace enforces that level`),
      ),
    ]);
    expect(p.stdout()).toContain('worker polling');
    expect(podCreates(ns)).toEqual([{ dryRun: true, code: 201 }]);
    expect(await runnerPods()).toEqual([]);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});

/** A TCP proxy on `port` to the apiserver, started when the test says: until then the port is closed. */
async function tcpProxy(port: number, target: URL): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        sockets.forEach((s) => s.destroy());
      }),
  };
}

describe('the Kubernetes API does not answer at start', () => {
  /** The admin kubeconfig with its server moved to 127.0.0.1:<port>. */
  function kubeconfigAt(port: number): string {
    return file('kubeconfig-proxy', readFileSync(cluster.kubeconfigPath, 'utf8').replace(cluster.server, `https://127.0.0.1:${port}`));
  }

  test('/healthz 200 and /readyz 503 with the reason while it waits; ready once the API answers', async () => {
    await createNamespace(cluster, 'agents');
    const port = await freePort();
    const p = await startWorker({ KUBECONFIG: kubeconfigAt(port), SDLC_K8S_NAMESPACE: 'agents', SDLC_POD_TEMPLATE_FILE: file('ok.yaml', TEMPLATE_OK) });
    let proxy: { close(): Promise<void> } | undefined;
    try {
      await until(async () => p.child.exitCode !== null || (await probe(p.health, '/readyz')) !== undefined, 'the health server');
      expect(await probe(p.health, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
      expect(await probe(p.health, '/readyz')).toEqual({ status: 503, body: expect.stringMatching(new RegExp(`^not ready: Kubernetes API at https://127\\.0\\.0\\.1:${port} unreachable: ECONNREFUSED`)) });
      await until(() => p.stdout().includes('waiting for the Kubernetes API'), 'the waiting line');
      expect(p.stdout()).toMatch(new RegExp(`^waiting for the Kubernetes API before polling: Kubernetes API at https://127\\.0\\.0\\.1:${port} unreachable: ECONNREFUSED.*; retrying with backoff`, 'm'));
      expect(p.stdout()).not.toContain('worker polling');

      const reachable = Date.now();
      proxy = await tcpProxy(port, new URL(cluster.server));
      await until(async () => p.child.exitCode !== null || (await probe(p.health, '/readyz'))?.status === 200, 'readyz 200 once the API answers', 30_000);
      process.stdout.write(`  ready ${Date.now() - reachable} ms after the API became reachable\n`);
      expect(p.stdout()).toContain(`Kubernetes API at https://127.0.0.1:${port} answers; the checks of namespace agents pass`);
      expect(p.stdout()).toContain('worker polling');
      // One line when it starts waiting, not one per retry.
      expect(p.stdout().split('waiting for the Kubernetes API').length - 1).toBe(1);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
      await proxy?.close();
    }
  });

  test('SIGTERM while it waits: exit 0 promptly', async () => {
    const port = await freePort();
    const p = await startWorker({ KUBECONFIG: kubeconfigAt(port), SDLC_K8S_NAMESPACE: 'agents', SDLC_POD_TEMPLATE_FILE: file('ok.yaml', TEMPLATE_OK) });
    await until(async () => p.child.exitCode !== null || (await probe(p.health, '/readyz'))?.status === 503, 'readyz 503');
    const sent = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const ms = Date.now() - sent;
    process.stdout.write(`  exited ${ms} ms after SIGTERM\n`);
    expect(ms).toBeLessThan(5_000);
    expect(p.stdout()).toContain('stopped while waiting for the Kubernetes API');
    expect(p.stderr()).toBe('');
  });
});

describe('the pieces', () => {
  test('a Pod Security refusal is not reported as a missing RBAC right (errors.ts, used by createPod too)', () => {
    const body = { kind: 'Status', code: 403, reason: 'Forbidden', message: 'pods "p" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "agent" must set securityContext.allowPrivilegeEscalation=false)' };
    const err = errorForStatus(403, body, { verb: 'create', resource: 'pods', namespace: 'agents', name: 'p' });
    expect({ message: err.message, retryable: err.retryable }).toEqual({
      message: 'The Pod Security admission of namespace "agents" refuses create pods "p" in namespace "agents" (403): the pod violates level "restricted:latest": allowPrivilegeEscalation != false (container "agent" must set securityContext.allowPrivilegeEscalation=false). Fix: adjust the pod template so the pod meets "restricted:latest", or the namespace\'s pod-security.kubernetes.io/enforce label; retrying will not help.',
      retryable: false,
    });
    expect(errorForStatus(403, { message: 'pods is forbidden: User "u" cannot create resource "pods"' }, { verb: 'create', resource: 'pods', namespace: 'agents' }).message).toMatch(/^Forbidden: the runner's identity may not create pods/);
  });

  test('Warning headers: each text, unquoted (several come joined with ", ")', () => {
    expect(warningTexts('299 - "would violate PodSecurity \\"restricted:latest\\": runAsNonRoot != true", 299 - "spec.x: deprecated, use y"')).toEqual([
      'would violate PodSecurity "restricted:latest": runAsNonRoot != true',
      'spec.x: deprecated, use y',
    ]);
    expect(warningTexts(undefined)).toEqual([]);
  });
});

describe('checkAgentNamespace against servers that do not answer usefully (in process)', () => {
  const template = parsePodTemplate(TEMPLATE_OK);
  function kubeConfigFor(server: string, withCa = true): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(readFileSync(cluster.kubeconfigPath, 'utf8').replace(cluster.server, server).replace(withCa ? /^$/ : /^\s*certificate-authority-data:.*$/m, ''));
    return kc;
  }
  async function serve(handler: (socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      handler(s);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return {
      port: (server.address() as net.AddressInfo).port,
      close: () => new Promise<void>((resolve) => (server.close(() => resolve()), sockets.forEach((s) => s.destroy()))),
    };
  }

  test('accepts the connection and never answers: unreachable after the per-request bound', async () => {
    const silent = await serve(() => undefined);
    try {
      const t0 = Date.now();
      const result = await checkAgentNamespace({ kubeConfig: kubeConfigFor(`https://127.0.0.1:${silent.port}`), namespace: 'agents', template, templateFile: 't.yaml', timeoutMs: 500 });
      expect(result).toEqual({ outcome: 'unreachable', reason: `Kubernetes API at https://127.0.0.1:${silent.port} unreachable: no answer within 1 s` });
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });

  test('answers 503: unreachable (retry), not a refusal', async () => {
    const unavailable = await serve((s) => s.once('data', () => s.end('HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}')));
    try {
      const kc = new KubeConfig();
      // client-node refuses plain http unless TLS verification is off.
      kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${unavailable.port}`, skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
      const result = await checkAgentNamespace({ kubeConfig: kc, namespace: 'agents', template, templateFile: 't.yaml' });
      expect(result).toEqual({ outcome: 'unreachable', reason: `Kubernetes API at http://127.0.0.1:${unavailable.port} unreachable: HTTP 503` });
    } finally {
      await unavailable.close();
    }
  });

  test('a certificate the kubeconfig does not trust: one refusal (exit 2), not a wait', async () => {
    const result = await checkAgentNamespace({ kubeConfig: kubeConfigFor(cluster.server, false), namespace: 'agents', template, templateFile: 't.yaml' });
    expect(result).toEqual({
      outcome: 'refused',
      problems: [expect.stringMatching(new RegExp(`^the worker's Kubernetes configuration \\(${cluster.server.replace(/\./g, '\\.')}\\): the Kubernetes API at .* presents a certificate it does not trust \\([A-Z_]+\\)\\. Fix: the kubeconfig's certificate-authority`))],
    });
  });
});
