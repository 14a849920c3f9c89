/**
 * Renders the chart (every ci/ scenario) and the three releases with the real helm binary, parses the
 * output with `yaml`, and asserts what an operator relies on: hardened pods, least-privilege RBAC, no
 * secret in a ConfigMap, valid names, the ExternalSecret keys the pods consume, and the worker wiring.
 * The agent pod template is also fed to the worker's own parser and manifest builder.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../../src/tools';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { WORKER_NODE_ARGS } from '../e2e/support/worker-process';
import { LABELS, MANAGED_BY } from '../../src/k8s/gateway';
import { buildPodManifest, parsePodTemplate } from '../../src/k8s/pod-manifest';
import { podName } from '../../src/k8s/names';
import { loadConfig } from '../../src/egress/config';
import { parseProxyAddress } from '../../src/egress/pod-env';
import {
  CHART_DIR,
  ENVIRONMENTS,
  buildReleaseCopies,
  find,
  helm,
  podTemplateOf,
  releaseName,
  releaseNamespace,
  render,
  renderRelease,
  templateArgs,
  type K8sObject,
  type ReleaseCopies,
} from './helm';

type AnyObj = Record<string, any>;
const ci = (name: string) => path.join(CHART_DIR, 'ci', `${name}-values.yaml`);
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SECRET_NAME = /(TOKEN|PASSWORD|SECRET|API_?KEY|PRIVATE_?KEY|CREDENTIAL)/i;

interface Rendered {
  label: string;
  objs: K8sObject[];
  releaseNs: string;
}

let copies: ReleaseCopies;
const rendered: Rendered[] = [];

beforeAll(async () => {
  copies = await buildReleaseCopies();
  for (const name of CI_SCENARIOS) {
    rendered.push({ label: `ci/${name}`, objs: await render({ valuesFiles: [ci(name)], namespace: 'sdlc' }), releaseNs: 'sdlc' });
  }
  for (const env of ENVIRONMENTS) {
    rendered.push({ label: `release ${env}`, objs: await renderRelease(copies, env), releaseNs: releaseNamespace(env) });
  }
});
afterAll(() => copies?.cleanup());

const get = (label: string): Rendered => {
  const r = rendered.find((x) => x.label === label);
  if (!r) throw new Error(`no rendering ${label}`);
  return r;
};
const CI_SCENARIOS = ['default', 'separate-namespace', 'ssh-temporal-cloud', 'existing-secrets', 'egress-rules'];
/** Known at collection time (it.each), rendered in beforeAll. */
const labels = (): string[] => [...CI_SCENARIOS.map((n) => `ci/${n}`), ...ENVIRONMENTS.map((e) => `release ${e}`)];

function podSpecs(objs: K8sObject[]): { where: string; spec: AnyObj }[] {
  const out = objs
    .filter((o) => o.kind === 'Deployment')
    .map((d) => ({ where: `Deployment/${d.metadata.name}`, spec: (d as AnyObj).spec.template.spec }));
  out.push({ where: 'agent pod template', spec: podTemplateOf(objs).pod.spec });
  return out;
}

describe('security contexts', () => {
  it.each(labels())('%s: every pod runs non-root with seccomp, no privilege escalation, no capabilities, read-only root', (label) => {
    for (const { where, spec } of podSpecs(get(label).objs)) {
      expect({ where, sc: spec.securityContext }).toMatchObject({
        where,
        sc: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      });
      expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
      expect(spec.hostNetwork ?? false).toBe(false);
      expect(spec.hostPID ?? false).toBe(false);
      for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
        expect({ where, container: c.name, sc: c.securityContext }).toEqual({
          where,
          container: c.name,
          sc: expect.objectContaining({
            runAsNonRoot: true,
            privileged: false,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          }),
        });
        expect(c.resources?.requests?.cpu).toBeDefined();
        expect(c.resources?.requests?.memory).toBeDefined();
        expect(c.resources?.limits?.memory).toBeDefined();
      }
    }
  });

  it.each(labels())('%s: the agent pod runs once, without an API token, with a deadline and writable emptyDirs only', (label) => {
    const { pod } = podTemplateOf(get(label).objs);
    expect(pod).toMatchObject({ apiVersion: 'v1', kind: 'Pod' });
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.activeDeadlineSeconds).toBeGreaterThan(0);
    // The three phases and the model gateway (docker/agent/README.md): only checkout and publish mount the
    // git credential, only the gateway (a native sidecar, before checkout) the LLM keys.
    expect(pod.spec.initContainers.map((c: AnyObj) => c.name)).toEqual(['gateway', 'checkout']);
    expect(pod.spec.containers.map((c: AnyObj) => c.name)).toEqual(['agent', 'publish']);
    const [gateway, checkout] = pod.spec.initContainers;
    const [agent, publish] = pod.spec.containers;
    expect(gateway.restartPolicy).toBe('Always');
    expect(checkout.restartPolicy).toBeUndefined();
    expect(new Set([gateway, checkout, agent, publish].map((c: AnyObj) => c.securityContext.runAsUser)).size).toBe(4);
    expect([gateway, checkout, agent, publish].map((c: AnyObj) => c.args)).toEqual([['gateway'], ['checkout'], ['agent'], ['publish']]);
    expect(new Set([gateway, checkout, agent, publish].map((c: AnyObj) => c.image)).size).toBe(1);
    const volumes = Object.fromEntries(pod.spec.volumes.map((v: AnyObj) => [v.name, v]));
    const mountsOf = (c: AnyObj) => Object.fromEntries(c.volumeMounts.map((m: AnyObj) => [m.mountPath, m]));
    expect(agent.resources.limits.cpu).toBeDefined();
    for (const dir of ['/workspace', '/home/agent', '/tmp']) {
      expect(volumes[mountsOf(agent)[dir].name].emptyDir.sizeLimit).toBeDefined();
    }
    for (const c of [checkout, publish]) {
      const git = mountsOf(c)['/var/run/secrets/sdlc-git'];
      expect(git.readOnly).toBe(true);
      // 0440 for owner and fsGroup; read with the same YAML 1.2 parser the worker uses.
      expect(volumes[git.name].secret.defaultMode).toBe(0o440);
      expect(volumes[mountsOf(c)['/sdlc-git'].name].emptyDir).toBeDefined();
    }
    // The agent mounts no Secret and not the phases' git state.
    for (const m of agent.volumeMounts) expect(volumes[m.name].emptyDir).toBeDefined();
    expect(agent.volumeMounts.map((m: AnyObj) => m.mountPath)).not.toContain('/sdlc-git');
    for (const c of [gateway, checkout, agent, publish]) {
      for (const m of c.volumeMounts) {
        if (m.readOnly) continue;
        expect(volumes[m.name].emptyDir).toBeDefined();
      }
    }
  });
});

/** The default per-task budget each rendering's values set (SDLC_GATEWAY_BUDGET); none elsewhere. */
const BUDGETS: Record<string, object> = {
  'ci/separate-namespace': { maxTokens: 2_000_000, maxCost: 5 },
  'ci/ssh-temporal-cloud': { maxCost: 2.5 },
};

