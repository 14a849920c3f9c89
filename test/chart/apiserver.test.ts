/**
 * The chart against a real kube-apiserver (test/support/cluster) with the real CRDs from
 * ../shared/crds (External Secrets, Argo CD Application, ServiceMonitor) applied server-side:
 * every rendered manifest of the three releases (and of the egress-mode ci scenarios) passes server-side
 * dry-run, the dev release installs with `helm install` (the egress proxy, its NetworkPolicies, PDB and
 * ticket key ExternalSecret included; the proxy and worker pods pass Pod Security "restricted"
 * admission), the worker's ServiceAccount can do its job and nothing more, and
 * scripts/spawn-pod.sh + scripts/tail-logs.sh run an agent pod on the test kubelet (its three phases and
 * the model gateway sidecar, each as its own uid, volumes materialised: a container reaches only what it mounts).
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, toolPath } from '../../src/tools';
import { createNamespace, startCluster, type Cluster } from '../support/cluster';
import { startKubelet, type TestKubelet } from '../support/kubelet';
import {
  CHART_DIR,
  ENVIRONMENTS,
  buildReleaseCopies,
  helm,
  parseManifests,
  releaseName,
  releaseNamespace,
  run,
  templateArgs,
  type ReleaseCopies,
} from './helm';

const CRD_DIR = path.join(repoRoot, '..', 'shared', 'crds');
const DEV = 'dev' as const;
const DEV_NS = releaseNamespace(DEV);
const DEV_AGENTS = `${DEV_NS}-agents`;
const DEV_RELEASE = releaseName(DEV);
const WORKER_SA = `system:serviceaccount:${DEV_NS}:${DEV_RELEASE}-worker`;
const AGENT_IMAGE = 'ghcr.io/agentic-sdlc-runner/agent:main';
/** What the fake LLM key is; only the gateway may read it, and no log may show it. */
const LLM_KEY = 'sk-ant-test-0123456789abcdef';

let cluster: Cluster;
let kubelet: TestKubelet;
let copies: ReleaseCopies;
let scratch: string;
const timings: Record<string, number> = {};
let devInstall: Awaited<ReturnType<typeof helm>>;

const kubectl = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
  run(toolPath('kubectl'), args, { input: opts.input, env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, ...opts.env } });
const scriptEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  KUBECONFIG: cluster.kubeconfigPath,
  NAMESPACE: '',
  RELEASE_NAME: '',
  ENVIRONMENT: '',
  SSH_SECRET_NAME: '',
});

/**
 * Stands in for the agent image on the test kubelet: checks the contract env and mounts the template and
 * spawn-pod.sh provide, prints progress and the result line, and exits like the real entrypoint. Path-valued
 * env under a mount is the kubelet's host path of that volume (mountVolumes), so the checks read real files.
 * The gateway is a native sidecar: it runs until the kubelet stops it (SIGTERM) after agent and publish ended.
 */
