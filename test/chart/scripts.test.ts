/**
 * The operator scripts and the worker Dockerfile: linted with the real linters (shellcheck, hadolint),
 * and spawn-pod.sh exercised offline (--dry-run renders the chart's pod template; no cluster needed).
 * The cluster half (creating and following a real pod) is in apiserver.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot, toolPath } from '../../src/tools';
import { parsePodTemplate } from '../../src/k8s/pod-manifest';
import { render, run } from './helm';
import { WORKER_NODE_ARGS, WORKER_RUNTIME_ENV } from '../e2e/support/worker-process';

const SCRIPTS = ['scripts/spawn-pod.sh', 'scripts/tail-logs.sh'];
const DOCKERFILE = 'docker/Dockerfile.worker';

/** Offline: a kubeconfig that does not exist, so nothing can reach a cluster by accident. */
const offlineEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  KUBECONFIG: path.join(os.tmpdir(), 'sdlc-no-such-kubeconfig'),
  NAMESPACE: '',
  RELEASE_NAME: '',
  ENVIRONMENT: '',
  SSH_SECRET_NAME: '',
  ...extra,
});

function binary(name: string): string {
  // shellcheck comes from Debian (scripts/setup.sh installs it); hadolint from .tools/bin.
  try {
    return toolPath(name);
  } catch (err) {
    throw new Error(`${name} is required for this test: ${(err as Error).message}`);
  }
}

describe('linters', () => {
  it.each(SCRIPTS)('%s is shellcheck-clean and uses strict mode', async (script) => {
    const r = await run(binary('shellcheck'), ['--severity=style', '--external-sources', script]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(repoRoot, script), 'utf8')).toMatch(/^set -euo pipefail$/m);
  });

  it(`${DOCKERFILE} passes hadolint`, async () => {
    const r = await run(binary('hadolint'), ['--failure-threshold', 'style', DOCKERFILE]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it(`${DOCKERFILE} builds what the chart runs: non-root, multi-stage, prebuilt bundle, prod deps only`, async () => {
    const text = readFileSync(path.join(repoRoot, DOCKERFILE), 'utf8');
    const instructions = text.split('\n').filter((l) => /^[A-Z]+ /.test(l));
    expect(instructions.filter((l) => l.startsWith('FROM ')).length).toBe(2);
    expect(text).toMatch(/ARG NODE_IMAGE=node:\d+-\w+-slim/);
    expect(text).toContain('npm ci');
    expect(text).toContain('npm run build');
    expect(text).toContain('test -f dist/workflow-bundle.js');
    expect(text).toContain('npm prune --omit=dev');
    // Every COPY source from the build context exists in the repo.
    for (const line of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const s of sources) expect({ line, s, exists: existsSync(path.join(repoRoot, s)) }).toEqual({ line, s, exists: true });
    }
    const objs = await render();
    const deployment = objs.find((o) => o.kind === 'Deployment') as any;
    const spec = deployment.spec.template.spec;
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(text)![1]!);
    expect(cmd).toEqual(spec.containers[0].command);
    // …and what the tests' worker processes run (test/e2e/support/worker-process.ts), environment included.
    expect(cmd).toEqual(['node', ...WORKER_NODE_ARGS, 'dist/worker/main.js']);
    const runtime = text.split(/^FROM .* AS runtime$/m)[1]!;
    for (const [k, v] of Object.entries(WORKER_RUNTIME_ENV)) {
      expect(runtime).toMatch(new RegExp(`^\\s*(ENV )?${k}=${v}\\b`, 'm'));
      expect(spec.containers[0].env).toContainEqual({ name: k, value: v });
    }
    expect(/^WORKDIR (\S+)$/m.exec(text.split(/^FROM .* AS runtime$/m)[1]!)![1]).toBe(spec.containers[0].workingDir);
    const user = /^USER (\d+):(\d+)$/m.exec(text)!;
    expect(Number(user[1])).toBe(spec.securityContext.runAsUser);
    const exposed = /^EXPOSE (.*)$/m.exec(text)![1]!.split(/\s+/).map(Number);
    expect(exposed).toEqual(spec.containers[0].ports.map((p: any) => p.containerPort));
  });
});

