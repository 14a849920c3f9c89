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
export const AGENT_COMPONENT = 'agent';

/** Used when the template has no `resources` at all: an agent runs a Node CLI and git. */
export const DEFAULT_RESOURCES = {
  requests: { cpu: '500m', memory: '1Gi' },
  limits: { cpu: '2', memory: '4Gi' },
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
        .array(Container, { error: 'is required: a list with exactly one container named "agent"' })
        .refine((cs) => cs.length === 1 && cs[0]?.name === AGENT_CONTAINER, {
          error: (issue) =>
            `must hold exactly one container, named "agent" (found: ${
              (issue.input as { name?: unknown }[]).map((c) => JSON.stringify(c?.name ?? '')).join(', ') || 'none'
            }); put helpers in initContainers`,
        }),
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
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new PodTemplateError(`${source} is invalid (see docs/pod-template.md):\n${problems.join('\n')}`);
  }
  return parsed.data;
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
  const [templateContainer] = spec.containers;
  const container: Obj = { ...templateContainer! };

  // The agent must know when the kubelet's SIGKILL comes after SIGTERM (its push grace ends before it);
  // the container cannot read its own pod spec, so the runner passes the value the spec says.
  const terminationGrace = Math.max(1, spec.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS);
  container.env = mergeEnv(templateContainer!.env, { ...req.env, [AGENT_ENV.TERMINATION_GRACE_SECONDS]: String(terminationGrace) });
  container.securityContext = withContainerSecurityDefaults(templateContainer!.securityContext);
  container.resources ??= clone(DEFAULT_RESOURCES);

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
    containers: [container],
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    activeDeadlineSeconds: req.activeDeadlineSeconds,
    securityContext: withPodSecurityDefaults(spec.securityContext),
  };

  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: podSpec } as unknown as V1Pod;
}
