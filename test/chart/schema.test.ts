/**
 * Bad values are rejected before anything reaches a cluster, with a message that names the value and
 * the rule: values.schema.json for shapes and ranges, template checks for rules across values.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHART_DIR, buildReleaseCopies, helm, templateArgs, type ReleaseCopies } from './helm';

const reject = async (set: string[]) => {
  const r = await helm(templateArgs({ set }));
  expect(r.code).not.toBe(0);
  return r.stderr;
};

describe('values.schema.json rejects bad values with a readable message', () => {
  it.each([
    [['worker.replicas=-1'], "at '/worker/replicas': minimum: got -1, want 0"],
    [['temporal.address=temporal-frontend'], "at '/temporal/address': 'temporal-frontend' does not match pattern"],
    [['agents.git.auth=password'], "at '/agents/git/auth': value must be one of 'token', 'ssh'"],
    [['worker.replica=2'], "at '/worker': additional properties 'replica' not allowed"],
    [['agents.runAsUser=0'], "at '/agents/runAsUser': minimum: got 0, want 1"],
    [['image.digest=sha256:abc'], "at '/image/digest': 'sha256:abc' does not match pattern"],
    [['secrets.externalSecret.secretStoreRef.kind=Vault'], "at '/secrets/externalSecret/secretStoreRef/kind': value must be one of 'SecretStore', 'ClusterSecretStore'"],
    [['networkPolicy.git[0].ports[0].port=70000'], "at '/networkPolicy/git/0/ports/0/port': maximum: got 70,000, want 65,535"],
    [['agents.resources.requests.memory=lots'], "at '/agents/resources/requests/memory'"],
    [['runDefaults.maxParallel=0'], "at '/runDefaults/maxParallel': minimum: got 0, want 1"],
    [['temporal.taskQueue='], "at '/temporal/taskQueue': minLength: got 0, want 1"],
    [['agents.git.username=bot@example.com'], "at '/agents/git/username': 'bot@example.com' does not match pattern"],
    // The providers' old shape (a key in the agent's env) is gone: the model gateway reads key files.
    [['agents.llmProviders[0].envName=ANTHROPIC_API_KEY'], "at '/agents/llmProviders/0': additional properties 'envName' not allowed"],
    [['agents.llmProviders[0].api=gemini'], "at '/agents/llmProviders/0/api': value must be one of 'openai', 'anthropic'"],
    [['agents.llmProviders[0].id=my provider'], "at '/agents/llmProviders/0/id': 'my provider' does not match pattern"],
    [['agents.llmProviders[0].baseURL=https://user:secret@llm.example.com/v1'], "at '/agents/llmProviders/0/baseURL'"],
    [['agents.gateway.runAsUser=0'], "at '/agents/gateway/runAsUser': minimum: got 0, want 1"],
    [['agents.gateway.pricing.my-model.input=3'], "at '/agents/gateway/pricing/my-model': missing property 'output'"],
    [['agents.budget.maxTokensPerTask=0'], "at '/agents/budget/maxTokensPerTask': minimum: got 0, want 1"],
    [['agents.budget.maxCostPerTask=0'], "at '/agents/budget/maxCostPerTask': exclusiveMinimum"],
  ])('--set %s', async (set, message) => {
    const stderr = await reject(set);
    expect(stderr).toContain("values don't meet the specifications of the schema");
    expect(stderr).toContain(message);
  });

  it('applies to the chart inside a release too (a typo in a release values file fails its render)', async () => {
    const copies: ReleaseCopies = await buildReleaseCopies();
    try {
      const r = await helm(['template', 'x', copies.dirs.dev, '--set', 'agentic-sdlc-agent-runner.worker.replicass=2']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("at '/worker': additional properties 'replicass' not allowed");
    } finally {
      copies.cleanup();
    }
  });
});

describe('worker.podDisruptionBudget: one of minAvailable and maxUnavailable, never both', () => {
  it.each([
    [['worker.podDisruptionBudget.enabled=true', 'worker.podDisruptionBudget.minAvailable=1', 'worker.podDisruptionBudget.maxUnavailable=1'], 'number'],
    [['worker.podDisruptionBudget.minAvailable=50%', 'worker.podDisruptionBudget.maxUnavailable=25%'], 'string'],
  ])('both set is refused (even while disabled): --set %s', async (set, got) => {
    const stderr = await reject(set);
    expect(stderr).toContain("values don't meet the specifications of the schema");
    expect(stderr).toContain(`at '/worker/podDisruptionBudget/maxUnavailable': got ${got}, want null`);
  });

  it.each([
    [['worker.podDisruptionBudget.maxUnavailable=150%'], "at '/worker/podDisruptionBudget/maxUnavailable': '150%' does not match pattern"],
    [['worker.podDisruptionBudget.maxUnavailable=-1'], "at '/worker/podDisruptionBudget/maxUnavailable': minimum: got -1, want 0"],
    [['worker.podDisruptionBudget.minAvailable=half'], "at '/worker/podDisruptionBudget/minAvailable': 'half' does not match pattern"],
    [['worker.podDisruptionBudget.enabled=yes'], "at '/worker/podDisruptionBudget/enabled': got string, want boolean"],
  ])('--set %s', async (set, message) => {
    expect(await reject(set)).toContain(message);
  });

  it.each([
    [[]],
    [['worker.podDisruptionBudget.minAvailable=1']],
    [['worker.podDisruptionBudget.minAvailable=50%']],
    [['worker.podDisruptionBudget.maxUnavailable=0']],
    [['worker.podDisruptionBudget.maxUnavailable=100%']],
  ])('one (or neither: maxUnavailable 1) is accepted: --set enabled=true %s', async (set) => {
    const r = await helm(templateArgs({ set: ['worker.podDisruptionBudget.enabled=true', ...set] }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('helm lint accepts minAvailable alone in a values file (no null override of a default is needed)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-pdb-values-'));
    try {
      writeFileSync(path.join(dir, 'values.yaml'), 'worker:\n  replicas: 3\n  podDisruptionBudget:\n    enabled: true\n    minAvailable: 2\n');
      const r = await helm(['lint', '--strict', CHART_DIR, '--namespace', 'sdlc', '--values', path.join(dir, 'values.yaml')]);
      expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('NetworkPolicy peer lists: an empty list would render `to: []`, which allows any destination', () => {
  const withValues = async (yaml: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-np-values-'));
    try {
      writeFileSync(path.join(dir, 'values.yaml'), yaml);
      return await helm(templateArgs({ valuesFiles: [path.join(dir, 'values.yaml')] }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it.each([
    ['networkPolicy:\n  dns: []\n', "at '/networkPolicy/dns': minItems: got 0, want 1"],
    ...['git', 'llm', 'temporal', 'apiserver'].map((key) => [
      `networkPolicy:\n  ${key}:\n    - to: []\n      ports: [{port: 443, protocol: TCP}]\n`,
      `at '/networkPolicy/${key}/0/to': minItems: got 0, want 1`,
    ]),
  ])('%s is refused', async (yaml, message) => {
    const r = await withValues(yaml);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
  });

  it('lists that allow nothing when empty stay allowed: no scrapers (metricsFrom) or no git rule at all', async () => {
    const r = await withValues('networkPolicy:\n  metricsFrom: []\n  git: []\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('template checks reject unsafe combinations with a message that says why', () => {
  it.each([
    [['worker.shutdownGraceSeconds=30', 'worker.terminationGracePeriodSeconds=30'],
      'worker.terminationGracePeriodSeconds (30) must be larger than worker.shutdownGraceSeconds (30)'],
    [['worker.extraEnv[0].name=GITHUB_TOKEN', 'worker.extraEnv[0].value=ghp_x'],
      'worker.extraEnv: GITHUB_TOKEN looks like a secret; pass it with valueFrom.secretKeyRef instead of a plain value'],
    [['agents.extraEnv[0].name=OPENAI_API_KEY', 'agents.extraEnv[0].value=sk-x'],
      'agents.extraEnv: OPENAI_API_KEY looks like a secret; agent pods take no secret through agents.extraEnv'],
    [['agents.extraEnv[0].name=PROXY_AUTH', 'agents.extraEnv[0].valueFrom.secretKeyRef.name=s', 'agents.extraEnv[0].valueFrom.secretKeyRef.key=k'],
      'agents.extraEnv: PROXY_AUTH comes from a Secret (valueFrom.secretKeyRef); agents.extraEnv reaches the agent container, which takes nothing from a Secret'],
    [['agents.gateway.runAsUser=10001'],
      'agents.gateway.runAsUser and agents.runAsUser are both 10001: the agent, checkout, publish and gateway containers each need a uid of their own'],
    [['agents.phases.publishRunAsUser=10002'],
      'agents.phases.checkoutRunAsUser and agents.phases.publishRunAsUser are both 10002'],
    [[0, 1].flatMap((i) => [`agents.llmProviders[${i}].id=anthropic`, `agents.llmProviders[${i}].api=anthropic`,
      `agents.llmProviders[${i}].baseURL=https://llm${i}.example.com/v1`, `agents.llmProviders[${i}].secretKey=k${i}`, `agents.llmProviders[${i}].remoteRef.key=k`]),
      'agents.llmProviders: the id "anthropic" is listed twice'],
    [['agents.llmProviders=null'], 'agents.llmProviders: at least one provider is needed'],
    [['temporal.apiKey.enabled=true'], 'temporal.apiKey.enabled requires temporal.tls.enabled'],
    [['metrics.serviceMonitor.enabled=true', 'metrics.service.enabled=false'], 'metrics.serviceMonitor.enabled needs metrics.service.enabled'],
  ])('--set %s', async (set, message) => {
    const stderr = await reject(set);
    expect(stderr).toContain(message);
    // The secret value itself is never echoed back.
    expect(stderr).not.toMatch(/ghp_x|sk-x/);
  });
});