describe('the model gateway holds the LLM keys, the agent none', () => {
  const LLM_DIR = '/var/run/secrets/sdlc-llm';
  const envOf = (c: AnyObj): Record<string, AnyObj> => Object.fromEntries((c.env ?? []).map((e: AnyObj) => [e.name, e]));
  const parts = (label: string) => {
    const { pod } = podTemplateOf(get(label).objs);
    const gateway = pod.spec.initContainers.find((c: AnyObj) => c.name === 'gateway');
    const [agent, publish] = pod.spec.containers;
    const volumes: Record<string, AnyObj> = Object.fromEntries(pod.spec.volumes.map((v: AnyObj) => [v.name, v]));
    return { pod, gateway, agent, publish, volumes, all: [...pod.spec.initContainers, ...pod.spec.containers] as AnyObj[] };
  };

  it.each(labels())('%s: only the gateway mounts the provider keys (read-only, 0440, exactly the providers\' keys); the agent reads no Secret', (label) => {
    const { gateway, agent, volumes, all } = parts(label);
    const keyMount = gateway.volumeMounts.find((m: AnyObj) => m.mountPath === LLM_DIR)!;
    expect(keyMount).toMatchObject({ name: 'llm-keys', readOnly: true });
    const keys = volumes[keyMount.name]!.secret;
    expect(keys.defaultMode).toBe(0o440);
    expect(keys.secretName).toBe(volumes['git-credentials']!.secret.secretName);
    for (const c of all) {
      if (c.name !== 'gateway') expect({ c: c.name, mounts: c.volumeMounts.map((m: AnyObj) => m.name) }).toEqual({ c: c.name, mounts: expect.not.arrayContaining(['llm-keys']) });
    }
    // The keys are files: no container gets one in its env.
    for (const c of all) for (const e of c.env ?? []) expect({ c: c.name, e: e.name, ref: e.valueFrom?.secretKeyRef }).toEqual({ c: c.name, e: e.name, ref: undefined });
    // The agent mounts no Secret volume at all, and not the gateway's state.
    for (const m of agent.volumeMounts) expect({ m: m.name, secret: volumes[m.name]!.secret }).toEqual({ m: m.name, secret: undefined });
    expect(agent.volumeMounts.map((m: AnyObj) => m.name)).not.toContain('gateway-state');
    // SDLC_GATEWAY_PROVIDERS: one key file per provider (relative: in SDLC_GATEWAY_KEYS_DIR, the gateway's
    // mount), each a file of the mounted Secret volume.
    expect(envOf(gateway).SDLC_GATEWAY_KEYS_DIR!.value).toBe(LLM_DIR);
    const providers = JSON.parse(envOf(gateway).SDLC_GATEWAY_PROVIDERS!.value);
    expect(providers.length).toBeGreaterThan(0);
    const files = new Set(keys.items.map((i: AnyObj) => `${LLM_DIR}/${i.path}`));
    expect(keys.items.map((i: AnyObj) => i.key)).toEqual(keys.items.map((i: AnyObj) => i.path));
    const keyFileOf = (p: AnyObj) => path.posix.resolve(LLM_DIR, p.keyFile);
    for (const p of providers) {
      expect(p).toEqual({ id: expect.stringMatching(/^[A-Za-z0-9_-]+$/), api: expect.stringMatching(/^(openai|anthropic)$/), baseURL: expect.stringMatching(/^https:\/\/[^/@]+\/v1$/), keyFile: expect.any(String) });
      expect(path.posix.dirname(keyFileOf(p))).toBe(LLM_DIR);
      expect(files.has(keyFileOf(p))).toBe(true);
    }
    expect(new Set(providers.map((p: AnyObj) => p.id)).size).toBe(providers.length);
    expect([...files].sort()).toEqual([...new Set(providers.map(keyFileOf))].sort());
  });

  it.each(labels())('%s: the agent waits for the gateway\'s ready file in the workspace; publish reads its state read-only', (label) => {
    const { gateway, agent, publish, volumes } = parts(label);
    const g = envOf(gateway);
    expect(g.SDLC_GATEWAY_LISTEN!.value).toBe('127.0.0.1:4318');
    expect(g.SDLC_GATEWAY_READY_FILE!.value).toBe('/workspace/.sdlc-gateway.json');
    expect(envOf(agent).SDLC_GATEWAY_READY_FILE!.value).toBe(g.SDLC_GATEWAY_READY_FILE!.value);
    // Both see the file in the same volume.
    const workspaceOf = (c: AnyObj) => c.volumeMounts.find((m: AnyObj) => m.mountPath === '/workspace')?.name;
    expect(workspaceOf(gateway)).toBe('workspace');
    expect(workspaceOf(agent)).toBe('workspace');
    // The state dir: the gateway writes it, publish reads it (same volume, read-only), nobody else mounts it.
    const stateDir = g.SDLC_GATEWAY_STATE_DIR!.value;
    expect(stateDir).toBe('/sdlc-gateway');
    expect(envOf(publish).SDLC_GATEWAY_STATE_DIR!.value).toBe(stateDir);
    const gwState = gateway.volumeMounts.find((m: AnyObj) => m.mountPath === stateDir)!;
    const pubState = publish.volumeMounts.find((m: AnyObj) => m.mountPath === stateDir);
    expect(gwState.readOnly ?? false).toBe(false);
    expect(pubState).toEqual({ name: gwState.name, mountPath: stateDir, readOnly: true });
    expect(volumes[gwState.name]!.emptyDir).toBeDefined();
    expect(envOf(agent).SDLC_GATEWAY_STATE_DIR).toBeUndefined();
    // Its own writable /tmp; the hardened context of the others, a small footprint.
    expect(volumes[gateway.volumeMounts.find((m: AnyObj) => m.mountPath === '/tmp')!.name]!.emptyDir.sizeLimit).toBeDefined();
    expect(gateway.resources.limits.memory).toBeDefined();
  });

  it.each(labels())('%s: pricing is a JSON table; the default budget is set only where the values set one', (label) => {
    const { gateway } = parts(label);
    const g = envOf(gateway);
    const pricing = JSON.parse(g.SDLC_GATEWAY_PRICING!.value);
    for (const price of Object.values<AnyObj>(pricing)) expect(price).toMatchObject({ input: expect.any(Number), output: expect.any(Number) });
    expect(pricing['claude-sonnet-4-5']).toEqual({ input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 });
    if (label === 'ci/ssh-temporal-cloud') expect(pricing['openai/gpt-5-codex']).toEqual({ input: 1.25, output: 10, cacheRead: 0.125 });
    const budget = BUDGETS[label];
    if (budget) expect(JSON.parse(g.SDLC_GATEWAY_BUDGET!.value)).toEqual(budget);
    else expect(g.SDLC_GATEWAY_BUDGET).toBeUndefined();
  });

  it('a uid of its own (agents.gateway.runAsUser, default 10004); the values table names each provider\'s parts', async () => {
    expect(parts('ci/default').gateway.securityContext.runAsUser).toBe(10004);
    expect(parts('ci/ssh-temporal-cloud').gateway.securityContext.runAsUser).toBe(20004);
    const providers = JSON.parse(envOf(parts('ci/ssh-temporal-cloud').gateway).SDLC_GATEWAY_PROVIDERS!.value);
    expect(providers).toEqual([
      { id: 'anthropic', api: 'anthropic', baseURL: 'https://api.anthropic.com/v1', keyFile: 'anthropic-api-key' },
      { id: 'openai', api: 'openai', baseURL: 'https://api.openai.com/v1', keyFile: 'openai-api-key' },
    ]);
    // Two providers sharing one Secret key: one volume item, one ExternalSecret entry.
    const objs = await render({ valuesFiles: [ci('ssh-temporal-cloud')], set: ['agents.llmProviders[1].secretKey=anthropic-api-key'] });
    const { pod } = podTemplateOf(objs);
    expect(pod.spec.volumes.find((v: AnyObj) => v.name === 'llm-keys').secret.items).toEqual([{ key: 'anthropic-api-key', path: 'anthropic-api-key' }]);
    expect((find(objs, 'ExternalSecret', '-agent') as AnyObj).spec.data.map((d: AnyObj) => d.secretKey)).toEqual(['ssh-privatekey', 'known_hosts', 'anthropic-api-key', 'opencode-server-password']);
  });

  it('a budget from --set (ints and a JSON number) and pricing entries dropped with null', async () => {
    const objs = await render({ set: ['agents.budget.maxTokensPerTask=300000', 'agents.gateway.pricing.gpt-5=null'], setJson: ['agents.budget.maxCostPerTask=0.75'] });
    const gateway = podTemplateOf(objs).pod.spec.initContainers[0];
    expect(JSON.parse(envOf(gateway).SDLC_GATEWAY_BUDGET!.value)).toEqual({ maxTokens: 300000, maxCost: 0.75 });
    const pricing = JSON.parse(envOf(gateway).SDLC_GATEWAY_PRICING!.value);
    expect(pricing['gpt-5']).toBeUndefined();
    expect(pricing['gpt-5-mini']).toBeDefined();
  });
});

