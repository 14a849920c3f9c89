/**
 * The built images, run for real with podman (scripts/podman.sh): the agent image under the agent pod's
 * security context, the worker image as the chart runs it, against the suite's Temporal dev server and a
 * real kube-apiserver. `npm run images` (scripts/images.sh, run by scripts/setup.sh) builds them; a missing
 * podman or image fails here, loudly: nothing is skipped.
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../src/tools';
import { freePort } from '../../src/util/free-port';
import { createNamespace, startCluster, type Cluster } from '../support/cluster';

const PODMAN = path.join(repoRoot, 'scripts', 'podman.sh');
const AGENT = 'localhost/sdlc-runner/agent:dev';
const WORKER = 'localhost/sdlc-runner/worker:dev';
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
const OPENCODE_VERSION: string = pkg.devDependencies['opencode-linux-x64'];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function podman(args: string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile('bash', [PODMAN, ...args], { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * The agent pod's container security context (charts/.../_agent-pod.tpl, agentContainerSecurity): the phase's uid,
 * the pod's fsGroup 10000, read-only root, no capabilities, no privilege escalation, no network, the chart's
 * default memory limit.
 */
// --read-only-tmpfs=false: podman's --read-only would mount writable /run, /tmp and /var/tmp; Kubernetes' read-only root has none.
const POD_SECURITY = ['--group-add', '10000', '--read-only', '--read-only-tmpfs=false', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--network', 'none', '--memory', '512m'];

/**
 * The pod's emptyDir volumes as host directories, made as the kubelet makes them for a pod with an fsGroup
 * (group 10000, setgid, group-writable; an emptyDir starts empty: nothing of the image is copied in).
 */
function emptyDirs(names: string[]): { dir: string; mount: (name: string, at: string) => string[] } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-images-agent-'));
  for (const name of names) {
    const d = path.join(dir, name);
    mkdirSync(d);
    try {
      chownSync(d, process.getuid!(), 10000);
    } catch {
      // not root: the mode alone still lets every phase's uid in
    }
    chmodSync(d, 0o2777);
  }
  return { dir, mount: (name, at) => ['-v', `${path.join(dir, name)}:${at}`] };
}

/** Each phase's mounts, as in the chart: the agent gets the workspace, its home and /tmp; checkout and publish the git state too. */
function phaseRun(phase: 'checkout' | 'agent' | 'publish', vols: ReturnType<typeof emptyDirs>, args: string[] = [phase], entrypoint?: string): Promise<Result> {
  const uid = { checkout: 10002, agent: 10001, publish: 10003 }[phase];
  const mounts =
    phase === 'agent'
      ? [...vols.mount('workspace', '/workspace'), ...vols.mount('home', '/home/agent'), ...vols.mount('tmp', '/tmp')]
      : [...vols.mount('workspace', '/workspace'), ...vols.mount('git-state', '/sdlc-git'), ...vols.mount('phase-tmp', '/tmp')];
  return podman(['run', '--rm', '--user', `${uid}:${uid}`, ...POD_SECURITY, ...mounts, ...(entrypoint ? ['--entrypoint', entrypoint] : []), AGENT, ...args]);
}