const FAKE_AGENT = `#!/usr/bin/env bash
set -euo pipefail
phase=\${1:?the phase is the first argument}
fail() { echo "$phase: $*"; exit 30; }
# Nobody holds the LLM key in an env variable, not even the gateway (it reads a file).
case "$(env)" in *"${LLM_KEY}"*) fail "the LLM key is in my env" ;; esac
case $phase in
  gateway)
    # The key is a file of its own mount, named by SDLC_GATEWAY_PROVIDERS (relative: in SDLC_GATEWAY_KEYS_DIR).
    key_file="$SDLC_GATEWAY_KEYS_DIR/$(sed -n 's/.*"keyFile":"\\([^"]*\\)".*/\\1/p' <<<"$SDLC_GATEWAY_PROVIDERS")"
    [ "$(cat "$key_file")" = "${LLM_KEY}" ] || fail "no provider key in $key_file"
    [ "$SDLC_GATEWAY_LISTEN" = 127.0.0.1:4318 ] || fail "listen $SDLC_GATEWAY_LISTEN"
    echo '{"v":1,"requests":0,"tokens":{"input":0,"output":0,"reasoning":0,"cacheRead":0,"cacheWrite":0},"totalTokens":0,"cost":0}' > "$SDLC_GATEWAY_STATE_DIR/usage.json"
    # Where the key and the state are, for the agent to try (gateway.json's content is no secret).
    printf '{"url":"http://127.0.0.1:4318","keysDir":"%s","stateDir":"%s"}\\n' "$SDLC_GATEWAY_KEYS_DIR" "$SDLC_GATEWAY_STATE_DIR" > "$SDLC_GATEWAY_READY_FILE"
    echo "gateway: provider key file present, listening"
    trap 'echo "gateway: stopping"; exit 0' TERM
    while :; do sleep 0.2; done ;;
  checkout)
    [ "$(cat "$SDLC_GIT_TOKEN_FILE")" = git-token-value ] || fail "no git token"
    [ -z "\${SDLC_GATEWAY_KEYS_DIR:-}" ] || fail "has the gateway's env"
    echo "checkout: git token present, state $SDLC_GIT_STATE_DIR"
    exit 0 ;;
  agent)
    # The agent phase gets neither the git credential nor a provider key; it waits for the gateway's ready file.
    [ -z "\${SDLC_GIT_TOKEN_FILE:-}" ] || fail "has the git credential"
    for i in $(seq 1 50); do [ -s "$SDLC_GATEWAY_READY_FILE" ] && break; sleep 0.2; done
    ready=$(cat "$SDLC_GATEWAY_READY_FILE") || fail "no gateway ready file"
    keys=$(sed -n 's/.*"keysDir":"\\([^"]*\\)".*/\\1/p' <<<"$ready")
    state=$(sed -n 's/.*"stateDir":"\\([^"]*\\)".*/\\1/p' <<<"$ready")
    [ -n "$keys" ] && [ -n "$state" ] || fail "ready file without paths: $ready"
    # The gateway's volumes are not the agent's: the kubelet refuses it their groups.
    if cat "$keys"/* >/dev/null 2>&1 || ls "$keys" >/dev/null 2>&1; then fail "read the gateway's key volume"; fi
    if ls "$state" >/dev/null 2>&1; then fail "read the gateway's state"; fi
    echo "agent: no LLM key, no git credential; gateway ready"
    exit 0 ;;
esac
echo "publish: task $SDLC_TASK_ID on branch $SDLC_TASK_BRANCH from $SDLC_REPO_URL (\${SDLC_FEATURE_DIR:-no feature dir})"
[ "$(cat "$SDLC_GIT_TOKEN_FILE")" = git-token-value ] || fail "no git token"
echo "publish: git token present, user $SDLC_GIT_USERNAME"
for i in $(seq 1 50); do [ -s "$SDLC_GATEWAY_STATE_DIR/usage.json" ] && break; sleep 0.2; done
grep -q '"requests":0' "$SDLC_GATEWAY_STATE_DIR/usage.json" || fail "no gateway usage"
if (echo x > "$SDLC_GATEWAY_STATE_DIR/forged.json") 2>/dev/null; then fail "could write the gateway's state"; fi
echo "publish: gateway usage read (read-only)"
for i in 1 2 3; do echo "publish: step $i"; sleep 0.2; done
if [ "$SDLC_TASK_TEXT" = "fail" ]; then echo "publish: giving up"; exit 10; fi
if [ "$SDLC_TASK_TEXT" = "long" ]; then for i in $(seq 1 40); do echo "publish: long $i"; sleep 0.05; done; fi
echo '::sdlc-result::{"v":1,"status":"succeeded","taskId":"'"$SDLC_TASK_ID"'","branch":"'"$SDLC_TASK_BRANCH"'","commits":1}'
`;