describe('agent pod template contract (the worker parses it)', () => {
  it.each(labels())('%s: the worker builds a valid task pod from the template', (label) => {
    const { objs } = get(label);
    const { text, pod } = podTemplateOf(objs);
    const template = parsePodTemplate(text, `${label} pod template`);
    const name = podName('run-1', 'T012', 1);
    const built = buildPodManifest(
      template,
      {
        name,
        labels: { [LABELS.run]: 'run-1', [LABELS.task]: 'T012', [LABELS.attempt]: '1' },
        annotations: {},
        env: { [AGENT_ENV.TASK_ID]: 'T012', [AGENT_ENV.REPO_URL]: 'https://git.example.com/o/r.git' },
        activeDeadlineSeconds: 900,
      },
      pod.metadata.namespace!,
    ) as AnyObj;
    expect(built.metadata.name).toBe(name);
    expect(built.spec.activeDeadlineSeconds).toBe(900);
    const envOf = (c: AnyObj) => Object.fromEntries(c.env.map((e: AnyObj) => [e.name, e]));
    for (const c of [...built.spec.initContainers, ...built.spec.containers]) expect(envOf(c)[AGENT_ENV.TASK_ID].value).toBe('T012');
    expect(built.spec.initContainers.map((c: AnyObj) => [c.name, c.restartPolicy])).toEqual([['gateway', 'Always'], ['checkout', undefined]]);
    expect(envOf(built.spec.containers[0])[AGENT_ENV.GIT_TOKEN_FILE]).toBeUndefined();
    const env = envOf(built.spec.containers[1]);
    // Git credentials: files mounted from the agent Secret, pointed at by env (never the secret itself).
    const auth = env[AGENT_ENV.GIT_TOKEN_FILE]
      ? { [AGENT_ENV.GIT_TOKEN_FILE]: '/var/run/secrets/sdlc-git/token' }
      : {
          [AGENT_ENV.GIT_SSH_KEY_FILE]: '/var/run/secrets/sdlc-git/ssh-privatekey',
          [AGENT_ENV.GIT_KNOWN_HOSTS_FILE]: '/var/run/secrets/sdlc-git/known_hosts',
        };
    for (const [k, v] of Object.entries(auth)) expect(env[k].value).toBe(v);
    const gitVolume = built.spec.volumes.find((v: AnyObj) => v.name === 'git-credentials');
    const files = gitVolume.secret.items.map((i: AnyObj) => `/var/run/secrets/sdlc-git/${i.path}`).sort();
    expect(files).toEqual(Object.values(auth).sort());

    // The NetworkPolicy for agents (when rendered) selects the pods the worker builds.
    const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name.endsWith('-agent')) as AnyObj | undefined;
    if (np) {
      expect(np.metadata.namespace).toBe(pod.metadata.namespace);
      for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels)) expect(built.metadata.labels[k]).toBe(v);
      expect(built.metadata.labels[LABELS.managedBy]).toBe(MANAGED_BY);
    }
  });
});

describe('a run\'s budget replaces the chart\'s default in the pod the worker builds', () => {
  it.each(['ci/separate-namespace', 'ci/default'])('%s: the task env\'s SDLC_GATEWAY_BUDGET is the gateway\'s only one; without it the template\'s stays', (label) => {
    const { text, pod } = podTemplateOf(get(label).objs);
    const build = (env: Record<string, string>) =>
      buildPodManifest(
        parsePodTemplate(text),
        { name: podName('run-1', 'T012', 1), labels: { [LABELS.run]: 'run-1', [LABELS.task]: 'T012', [LABELS.attempt]: '1' }, annotations: {}, env, activeDeadlineSeconds: 900 },
        pod.metadata.namespace!,
      ) as AnyObj;
    const budgetsOf = (built: AnyObj) => {
      const gateway = built.spec.initContainers.find((c: AnyObj) => c.name === 'gateway');
      return gateway.env.filter((e: AnyObj) => e.name === AGENT_ENV.GATEWAY_BUDGET).map((e: AnyObj) => JSON.parse(e.value));
    };
    const run = build({ [AGENT_ENV.TASK_ID]: 'T012', [AGENT_ENV.GATEWAY_BUDGET]: JSON.stringify({ maxTokens: 1000 }) });
    expect(budgetsOf(run)).toEqual([{ maxTokens: 1000 }]);
    expect(budgetsOf(build({ [AGENT_ENV.TASK_ID]: 'T012' }))).toEqual(BUDGETS[label] ? [BUDGETS[label]] : []);
  });
});

describe('RBAC', () => {
  it.each(labels())('%s: the worker may only run pods and read their logs, in the agent namespace', (label) => {
    const { objs, releaseNs } = get(label);
    expect(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
    const roles = objs.filter((o) => o.kind === 'Role') as AnyObj[];
    expect(roles).toHaveLength(1);
    const role = roles[0]!;
    const agentNs = podTemplateOf(objs).pod.metadata.namespace;
    expect(role.metadata.namespace).toBe(agentNs);
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ]);
    const binding = find(objs, 'RoleBinding') as AnyObj;
    expect(binding.metadata.namespace).toBe(agentNs);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    const deployment = find(objs, 'Deployment', '-worker') as AnyObj;
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: deployment.spec.template.spec.serviceAccountName, namespace: releaseNs },
    ]);
  });

  it.each(labels())('%s: the agents\' ServiceAccount (when created) mounts no token and is bound to nothing', (label) => {
    const { objs } = get(label);
    const { pod } = podTemplateOf(objs);
    const sa = objs.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.spec.serviceAccountName) as AnyObj | undefined;
    if (sa) expect(sa.automountServiceAccountToken).toBe(false);
    const subjects = objs.filter((o) => o.kind === 'RoleBinding').flatMap((b) => (b as AnyObj).subjects);
    expect(subjects.map((s: AnyObj) => s.name)).not.toContain(pod.spec.serviceAccountName);
  });
});

describe('secrets stay out of ConfigMaps and plain env', () => {
  it.each(labels())('%s: no Secret objects, no credential in any ConfigMap, secret-like env only via secretKeyRef', (label) => {
    const { objs } = get(label);
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const cm of objs.filter((o) => o.kind === 'ConfigMap') as AnyObj[]) {
      for (const [k, v] of Object.entries<string>(cm.data ?? {})) {
        // Credentials reach the worker as mounted files: a secret-looking key may only hold a path.
        if (SECRET_NAME.test(k) || /TLS_(CERT|KEY|CA)/.test(k)) {
          expect({ k, v }).toEqual({ k: expect.stringMatching(/_FILE$/), v: expect.stringMatching(/^\/var\/run\/secrets\/[a-z-]+\/[a-z.-]+$/) });
        }
        expect(v).not.toMatch(/-----BEGIN|ghp_|github_pat_|sk-ant-|sk-[A-Za-z0-9]{20}|AKIA[0-9A-Z]{16}|xox[bp]-/);
      }
    }
    const { pod } = podTemplateOf(objs);
    const deployment = find(objs, 'Deployment', '-worker') as AnyObj;
    const podContainers: AnyObj[] = [...pod.spec.initContainers, ...pod.spec.containers];
    const envs = [...podContainers.flatMap((c) => c.env ?? []), ...deployment.spec.template.spec.containers[0].env];
    for (const e of envs) {
      if (SECRET_NAME.test(e.name) && !e.name.endsWith('_FILE')) {
        expect({ name: e.name, value: e.value, secretKeyRef: e.valueFrom?.secretKeyRef?.key }).toEqual({
          name: e.name,
          value: undefined,
          secretKeyRef: expect.any(String),
        });
      }
    }
  });
});

describe('names', () => {
  const longRelease = 'a-very-long-release-name-for-the-agent-runner-chart-x'; // 53: Helm's maximum
  it('stay valid DNS labels of at most 63 characters with a 53-character release name', async () => {
    expect(longRelease).toHaveLength(53);
    for (const valuesFiles of [[ci('default')], [ci('separate-namespace')], [ci('ssh-temporal-cloud')]]) {
      const objs = await render({ release: longRelease, valuesFiles });
      const seen = new Set<string>();
      for (const o of objs) {
        expect({ kind: o.kind, name: o.metadata.name, ok: DNS1123_LABEL.test(o.metadata.name) && o.metadata.name.length <= 63 }).toEqual({
          kind: o.kind,
          name: o.metadata.name,
          ok: true,
        });
        const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        expect(seen.has(key)).toBe(false);
        seen.add(key);
        for (const v of Object.values(o.metadata.labels ?? {})) expect(v.length).toBeLessThanOrEqual(63);
      }
      // Suffixes survive truncation, so objects stay distinguishable.
      expect(find(objs, 'ConfigMap', '-pod-template').metadata.name).toMatch(/-pod-template$/);
      expect(find(objs, 'ConfigMap', '-config').metadata.name).toMatch(/-config$/);
      const { pod } = podTemplateOf(objs);
      for (const v of Object.values(pod.metadata.labels ?? {})) expect(String(v).length).toBeLessThanOrEqual(63);
      expect(pod.metadata.labels?.['sdlc-runner.dev/release']).toBeTruthy();
    }
  });
});