/** The worker Deployment's container security context (charts/.../deployment.yaml): its own USER, read-only root, /tmp emptyDir. */
const WORKER_SECURITY = ['--read-only', '--read-only-tmpfs=false', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--tmpfs', '/tmp:rw,mode=1777'];

beforeAll(async () => {
  const v = await podman(['version', '--format', '{{.Client.Version}}']);
  if (v.code !== 0) throw new Error(`podman is required for the image tests (bash scripts/setup.sh installs it): ${v.stderr.trim()}`);
  for (const image of [AGENT, WORKER]) {
    const r = await podman(['image', 'exists', image]);
    if (r.code !== 0) throw new Error(`${image} is missing: build it with \`npm run images\` (scripts/setup.sh does)`);
  }
}, 60_000);

describe('agent image under the agent pod security context', () => {
  let vols: ReturnType<typeof emptyDirs>;
  beforeEach(() => {
    vols = emptyDirs(['workspace', 'home', 'tmp', 'git-state', 'phase-tmp']);
  });
  afterEach(() => rmSync(vols.dir, { recursive: true, force: true }));

  test(`opencode is the pinned ${OPENCODE_VERSION}, git and Node 22 run, as uid 10001 in the pod's group`, async () => {
    const script = [
      'opencode --version', '"$OPENCODE_BIN" --version', 'git --version', 'node --version', 'id -u', 'id -G',
      // The security context really applies: the memory limit, no capabilities, no privilege escalation, a read-only root.
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
      'grep -E "^(CapEff|NoNewPrivs):" /proc/self/status | tr -s "\t" " "',
      '(touch /opt/sdlc/x 2>/dev/null && echo root-writable || echo root-read-only)',
    ].join(' && ');
    const r = await phaseRun('agent', vols, ['-c', script], '/bin/sh');
    expect(r).toEqual({ code: 0, stdout: expect.any(String), stderr: expect.any(String) });
    const [opencode, opencodeBin, git, node, uid, groups, memory, ...rest] = r.stdout.trim().split('\n');
    expect({ memory, rest }).toEqual({ memory: String(512 * 1024 * 1024), rest: ['CapEff: 0000000000000000', 'NoNewPrivs: 1', 'root-read-only'] });
    expect({ opencode, opencodeBin }).toEqual({ opencode: OPENCODE_VERSION, opencodeBin: OPENCODE_VERSION });
    expect(git).toMatch(/^git version 2\.\d+\.\d+$/);
    expect(node).toMatch(/^v22\.\d+\.\d+$/);
    expect(uid).toBe('10001');
    expect(groups!.split(' ')).toContain('10000');
  });

  test('the entrypoint (tini) with no configuration: checkout and agent hand over, publish ends config_error (exit 30) with one result line, last', async () => {
    const checkout = await phaseRun('checkout', vols);
    expect({ code: checkout.code, out: checkout.stdout + checkout.stderr }).toEqual({ code: 0, out: expect.stringContaining('configuration error: SDLC_REPO_URL is required') });
    const agent = await phaseRun('agent', vols);
    expect({ code: agent.code, out: agent.stdout + agent.stderr }).toEqual({ code: 0, out: expect.stringContaining('config_error: SDLC_REPO_URL is required') });
    const publish = await phaseRun('publish', vols);
    expect(publish.code).toBe(30);
    const lines = publish.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('::sdlc-result::'))).toHaveLength(1);
    const last = lines[lines.length - 1]!;
    expect(last).toMatch(/^::sdlc-result::/);
    expect(JSON.parse(last.slice('::sdlc-result::'.length))).toMatchObject({ v: 1, status: 'config_error' });
  });
});