beforeAll(async () => {
  let t = Date.now();
  cluster = await startCluster();
  timings.clusterStartMs = Date.now() - t;
  scratch = mkdtempSync(path.join(os.tmpdir(), 'sdlc-chart-apiserver-'));
  // The phases run as their own non-root uids: they must reach the fake agent.
  chmodSync(scratch, 0o755);
  const agent = path.join(scratch, 'fake-agent.sh');
  writeFileSync(agent, FAKE_AGENT);
  chmodSync(agent, 0o755);
  // mountVolumes: Secrets and emptyDirs become files, each volume reachable only by the containers that mount it.
  kubelet = await startKubelet({ ...cluster.kubeletOptions(), mountVolumes: true, imageCommands: { [AGENT_IMAGE]: ['bash', agent] } });
  copies = await buildReleaseCopies();

  t = Date.now();
  for (const file of readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    // Three of these CRDs are too large for client-side apply's last-applied annotation.
    const r = await kubectl(['apply', '--server-side', '--field-manager=sdlc-test', '-f', path.join(CRD_DIR, file)]);
    if (r.code !== 0) throw new Error(`applying CRD ${file} failed:\n${r.stderr}`);
  }
  const established = await kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  if (established.code !== 0) throw new Error(`CRDs not established:\n${established.stderr}`);
  timings.crdApplyMs = Date.now() - t;

  // Installed here rather than in its test so every test (and -t filters) sees the release.
  t = Date.now();
  devInstall = await helm(['install', DEV_RELEASE, copies.dirs[DEV], '--namespace', DEV_NS, '--create-namespace', '--kubeconfig', cluster.kubeconfigPath]);
  timings.helmInstallMs = Date.now() - t;
}, 240_000);

afterAll(async () => {
  await kubelet?.stop();
  await cluster?.stop();
  copies?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  // eslint-disable-next-line no-console
  console.log(`[chart apiserver.test] timings: ${JSON.stringify(timings)}`);
});

describe('real CRDs', () => {
  it('serve ExternalSecret only as external-secrets.io/v1, plus Application and ServiceMonitor', async () => {
    const r = await kubectl(['api-resources', '--no-headers', '-o', 'name']);
    expect(r.code).toBe(0);
    for (const name of ['externalsecrets.external-secrets.io', 'applications.argoproj.io', 'servicemonitors.monitoring.coreos.com']) {
      expect(r.stdout.split('\n')).toContain(name);
    }
    const versions = await kubectl(['get', 'crd', 'externalsecrets.external-secrets.io', '-o', 'jsonpath={range .spec.versions[?(@.served==true)]}{.name}{" "}{end}']);
    expect(versions.stdout.trim()).toBe('v1');
  });
});

describe('helm install of the dev release', () => {
  it('installs into agent-runner-dev and creates the agent namespace and every object', async () => {
    const r = devInstall;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('STATUS: deployed');
    const status = await helm(['status', DEV_RELEASE, '--namespace', DEV_NS, '--kubeconfig', cluster.kubeconfigPath, '-o', 'json']);
    expect(JSON.parse(status.stdout).info.status).toBe('deployed');

    const ns = await kubectl(['get', 'namespace', DEV_AGENTS, '-o', 'jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}']);
    expect(ns.stdout).toBe('restricted');
    const inRelease = await kubectl(['get', 'deployment,configmap,serviceaccount,externalsecret,networkpolicy,service,poddisruptionbudget', '-n', DEV_NS, '-o', 'name']);
    expect(inRelease.stdout.split('\n')).toEqual(
      expect.arrayContaining([
        `deployment.apps/${DEV_RELEASE}-worker`,
        // egress.mode=proxy (the dev release's): the proxy and everything around it.
        `deployment.apps/${DEV_RELEASE}-egress-proxy`,
        `service/${DEV_RELEASE}-egress-proxy`,
        `serviceaccount/${DEV_RELEASE}-egress-proxy`,
        `networkpolicy.networking.k8s.io/${DEV_RELEASE}-egress-proxy`,
        `poddisruptionbudget.policy/${DEV_RELEASE}-egress-proxy`,
        `externalsecret.external-secrets.io/${DEV_RELEASE}-egress-ticket-keys`,
        `configmap/${DEV_RELEASE}-config`,
        `configmap/${DEV_RELEASE}-pod-template`,
        `serviceaccount/${DEV_RELEASE}-worker`,
        `externalsecret.external-secrets.io/${DEV_RELEASE}-worker`,
        `networkpolicy.networking.k8s.io/${DEV_RELEASE}-worker`,
        `service/${DEV_RELEASE}-metrics`,
      ]),
    );
    const inAgents = await kubectl(['get', 'role,rolebinding,serviceaccount,externalsecret,networkpolicy,resourcequota', '-n', DEV_AGENTS, '-o', 'name']);
    expect(inAgents.stdout.split('\n')).toEqual(
      expect.arrayContaining([
        `role.rbac.authorization.k8s.io/${DEV_RELEASE}-agent-pods`,
        `rolebinding.rbac.authorization.k8s.io/${DEV_RELEASE}-agent-pods`,
        `serviceaccount/${DEV_RELEASE}-agent`,
        `externalsecret.external-secrets.io/${DEV_RELEASE}-agent`,
        `networkpolicy.networking.k8s.io/${DEV_RELEASE}-agent`,
        `resourcequota/${DEV_RELEASE}-agents`,
      ]),
    );
  });
});

