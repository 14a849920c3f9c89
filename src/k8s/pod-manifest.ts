/**
 * The agent pod manifest = the operator's pod template (YAML; the Helm chart renders the same text
 * into the ConfigMap key `pod-template.yaml`) + the per-task fields of an AgentPodRequest.
 * The format is documented in docs/pod-template.md. Pure functions: no API calls here.
 */
import type { V1Pod } from '@kubernetes/client-node';
import YAML from 'yaml';
import { z } from 'zod';
import { AGENT_ENV } from '../contract/agent-env';
import { LABELS, MANAGED_BY, type AgentPodRequest } from './gateway';

export const AGENT_CONTAINER = 'agent';
/** The phase containers (src/contract/agent-phases.ts); publish's log is the pod's (PodStatus.logContainer). */
export const CHECKOUT_CONTAINER = 'checkout';
export const PUBLISH_CONTAINER = 'publish';
/** The model gateway: a native sidecar (init container, restartPolicy Always), the only one with the provider keys. */
export const GATEWAY_CONTAINER = 'gateway';
export const AGENT_COMPONENT = 'agent';

/** Used when the template has no `resources` at all: an agent runs a Node CLI and git. */
export const DEFAULT_RESOURCES = {
  requests: { cpu: '500m', memory: '1Gi' },
  limits: { cpu: '2', memory: '4Gi' },
} as const;

/** Checkout and publish run git only. */
export const DEFAULT_PHASE_RESOURCES = {
  requests: { cpu: '100m', memory: '256Mi' },
  limits: { cpu: '1', memory: '1Gi' },
} as const;

/** Kubernetes' own default for a pod's terminationGracePeriodSeconds. */
const DEFAULT_TERMINATION_GRACE_SECONDS = 30;

const StringMap = z.record(z.string(), z.string({ error: 'must be a string (quote numbers and booleans in YAML)' }));

const EnvVar = z.looseObject({
  name: z.string().min(1),
  value: z.string({ error: 'must be a string (quote numbers and booleans in YAML)' }).optional(),
  valueFrom: z.looseObject({}).optional(),
});

const Container = z.looseObject({
  name: z.string(),
  image: z.string({ error: 'is required' }).min(1, 'is required'),
  env: z.array(EnvVar).optional(),
  securityContext: z.looseObject({}).optional(),
  resources: z.looseObject({}).optional(),
});

const PodTemplateSchema = z.looseObject({
  apiVersion: z.literal('v1', { error: 'must be "v1"' }),
  kind: z.literal('Pod', { error: 'must be "Pod"' }),
  metadata: z
    .looseObject({
      labels: StringMap.optional(),
      annotations: StringMap.optional(),
    })
    .optional(),
  spec: z.looseObject(
    {
      containers: z
        .array(Container, { error: 'is required: a list with the container "agent" (and "publish", for the three phases)' })
        .refine((cs) => ['agent', 'agent,publish'].includes(cs.map((c) => c.name).join(',')), {
          error: (issue) =>
            `must hold the container "agent", or "agent" then "publish" for the three phases (found: ${
              (issue.input as { name?: unknown }[]).map((c) => JSON.stringify(c?.name ?? '')).join(', ') || 'none'
            }); put helpers in initContainers`,
        }),
      initContainers: z.array(Container).optional(),
      restartPolicy: z.literal('Never', { error: 'must be "Never" or left out: an agent pod runs once' }).optional(),
      automountServiceAccountToken: z
        .literal(false, { error: 'must be false or left out: the agent must not get a Kubernetes API token' })
        .optional(),
      activeDeadlineSeconds: z.unknown().optional(),
      terminationGracePeriodSeconds: z.number({ error: 'must be a whole number of seconds' }).int('must be a whole number of seconds').nonnegative('must not be negative').optional(),
      securityContext: z.looseObject({}).optional(),
    },
    { error: 'is required' },
  ),
});

export type PodTemplate = z.infer<typeof PodTemplateSchema>;

export class PodTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PodTemplateError';
  }
}