describe('spawn-pod.sh (offline)', () => {
  const spawn = (args: string[], env: NodeJS.ProcessEnv = {}) => run('bash', ['scripts/spawn-pod.sh', ...args], { env: offlineEnv(env) });

  it('renders the release pod template with the task filled in (positional arguments, --dry-run)', async () => {
    const r = await spawn(['--environment', 'dev', '--dry-run', '--task-text', 'Add "login" page; $(not run)', 'T012', 'specs/001-login/T012', 'https://git.example.com/org/app.git', 'specs/001-login']);
    expect(r.stderr).toContain('rendering the pod template from the chart');
    expect(r.code).toBe(0);
    const pod = parsePodTemplate(r.stdout, 'spawn-pod.sh output') as any;
    expect(pod.metadata.name).toMatch(/^sdlc-manual-t012-[a-z0-9]{5}$/);
    expect(pod.metadata.namespace).toBe('agent-runner-dev-agents');
    expect(pod.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'agentic-sdlc-runner',
      'app.kubernetes.io/component': 'agent',
      'sdlc-runner.dev/task': 'T012',
      'sdlc-runner.dev/attempt': '1',
    });
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.activeDeadlineSeconds).toBe(65 * 60);
    // The three phases and the gateway: every container gets the task; the credential goes to checkout and
    // publish only; the LLM keys are the gateway's files, nothing in the agent's env.
    const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    const init = (name: string) => pod.spec.initContainers.find((c: any) => c.name === name);
    const [gateway, checkout] = [init('gateway'), init('checkout')];
    const [agent, publish] = pod.spec.containers;
    for (const c of [gateway, checkout, agent, publish]) expect(envOf(c)).toMatchObject({ SDLC_TASK_ID: 'T012', SDLC_RUN_ID: pod.metadata.labels['sdlc-runner.dev/run'] });
    for (const c of [checkout, publish]) expect(envOf(c).SDLC_GIT_TOKEN_FILE).toBe('/var/run/secrets/sdlc-git/token');
    expect(envOf(gateway).SDLC_GIT_TOKEN_FILE).toBeUndefined();
    expect(JSON.parse(envOf(gateway).SDLC_GATEWAY_PROVIDERS).map((p: any) => p.keyFile)).toEqual(['anthropic-api-key']);
    expect(envOf(gateway).SDLC_GATEWAY_KEYS_DIR).toBe('/var/run/secrets/sdlc-llm');
    const env = envOf(agent);
    expect(env.SDLC_GIT_TOKEN_FILE).toBeUndefined();
    expect(env).toMatchObject({
      SDLC_TASK_ID: 'T012',
      SDLC_TASK_BRANCH: 'specs/001-login/T012',
      SDLC_REPO_URL: 'https://git.example.com/org/app.git',
      SDLC_FEATURE_DIR: 'specs/001-login',
      SDLC_BASE_BRANCH: 'main',
      SDLC_TASK_TEXT: 'Add "login" page; $(not run)',
      SDLC_TIME_LIMIT_SECONDS: '3600',
      SDLC_ATTEMPT: '1',
      SDLC_GATEWAY_READY_FILE: '/workspace/.sdlc-gateway.json',
    });
    expect(agent.env.filter((e: any) => e.valueFrom)).toEqual([]);
    expect(env.SDLC_RUN_ID).toBe(pod.metadata.labels['sdlc-runner.dev/run']);
  });

  it('--options win over positionals; --ssh-secret switches git auth to SSH files from that Secret', async () => {
    const r = await spawn(
      ['--dry-run', '--task-id', 'T7', '--branch', 'b', '--repo', 'git@git.example.com:o/r.git', '--timeout-minutes', '5', '--model', 'anthropic/claude-sonnet-4-5', 'IGNORED'],
      { SSH_SECRET_NAME: 'my-ssh-key', NAMESPACE: 'team-a' },
    );
    expect(r.code).toBe(0);
    const pod = YAML.parse(r.stdout);
    expect(pod.metadata.namespace).toBe('team-a');
    const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    const publish = envOf(pod.spec.containers[1]);
    expect(publish.SDLC_TASK_ID).toBe('T7');
    expect(publish.SDLC_MODEL).toBe('anthropic/claude-sonnet-4-5');
    const checkout = envOf(pod.spec.initContainers.find((c: any) => c.name === 'checkout'));
    for (const env of [checkout, publish]) {
      expect(env.SDLC_GIT_SSH_KEY_FILE).toBe('/var/run/secrets/sdlc-git/ssh-privatekey');
      expect(env.SDLC_GIT_KNOWN_HOSTS_FILE).toBe('/var/run/secrets/sdlc-git/known_hosts');
      expect(env.SDLC_GIT_TOKEN_FILE).toBeUndefined();
    }
    expect(envOf(pod.spec.containers[0]).SDLC_GIT_SSH_KEY_FILE).toBeUndefined();
    expect(envOf(pod.spec.initContainers.find((c: any) => c.name === 'gateway')).SDLC_GIT_SSH_KEY_FILE).toBeUndefined();
    const vol = pod.spec.volumes.find((v: any) => v.name === 'git-credentials');
    expect(vol.secret.secretName).toBe('my-ssh-key');
    expect(vol.secret.items.map((i: any) => i.key)).toEqual(['ssh-privatekey', 'known_hosts']);
    expect(pod.spec.activeDeadlineSeconds).toBe(10 * 60);
  });

  it.each([
    [['--branch', 'b'], 'missing --task-id --repo'],
    [['--task-id'], 'option --task-id needs a value'],
    [['a', 'b', 'c', '--timeout-minutes', 'soon'], "--timeout-minutes must be a positive whole number, got 'soon'"],
    [['a', 'b', 'c', '--environment', 'qa'], "--environment must be dev, stg or prod, got 'qa'"],
    [['a', 'b', 'c', '--ssh-secret', 'Bad_Name'], "--ssh-secret must be a Secret name"],
    [['a', 'b', 'c', '--bogus'], 'unknown option --bogus'],
    [['a', 'b', 'c', '--source', 'release'], 'cannot read ConfigMaps'],
  ])('%j fails with a clear message', async (args, message) => {
    const r = await spawn(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('says how to get a missing tool', async () => {
    const r = await spawn(['a', 'b', 'c'], { KUBECTL: '/nonexistent/kubectl' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("kubectl: '/nonexistent/kubectl' (from $KUBECTL) is not executable");
    const h = await spawn(['--source', 'chart', 'a', 'b', 'c'], { HELM: '/nonexistent/helm' });
    expect(h.stderr).toContain("helm: '/nonexistent/helm' (from $HELM) is not executable");
  });

  it('--help documents the seed-compatible interface', async () => {
    const r = await spawn(['--help']);
    expect(r.code).toBe(0);
    for (const opt of ['--task-id', '--branch', '--repo', '--context-dir', '--ssh-secret', '--environment', '--namespace', 'NAMESPACE', 'RELEASE_NAME', 'ENVIRONMENT', 'SSH_SECRET_NAME']) {
      expect(r.stdout).toContain(opt);
    }
  });

  it('tail-logs.sh needs a pod or task and says so', async () => {
    const r = await run('bash', ['scripts/tail-logs.sh'], { env: offlineEnv() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing POD_NAME or TASK_ID');
    const w = await run('bash', ['scripts/tail-logs.sh', '--wait-seconds', 'x', 'p'], { env: offlineEnv() });
    expect(w.stderr).toContain("--wait-seconds must be a whole number, got 'x'");
  });

});