describe('ExternalSecrets (external-secrets.io/v1)', () => {
  const keysOf = (es: AnyObj) => es.spec.data.map((d: AnyObj) => d.secretKey);
  it('default: the agent Secret holds the git token and the LLM key; the worker Secret its read token', () => {
    const { objs } = get('ci/default');
    const es = objs.filter((o) => o.kind === 'ExternalSecret') as AnyObj[];
    // The agent's, the worker's and the egress ticket key ring's (the proxy mode's, tested with the proxy).
    expect(es.map((e) => e.apiVersion)).toEqual(['external-secrets.io/v1', 'external-secrets.io/v1', 'external-secrets.io/v1']);
    const agent = find(objs, 'ExternalSecret', '-agent') as AnyObj;
    const worker = find(objs, 'ExternalSecret', '-worker') as AnyObj;
    expect(keysOf(agent)).toEqual(['token', 'anthropic-api-key']);
    expect(keysOf(worker)).toEqual(['git-read-token']);
    for (const e of [agent, worker]) {
      expect(e.spec.refreshInterval).toBe('1h');
      expect(e.spec.secretStoreRef).toEqual({ kind: 'ClusterSecretStore', name: 'agentic-sdlc-runner' });
      expect(e.spec.target.name).toBe(e.metadata.name);
    }
    expect(agent.spec.data[0].remoteRef).toEqual({ key: 'agentic-sdlc-runner/git', property: 'token' });
  });

  it('ssh + Temporal Cloud: SSH key files, two LLM keys, the OpenCode password, API key and mTLS files', () => {
    const { objs } = get('ci/ssh-temporal-cloud');
    const agent = find(objs, 'ExternalSecret', '-agent') as AnyObj;
    const worker = find(objs, 'ExternalSecret', '-worker') as AnyObj;
    expect(keysOf(agent)).toEqual(['ssh-privatekey', 'known_hosts', 'anthropic-api-key', 'openai-api-key', 'opencode-server-password']);
    expect(keysOf(worker)).toEqual(['git-read-token', 'temporal-api-key', 'tls.crt', 'tls.key', 'ca.crt']);
    expect(agent.spec.secretStoreRef).toEqual({ kind: 'SecretStore', name: 'vault' });
    expect(agent.spec.refreshInterval).toBe('15m');
  });

  it.each(labels())('%s: every Secret key the pods read is one an ExternalSecret provides (or none are rendered)', (label) => {
    const { objs } = get(label);
    const es = objs.filter((o) => o.kind === 'ExternalSecret') as AnyObj[];
    const provided = new Map<string, Set<string>>(es.map((e) => [`${e.metadata.namespace}/${e.spec.target.name}`, new Set(keysOf(e))]));
    const { pod } = podTemplateOf(objs);
    const deployment = find(objs, 'Deployment', '-worker') as AnyObj;
    const needs: [string, string][] = [];
    for (const e of pod.spec.containers[0].env) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) needs.push([`${pod.metadata.namespace}/${ref.name}`, ref.key]);
    }
    for (const v of pod.spec.volumes) {
      for (const item of v.secret?.items ?? []) needs.push([`${pod.metadata.namespace}/${v.secret.secretName}`, item.key]);
    }
    const cm = find(objs, 'ConfigMap', '-config') as AnyObj;
    // Every Secret volume of the worker and the egress proxy: the keys it lists, and (the worker) the
    // *_FILE paths of its config that lie under the volume's mount.
    for (const d of objs.filter((o) => o.kind === 'Deployment') as AnyObj[]) {
      for (const v of d.spec.template.spec.volumes.filter((x: AnyObj) => x.secret)) {
        const secret = `${d.metadata.namespace}/${v.secret.secretName}`;
        for (const item of v.secret.items ?? []) needs.push([secret, item.key]);
        if (d !== deployment) continue;
        const mount = d.spec.template.spec.containers[0].volumeMounts.find((m: AnyObj) => m.name === v.name);
        for (const [k, file] of Object.entries<string>(cm.data)) {
          if (k.endsWith('_FILE') && file.startsWith(`${mount.mountPath}/`)) needs.push([secret, file.slice(mount.mountPath.length + 1)]);
        }
      }
    }
    expect(needs.length).toBeGreaterThan(2);
    if (es.length === 0) return; // Secrets managed out of band (existing-secrets scenario).
    for (const [secret, key] of needs) {
      expect({ secret, key, provided: provided.get(secret)?.has(key) ?? false }).toEqual({ secret, key, provided: true });
    }
  });

  it('the worker Secret is optional unless it holds Temporal credentials (a store without a read token must not keep the worker from starting)', () => {
    const secretVolume = (label: string) => (find(get(label).objs, 'Deployment', '-worker') as AnyObj).spec.template.spec.volumes.find((v: AnyObj) => v.secret).secret;
    expect(secretVolume('ci/default').optional).toBe(true);
    expect(secretVolume('ci/existing-secrets').optional).toBe(true);
    expect(secretVolume('ci/ssh-temporal-cloud').optional).toBeUndefined();
  });

  it('secrets.worker.gitReadToken=null (public repositories): no read-token entry, no SDLC_GIT_TOKEN_FILE, and no empty worker ExternalSecret', async () => {
    const plain = await render({ set: ['secrets.worker.gitReadToken=null'] });
    expect(plain.filter((o) => o.kind === 'ExternalSecret').map((o) => o.metadata.name)).toEqual(['sdlc-agentic-sdlc-agent-runner-agent', 'sdlc-agentic-sdlc-agent-runner-egress-ticket-keys']);
    expect(Object.keys((find(plain, 'ConfigMap', '-config') as AnyObj).data)).not.toContain('SDLC_GIT_TOKEN_FILE');
    const cloud = await render({ valuesFiles: [ci('ssh-temporal-cloud')], set: ['secrets.worker.gitReadToken=null'] });
    expect(keysOf(find(cloud, 'ExternalSecret', '-worker'))).toEqual(['temporal-api-key', 'tls.crt', 'tls.key', 'ca.crt']);
  });

  it('existing secrets: no ExternalSecret, the pods use the given Secret names', () => {
    const { objs } = get('ci/existing-secrets');
    expect(objs.filter((o) => o.kind === 'ExternalSecret')).toEqual([]);
    const { pod } = podTemplateOf(objs);
    expect(pod.spec.volumes.find((v: AnyObj) => v.name === 'git-credentials').secret.secretName).toBe('sdlc-agent-credentials');
    const deployment = find(objs, 'Deployment', '-worker') as AnyObj;
    expect(deployment.spec.template.spec.volumes.find((v: AnyObj) => v.secret).secret.secretName).toBe('sdlc-worker-credentials');
    expect(deployment.spec.template.spec.serviceAccountName).toBe('sdlc-worker');
    expect(pod.spec.serviceAccountName).toBe('sdlc-agent');
    expect(objs.filter((o) => o.kind === 'ServiceAccount')).toEqual([]);
  });
});

describe('NOTES without External Secrets', () => {
  it('name every key the pods read from the Secrets the operator must create (mTLS, CA, API key, OpenCode password)', async () => {
    const r = await helm(
      [...templateArgs({ valuesFiles: [ci('existing-secrets')], set: [
        'temporal.tls.enabled=true', 'temporal.tls.clientCertificate=true', 'temporal.tls.customCA=true', 'temporal.apiKey.enabled=true',
        'agents.opencodeServerPassword.enabled=true',
      ] }).map((a) => (a === 'template' ? 'install' : a)), '--dry-run=client'],
      { env: { ...process.env, KUBECONFIG: '/dev/null' } },
    );
    expect(r.stderr).toBe('');
    const keysOf = (secret: string) => {
      const line = r.stdout.split('\n').find((l) => l.trim().startsWith(`${secret} in `));
      return (/\(keys: (.*)\)/.exec(line ?? '')?.[1] ?? '').split(', ').sort();
    };
    expect(keysOf('sdlc-worker-credentials')).toEqual(['ca.crt', 'git-read-token', 'temporal-api-key', 'tls.crt', 'tls.key']);
    expect(keysOf('sdlc-agent-credentials')).toEqual(['anthropic-api-key', 'opencode-server-password', 'token']);
  });
});

