import net from 'node:net';
/**
 * The worker and dev entrypoints as processes: config errors are reported per value with exit 2;
 * a configured worker answers its health endpoints and stops gracefully on SIGTERM; `dev` brings up
 * a Temporal dev server with its UI and stops on Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/util/free-port';
import { repoRoot } from '../../src/tools';
import { loadWorkerConfig, ConfigError } from '../../src/config/worker-config';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createNamespace, startCluster, type Cluster } from '../support/cluster';

const WORKER = path.resolve(__dirname, '../../dist/worker/main.js');
const CLI = path.resolve(__dirname, '../../dist/src/cli/main.js');

function start(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): { child: ChildProcess; output: () => string; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [file, ...args], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => ((out += d), (err += d)));
  // 'close', not 'exit': the output is asserted right after, and 'exit' can come before the pipes are drained.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => out, stderr: () => err, exited };
}

/**
 * The worker checks its agent namespace against the cluster before it polls (worker/cluster-checks.ts):
 * a real apiserver, with the namespace `agents` (and `default`, which `dev` uses).
 */
let cluster: Cluster;
let core: CoreV1Api;
beforeAll(async () => {
  cluster = await startCluster();
  await createNamespace(cluster, 'agents');
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(async () => cluster?.stop());

/** A minimal pod template written into `dir`, and the test cluster's kubeconfig: enough for the worker to start. */
function workerFiles(dir: string): { template: string; kubeconfig: string } {
  const template = path.join(dir, 'pod-template.yaml');
  writeFileSync(template, 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: agent\n      image: agent:test\n');
  return { template, kubeconfig: cluster.kubeconfigPath };
}

async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('worker configuration', () => {
  test('every bad value is named with its fix', () => {
    let err: unknown;
    try {
      loadWorkerConfig({ TEMPORAL_ADDRESS: 'temporal', SDLC_K8S_NAMESPACE: 'Agents_NS', SDLC_HEALTH_PORT: '99999', TEMPORAL_TLS: 'yes', TEMPORAL_API_KEY_FILE: '/k' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('TEMPORAL_ADDRESS="temporal": must be host:port');
    expect(msg).toContain('SDLC_K8S_NAMESPACE="Agents_NS": must be a Kubernetes namespace name');
    expect(msg).toContain('SDLC_POD_TEMPLATE_FILE is not set');
    expect(msg).toContain('SDLC_ALLOWED_GIT_HOSTS is not set: set it to the git hosts runs may use, e.g. github.com');
    expect(msg).toContain('SDLC_HEALTH_PORT="99999"');
    expect(msg).toContain('TEMPORAL_TLS="yes"');
  });

  test('settings that cannot work together are refused: one port for health and metrics, TLS files without TLS', () => {
    const base = { SDLC_K8S_NAMESPACE: 'agents', SDLC_POD_TEMPLATE_FILE: '/etc/t.yaml', SDLC_ALLOWED_GIT_HOSTS: 'github.com' };
    expect(() => loadWorkerConfig({ ...base, SDLC_HEALTH_PORT: '9464' })).toThrow(/SDLC_METRICS_PORT \(its default\): the same port as SDLC_HEALTH_PORT/);
    expect(() => loadWorkerConfig({ ...base, SDLC_HEALTH_PORT: '9000', SDLC_METRICS_PORT: '9000' })).toThrow(/SDLC_METRICS_PORT="9000": the same port as SDLC_HEALTH_PORT/);
    expect(() => loadWorkerConfig({ ...base, TEMPORAL_TLS_CERT_FILE: '/c', TEMPORAL_TLS_KEY_FILE: '/k' })).toThrow(/TEMPORAL_TLS_CERT_FILE="\/c": .*TEMPORAL_TLS=true/);
    expect(() => loadWorkerConfig({ ...base, TEMPORAL_TLS_CA_FILE: '/ca' })).toThrow(/TEMPORAL_TLS_CA_FILE="\/ca": .*TEMPORAL_TLS=true/);
    expect(loadWorkerConfig({ ...base, TEMPORAL_TLS: 'true', TEMPORAL_TLS_CA_FILE: '/ca' }).TEMPORAL_TLS_CA_FILE).toBe('/ca');
  });

  test('SDLC_GIT_USERNAME: a plain username for the branch checks, or a clear refusal (it reaches a git credential helper)', () => {
    const base = { SDLC_K8S_NAMESPACE: 'agents', SDLC_POD_TEMPLATE_FILE: '/etc/t.yaml', SDLC_ALLOWED_GIT_HOSTS: 'github.com' };
    expect(loadWorkerConfig({ ...base, SDLC_GIT_USERNAME: 'gitlab+deploy-token-42' }).SDLC_GIT_USERNAME).toBe('gitlab+deploy-token-42');
    expect(loadWorkerConfig(base).SDLC_GIT_USERNAME).toBeUndefined();
    for (const bad of ['bot user', "bot'", 'bot;id', 'bot:pw', 'bot@host', 'a$(id)']) {
      expect(() => loadWorkerConfig({ ...base, SDLC_GIT_USERNAME: bad })).toThrow(`SDLC_GIT_USERNAME=${JSON.stringify(bad)}: must be a plain username`);
    }
  });

  test('SDLC_ALLOWED_GIT_HOSTS: hosts, wildcards, ports and explicit schemes; a bad entry is named with the forms', () => {
    const base = { SDLC_K8S_NAMESPACE: 'agents', SDLC_POD_TEMPLATE_FILE: '/etc/t.yaml' };
    const c = loadWorkerConfig({ ...base, SDLC_ALLOWED_GIT_HOSTS: 'github.com, *.corp.example git.corp.example:8443 http://127.0.0.1:*' });
    expect(c.SDLC_ALLOWED_GIT_HOSTS).toEqual([
      { schemes: ['https', 'ssh'], host: 'github.com', port: undefined },
      { schemes: ['https', 'ssh'], host: '*.corp.example', port: undefined },
      { schemes: ['https', 'ssh'], host: 'git.corp.example', port: '8443' },
      { schemes: ['http'], host: '127.0.0.1', port: '*' },
    ]);
    expect(c.SDLC_TASK_BRANCH_PREFIX).toBe('specs/');
    expect(loadWorkerConfig({ ...base, SDLC_ALLOWED_GIT_HOSTS: 'github.com', SDLC_TASK_BRANCH_PREFIX: 'none' }).SDLC_TASK_BRANCH_PREFIX).toBe('');
    expect(() => loadWorkerConfig({ ...base, SDLC_ALLOWED_GIT_HOSTS: 'github.com/acme' })).toThrow(/SDLC_ALLOWED_GIT_HOSTS="github.com\/acme": 'github.com\/acme' is not a git host: use host, \*\.domain or host:port/);
    expect(() => loadWorkerConfig({ ...base, SDLC_ALLOWED_GIT_HOSTS: 'ftp://files.example' })).toThrow(/scheme ftp is not a git transport/);
  });

  test('defaults fill what is not set', () => {
    const c = loadWorkerConfig({ SDLC_K8S_NAMESPACE: 'agents', SDLC_POD_TEMPLATE_FILE: '/etc/t.yaml', SDLC_ALLOWED_GIT_HOSTS: 'github.com' });
    expect(c).toMatchObject({ TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: 'agentic-sdlc', SDLC_HEALTH_PORT: 8080, SDLC_SHUTDOWN_GRACE_SECONDS: 30, TEMPORAL_TLS: false });
  });

  test('the worker process exits 2 with the messages, and starts nothing', async () => {
    const p = start(WORKER, [], { SDLC_K8S_NAMESPACE: 'BAD' });
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('invalid worker configuration');
    expect(p.output()).toContain('SDLC_POD_TEMPLATE_FILE is not set');
  });
});

describe('the worker checks at start what it can check without a task', () => {
  // Everything valid but the one thing each case breaks; the Temporal address is never reached before the checks.
  const base = async (dir: string) => {
    const { template, kubeconfig } = workerFiles(dir);
    const [health, metrics] = [await freePort(), await freePort()];
    return { template, env: { SDLC_K8S_NAMESPACE: 'agents', SDLC_POD_TEMPLATE_FILE: template, SDLC_ALLOWED_GIT_HOSTS: 'github.com', KUBECONFIG: kubeconfig, TEMPORAL_ADDRESS: '127.0.0.1:1', SDLC_HEALTH_PORT: String(health), SDLC_METRICS_PORT: String(metrics) } };
  };
  /** The first stderr line of a refusal: the list of problems follows, one `  - ` line each. */
  const CONFIG = /^invalid worker configuration:$/;
  const cases: { name: string; setup: (dir: string, env: Record<string, string>) => Promise<void> | void; code: number; first?: RegExp; line: RegExp }[] = [
    {
      name: 'pod template with two containers',
      setup: (_d, e) => writeFileSync(e.SDLC_POD_TEMPLATE_FILE!, 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: agent\n      image: agent:test\n    - name: sidecar\n      image: helper:test\n'),
      code: 2,
      line: /spec\.containers: must hold the container "agent", or "agent" then "publish" for the three phases \(found: "agent", "sidecar"\); put helpers in initContainers/,
    },
    // Beyond the list: the same mistakes elsewhere in the worker's environment.
    { name: 'KUBECONFIG a directory (own)', setup: (d, e) => void (e.KUBECONFIG = d), code: 2, line: /^ {2}- KUBECONFIG names '.*', which is a directory\. Fix: set KUBECONFIG to your kubeconfig file\(s\)$/ },
    { name: 'SDLC_ALLOWED_GIT_HOSTS a repository URL, not a host (own)', setup: (_d, e) => void (e.SDLC_ALLOWED_GIT_HOSTS = 'https://github.com/acme/shop.git'), code: 2, line: /^ {2}- SDLC_ALLOWED_GIT_HOSTS="https:\/\/github\.com\/acme\/shop\.git": 'https:\/\/github\.com\/acme\/shop\.git' is not a git host: use host, \*\.domain or host:port/ },
    { name: 'TEMPORAL_ADDRESS with port 99999 (own)', setup: (_d, e) => void (e.TEMPORAL_ADDRESS = 'temporal:99999'), code: 2, line: /^ {2}- TEMPORAL_ADDRESS="temporal:99999": must be host:port \(port 99999 is out of range: a TCP port is from 1 to 65535\), e\.g\. temporal-frontend\.temporal:7233$/ },
    { name: 'TEMPORAL_ADDRESS with a scheme (own)', setup: (_d, e) => void (e.TEMPORAL_ADDRESS = 'https://temporal.example:7233'), code: 2, line: /^ {2}- TEMPORAL_ADDRESS="https:\/\/temporal\.example:7233": must be host:port \(no scheme: gRPC takes host:port\)/ },
    { name: 'SDLC_TASK_BRANCH_PREFIX git cannot use (own)', setup: (_d, e) => void (e.SDLC_TASK_BRANCH_PREFIX = 'agent work/'), code: 2, line: /^ {2}- SDLC_TASK_BRANCH_PREFIX="agent work\/": must be the start of valid git branch names, and it contains a space: every task branch would be refused\. Fix: e\.g\. specs\/, or none for any branch$/ },
    { name: 'SDLC_SHUTDOWN_GRACE_SECONDS=1e3 (own)', setup: (_d, e) => void (e.SDLC_SHUTDOWN_GRACE_SECONDS = '1e3'), code: 2, line: /^ {2}- SDLC_SHUTDOWN_GRACE_SECONDS="1e3": is not a whole number: use digits only \(no exponent, decimals or sign\), from 1 to 86400 \(at most a day\)$/ },
    { name: 'SDLC_DEFAULT_MAX_PARALLEL past a run\'s limit (own)', setup: (_d, e) => void (e.SDLC_DEFAULT_MAX_PARALLEL = '500'), code: 2, line: /^ {2}- SDLC_DEFAULT_MAX_PARALLEL="500": is out of range: from 1 to 100 \(a run's limit\)$/ },
    { name: 'TEMPORAL_TASK_QUEUE with a space (own)', setup: (_d, e) => void (e.TEMPORAL_TASK_QUEUE = 'agentic sdlc'), code: 2, line: /^ {2}- TEMPORAL_TASK_QUEUE="agentic sdlc": must have no whitespace$/ },
    { name: 'pod template missing', setup: (d, e) => void (e.SDLC_POD_TEMPLATE_FILE = path.join(d, 'nope.yaml')), code: 2, line: /SDLC_POD_TEMPLATE_FILE=".*nope\.yaml": cannot read the agent pod template \(ENOENT\); the Helm chart mounts it/ },
    { name: 'pod template a directory', setup: (d, e) => void (e.SDLC_POD_TEMPLATE_FILE = d), code: 2, line: /SDLC_POD_TEMPLATE_FILE=".*": cannot read the agent pod template \(EISDIR\)/ },
    { name: 'pod template empty', setup: (_d, e) => writeFileSync(e.SDLC_POD_TEMPLATE_FILE!, ''), code: 2, line: /SDLC_POD_TEMPLATE_FILE=".*": .* must be a YAML mapping holding a Pod/ },
    { name: 'pod template not YAML', setup: (_d, e) => writeFileSync(e.SDLC_POD_TEMPLATE_FILE!, 'kind: ['), code: 2, line: /SDLC_POD_TEMPLATE_FILE=".*": .* is not valid YAML/ },
    { name: 'pod template a Deployment', setup: (_d, e) => writeFileSync(e.SDLC_POD_TEMPLATE_FILE!, 'apiVersion: apps/v1\nkind: Deployment\n'), code: 2, line: /SDLC_POD_TEMPLATE_FILE=".*": .* is invalid \(see docs\/pod-template\.md\)/ },
    { name: 'no Kubernetes configuration at all', setup: (d, e) => void (delete e.KUBECONFIG, (e.HOME = d)), code: 2, line: /no Kubernetes configuration: set KUBECONFIG \(there is no / },
    {
      name: 'health port taken',
      setup: async (_d, e) => {
        const port = await freePort();
        const busy = net.createServer();
        await new Promise<void>((r) => busy.listen(port, '0.0.0.0', () => r()));
        taken.push(busy);
        e.SDLC_HEALTH_PORT = String(port);
      },
      code: 2,
      line: /SDLC_HEALTH_PORT=\d+: the port is in use by another process; give the worker a free port/,
    },
    {
      name: 'Temporal namespace missing',
      setup: async (_d, e) => void ((e.TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS!), (e.TEMPORAL_NAMESPACE = 'no-such-ns'), (e.SDLC_HEALTH_PORT = String(await freePort())), (e.SDLC_METRICS_PORT = String(await freePort()))),
      code: 2,
      line: /TEMPORAL_NAMESPACE="no-such-ns": Temporal at 127\.0\.0\.1:\d+ has no such namespace\. Fix: create it \(temporal operator namespace create --namespace no-such-ns\)/,
    },
    { name: 'Temporal unreachable', setup: async (_d, e) => void ((e.SDLC_HEALTH_PORT = String(await freePort())), (e.SDLC_METRICS_PORT = String(await freePort()))), code: 3, line: /^worker: cannot reach Temporal at 127\.0\.0\.1:1 \(.*\)\. Fix: check TEMPORAL_ADDRESS/ },
  ];
  const taken: net.Server[] = [];
  afterAll(() => taken.forEach((t) => t.close()));

  test.each(cases)('$name → exit $code, one clear line, no stack trace, never ready, no pod', async ({ setup, code, first, line }) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-worker-check-'));
    try {
      const { env } = await base(dir);
      const e: Record<string, string> = { ...env };
      await setup(dir, e);
      const p = start(WORKER, [], e);
      // /readyz is asked while the worker runs: it must never say ready.
      let ready = false;
      let running = true;
      const health = (async () => {
        while (running) {
          if ((await fetch(`http://127.0.0.1:${e.SDLC_HEALTH_PORT}/readyz`, { signal: AbortSignal.timeout(500) }).catch(() => undefined))?.status === 200) ready = true;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const exitCode = await p.exited;
      running = false;
      await health;
      const context = p.output();
      const lines = p.stderr().split('\n').filter(Boolean);
      expect({ context, code: exitCode, first: lines[0] }).toEqual({ context, code, first: expect.stringMatching(first ?? (code === 2 ? CONFIG : /^worker: /)) });
      // One line per problem under the first, none of them a stack frame.
      expect({ context, problem: lines.some((l) => line.test(l)) }).toEqual({ context, problem: true });
      if (code === 2) expect({ context, others: lines.slice(1).filter((l) => !l.startsWith('  - ')) }).toEqual({ context, others: [] });
      expect(p.output()).not.toMatch(/\n\s+at /);
      expect({ context, ready }).toEqual({ context, ready: false });
      expect((await core.listNamespacedPod({ namespace: 'agents' })).items.map((pod) => pod.metadata?.name)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('worker process', () => {
  test('serves /healthz and /readyz while polling, and shuts down gracefully on SIGTERM', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-worker-'));
    const { template, kubeconfig } = workerFiles(dir);
    const health = await freePort();
    const metrics = await freePort();
    const p = start(WORKER, [], {
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: `worker-proc-${Date.now()}`,
      SDLC_K8S_NAMESPACE: 'agents',
      SDLC_POD_TEMPLATE_FILE: template,
      SDLC_ALLOWED_GIT_HOSTS: 'github.com',
      SDLC_HEALTH_PORT: String(health),
      SDLC_METRICS_PORT: String(metrics),
      SDLC_SHUTDOWN_GRACE_SECONDS: '2',
      KUBECONFIG: kubeconfig,
    });
    await until(async () => (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.status === 200, 'readyz 200');
    expect((await fetch(`http://127.0.0.1:${health}/healthz`)).status).toBe(200);
    const prom = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    expect(prom).toMatch(/temporal_/);
    expect(p.output()).toContain('worker polling');
    expect(p.output()).not.toContain('run without credentials');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain('shutting down: in-flight activities get 2s');
  });

  test('a missing git token file (optional worker Secret, public repositories) starts the worker with one clear warning', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-worker-'));
    const { template, kubeconfig } = workerFiles(dir);
    const tokenFile = path.join(dir, 'secrets', 'git-read-token');
    const p = start(WORKER, [], {
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: `worker-proc-${Date.now()}`,
      SDLC_K8S_NAMESPACE: 'agents',
      SDLC_POD_TEMPLATE_FILE: template,
      SDLC_ALLOWED_GIT_HOSTS: 'github.com',
      SDLC_HEALTH_PORT: String(await freePort()),
      SDLC_METRICS_PORT: String(await freePort()),
      SDLC_SHUTDOWN_GRACE_SECONDS: '2',
      SDLC_GIT_TOKEN_FILE: tokenFile,
      KUBECONFIG: kubeconfig,
    });
    await until(() => p.output().includes('worker polling') || p.child.exitCode !== null, 'worker polling');
    const warning = `warning: SDLC_GIT_TOKEN_FILE=${tokenFile} does not exist: branch checks, stacking and integration run without credentials; private repositories will fail verification, and pushes of stacked and integration branches will be refused`;
    expect(p.output()).toContain('worker polling');
    expect(p.output().split(warning).length - 1).toBe(1);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});

describe('the worker image layout', () => {
  // docker/Dockerfile.worker ships dist/ (prebuilt workflow bundle included) with `npm prune --omit=dev`
  // node_modules. No Docker engine here, so the same layout is made on disk: a module the worker needs
  // at run time that sits in devDependencies (a test helper or a type-only package imported by product
  // code) would fail here as it would in the image.
  test('production dependencies only: the built worker starts, polls, answers /readyz and stops on SIGTERM', async () => {
    const app = mkdtempSync(path.join(os.tmpdir(), 'sdlc-worker-image-'));
    try {
      for (const f of ['package.json', 'package-lock.json']) copyFileSync(path.join(repoRoot, f), path.join(app, f));
      execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, stdio: 'pipe', env: { ...process.env, NODE_ENV: 'production' } });
      // Really without the devDependencies (jest, ts-jest, typescript, the test server SDK).
      for (const dev of ['jest', 'typescript', '@temporalio/testing']) expect({ dev, installed: existsSync(path.join(app, 'node_modules', dev)) }).toEqual({ dev, installed: false });
      // What `npm run build` makes (the demo's and the tests' own builds are not in the image).
      for (const d of ['src', 'workflows', 'activities', 'worker', 'docker', 'vendor']) cpSync(path.join(repoRoot, 'dist', d), path.join(app, 'dist', d), { recursive: true });
      copyFileSync(path.join(repoRoot, 'dist', 'workflow-bundle.js'), path.join(app, 'dist', 'workflow-bundle.js'));

      const { template, kubeconfig } = workerFiles(app);
      const health = await freePort();
      const p = start(path.join(app, 'dist', 'worker', 'main.js'), [], {
        NODE_ENV: 'production',
        TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
        TEMPORAL_TASK_QUEUE: `worker-image-${Date.now()}`,
        SDLC_K8S_NAMESPACE: 'agents',
        SDLC_POD_TEMPLATE_FILE: template,
        SDLC_ALLOWED_GIT_HOSTS: 'github.com',
        SDLC_HEALTH_PORT: String(health),
        SDLC_METRICS_PORT: String(await freePort()),
        SDLC_SHUTDOWN_GRACE_SECONDS: '2',
        KUBECONFIG: kubeconfig,
      }, app);
      await until(async () => p.child.exitCode !== null || (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.status === 200, 'readyz 200');
      expect(p.output()).toContain('worker polling');
      p.child.kill('SIGTERM');
      expect({ code: await p.exited, moduleErrors: p.output().match(/Cannot find module[^\n]*/g) ?? [] }).toEqual({ code: 0, moduleErrors: [] });
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});

describe('sdlc-runner dev', () => {
  test('starts a Temporal dev server with its UI and stops on Ctrl-C', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const db = path.join(mkdtempSync(path.join(os.tmpdir(), 'sdlc-dev-')), 'temporal.db');
    const p = start(CLI, ['dev', '--no-worker', '--port', String(port), '--ui-port', String(uiPort), '--db', db], {});
    await until(() => p.output().includes('ready. In another terminal'), 'dev ready');
    expect(p.output()).toContain(`temporal dev server 127.0.0.1:${port} ready`);
    expect(p.output()).toContain(`UI http://127.0.0.1:${uiPort}`);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
  });

  test('with --pod-template it also starts the worker (health on a free port unless SDLC_HEALTH_PORT is set)', async () => {
    const [port, uiPort, metrics] = [await freePort(), await freePort(), await freePort()];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-dev-'));
    const { template, kubeconfig } = workerFiles(dir);
    const p = start(CLI, ['dev', '--pod-template', template, '--port', String(port), '--ui-port', String(uiPort), '--db', path.join(dir, 'temporal.db')], { KUBECONFIG: kubeconfig, SDLC_METRICS_PORT: String(metrics), SDLC_ALLOWED_GIT_HOSTS: 'github.com' });
    const exited = p.exited.then((code) => ({ code }));
    await until(() => p.output().includes('ready. In another terminal') || p.output().includes('sdlc-runner:'), 'dev ready or an error');
    expect(p.output()).not.toContain('invalid worker configuration');
    const health = Number(/health :(\d+)/.exec(p.output())?.[1]);
    expect(health).toBeGreaterThan(0);
    await until(async () => (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.status === 200, 'readyz 200');
    p.child.kill('SIGINT');
    expect(await exited).toEqual({ code: 0 });
  });
});
