import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildPodManifest, parsePodTemplate, PodTemplateError, DEFAULT_PHASE_RESOURCES, DEFAULT_RESOURCES } from '../../src/k8s/pod-manifest';

/** The three phases with the model gateway sidecar, which alone mounts the provider keys. */
const GATEWAY_PHASES = () => PHASES.replace('  initContainers:\n', '  initContainers:\n    - {name: gateway, image: a, args: [gateway], restartPolicy: Always, securityContext: {runAsUser: 10004}, volumeMounts: [{name: keys, mountPath: /k}]}\n').replace('    - {name: git, secret: {secretName: s}}', '    - {name: git, secret: {secretName: s}}\n    - {name: keys, secret: {secretName: s}}');

/** The three phases, as the chart lays them out (docker/agent/README.md "Phases"). */
const PHASES = `apiVersion: v1
kind: Pod
spec:
  securityContext: {fsGroup: 10000}
  initContainers:
    - {name: checkout, image: a, args: [checkout], securityContext: {runAsUser: 10002}, volumeMounts: [{name: git, mountPath: /git}]}
  containers:
    - {name: agent, image: a, args: [agent], securityContext: {runAsUser: 10001}, env: [{name: SDLC_WORKDIR, value: /workspace}], volumeMounts: [{name: workspace, mountPath: /workspace}]}
    - {name: publish, image: a, args: [publish], securityContext: {runAsUser: 10003}, volumeMounts: [{name: git, mountPath: /git}]}
  volumes:
    - {name: workspace, emptyDir: {}}
    - {name: git, secret: {secretName: s}}
`;
const GATEWAY = GATEWAY_PHASES();
import { LABELS, MANAGED_BY, type AgentPodRequest } from '../../src/k8s/gateway';
import { toolPath } from '../../src/tools';
import YAML from 'yaml';

const MINIMAL = `
apiVersion: v1
kind: Pod
metadata:
  labels: { team: platform }
  annotations: { note: from-template }
spec:
  containers:
    - name: agent
      image: ghcr.io/example/agent:1.0
      env:
        - name: SDLC_MODEL
          value: template-model
        - name: ANTHROPIC_API_KEY
          valueFrom: { secretKeyRef: { name: llm, key: anthropic } }
`;

const request: AgentPodRequest = {
  name: 'sdlc-run1-t012-a1-abcdefg',
  labels: { [LABELS.run]: 'run1', [LABELS.task]: 'T012', [LABELS.attempt]: '1', [LABELS.managedBy]: 'someone-else' },
  annotations: { 'sdlc-runner.dev/workflow-id': 'wf-1', note: 'from-request' },
  env: { SDLC_TASK_ID: 'T012', SDLC_MODEL: 'anthropic/claude' },
  activeDeadlineSeconds: 1800,
};