describe('worker Deployment and its config', () => {
  const CONTRACT_ENV = [
    'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_TLS', 'SDLC_K8S_NAMESPACE', 'SDLC_POD_TEMPLATE_FILE',
    'SDLC_HEALTH_PORT', 'SDLC_METRICS_PORT', 'SDLC_SHUTDOWN_GRACE_SECONDS', 'SDLC_MAX_CONCURRENT_ACTIVITIES', 'SDLC_MAX_CONCURRENT_WORKFLOW_TASKS', 'SDLC_WORKFLOW_TASK_POLLERS', 'SDLC_GIT_TOKEN_FILE', 'SDLC_GIT_USERNAME',
    'SDLC_DEFAULT_TASK_TIMEOUT_MINUTES', 'SDLC_DEFAULT_PENDING_TIMEOUT_MINUTES', 'SDLC_DEFAULT_MAX_PARALLEL',
  ];

  it.each(labels())('%s: runs the built worker with probes, ports, config and a grace period longer than its drain', (label) => {
    const { objs, releaseNs } = get(label);
    const d = find(objs, 'Deployment', '-worker') as AnyObj;
    const cm = find(objs, 'ConfigMap', '-config') as AnyObj;
    const podTemplateCm = find(objs, 'ConfigMap', '-pod-template') as AnyObj;
    const spec = d.spec.template.spec;
    const [c] = spec.containers;
    expect(c.command).toEqual(['node', ...WORKER_NODE_ARGS, 'dist/worker/main.js']);
    expect(c.workingDir).toBe('/app');
    expect(c.envFrom).toEqual([{ configMapRef: { name: cm.metadata.name } }]);
    for (const k of CONTRACT_ENV) expect(Object.keys(cm.data)).toContain(k);
    expect(cm.data.TEMPORAL_TASK_QUEUE).toBe('agentic-sdlc');
    expect(cm.data.SDLC_K8S_NAMESPACE).toBe(podTemplateOf(objs).pod.metadata.namespace);
    // The worker's branch checks use the agents' HTTPS username (SSH agents have none: the value's default).
    const agentEnv = Object.fromEntries(podTemplateOf(objs).pod.spec.containers[0].env.map((e: AnyObj) => [e.name, e.value]));
    expect(cm.data.SDLC_GIT_USERNAME).toBe(agentEnv.SDLC_GIT_USERNAME ?? 'x-access-token');
    const ports = Object.fromEntries(c.ports.map((p: AnyObj) => [p.name, p.containerPort]));
    expect(ports).toEqual({ health: Number(cm.data.SDLC_HEALTH_PORT), metrics: Number(cm.data.SDLC_METRICS_PORT) });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(Number(cm.data.SDLC_SHUTDOWN_GRACE_SECONDS));
    expect(spec.automountServiceAccountToken).toBe(true);
    // SDLC_POD_TEMPLATE_FILE is the mounted pod-template ConfigMap key.
    const configVolume = spec.volumes.find((v: AnyObj) => v.configMap?.name === podTemplateCm.metadata.name);
    const configMount = c.volumeMounts.find((m: AnyObj) => m.name === configVolume.name);
    expect(`${configMount.mountPath}/pod-template.yaml`).toBe(cm.data.SDLC_POD_TEMPLATE_FILE);
    expect(d.metadata.namespace).toBe(releaseNs);
    expect(Object.keys(d.spec.template.metadata.annotations)).toEqual(expect.arrayContaining(['checksum/config', 'checksum/pod-template']));
    // The metrics Service (when rendered) targets the metrics port of these pods.
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name.endsWith('-metrics')) as AnyObj | undefined;
    if (svc) {
      expect(svc.spec.ports).toEqual([{ name: 'metrics', port: ports.metrics, targetPort: 'metrics', protocol: 'TCP' }]);
      for (const [k, v] of Object.entries(svc.spec.selector)) expect(d.spec.template.metadata.labels[k]).toBe(v);
    }
  });

  it('TLS, mTLS and API key for Temporal Cloud become file paths in the config', () => {
    const cm = find(get('ci/ssh-temporal-cloud').objs, 'ConfigMap', '-config') as AnyObj;
    expect(cm.data).toMatchObject({
      TEMPORAL_ADDRESS: 'my-ns.a1b2c.tmprl.cloud:7233',
      TEMPORAL_TLS: 'true',
      TEMPORAL_TLS_SERVER_NAME: 'my-ns.a1b2c.tmprl.cloud',
      TEMPORAL_TLS_CERT_FILE: '/var/run/secrets/sdlc-runner/tls.crt',
      TEMPORAL_TLS_KEY_FILE: '/var/run/secrets/sdlc-runner/tls.key',
      TEMPORAL_TLS_CA_FILE: '/var/run/secrets/sdlc-runner/ca.crt',
      TEMPORAL_API_KEY_FILE: '/var/run/secrets/sdlc-runner/temporal-api-key',
    });
    const d = find(get('ci/ssh-temporal-cloud').objs, 'Deployment', '-worker') as AnyObj;
    expect(d.spec.template.spec.containers[0].image).toBe(
      'ghcr.io/agentic-sdlc-runner/worker@sha256:0000000000000000000000000000000000000000000000000000000000000001',
    );
  });

  it("worker.nodeArgs: [] runs the worker with Node's defaults; a flag that is not one is refused by the schema", async () => {
    const d = find(await render({ setJson: ['worker.nodeArgs=[]'] }), 'Deployment', '-worker') as AnyObj;
    expect(d.spec.template.spec.containers[0].command).toEqual(['node', 'dist/worker/main.js']);
    await expect(render({ set: ['worker.nodeArgs[0]=dist/other.js'] })).rejects.toThrow(/nodeArgs/);
  });

  it('agents.git.username reaches the worker too (a deploy token with its own user verifies branches)', async () => {
    const objs = await render({ set: ['agents.git.username=gitlab+deploy-token-42'] });
    expect((find(objs, 'ConfigMap', '-config') as AnyObj).data.SDLC_GIT_USERNAME).toBe('gitlab+deploy-token-42');
  });

  it('a ServiceMonitor scrapes the metrics Service when enabled', () => {
    const { objs } = get('ci/separate-namespace');
    const sm = find(objs, 'ServiceMonitor') as AnyObj;
    const svc = find(objs, 'Service', '-metrics') as AnyObj;
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
  });
});

describe('worker PodDisruptionBudget (policy/v1)', () => {
  /** The worker's PodDisruptionBudgets (the egress proxy has its own, tested with the proxy). */
  const pdbs = (objs: K8sObject[]) => objs.filter((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name.endsWith('-worker')) as AnyObj[];

  it.each(['stg', 'prod'] as const)('release %s: 2 workers and a PDB that selects exactly the worker pods, one eviction at a time', (env) => {
    const { objs, releaseNs } = get(`release ${env}`);
    const d = find(objs, 'Deployment', '-worker') as AnyObj;
    const [pdb] = pdbs(objs);
    expect(pdbs(objs)).toHaveLength(1);
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(pdb!.apiVersion).toBe('policy/v1');
    expect(pdb!.metadata).toMatchObject({ name: `${releaseName(env)}-worker`, namespace: releaseNs });
    // The same selector as the Deployment, no more, no fewer labels; every worker pod carries them.
    expect(pdb!.spec.selector).toEqual({ matchLabels: d.spec.selector.matchLabels });
    for (const [k, v] of Object.entries(pdb!.spec.selector.matchLabels)) expect(d.spec.template.metadata.labels[k]).toBe(v);
    expect(pdb!.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('worker');
    expect(pdb!.spec.maxUnavailable).toBe(1);
    expect(pdb!.spec).not.toHaveProperty('minAvailable');
    // It selects no other pod the release renders: not the agent pod template's labels.
    const agentLabels = podTemplateOf(objs).pod.metadata.labels ?? {};
    expect(Object.entries(pdb!.spec.selector.matchLabels).every(([k, v]) => agentLabels[k] === v)).toBe(false);
  });

  it.each(['release dev', 'ci/default', 'ci/ssh-temporal-cloud', 'ci/existing-secrets'])('%s: no worker PodDisruptionBudget', (label) => {
    expect(pdbs(get(label).objs)).toEqual([]);
  });

  it('minAvailable (a percentage) instead of maxUnavailable: rendered as a string, the other field absent', () => {
    const objs = get('ci/separate-namespace').objs;
    const d = find(objs, 'Deployment', '-worker') as AnyObj;
    const pdb = find(objs, 'PodDisruptionBudget', '-worker') as AnyObj;
    expect(pdb.spec).toEqual({ selector: { matchLabels: d.spec.selector.matchLabels }, minAvailable: '50%' });
  });

  it('enabled with the chart defaults (neither field set): maxUnavailable 1; an integer stays an integer (0 is kept, not defaulted)', async () => {
    const on = find(await render({ set: ['worker.podDisruptionBudget.enabled=true'] }), 'PodDisruptionBudget', '-worker') as AnyObj;
    expect(on.spec.maxUnavailable).toBe(1);
    expect(on.metadata.name).toBe('sdlc-agentic-sdlc-agent-runner-worker');
    const zero = find(await render({ set: ['worker.podDisruptionBudget.enabled=true', 'worker.podDisruptionBudget.maxUnavailable=0'] }), 'PodDisruptionBudget', '-worker') as AnyObj;
    expect(zero.spec.maxUnavailable).toBe(0);
  });
});

describe('network policies and the agent namespace', () => {
  it('egress.mode=rules: agents get no ingress and egress only to DNS (53), git (443, 22) and LLM APIs (443); the worker also reaches Temporal, in either mode alike', () => {
    const { objs } = get('ci/default');
    const agent = find(get('ci/egress-rules').objs, 'NetworkPolicy', '-agent') as AnyObj;
    expect(agent.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(agent.spec.ingress).toEqual([]);
    const agentPorts = new Set(agent.spec.egress.flatMap((r: AnyObj) => r.ports.map((p: AnyObj) => p.port)));
    expect([...agentPorts].sort()).toEqual([22, 443, 53]);
    for (const rule of agent.spec.egress) expect(rule.to.length).toBeGreaterThan(0);
    const worker = find(objs, 'NetworkPolicy', '-worker') as AnyObj;
    const workerPorts = new Set(worker.spec.egress.flatMap((r: AnyObj) => r.ports.map((p: AnyObj) => p.port)));
    expect([...workerPorts].sort((a: any, b: any) => a - b)).toEqual([22, 53, 443, 6443, 7233]);
    expect(worker.spec.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 9464, protocol: 'TCP' }] },
    ]);
    // The worker's policy does not depend on the egress mode.
    expect(find(get('ci/egress-rules').objs, 'NetworkPolicy', '-worker')).toEqual(worker);
  });

  it('separate agent namespace: created with Pod Security "restricted", holds the Role, quota and LimitRange', () => {
    const { objs } = get('ci/separate-namespace');
    const ns = find(objs, 'Namespace') as AnyObj;
    expect(ns.metadata.name).toBe('sdlc-agents');
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const kind of ['Role', 'RoleBinding', 'ResourceQuota', 'LimitRange', 'ExternalSecret', 'NetworkPolicy']) {
      const inAgentNs = objs.filter((o) => o.kind === kind && o.metadata.namespace === 'sdlc-agents');
      expect({ kind, count: inAgentNs.length }).toEqual({ kind, count: 1 });
    }
    expect(podTemplateOf(objs).pod.metadata.namespace).toBe('sdlc-agents');
    expect((find(objs, 'ConfigMap', '-config') as AnyObj).data.SDLC_K8S_NAMESPACE).toBe('sdlc-agents');
  });

  it('Temporal Cloud scenario: the worker may reach a public address on 7233 (Temporal Cloud), not a private one', () => {
    const ipv4 = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const inCidr = (ip: string, cidr: string) => {
      const [base, bits] = cidr.split('/');
      const size = 2 ** (32 - Number(bits));
      return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base!) / size);
    };
    /** Whether the policy's egress rules let `ip` through on TCP `port` (ipBlock peers only). */
    const allows = (np: AnyObj, ip: string, port: number) =>
      np.spec.egress.some(
        (r: AnyObj) =>
          r.ports.some((p: AnyObj) => p.port === port && (p.protocol ?? 'TCP') === 'TCP') &&
          r.to.some((peer: AnyObj) => peer.ipBlock && inCidr(ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((e: string) => inCidr(ip, e))),
      );
    const cloud = find(get('ci/ssh-temporal-cloud').objs, 'NetworkPolicy', '-worker') as AnyObj;
    expect((find(get('ci/ssh-temporal-cloud').objs, 'ConfigMap', '-config') as AnyObj).data.TEMPORAL_ADDRESS).toMatch(/\.tmprl\.cloud:7233$/);
    expect(allows(cloud, '34.120.5.9', 7233)).toBe(true);
    expect(allows(cloud, '10.1.2.3', 7233)).toBe(false);
    // The default (in-cluster Temporal) does not open 7233 to the internet.
    expect(allows(find(get('ci/default').objs, 'NetworkPolicy', '-worker') as AnyObj, '34.120.5.9', 7233)).toBe(false);
  });

  it('no NetworkPolicy when disabled', () => {
    expect(get('ci/existing-secrets').objs.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });
});

