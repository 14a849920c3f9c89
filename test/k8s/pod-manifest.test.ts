import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildPodManifest, parsePodTemplate, PodTemplateError, DEFAULT_RESOURCES } from '../../src/k8s/pod-manifest';
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
    ['two containers', 'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: agent, image: x}, {name: sidecar, image: y}]}', /spec\.containers: must hold exactly one container, named "agent" \(found: "agent", "sidecar"\)/],
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
    expect(pod.spec.containers).toHaveLength(1);
    expect(pod.spec.containers[0].env).toEqual(expect.arrayContaining([{ name: 'SDLC_TASK_ID', value: 'T012' }]));
  });
});