describe('pod template → agent pod manifest', () => {
  it('builds the pod: identity, merged labels/annotations, env appended (request wins), deadline, secure defaults', () => {
    const pod = buildPodManifest(parsePodTemplate(MINIMAL), request, 'agents') as any;
    expect(pod.metadata.name).toBe(request.name);
    expect(pod.metadata.namespace).toBe('agents');
    expect(pod.metadata.labels).toEqual({
      team: 'platform',
      [LABELS.component]: 'agent',
      [LABELS.run]: 'run1',
      [LABELS.task]: 'T012',
      [LABELS.attempt]: '1',
      [LABELS.managedBy]: MANAGED_BY,
    });
    expect(pod.metadata.annotations).toEqual({ note: 'from-request', 'sdlc-runner.dev/workflow-id': 'wf-1' });
    const [c] = pod.spec.containers;
    expect(c.env).toEqual([
      { name: 'ANTHROPIC_API_KEY', valueFrom: { secretKeyRef: { name: 'llm', key: 'anthropic' } } },
      { name: 'SDLC_TASK_ID', value: 'T012' },
      { name: 'SDLC_MODEL', value: 'anthropic/claude' },
      // Kubernetes' default grace (the template sets none): the agent ends a push in flight before SIGKILL.
      { name: 'SDLC_TERMINATION_GRACE_SECONDS', value: '30' },
    ]);
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.activeDeadlineSeconds).toBe(1800);
    expect(pod.spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.resources).toEqual(DEFAULT_RESOURCES);
  });

  it('keeps what the template sets explicitly instead of the defaults', () => {
    const t = parsePodTemplate(`
apiVersion: v1
kind: Pod
spec:
  securityContext: { runAsUser: 1000, runAsNonRoot: true, fsGroup: 1000 }
  containers:
    - name: agent
      image: agent:dev
      securityContext: { readOnlyRootFilesystem: true, capabilities: { add: [NET_BIND_SERVICE] } }
      resources: { limits: { memory: 8Gi } }
`);
    const pod = buildPodManifest(t, request, 'ns') as any;
    expect(pod.spec.securityContext).toEqual({ runAsUser: 1000, runAsNonRoot: true, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.spec.containers[0].securityContext).toEqual({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
    });
    expect(pod.spec.containers[0].resources).toEqual({ limits: { memory: '8Gi' } });
  });

  it("tells the agent the pod's terminationGracePeriodSeconds (it cannot read its own spec), whatever the template's env says", () => {
    const t = parsePodTemplate(`
apiVersion: v1
kind: Pod
spec:
  terminationGracePeriodSeconds: 45
  containers:
    - name: agent
      image: agent:dev
      env: [{ name: SDLC_TERMINATION_GRACE_SECONDS, value: "600" }]
`);
    const pod = buildPodManifest(t, request, 'ns') as any;
    expect(pod.spec.terminationGracePeriodSeconds).toBe(45);
    expect(pod.spec.containers[0].env.filter((e: { name: string }) => e.name === 'SDLC_TERMINATION_GRACE_SECONDS')).toEqual([
      { name: 'SDLC_TERMINATION_GRACE_SECONDS', value: '45' },
    ]);
    expect(() => parsePodTemplate(MINIMAL.replace('spec:\n', 'spec:\n  terminationGracePeriodSeconds: "30"\n'))).toThrow(
      /spec\.terminationGracePeriodSeconds: must be a whole number of seconds/,
    );
  });

  it('does not modify the parsed template (one template serves every task)', () => {
    const t = parsePodTemplate(MINIMAL);
    const before = JSON.stringify(t);
    buildPodManifest(t, request, 'a');
    buildPodManifest(t, { ...request, name: 'other', env: { X: '1' } }, 'a');
    expect(JSON.stringify(t)).toBe(before);
  });

  it('the documented example in docs/pod-template.md is a valid template', () => {
    const doc = readFileSync(path.join(__dirname, '../../docs/pod-template.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const pod = buildPodManifest(parsePodTemplate(example!), request, 'agents') as any;
    expect(pod.spec.containers[0].name).toBe('agent');
  });

  it.each([
    ['not YAML', 'a: [', /not valid YAML/],
    ['two documents', 'a: 1\n---\nb: 2\n', /not valid YAML/],
    ['a list', '- 1\n- 2\n', /must be a YAML mapping/],
    ['a Deployment', 'apiVersion: apps/v1\nkind: Deployment\nspec: {containers: [{name: agent, image: x}]}', /apiVersion: must be "v1"[\s\S]*kind: must be "Pod"/],
    ['no spec', 'apiVersion: v1\nkind: Pod\n', /spec: is required/],
    ['a sidecar', 'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: agent, image: x}, {name: sidecar, image: y}]}', /spec\.containers: must hold the container "agent", or "agent" then "publish" for the three phases \(found: "agent", "sidecar"\)/],
    ['publish without checkout', PHASES.replace(/initContainers:[\s\S]*?containers:/, 'containers:'), /spec\.initContainers: the three phases need the init container "checkout"/],
    ['checkout without publish', 'apiVersion: v1\nkind: Pod\nspec: {initContainers: [{name: checkout, image: x}], containers: [{name: agent, image: x}]}', /"checkout" needs the container "publish"/],
    ['phases sharing a uid', PHASES.replace('runAsUser: 10003', 'runAsUser: 10001'), /different uids \(found checkout=10002, agent=10001, publish=10001\)/],
    ['a gateway that is not a sidecar', GATEWAY.replace('restartPolicy: Always, ', ''), /initContainer "gateway": needs restartPolicy: Always/],
    ['a gateway sharing the agent\'s uid', GATEWAY.replace('runAsUser: 10004', 'runAsUser: 10001'), /different uids \(found checkout=10002, agent=10001, publish=10003, gateway=10001\)/],
    ['a provider key in the agent next to a gateway', GATEWAY.replace('env: [{name: SDLC_WORKDIR, value: /workspace}]', 'env: [{name: ANTHROPIC_API_KEY, valueFrom: {secretKeyRef: {name: s, key: k}}}]'), /container "agent": ANTHROPIC_API_KEY must not come from a Secret: with a model gateway/],
    ['the keys volume in the agent', GATEWAY.replace('volumeMounts: [{name: workspace, mountPath: /workspace}]', 'volumeMounts: [{name: workspace, mountPath: /workspace}, {name: keys, mountPath: /k}]'), /container "agent": must not mount "keys": the gateway mounts it/],
    ['a phase without a uid', PHASES.replace('securityContext: {runAsUser: 10002}', 'securityContext: {}'), /container "checkout": needs a runAsUser/],
    ['the credential env in the agent', PHASES.replace('env: [{name: SDLC_WORKDIR, value: /workspace}]', 'env: [{name: SDLC_GIT_TOKEN_FILE, value: /git/token}]'), /container "agent": SDLC_GIT_TOKEN_FILE must not be set/],
    ['the credential volume in the agent', PHASES.replace('volumeMounts: [{name: workspace, mountPath: /workspace}]', 'volumeMounts: [{name: workspace, mountPath: /workspace}, {name: git, mountPath: /git}]'), /container "agent": must not mount "git"/],
    ['wrong container name', 'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: main, image: x}]}', /found: "main"/],
    ['no image', 'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: agent}]}', /spec\.containers\.0\.image: is required/],
    ['restartPolicy Always', 'apiVersion: v1\nkind: Pod\nspec: {restartPolicy: Always, containers: [{name: agent, image: x}]}', /restartPolicy: must be "Never"/],
    ['a token mount', 'apiVersion: v1\nkind: Pod\nspec: {automountServiceAccountToken: true, containers: [{name: agent, image: x}]}', /automountServiceAccountToken: must be false/],
    ['an unquoted number label', 'apiVersion: v1\nkind: Pod\nmetadata: {labels: {tier: 1}}\nspec: {containers: [{name: agent, image: x}]}', /metadata\.labels\.tier: must be a string/],
    ['a numeric env value', 'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: agent, image: x, env: [{name: N, value: 3}]}]}', /env\.0\.value: must be a string/],
  ])('rejects %s with a message that says what to fix', (_what, text, message) => {
    expect(() => parsePodTemplate(text)).toThrow(PodTemplateError);
    expect(() => parsePodTemplate(text)).toThrow(message);
  });

  it('the three phases: every container gets the task env and the hardened defaults; checkout and publish get small default resources', () => {
    const pod = buildPodManifest(parsePodTemplate(PHASES), request, 'a') as any;
    expect(pod.spec.initContainers.map((c: any) => c.name)).toEqual(['checkout']);
    expect(pod.spec.containers.map((c: any) => c.name)).toEqual(['agent', 'publish']);
    for (const c of [...pod.spec.initContainers, ...pod.spec.containers]) {
      expect(c.env).toEqual(expect.arrayContaining([{ name: 'SDLC_TASK_ID', value: 'T012' }]));
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    }
    expect(pod.spec.containers[0].resources).toEqual(DEFAULT_RESOURCES);
    expect(pod.spec.containers[1].resources).toEqual(DEFAULT_PHASE_RESOURCES);
    expect(pod.spec.initContainers[0].resources).toEqual(DEFAULT_PHASE_RESOURCES);
  });

  it('the gateway sidecar gets the task env too (its budget comes from it) and stays a sidecar', () => {
    const pod = buildPodManifest(parsePodTemplate(GATEWAY), { ...request, env: { ...request.env, SDLC_GATEWAY_BUDGET: '{"maxTokens":5}' } }, 'a') as any;
    const gateway = pod.spec.initContainers.find((c: any) => c.name === 'gateway');
    expect(gateway.restartPolicy).toBe('Always');
    expect(gateway.env).toEqual(expect.arrayContaining([{ name: 'SDLC_GATEWAY_BUDGET', value: '{"maxTokens":5}' }]));
  });

  it('rejects requests that cannot become a pod', () => {
    const t = parsePodTemplate(MINIMAL);
    expect(() => buildPodManifest(t, { ...request, name: 'Bad_Name' }, 'a')).toThrow(/DNS-1123/);
    expect(() => buildPodManifest(t, { ...request, activeDeadlineSeconds: 0 }, 'a')).toThrow(/activeDeadlineSeconds/);
  });
});

describe('the Helm chart renders a template in this format (one source of truth)', () => {
  it('helm template → ConfigMap pod-template.yaml → parses and builds an agent pod', () => {
    const chart = path.join(__dirname, '../../charts/agentic-sdlc-agent-runner');
    const rendered = execFileSync(toolPath('helm'), ['template', 'ci', chart, '--show-only', 'templates/pod-template.yaml'], { encoding: 'utf8' });
    const configMap = YAML.parse(rendered) as { data: Record<string, string> };
    const text = configMap.data['pod-template.yaml'];
    expect(text).toBeDefined();
    const pod = buildPodManifest(parsePodTemplate(text!, 'chart pod template'), request, 'agents') as any;
    expect(pod.metadata.name).toBe(request.name);
    expect(pod.metadata.namespace).toBe('agents');
    expect(pod.spec.containers.map((c: any) => c.name)).toEqual(['agent', 'publish']);
    for (const c of [...pod.spec.initContainers, ...pod.spec.containers]) expect(c.env).toEqual(expect.arrayContaining([{ name: 'SDLC_TASK_ID', value: 'T012' }]));
  });
});