/** Parses and validates the template text; every problem is listed with its YAML path. */
export function parsePodTemplate(text: string, source = 'pod template'): PodTemplate {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new PodTemplateError(`${source} is not valid YAML (one document expected): ${(err as Error).message.split('\n')[0]}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PodTemplateError(`${source} must be a YAML mapping holding a Pod (apiVersion: v1, kind: Pod)`);
  }
  const parsed = PodTemplateSchema.safeParse(raw);
  const problems = parsed.success ? phaseProblems(parsed.data) : parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  if (problems.length) {
    throw new PodTemplateError(`${source} is invalid (see docs/pod-template.md):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return parsed.data!;
}

type TemplateContainer = z.infer<typeof Container> & { volumeMounts?: { name?: string }[] };

/** Env that points at the git credential: only checkout and publish may have it. */
const CREDENTIAL_ENV: readonly string[] = [AGENT_ENV.GIT_TOKEN_FILE, AGENT_ENV.GIT_SSH_KEY_FILE];

/**
 * The three phases' rules (docker/agent/README.md "Phases"): checkout is an init container, each
 * phase runs as a uid of its own, and the agent gets neither the credential's env nor its volume.
 */
function phaseProblems(t: PodTemplate): string[] {
  const spec = t.spec as PodTemplate['spec'] & { volumes?: { name?: string; secret?: unknown; projected?: unknown }[] };
  const agent = spec.containers[0] as TemplateContainer;
  const publish = spec.containers[1] as TemplateContainer | undefined;
  const checkout = (spec.initContainers ?? []).find((c) => c.name === CHECKOUT_CONTAINER) as TemplateContainer | undefined;
  if (!publish) {
    return checkout ? ['spec.initContainers: "checkout" needs the container "publish" after "agent" (the three phases)'] : [];
  }
  const problems: string[] = [];
  if (!checkout) problems.push('spec.initContainers: the three phases need the init container "checkout"');
  const gateway = (spec.initContainers ?? []).find((c) => c.name === GATEWAY_CONTAINER) as (TemplateContainer & { restartPolicy?: unknown }) | undefined;
  if (gateway && gateway.restartPolicy !== 'Always') {
    problems.push('initContainer "gateway": needs restartPolicy: Always (a native sidecar that runs next to the agent until the pod ends)');
  }
  const podUid = (spec.securityContext as { runAsUser?: unknown } | undefined)?.runAsUser;
  const uids = new Map<string, unknown>();
  for (const c of [checkout, agent, publish, gateway]) {
    if (!c) continue;
    const uid = (c.securityContext as { runAsUser?: unknown } | undefined)?.runAsUser ?? podUid;
    if (uid === undefined) problems.push(`container "${c.name}": needs a runAsUser (its own or the pod's): each phase runs as its own uid`);
    else uids.set(c.name, uid);
  }
  if (new Set(uids.values()).size !== uids.size) {
    problems.push(`the phases must run as different uids (found ${[...uids].map(([n, u]) => `${n}=${String(u)}`).join(', ')}): the agent must not share a uid that holds a credential`);
  }
  const agentCredentialEnv = (agent.env ?? []).filter((e) => CREDENTIAL_ENV.includes(e.name)).map((e) => e.name);
  if (agentCredentialEnv.length) problems.push(`container "agent": ${agentCredentialEnv.join(', ')} must not be set: only checkout and publish hold the git credential`);
  // Secret volumes checkout or publish mount are the credential's: never in the agent.
  const secretVolumes = new Set((spec.volumes ?? []).filter((v) => v.secret || v.projected).map((v) => v.name));
  const credentialVolumes = new Set([checkout, publish].flatMap((c) => (c?.volumeMounts ?? []).map((m) => m.name)).filter((n) => secretVolumes.has(n)));
  const leaked = (agent.volumeMounts ?? []).map((m) => m.name).filter((n) => credentialVolumes.has(n));
  if (leaked.length) problems.push(`container "agent": must not mount ${leaked.map((n) => `"${n}"`).join(', ')}: checkout and publish mount it (the git credential)`);
  if (gateway) {
    // With a gateway, the provider keys are its alone: the agent reads no Secret at all.
    const fromSecrets = (agent.env ?? []).filter((e) => (e.valueFrom as { secretKeyRef?: unknown } | undefined)?.secretKeyRef).map((e) => e.name);
    if (fromSecrets.length) problems.push(`container "agent": ${fromSecrets.join(', ')} must not come from a Secret: with a model gateway, the provider keys are the gateway's alone`);
    const keyVolumes = new Set((gateway.volumeMounts ?? []).map((m) => m.name).filter((n) => secretVolumes.has(n)));
    const keys = (agent.volumeMounts ?? []).map((m) => m.name).filter((n) => keyVolumes.has(n));
    if (keys.length) problems.push(`container "agent": must not mount ${keys.map((n) => `"${n}"`).join(', ')}: the gateway mounts it (the provider keys)`);
  }
  return problems;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function validateRequest(req: AgentPodRequest): void {
  if (req.name.length > 63 || !DNS1123_LABEL.test(req.name)) {
    throw new PodTemplateError(`pod name ${JSON.stringify(req.name)} is not a DNS-1123 label (lowercase a-z, 0-9, '-', at most 63 chars)`);
  }
  if (!Number.isInteger(req.activeDeadlineSeconds) || req.activeDeadlineSeconds <= 0) {
    throw new PodTemplateError(`activeDeadlineSeconds must be a positive integer, got ${req.activeDeadlineSeconds}`);
  }
}

type Obj = Record<string, unknown>;

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Template env with the request's plain values appended; on a name clash the request's value wins. */
function mergeEnv(templateEnv: z.infer<typeof EnvVar>[] | undefined, requestEnv: Record<string, string>): Obj[] {
  const overridden = new Set(Object.keys(requestEnv));
  const kept = (templateEnv ?? []).filter((e) => !overridden.has(e.name));
  return [...kept, ...Object.entries(requestEnv).map(([name, value]) => ({ name, value }))];
}

function withPodSecurityDefaults(sc: Obj | undefined): Obj {
  const out: Obj = { ...(sc ?? {}) };
  out.runAsNonRoot ??= true;
  out.seccompProfile ??= { type: 'RuntimeDefault' };
  return out;
}

function withContainerSecurityDefaults(sc: Obj | undefined): Obj {
  const out: Obj = { ...(sc ?? {}) };
  out.allowPrivilegeEscalation ??= false;
  const caps: Obj = { ...((out.capabilities as Obj | undefined) ?? {}) };
  // "drop ALL, add back what you need" is the hardened pattern; a template that only adds keeps its adds.
  caps.drop ??= ['ALL'];
  out.capabilities = caps;
  return out;
}

/** Builds the pod for one task attempt. The template is not modified. */
export function buildPodManifest(template: PodTemplate, req: AgentPodRequest, namespace: string): V1Pod {
  validateRequest(req);
  const t = clone(template);
  const spec = t.spec as Obj & PodTemplate['spec'];

  // The agent must know when the kubelet's SIGKILL comes after SIGTERM (its push grace ends before it);
  // the container cannot read its own pod spec, so the runner passes the value the spec says.
  const terminationGrace = Math.max(1, spec.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS);
  const taskEnv = { ...req.env, [AGENT_ENV.TERMINATION_GRACE_SECONDS]: String(terminationGrace) };
  // Every phase gets the task's env (none of it secret) and the hardened defaults.
  const withTask = (c: z.infer<typeof Container>, resources: object): Obj => ({
    ...c,
    env: mergeEnv(c.env, taskEnv),
    securityContext: withContainerSecurityDefaults(c.securityContext),
    resources: c.resources ?? clone(resources),
  });
  const containers = spec.containers.map((c) => withTask(c, c.name === AGENT_CONTAINER ? DEFAULT_RESOURCES : DEFAULT_PHASE_RESOURCES));
  const phases = new Set([CHECKOUT_CONTAINER, GATEWAY_CONTAINER]);
  const initContainers = spec.initContainers?.map((c) => (phases.has(c.name) ? withTask(c, DEFAULT_PHASE_RESOURCES) : { ...c, securityContext: withContainerSecurityDefaults(c.securityContext) }));

  const metadata: Obj = { ...(t.metadata ?? {}) };
  // The template is a shape, not an object of its own: identity comes from the request.
  delete metadata.name;
  delete metadata.generateName;
  delete metadata.resourceVersion;
  delete metadata.uid;
  metadata.name = req.name;
  metadata.namespace = namespace;
  metadata.labels = {
    ...(t.metadata?.labels ?? {}),
    [LABELS.component]: AGENT_COMPONENT,
    ...req.labels,
    // The shared pod watch selects on this label: a pod without it would be invisible to the runner.
    [LABELS.managedBy]: MANAGED_BY,
  };
  metadata.annotations = { ...(t.metadata?.annotations ?? {}), ...req.annotations };

  const podSpec: Obj = {
    ...spec,
    containers,
    ...(initContainers ? { initContainers } : {}),
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    activeDeadlineSeconds: req.activeDeadlineSeconds,
    securityContext: withPodSecurityDefaults(spec.securityContext),
  };

  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: podSpec } as unknown as V1Pod;
}