describe('egress proxy of the installed dev release', () => {
  const getJson = async (args: string[]) => {
    const r = await kubectl(['get', ...args, '-o', 'json']);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout);
  };

  it.each(['egress-proxy', 'worker'])('the %s pod template passes Pod Security "restricted" admission (a Pod made from it, dry-run in a namespace that enforces restricted)', async (name) => {
    const PSS_NS = 'sdlc-pss-restricted';
    await createNamespace(cluster, PSS_NS);
    const label = await kubectl(['label', 'namespace', PSS_NS, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest', '--overwrite']);
    expect(label.code).toBe(0);
    const d = await getJson(['deployment', `${DEV_RELEASE}-${name}`, '-n', DEV_NS]);
    // The pod keeps the installed Deployment's spec, with an account that exists in that namespace.
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pss-${name}`, namespace: PSS_NS, labels: d.spec.template.metadata.labels },
      spec: { ...d.spec.template.spec, serviceAccountName: 'default' },
    };
    const r = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`pod/pss-${name} created (server dry run)`);
    // The check is real: the same pod without its container hardening is refused there.
    const [c] = pod.spec.containers;
    const weakened = { ...pod, spec: { ...pod.spec, containers: [{ ...c, securityContext: { ...c.securityContext, allowPrivilegeEscalation: true } }] } };
    const refused = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(weakened) });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('violates PodSecurity "restricted:latest"');
  });

  it('as stored by the apiserver: agent pods may reach only DNS and the proxy; the proxy only public addresses, from agent pods', async () => {
    const agent = await getJson(['networkpolicy', `${DEV_RELEASE}-agent`, '-n', DEV_AGENTS]);
    const proxy = await getJson(['networkpolicy', `${DEV_RELEASE}-egress-proxy`, '-n', DEV_NS]);
    const deployment = await getJson(['deployment', `${DEV_RELEASE}-egress-proxy`, '-n', DEV_NS]);
    expect(agent.spec.egress).toHaveLength(2);
    expect(agent.spec.egress[1]).toEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': DEV_NS } }, podSelector: { matchLabels: deployment.spec.selector.matchLabels } }],
      ports: [{ port: 3128, protocol: 'TCP' }],
    });
    expect(proxy.spec.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': DEV_AGENTS } }, podSelector: agent.spec.podSelector }], ports: [{ port: 3128, protocol: 'TCP' }] },
    ]);
    expect(proxy.spec.egress[1].to.map((p: { ipBlock: { cidr: string; except: string[] } }) => [p.ipBlock.cidr, p.ipBlock.except.includes(p.ipBlock.cidr === '::/0' ? 'fe80::/10' : '169.254.0.0/16')])).toEqual([
      ['0.0.0.0/0', true],
      ['::/0', true],
    ]);
    expect(proxy.spec.egress[1].ports).toEqual([{ protocol: 'TCP' }]);
    // The worker is told where the proxy is and where the key ring is mounted.
    const cm = await getJson(['configmap', `${DEV_RELEASE}-config`, '-n', DEV_NS]);
    expect(cm.data.SDLC_EGRESS_PROXY).toBe(`${DEV_RELEASE}-egress-proxy.${DEV_NS}.svc.cluster.local:3128`);
    expect(cm.data.SDLC_EGRESS_TICKET_KEY_FILE).toBe('/var/run/secrets/sdlc-egress/ticket-keys');
  });
});

describe('server-side dry-run', () => {
  it.each(ENVIRONMENTS)('every rendered manifest of the %s release and its Argo CD Application is accepted', async (env) => {
    // The release's namespaces exist in a real cluster by the time objects land in them (Argo CD's
    // CreateNamespace=true and the chart's Namespace object); create them for the dry-run.
    for (const ns of [releaseNamespace(env), `${releaseNamespace(env)}-agents`, 'argocd']) await createNamespace(cluster, ns);
    const rendered = await helm(templateArgs({ chartDir: copies.dirs[env], release: releaseName(env), namespace: releaseNamespace(env) }));
    expect(rendered.code).toBe(0);
    const objs = parseManifests(rendered.stdout);
    const t = Date.now();
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: rendered.stdout });
    timings[`dryRun_${env}_ms`] = Date.now() - t;
    expect(r.stderr.replace(/^Warning: resource .* is missing the kubectl.kubernetes.io\/last-applied-configuration.*\n/gm, '')).toBe('');
    expect(r.code).toBe(0);
    const accepted = r.stdout.split('\n').filter((l) => l.endsWith('(server dry run)'));
    expect(accepted).toHaveLength(objs.length);
    for (const kind of ['ExternalSecret', 'Deployment', 'Role', 'NetworkPolicy', 'ResourceQuota']) {
      expect(objs.some((o) => o.kind === kind)).toBe(true);
    }
    if (env !== 'dev') expect(objs.some((o) => o.kind === 'ServiceMonitor')).toBe(true);
    // stg and prod run 2 workers behind a policy/v1 PodDisruptionBudget; dev has none.
    expect(objs.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name.endsWith('-worker'))).toBe(env !== 'dev');
    // egress.mode=proxy in every release: the proxy's objects were among those the apiserver accepted.
    const name = releaseName(env);
    for (const [kind, objName] of [
      ['Deployment', `${name}-egress-proxy`],
      ['Service', `${name}-egress-proxy`],
      ['NetworkPolicy', `${name}-egress-proxy`],
      ['PodDisruptionBudget', `${name}-egress-proxy`],
      ['ExternalSecret', `${name}-egress-ticket-keys`],
    ] as const) {
      expect({ kind, objName, rendered: objs.some((o) => o.kind === kind && o.metadata.name === objName) }).toEqual({ kind, objName, rendered: true });
    }
    for (const line of [`deployment.apps/${name}-egress-proxy`, `networkpolicy.networking.k8s.io/${name}-egress-proxy`, `networkpolicy.networking.k8s.io/${name}-agent`, `poddisruptionbudget.policy/${name}-egress-proxy`, `externalsecret.external-secrets.io/${name}-egress-ticket-keys`]) {
      expect(accepted.some((l) => l.startsWith(`${line} `))).toBe(true);
    }

    const app = await kubectl(['apply', '--dry-run=server', '-f', path.join(repoRoot, 'releases', releaseName(env), 'argocd.yaml')]);
    expect(app.stderr).toBe('');
    expect(app.stdout.trim()).toBe(`application.argoproj.io/${releaseName(env)} created (server dry run)`);
  });

  it.each(['egress-rules', 'separate-namespace', 'existing-secrets'])('every rendered manifest of ci/%s-values.yaml is accepted (egress.mode rules; proxy with a separate agent namespace; proxy without NetworkPolicies)', async (scenario) => {
    for (const ns of ['sdlc', 'sdlc-agents']) await createNamespace(cluster, ns);
    const rendered = await helm(templateArgs({ valuesFiles: [path.join(CHART_DIR, 'ci', `${scenario}-values.yaml`)] }));
    expect(rendered.code).toBe(0);
    const objs = parseManifests(rendered.stdout);
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: rendered.stdout });
    expect(r.stderr.replace(/^Warning: resource .* is missing the kubectl.kubernetes.io\/last-applied-configuration.*\n/gm, '')).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.endsWith('(server dry run)'))).toHaveLength(objs.length);
    const proxyObjects = objs.filter((o) => o.metadata.name.includes('egress-proxy'));
    if (scenario === 'egress-rules') {
      expect(proxyObjects).toEqual([]);
      // The IPv6 block with its except (fe80::/10 and the scenario's range) passed the apiserver's validation.
      expect(r.stdout).toContain('networkpolicy.networking.k8s.io/sdlc-agentic-sdlc-agent-runner-agent created (server dry run)');
    } else {
      expect(proxyObjects.map((o) => o.kind).sort()).toEqual(
        scenario === 'existing-secrets' ? ['Deployment', 'PodDisruptionBudget', 'Service'] : ['Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount'],
      );
    }
  });

  it('really validates against the CRD schemas: an ExternalSecret the CRD does not allow is refused', async () => {
    const bad = (apiVersion: string, refreshInterval: unknown) =>
      JSON.stringify({
        apiVersion,
        kind: 'ExternalSecret',
        metadata: { name: 'bad', namespace: DEV_NS },
        spec: { refreshInterval, secretStoreRef: { kind: 'ClusterSecretStore', name: 's' }, data: [{ secretKey: 'k' }] },
      });
    const old = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: bad('external-secrets.io/v1beta1', '1h') });
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/no matches for kind "ExternalSecret" in version "external-secrets.io\/v1beta1"/);
    const invalid = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: bad('external-secrets.io/v1', '1h') });
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain('spec.data[0].remoteRef: Required value');
  });
});

describe('least privilege of the worker ServiceAccount', () => {
  const canI = async (args: string[]) => {
    const r = await kubectl(['auth', 'can-i', `--as=${WORKER_SA}`, ...args]);
    return r.stdout.trim();
  };

  it.each([
    [['create', 'pods', '-n', DEV_AGENTS]],
    [['get', 'pods', '-n', DEV_AGENTS]],
    [['list', 'pods', '-n', DEV_AGENTS]],
    [['watch', 'pods', '-n', DEV_AGENTS]],
    [['delete', 'pods', '-n', DEV_AGENTS]],
    [['get', 'pods', '--subresource=log', '-n', DEV_AGENTS]],
  ])('may %j', async (args) => {
    expect(await canI(args)).toBe('yes');
  });

  it.each([
    [['get', 'secrets', '-n', DEV_AGENTS]],
    [['list', 'secrets', '-n', DEV_NS]],
    [['create', 'pods', '--subresource=exec', '-n', DEV_AGENTS]],
    [['create', 'pods', '--subresource=attach', '-n', DEV_AGENTS]],
    [['create', 'pods', '--subresource=portforward', '-n', DEV_AGENTS]],
    [['update', 'pods', '-n', DEV_AGENTS]],
    [['patch', 'pods', '-n', DEV_AGENTS]],
    [['create', 'pods', '-n', DEV_NS]],
    [['create', 'pods', '-n', 'default']],
    [['list', 'pods', '--all-namespaces']],
    [['list', 'namespaces']],
    [['list', 'nodes']],
    [['create', 'clusterroles']],
    [['create', 'rolebindings', '-n', DEV_AGENTS]],
    [['get', 'configmaps', '-n', DEV_AGENTS]],
    [['create', 'serviceaccounts', '--subresource=token', '-n', DEV_AGENTS]],
    [['get', 'pods', '--subresource=log', '-n', DEV_NS]],
  ])('may not %j', async (args) => {
    expect(await canI(args)).toBe('no');
  });

  it.each([
    ['agent', `system:serviceaccount:${DEV_AGENTS}:${DEV_RELEASE}-agent`, DEV_AGENTS],
    ['egress proxy', `system:serviceaccount:${DEV_NS}:${DEV_RELEASE}-egress-proxy`, DEV_NS],
  ])('the %s ServiceAccount may do nothing', async (_who, sa, ns) => {
    const r = await kubectl(['auth', 'can-i', '--list', `--as=${sa}`, '-n', ns]);
    expect(r.code).toBe(0);
    // Rows: resource, non-resource URLs, resource names, verbs. Only what every authenticated identity
    // gets (self reviews; discovery URLs) may appear: nothing in the namespace.
    const resources = r.stdout
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/)[0])
      .filter((x): x is string => !!x && !x.startsWith('['));
    expect(resources.sort()).toEqual([
      'selfsubjectaccessreviews.authorization.k8s.io',
      'selfsubjectreviews.authentication.k8s.io',
      'selfsubjectrulesreviews.authorization.k8s.io',
    ]);
  });
});

describe('spawn-pod.sh and tail-logs.sh against the installed dev release', () => {
  beforeAll(async () => {
    // What External Secrets Operator would sync from the store.
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${DEV_RELEASE}-agent`, namespace: DEV_AGENTS },
      stringData: { token: 'git-token-value', 'anthropic-api-key': LLM_KEY },
    };
    const created = await kubectl(['create', '-f', '-'], { input: JSON.stringify(secret) });
    expect(created.stderr).toBe('');
  });

  beforeEach(async () => {
    // No kube-controller-manager here: publish the quota's status as its quota controller would, so quota
    // admission can account the agent pods. Admission adds each pod it admits to `used`; the controller
    // takes ended pods off again, so before each test (every earlier pod has ended) nothing is in use.
    const quota = `${DEV_RELEASE}-agents`;
    const hard = await kubectl(['get', 'resourcequota', quota, '-n', DEV_AGENTS, '-o', 'jsonpath={.spec.hard}']);
    const used = Object.fromEntries(Object.keys(JSON.parse(hard.stdout)).map((k) => [k, '0']));
    const status = await kubectl(['patch', 'resourcequota', quota, '-n', DEV_AGENTS, '--subresource=status', '--type', 'merge', '-p', JSON.stringify({ status: { hard: JSON.parse(hard.stdout), used } })]);
    expect(status.stderr).toBe('');
  });

  it('spawn-pod.sh creates a pod from the installed pod template; the kubelet runs it; tail-logs.sh streams it by task id', async () => {
    let t = Date.now();
    const spawned = await run('bash', ['scripts/spawn-pod.sh', '--environment', DEV, 'T001', 'specs/001-demo/T001', 'https://git.example.com/org/app.git', 'specs/001-demo'], {
      env: scriptEnv(),
    });
    timings.spawnPodMs = Date.now() - t;
    expect(spawned.stderr).not.toContain('rendering the pod template from the chart');
    expect(spawned.code).toBe(0);
    const podName = spawned.stdout.trim();
    expect(podName).toMatch(/^sdlc-manual-t001-[a-z0-9]{5}$/);
    expect(spawned.stderr).toContain(`pod/${podName} created in namespace ${DEV_AGENTS}`);
    expect(spawned.stderr).toContain(`tail-logs.sh --agent-namespace ${DEV_AGENTS} ${podName}`);

    t = Date.now();
    const tail = await run('bash', ['scripts/tail-logs.sh', '--environment', DEV, 'T001'], { env: scriptEnv() });
    timings.tailLogsMs = Date.now() - t;
    expect(tail.stdout.split('\n').filter(Boolean)).toEqual([
      'publish: task T001 on branch specs/001-demo/T001 from https://git.example.com/org/app.git (specs/001-demo)',
      'publish: git token present, user x-access-token',
      'publish: gateway usage read (read-only)',
      'publish: step 1',
      'publish: step 2',
      'publish: step 3',
      '::sdlc-result::{"v":1,"status":"succeeded","taskId":"T001","branch":"specs/001-demo/T001","commits":1}',
    ]);
    expect(tail.stderr).toContain(`pod ${podName}: Succeeded, agent success`);
    expect(tail.code).toBe(0);
    expect(tail.stdout + tail.stderr + spawned.stdout + spawned.stderr).not.toContain(LLM_KEY);

    const pod = JSON.parse((await kubectl(['get', 'pod', podName, '-n', DEV_AGENTS, '-o', 'json'])).stdout);
    expect(pod.spec.nodeName).toBe(kubelet.nodeName);
    expect(pod.spec.serviceAccountName).toBe(`${DEV_RELEASE}-agent`);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.volumes.some((v: { projected?: unknown }) => v.projected)).toBe(false);
    expect(pod.metadata.labels).toMatchObject({ 'app.kubernetes.io/component': 'agent', 'sdlc-runner.dev/task': 'T001' });
    // The gateway sidecar ran before checkout and next to agent and publish, read its key file, and was
    // stopped (SIGTERM, exit 0) once they had ended; the agent found it ready and could read none of its volumes.
    const state = (name: string) => pod.status.initContainerStatuses.find((c: { name: string }) => c.name === name);
    expect(pod.status.initContainerStatuses.map((c: { name: string }) => c.name)).toEqual(['gateway', 'checkout']);
    expect(state('gateway')).toMatchObject({ restartCount: 0, state: { terminated: { exitCode: 0 } } });
    const logsOf = async (c: string) => (await kubectl(['logs', podName, '-n', DEV_AGENTS, '-c', c])).stdout.split('\n').filter(Boolean);
    expect(await logsOf('gateway')).toEqual(['gateway: provider key file present, listening', 'gateway: stopping']);
    expect(await logsOf('checkout')).toEqual([expect.stringMatching(/^checkout: git token present, state \//)]);
    expect(await logsOf('agent')).toEqual(['agent: no LLM key, no git credential; gateway ready']);
  });

  it('tail-logs.sh follows a pod by name and exits with the agent\'s failure code', async () => {
    const spawned = await run('bash', ['scripts/spawn-pod.sh', '--environment', DEV, '--task-text', 'fail', '--task-id', 'T002', '--branch', 'b2', '--repo', 'https://git.example.com/org/app.git'], {
      env: scriptEnv(),
    });
    expect(spawned.code).toBe(0);
    const podName = spawned.stdout.trim();
    const tail = await run('bash', ['scripts/tail-logs.sh', '--agent-namespace', DEV_AGENTS, podName], { env: scriptEnv() });
    expect(tail.stdout).toContain('publish: giving up');
    expect(tail.stderr).toContain(`pod ${podName}: Failed, agent agent failure`);
    expect(tail.code).toBe(10);
  });

  it('tail-logs.sh rides out cut log streams: reconnects without losing or repeating a line', async () => {
    // Two cuts: after 5 lines of the first stream and after 5 of the resumed one.
    await kubelet.injectFault({ kind: 'cutLogStream', target: { namespace: DEV_AGENTS, labels: { 'sdlc-runner.dev/task': 'T003' } }, afterLines: 5, times: 2 });
    try {
      const spawned = await run('bash', ['scripts/spawn-pod.sh', '--environment', DEV, '--task-text', 'long', 'T003', 'b3', 'https://git.example.com/org/app.git'], {
        env: scriptEnv(),
      });
      expect(spawned.code).toBe(0);
      const tail = await run('bash', ['scripts/tail-logs.sh', '--environment', DEV, 'T003'], { env: scriptEnv() });
      const longLines = tail.stdout.split('\n').filter((l) => l.startsWith('publish: long '));
      expect(longLines).toEqual(Array.from({ length: 40 }, (_, i) => `publish: long ${i + 1}`));
      expect(tail.stdout.split('\n').filter((l) => l.startsWith('::sdlc-result::'))).toHaveLength(1);
      expect(tail.stderr).toContain('resuming');
      expect(tail.code).toBe(0);
    } finally {
      await kubelet.clearFaults();
    }
  });

  it('Pod Security "restricted" on the agent namespace refuses a pod that drops the template\'s hardening', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'privileged', namespace: DEV_AGENTS },
      // Root allowed, privilege escalation allowed, default capabilities, no seccomp profile.
      spec: { containers: [{ name: 'agent', image: AGENT_IMAGE }] },
    };
    const r = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('violates PodSecurity "restricted:latest"');
    for (const rule of ['allowPrivilegeEscalation != false', 'unrestricted capabilities', 'runAsNonRoot != true', 'seccompProfile']) {
      expect(r.stderr).toContain(rule);
    }
  });
});