describe('egress proxy (egress.mode: proxy, the default and every release\'s)', () => {
  /** Every rendering but the rules scenario runs the proxy. */
  const proxyLabels = (): string[] => labels().filter((l) => l !== 'ci/egress-rules');
  const envOf = (c: AnyObj): Record<string, string> => Object.fromEntries((c.env ?? []).map((e: AnyObj) => [e.name, e.value]));
  const parts = (label: string) => {
    const { objs, releaseNs } = get(label);
    const deployment = find(objs, 'Deployment', '-egress-proxy') as AnyObj;
    const container = deployment.spec.template.spec.containers[0] as AnyObj;
    return {
      objs,
      releaseNs,
      deployment,
      container,
      env: envOf(container),
      worker: find(objs, 'Deployment', '-worker') as AnyObj,
      cm: (find(objs, 'ConfigMap', '-config') as AnyObj).data as Record<string, string>,
      service: find(objs, 'Service', '-egress-proxy') as AnyObj,
      agentNs: podTemplateOf(objs).pod.metadata.namespace as string,
    };
  };
  const DNS_RULE = {
    to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
    ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }],
  };
  /** A task pod as the worker builds it from the template (its labels are what the policies select). */
  const builtAgentPod = (objs: K8sObject[]): AnyObj => {
    const { text, pod } = podTemplateOf(objs);
    return buildPodManifest(
      parsePodTemplate(text),
      { name: podName('run-1', 'T012', 1), labels: { [LABELS.run]: 'run-1', [LABELS.task]: 'T012', [LABELS.attempt]: '1' }, annotations: {}, env: {}, activeDeadlineSeconds: 900 },
      pod.metadata.namespace!,
    ) as AnyObj;
  };
  const selects = (selector: Record<string, string>, podLabels: Record<string, string>) => Object.entries(selector).every(([k, v]) => podLabels[k] === v);

  it.each(proxyLabels())('%s: the agent NetworkPolicy allows exactly DNS and the proxy pods on 3128 (in the release namespace), nothing else', (label) => {
    const { objs, releaseNs, deployment, worker } = parts(label);
    const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name.endsWith('-agent')) as AnyObj | undefined;
    if (label === 'ci/existing-secrets') return expect(np).toBeUndefined();
    expect(np!.spec.ingress).toEqual([]);
    expect(np!.spec.egress).toEqual([
      DNS_RULE,
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': releaseNs } }, podSelector: { matchLabels: deployment.spec.selector.matchLabels } }],
        ports: [{ port: 3128, protocol: 'TCP' }],
      },
    ]);
    // That podSelector picks the proxy pods and no worker pod.
    expect(selects(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
    expect(selects(deployment.spec.selector.matchLabels, worker.spec.template.metadata.labels)).toBe(false);
    expect(deployment.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('egress-proxy');
  });

  it.each(proxyLabels())('%s: the proxy NetworkPolicy admits only this release\'s agent pods on 3128; egress DNS and public addresses on TCP, never the denied ranges', (label) => {
    const { objs, deployment, agentNs } = parts(label);
    const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name.endsWith('-egress-proxy')) as AnyObj | undefined;
    if (label === 'ci/existing-secrets') return expect(np).toBeUndefined();
    expect(np!.metadata.namespace).toBe(deployment.metadata.namespace);
    expect(np!.spec.podSelector).toEqual({ matchLabels: deployment.spec.selector.matchLabels });
    expect(np!.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const agentNp = find(objs, 'NetworkPolicy', '-agent') as AnyObj;
    expect(np!.spec.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': agentNs } }, podSelector: agentNp.spec.podSelector }], ports: [{ port: 3128, protocol: 'TCP' }] },
    ]);
    // The pods the worker builds carry those labels.
    expect(selects(agentNp.spec.podSelector.matchLabels, builtAgentPod(objs).metadata.labels)).toBe(true);
    const [dns, out, ...rest] = np!.spec.egress;
    expect(rest).toEqual([]);
    expect(dns).toEqual(DNS_RULE);
    // All TCP ports (the proxy enforces host:port per ticket); the ranges are the NetworkPolicy's part.
    expect(out.ports).toEqual([{ protocol: 'TCP' }]);
    expect(out.to).toEqual([
      { ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'] } },
      { ipBlock: { cidr: '::/0', except: ['fe80::/10', 'fc00::/7'] } },
    ]);
  });

  it.each(proxyLabels())('%s: the proxy runs node dist/src/egress/main.js from the worker image, restricted, with probes on /healthz and a grace above its drain', (label) => {
    const { deployment, container, env, worker, releaseNs } = parts(label);
    const spec = deployment.spec.template.spec;
    expect(deployment.metadata.namespace).toBe(releaseNs);
    expect(container.image).toBe(worker.spec.template.spec.containers[0].image);
    expect(container.imagePullPolicy).toBe(worker.spec.template.spec.containers[0].imagePullPolicy);
    expect(container.command).toEqual(['node', 'dist/src/egress/main.js']);
    expect(container.workingDir).toBe('/app');
    expect(container.ports).toEqual([{ name: 'proxy', containerPort: 3128, protocol: 'TCP' }]);
    expect(env.EGRESS_LISTEN).toBe('0.0.0.0:3128');
    for (const probe of [container.readinessProbe, container.livenessProbe]) expect(probe.httpGet).toEqual({ path: '/healthz', port: 'proxy' });
    // preStop sleep + drain (EGRESS_SHUTDOWN_GRACE_MS) fit in the grace period.
    const preStopMs = Number(/setTimeout\(\(\) => \{\}, (\d+)\)/.exec(container.lifecycle.preStop.exec.command[2])![1]);
    expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(env.EGRESS_SHUTDOWN_GRACE_MS) + preStopMs);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(deployment.spec.replicas).toBe(label === 'release dev' ? 1 : 2);
    expect(spec.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: deployment.spec.selector.matchLabels } },
    ]);
    // Its ServiceAccount (when the chart creates it) mounts no token and is bound to nothing.
    const sa = get(label).objs.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === spec.serviceAccountName) as AnyObj | undefined;
    if (label !== 'ci/existing-secrets') expect(sa!.automountServiceAccountToken).toBe(false);
    const subjects = get(label).objs.filter((o) => o.kind === 'RoleBinding').flatMap((b) => (b as AnyObj).subjects);
    expect(subjects.map((x: AnyObj) => x.name)).not.toContain(spec.serviceAccountName);
  });

  it.each(proxyLabels())('%s: the Service, the worker\'s SDLC_EGRESS_PROXY and the PodDisruptionBudget all point at exactly the proxy pods', (label) => {
    const { objs, deployment, service, cm, releaseNs } = parts(label);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports).toEqual([{ name: 'proxy', port: 3128, targetPort: 'proxy', protocol: 'TCP' }]);
    expect(cm.SDLC_EGRESS_PROXY).toBe(`${service.metadata.name}.${releaseNs}.svc.cluster.local:3128`);
    // The worker reads it with its own parser.
    expect(parseProxyAddress(cm.SDLC_EGRESS_PROXY!)).toEqual({ host: `${service.metadata.name}.${releaseNs}.svc.cluster.local`, port: 3128 });
    const pdb = find(objs, 'PodDisruptionBudget', '-egress-proxy') as AnyObj;
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec).toEqual({ selector: { matchLabels: deployment.spec.selector.matchLabels }, maxUnavailable: 1 });
  });

  it.each(proxyLabels())('%s: the proxy and the worker mount the same ticket key Secret read-only; the ExternalSecret provides it', (label) => {
    const { objs, deployment, container, env, worker, cm } = parts(label);
    const keyVolume = (d: AnyObj, file: string) => {
      const c = d.spec.template.spec.containers[0];
      const mount = c.volumeMounts.find((m: AnyObj) => file.startsWith(`${m.mountPath}/`));
      const volume = d.spec.template.spec.volumes.find((v: AnyObj) => v.name === mount.name);
      return { mount, volume, key: file.slice(mount.mountPath.length + 1) };
    };
    expect(env.EGRESS_TICKET_KEY_FILES).toBe('/var/run/secrets/sdlc-egress/ticket-keys');
    expect(cm.SDLC_EGRESS_TICKET_KEY_FILE).toBe(env.EGRESS_TICKET_KEY_FILES);
    const proxy = keyVolume(deployment, env.EGRESS_TICKET_KEY_FILES!);
    const signer = keyVolume(worker, cm.SDLC_EGRESS_TICKET_KEY_FILE!);
    for (const side of [proxy, signer]) {
      expect(side.mount.readOnly).toBe(true);
      expect(side.volume.secret).toEqual({ secretName: proxy.volume.secret.secretName, defaultMode: 0o440, items: [{ key: 'ticket-keys', path: 'ticket-keys' }] });
      expect(side.key).toBe('ticket-keys');
    }
    // The proxy mounts nothing else secret: not the worker's git token, not the agents' credentials.
    expect(deployment.spec.template.spec.volumes.filter((v: AnyObj) => v.secret)).toEqual([proxy.volume]);
    expect(container.volumeMounts.map((m: AnyObj) => m.mountPath).sort()).toEqual(['/tmp', '/var/run/secrets/sdlc-egress']);
    const es = objs.find((o) => o.kind === 'ExternalSecret' && (o as AnyObj).spec.target.name === proxy.volume.secret.secretName) as AnyObj | undefined;
    if (label === 'ci/existing-secrets') {
      expect(es).toBeUndefined();
      expect(proxy.volume.secret.secretName).toBe('sdlc-egress-ticket-keys');
      return;
    }
    expect(es!.metadata.namespace).toBe(deployment.metadata.namespace);
    expect(es!.spec.data).toEqual([{ secretKey: 'ticket-keys', remoteRef: expect.objectContaining({ property: 'ticket-keys' }) }]);
    const env_ = label.startsWith('release ') ? label.slice('release '.length) : undefined;
    expect(es!.spec.data[0].remoteRef.key).toBe(env_ ? `agentic-sdlc-runner/${env_}/egress` : 'agentic-sdlc-runner/egress');
  });

  it.each(proxyLabels())('%s: the proxy\'s allowlist comes from the worker\'s values (git hosts, provider URLs), and its own loader accepts what the chart renders', (label) => {
    const { env, cm, objs } = parts(label);
    const gateway = podTemplateOf(objs).pod.spec.initContainers.find((c: AnyObj) => c.name === 'gateway');
    const providers = JSON.parse(envOf(gateway).SDLC_GATEWAY_PROVIDERS!) as { baseURL: string }[];
    // The same text the worker reads, and the providers the model gateway forwards to: not typed twice.
    expect(env.EGRESS_GIT_HOSTS).toBe(cm.SDLC_ALLOWED_GIT_HOSTS);
    expect(env.EGRESS_PROVIDER_URLS).toBe([...new Set(providers.map((p) => p.baseURL))].join(','));
    expect(env.EGRESS_ALWAYS_ALLOW).toBe('');
    expect(env.EGRESS_DENIED_CIDRS).toBe('10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-egress-'));
    try {
      const keyFile = path.join(dir, 'ticket-keys');
      writeFileSync(keyFile, `${'k'.repeat(64)}\n`);
      const config = loadConfig({ ...env, EGRESS_TICKET_KEY_FILES: keyFile });
      expect(config.port).toBe(3128);
      expect(config.logFormat).toBe('json');
      expect(config.graceMs).toBe(60_000);
      const allowed = config.alwaysAllow.map((e) => e.text);
      expect(allowed).toEqual(expect.arrayContaining(['github.com:443', 'github.com:22', 'api.anthropic.com:443']));
      if (label === 'ci/ssh-temporal-cloud') expect(allowed).toContain('api.openai.com:443');
      expect(config.denied.cidrs).toEqual(expect.arrayContaining(['169.254.0.0/16', '10.0.0.0/8', '100.64.0.0/10', 'fc00::/7']));
      expect(config.allowLoopback).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a separate agent namespace: the agents\' rule names the release namespace, the proxy\'s ingress the agent namespace', () => {
    const { objs } = get('ci/separate-namespace');
    const agentNp = find(objs, 'NetworkPolicy', '-agent') as AnyObj;
    const proxyNp = find(objs, 'NetworkPolicy', '-egress-proxy') as AnyObj;
    expect(agentNp.metadata.namespace).toBe('sdlc-agents');
    expect(agentNp.spec.egress[1].to[0].namespaceSelector).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': 'sdlc' } });
    expect(proxyNp.metadata.namespace).toBe('sdlc');
    expect(proxyNp.spec.ingress[0].from[0].namespaceSelector).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': 'sdlc-agents' } });
  });

  it('egress.mode=rules: nothing of the proxy renders, the worker gets no SDLC_EGRESS_*, and the agents\' open blocks leave out the denied ranges', () => {
    const { objs } = get('ci/egress-rules');
    const proxyObjs = objs.filter((o) => o.metadata.name.includes('egress') || o.metadata.labels?.['app.kubernetes.io/component'] === 'egress-proxy');
    expect(proxyObjs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    const cm = (find(objs, 'ConfigMap', '-config') as AnyObj).data;
    expect(Object.keys(cm).filter((k) => k.includes('EGRESS'))).toEqual([]);
    const worker = find(objs, 'Deployment', '-worker') as AnyObj;
    expect(worker.spec.template.spec.volumes.map((v: AnyObj) => v.name)).toEqual(['config', 'secrets', 'tmp']);
    const agent = find(objs, 'NetworkPolicy', '-agent') as AnyObj;
    const blocks = agent.spec.egress.flatMap((r: AnyObj) => r.to).filter((p: AnyObj) => p.ipBlock).map((p: AnyObj) => p.ipBlock);
    expect(blocks).toEqual([
      { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'] },
      { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'] },
      { cidr: '::/0', except: ['fe80::/10', 'fd00:10:96::/112'] },
    ]);
  });

  it('rules mode adds egress.deniedCIDRs to an open block that lacks them; a narrower block stays as written', async () => {
    const objs = await render({
      set: ['egress.mode=rules', 'egress.deniedCIDRs={100.64.0.0/10}'],
      setJson: ['networkPolicy.git=[{"to":[{"ipBlock":{"cidr":"203.0.113.0/24"}}],"ports":[{"port":443,"protocol":"TCP"}]}]'],
    });
    const agent = find(objs, 'NetworkPolicy', '-agent') as AnyObj;
    expect(agent.spec.egress[1].to).toEqual([{ ipBlock: { cidr: '203.0.113.0/24' } }]);
    expect(agent.spec.egress[2].to).toEqual([{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'] } }]);
    // The worker's git rule is the value as written (its policy does not change with the egress mode).
    expect((find(objs, 'NetworkPolicy', '-worker') as AnyObj).spec.egress.at(-1).to).toEqual([{ ipBlock: { cidr: '203.0.113.0/24' } }]);
  });

  it('alwaysAllow, an existing key Secret, another image and a cluster domain reach the proxy and the worker', async () => {
    const objs = await render({
      set: [
        'egress.alwaysAllow={registry.npmjs.org,*.pypi.org,files.example.com:8443}',
        'egress.ticketKey.existingSecret=my-ticket-keys',
        'egress.proxy.image.repository=registry.example/egress',
        'egress.proxy.image.tag=1.2.3',
        'egress.proxy.clusterDomain=corp.local',
        'egress.proxy.port=8080',
        'egress.proxy.preStopSleepSeconds=0',
      ],
    });
    const proxy = find(objs, 'Deployment', '-egress-proxy') as AnyObj;
    const c = proxy.spec.template.spec.containers[0];
    expect(envOf(c).EGRESS_ALWAYS_ALLOW).toBe('registry.npmjs.org,*.pypi.org,files.example.com:8443');
    expect(envOf(c).EGRESS_LISTEN).toBe('0.0.0.0:8080');
    expect(c.image).toBe('registry.example/egress:1.2.3');
    expect(c.lifecycle).toBeUndefined();
    expect(proxy.spec.template.spec.volumes.find((v: AnyObj) => v.secret).secret.secretName).toBe('my-ticket-keys');
    expect((find(objs, 'Deployment', '-worker') as AnyObj).spec.template.spec.volumes.find((v: AnyObj) => v.name === 'egress-ticket-keys').secret.secretName).toBe('my-ticket-keys');
    expect(objs.filter((o) => o.kind === 'ExternalSecret').map((o) => o.metadata.name)).not.toContain('my-ticket-keys');
    expect(objs.filter((o) => o.kind === 'ExternalSecret')).toHaveLength(2);
    expect((find(objs, 'ConfigMap', '-config') as AnyObj).data.SDLC_EGRESS_PROXY).toBe('sdlc-agentic-sdlc-agent-runner-egress-proxy.sdlc.svc.corp.local:8080');
    expect((find(objs, 'NetworkPolicy', '-agent') as AnyObj).spec.egress[1].ports).toEqual([{ port: 8080, protocol: 'TCP' }]);
    expect((find(objs, 'NetworkPolicy', '-egress-proxy') as AnyObj).spec.ingress[0].ports).toEqual([{ port: 8080, protocol: 'TCP' }]);
  });

  it.each([
    [['agents.git.allowedHosts={github.com,http://127.0.0.1:*}'], 'agents.git.allowedHosts: "http://127.0.0.1:*" allows any port, which egress.mode=proxy cannot grant'],
    [['egress.proxy.terminationGracePeriodSeconds=30'], 'egress.proxy.terminationGracePeriodSeconds (30) must be larger than egress.proxy.preStopSleepSeconds + egress.proxy.shutdownGraceSeconds (65)'],
    [['egress.mode=fqdn'], "at '/egress/mode': value must be one of 'proxy', 'rules'"],
    [['egress.deniedCIDRs={10.0.0.0}'], "at '/egress/deniedCIDRs/0': '10.0.0.0' does not match pattern"],
    [['egress.alwaysAllow={https://registry.npmjs.org}'], "at '/egress/alwaysAllow/0'"],
  ])('refused at render time: --set %j', async (set, message) => {
    const r = await helm(templateArgs({ set }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
  });

  it('rules mode takes any-port git hosts (no proxy to grant them)', async () => {
    const objs = await render({ set: ['egress.mode=rules', 'agents.git.allowedHosts={github.com,http://127.0.0.1:*}'] });
    expect((find(objs, 'ConfigMap', '-config') as AnyObj).data.SDLC_ALLOWED_GIT_HOSTS).toBe('github.com,http://127.0.0.1:*');
  });
});

describe('releases', () => {
  it('dev, stg and prod install into their namespaces with separate agent namespaces and grow in size', () => {
    const maxParallel: number[] = [];
    const quotaPods: number[] = [];
    for (const env of ENVIRONMENTS) {
      const { objs } = get(`release ${env}`);
      const cm = find(objs, 'ConfigMap', '-config') as AnyObj;
      expect(cm.metadata.namespace).toBe(releaseNamespace(env));
      expect(cm.data.SDLC_K8S_NAMESPACE).toBe(`agent-runner-${env}-agents`);
      expect(cm.data.TEMPORAL_NAMESPACE).toBe(`agentic-sdlc-${env}`);
      expect(find(objs, 'Namespace').metadata.name).toBe(`agent-runner-${env}-agents`);
      expect(find(objs, 'Deployment', '-worker').metadata.name).toBe(`${releaseName(env)}-worker`);
      maxParallel.push(Number(cm.data.SDLC_DEFAULT_MAX_PARALLEL));
      quotaPods.push(Number((find(objs, 'ResourceQuota') as AnyObj).spec.hard.pods));
      const es = find(objs, 'ExternalSecret', '-agent') as AnyObj;
      expect(es.spec.secretStoreRef.name).toBe(`agentic-sdlc-runner-${env}`);
      expect(es.spec.data.every((d: AnyObj) => d.remoteRef.key.startsWith(`agentic-sdlc-runner/${env}/`))).toBe(true);
    }
    expect(maxParallel).toEqual([...maxParallel].sort((a, b) => a - b));
    expect(maxParallel[0]).toBeLessThan(maxParallel[2]!);
    expect(quotaPods[0]).toBeLessThan(quotaPods[2]!);
  });

  it.each(ENVIRONMENTS)('%s: agent pods do not carry the Argo CD tracking label of the Application (label tracking would prune running agents)', (env) => {
    // Argo CD's default label tracking (argocd-cm application.resourceTrackingMethod: label, the
    // default before Argo CD 3.0) treats every live object labelled app.kubernetes.io/instance=<app>
    // that has no owner as part of the Application. Agent pods have no owner: with that label they
    // show as OutOfSync and the automated prune of dev deletes running agents.
    const app = YAML.parse(readFileSync(path.join(repoRoot, 'releases', releaseName(env), 'argocd.yaml'), 'utf8')) as AnyObj;
    const { objs } = get(`release ${env}`);
    const { text, pod } = podTemplateOf(objs);
    const built = buildPodManifest(
      parsePodTemplate(text),
      { name: podName('run-1', 'T012', 1), labels: { [LABELS.run]: 'run-1', [LABELS.task]: 'T012', [LABELS.attempt]: '1' }, annotations: {}, env: {}, activeDeadlineSeconds: 900 },
      pod.metadata.namespace!,
    ) as AnyObj;
    expect(built.metadata.ownerReferences).toBeUndefined();
    expect(built.metadata.labels['app.kubernetes.io/instance']).not.toBe(app.metadata.name);
    // The agent NetworkPolicy still tells this release's agents from another release's.
    const np = find(objs, 'NetworkPolicy', '-agent') as AnyObj;
    expect(Object.values(np.spec.podSelector.matchLabels)).toContain(releaseName(env));
    for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels)) expect(built.metadata.labels[k]).toBe(v);
  });

  it.each(ENVIRONMENTS)('%s: argocd.yaml is an Application for this release path, CreateNamespace=true, automated only below prod', (env) => {
    const app = YAML.parse(readFileSync(path.join(repoRoot, 'releases', releaseName(env), 'argocd.yaml'), 'utf8')) as AnyObj;
    expect(app.apiVersion).toBe('argoproj.io/v1alpha1');
    expect(app.kind).toBe('Application');
    expect(app.spec.source.path).toBe(`releases/${releaseName(env)}`);
    expect(app.spec.source.helm).toEqual({ releaseName: releaseName(env), valueFiles: ['values.yaml'] });
    expect(app.spec.destination.namespace).toBe(releaseNamespace(env));
    expect(app.spec.syncPolicy.syncOptions).toContain('CreateNamespace=true');
    if (env === 'dev') expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    if (env === 'prod') expect(app.spec.syncPolicy.automated).toBeUndefined();
    const chart = YAML.parse(readFileSync(path.join(repoRoot, 'releases', releaseName(env), 'Chart.yaml'), 'utf8')) as AnyObj;
    expect(chart.dependencies).toEqual([
      { name: 'agentic-sdlc-agent-runner', version: '0.1.0', repository: 'file://../../charts/agentic-sdlc-agent-runner' },
    ]);
  });
});