describe('worker image', () => {
  test('runs as uid 10001 by its own USER', async () => {
    const inspect = await podman(['image', 'inspect', '--format', '{{.Config.User}}', WORKER]);
    expect(inspect.stdout.trim()).toBe('10001:10001');
    const r = await podman(['run', '--rm', ...WORKER_SECURITY, '--network', 'none', WORKER, 'id', '-u']);
    expect(r).toEqual({ code: 0, stdout: '10001\n', stderr: '' });
  });

  test('node dist/worker/main.js with no configuration exits 2 naming what is missing, no stack trace', async () => {
    const r = await podman(['run', '--rm', ...WORKER_SECURITY, '--network', 'none', WORKER]);
    expect(r.code).toBe(2);
    const out = r.stdout + r.stderr;
    // One line saying so, then one line per missing setting; no stack trace.
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('invalid worker configuration:');
    expect(lines.slice(1).every((l) => l.startsWith('  - '))).toBe(true);
    expect(out).toContain('SDLC_POD_TEMPLATE_FILE is not set');
    expect(out).not.toMatch(/\n\s+at /);
  });

  test('node_modules holds the production dependencies and no devDependency', async () => {
    const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> };
    const entries = Object.entries(lock.packages).filter(([p]) => p.startsWith('node_modules/'));
    const dev = entries.filter(([, m]) => m.dev).map(([p]) => p);
    const prod = entries.filter(([, m]) => !m.dev && !m.optional && !m.devOptional).map(([p]) => p);
    expect(dev).toEqual(expect.arrayContaining(['node_modules/jest', 'node_modules/typescript', 'node_modules/ts-jest']));
    const script = `const fs = require('fs'); const [dev, prod] = JSON.parse(process.argv[1]);
      console.log(JSON.stringify({ devPresent: dev.filter((p) => fs.existsSync(p)), prodMissing: prod.filter((p) => !fs.existsSync(p)) }));`;
    const r = await podman(['run', '--rm', ...WORKER_SECURITY, '--network', 'none', WORKER, 'node', '-e', script, JSON.stringify([dev, prod])]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ devPresent: [], prodMissing: [] });
    expect(prod.length).toBeGreaterThan(10);
  });

  describe('against the Temporal dev server and a kube-apiserver', () => {
    let cluster: Cluster;
    let dir: string;
    beforeAll(async () => {
      cluster = await startCluster();
      await createNamespace(cluster, 'agents');
      dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-images-'));
    });
    afterAll(async () => {
      await cluster?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('answers /healthz and /readyz while polling and exits 0 on SIGTERM', async () => {
      if (!process.env.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is not set: the jest globalSetup starts the Temporal dev server');
      // The files the chart mounts (ConfigMap, Secret), readable by the worker's uid as the chart's defaultMode makes them.
      const template = path.join(dir, 'pod-template.yaml');
      writeFileSync(template, 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: agent\n      image: agent:test\n');
      const kubeconfig = path.join(dir, 'kubeconfig');
      copyFileSync(cluster.kubeconfigPath, kubeconfig);
      chmodSync(template, 0o444);
      chmodSync(kubeconfig, 0o444);
      const health = await freePort();
      const metrics = await freePort();
      const name = `sdlc-images-worker-${process.pid}-${Date.now()}`;
      const env = {
        TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
        TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
        TEMPORAL_TASK_QUEUE: `images-worker-${Date.now()}`,
        SDLC_K8S_NAMESPACE: 'agents',
        SDLC_POD_TEMPLATE_FILE: '/etc/sdlc/pod-template.yaml',
        SDLC_ALLOWED_GIT_HOSTS: 'github.com',
        SDLC_HEALTH_PORT: String(health),
        SDLC_METRICS_PORT: String(metrics),
        SDLC_SHUTDOWN_GRACE_SECONDS: '2',
        KUBECONFIG: '/etc/sdlc/kubeconfig',
      };
      const args = ['run', '--rm', '--name', name, ...WORKER_SECURITY, '--network', 'host',
        '-v', `${template}:/etc/sdlc/pod-template.yaml:ro`, '-v', `${kubeconfig}:/etc/sdlc/kubeconfig:ro`,
        ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]), WORKER];
      const child = spawn('bash', [PODMAN, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      let code: number | null | undefined;
      void exited.then((c) => (code = c));
      try {
        const end = Date.now() + 90_000;
        for (;;) {
          const status = (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.status;
          if (status === 200) break;
          if (code !== undefined) throw new Error(`the worker container exited ${code} before /readyz answered 200:\n${out}`);
          if (Date.now() > end) throw new Error(`/readyz did not answer 200 within 90 s (last: ${status}):\n${out}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        expect((await fetch(`http://127.0.0.1:${health}/healthz`)).status).toBe(200);
        expect(await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text()).toMatch(/temporal_/);
        expect(out).toContain('worker polling');
        const stop = await podman(['kill', '--signal', 'TERM', name]);
        expect(stop.code).toBe(0);
        expect(await exited).toBe(0);
        expect(out).toContain('shutting down: in-flight activities get 2s');
      } finally {
        if (code === undefined) {
          await podman(['rm', '--force', '--time', '0', name]);
          await exited;
        }
      }
    });
  });
});
