/**
 * The worker's start checks against the agent namespace (SDLC_K8S_NAMESPACE), before it polls:
 * - a server-side dry-run create (dryRun=All: nothing is stored) of a pod built from the pod template
 *   exactly as a task builds it (buildPodManifest, placeholder run/task values). One request proves the
 *   namespace exists (404), the worker may create pods (403), the pod is valid for the API (422) and the
 *   namespace's Pod Security admission accepts it (403 "violates PodSecurity"); Pod Security `warn`
 *   findings come back as HTTP Warning headers;
 * - SelfSubjectAccessReviews (allowed for every authenticated user) for each right the client gateway
 *   uses: pods create/get/list/watch/delete and pods/log get. It reads no Secrets.
 *
 * The outcome is three-way: pass (with warnings), refused (the operator must fix something: one line per
 * problem) or unreachable (the API did not answer, or answered 5xx/429: retry, it is not a typo).
 * Errors are classified by src/k8s/errors.ts, as every other API call of the worker.
 */
import { randomBytes } from 'node:crypto';
import type { RequestContext, ResponseContext } from '@kubernetes/client-node';
import { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, Observable, type KubeConfig } from '../src/k8s/client-node';
import { ANNOTATIONS, KubernetesError, LABELS } from '../src/k8s/gateway';
import { httpStatusOf, parseStatusBody, podSecurityViolation, toKubernetesError, type ApiCallContext } from '../src/k8s/errors';
import { buildPodManifest, type PodTemplate } from '../src/k8s/pod-manifest';

/** The rights the client gateway (src/k8s/client-gateway.ts, pod-informer.ts, log-stream.ts) uses in the agent namespace. */
export const NEEDED_RIGHTS: readonly { verb: ApiCallContext['verb']; resource: 'pods'; subresource?: 'log' }[] = [
  { verb: 'create', resource: 'pods' },
  { verb: 'get', resource: 'pods' },
  { verb: 'list', resource: 'pods' },
  { verb: 'watch', resource: 'pods' },
  { verb: 'delete', resource: 'pods' },
  { verb: 'get', resource: 'pods', subresource: 'log' },
];

/** Where the rights come from in a chart install (charts/agentic-sdlc-agent-runner/templates/rbac.yaml). */
const CHART_ROLE = `the chart's Role "<release>-agent-pods" in that namespace (charts/agentic-sdlc-agent-runner/templates/rbac.yaml), bound to the worker's ServiceAccount`;

export type ClusterCheckResult =
  | { outcome: 'pass'; warnings: string[] }
  | { outcome: 'refused'; problems: string[] }
  | { outcome: 'unreachable'; reason: string };

export interface ClusterCheckInput {
  kubeConfig: KubeConfig;
  namespace: string;
  template: PodTemplate;
  /** For the messages: where the template came from (SDLC_POD_TEMPLATE_FILE). */
  templateFile: string;
  /** Bound on each request (default 10 s): an apiserver that accepts the connection but never answers is unreachable. */
  timeoutMs?: number;
  /** Aborts the requests in flight (SIGTERM while waiting). */
  signal?: AbortSignal;
}

/** The pod a task would create, with placeholder run/task values (the name is random: a dry run still checks that it is free). */
export function startCheckPod(template: PodTemplate, namespace: string) {
  const id = randomBytes(4).toString('hex');
  return buildPodManifest(
    template,
    {
      name: `sdlc-start-check-${id}`,
      labels: { [LABELS.run]: 'start-check', [LABELS.runUid]: id, [LABELS.task]: 'start-check', [LABELS.attempt]: '1' },
      annotations: { [ANNOTATIONS.workflowId]: 'start-check', [ANNOTATIONS.taskTitle]: 'worker start check (dry run)' },
      env: { SDLC_RUN_ID: 'start-check', SDLC_TASK_ID: 'start-check', SDLC_ATTEMPT: '1' },
      activeDeadlineSeconds: 3600,
    },
    namespace,
  );
}

/** The server address the kubeconfig points at (for messages). */
export function apiServerOf(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
}

/** The texts of HTTP Warning headers (`299 - "text"`, several joined with ", " by the HTTP client). */
export function warningTexts(header: string | undefined): string[] {
  if (!header) return [];
  const out: string[] = [];
  const re = /\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(header); m; m = re.exec(header)) out.push(m[1]!.replace(/\\(.)/g, '$1'));
  return out.length ? out : [header];
}

/** A request option that aborts the request when `signal` does (client-node has no per-request timeout). */
function abortWith(signal: AbortSignal) {
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: 'append' as const,
  };
}

/** Why the apiserver did not answer usefully, in a few words: a network code, a timeout, or the 5xx/429 status. */
function unreachableReason(err: unknown, mapped: KubernetesError, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  if (mapped.statusCode !== undefined) return `HTTP ${mapped.statusCode}`;
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return `${code}${(e as Error).message ? ` (${(e as Error).message.replace(/^request to \S+ failed, reason: /, '')})` : ''}`;
    e = (e as { cause?: unknown }).cause;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * A TLS verification failure (the server's certificate is not trusted or not for that name): errors.ts counts
 * every socket-level error as "cannot reach" and retries, but this one does not heal — the kubeconfig's CA or
 * server name is wrong. The code, or undefined.
 */
function tlsVerificationCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

type Attempt<T> = { ok: T } | { refused: KubernetesError; raw: unknown } | { unreachable: string };

/** One API call, bounded; errors classified by errors.ts (retryable = the API is down or overloaded, not a refusal). */
async function attempt<T>(call: (options: ReturnType<typeof abortWith>) => Promise<T>, ctx: ApiCallContext, input: ClusterCheckInput): Promise<Attempt<T>> {
  const timeoutMs = input.timeoutMs ?? 10_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = input.signal ? AbortSignal.any([timeout, input.signal]) : timeout;
  try {
    return { ok: await call(abortWith(signal)) };
  } catch (err) {
    const tls = tlsVerificationCode(err);
    if (tls) {
      return { refused: new KubernetesError(`the Kubernetes API at ${apiServerOf(input.kubeConfig)} presents a certificate it does not trust (${tls}). Fix: the kubeconfig's certificate-authority(-data) must be the cluster's CA, and its server name one the certificate is for`, false), raw: err };
    }
    const mapped = toKubernetesError(err, ctx);
    const quota = httpStatusOf(err) === 403 && mapped.retryable;
    if (timeout.aborted || input.signal?.aborted || (mapped.retryable && !quota)) {
      return { unreachable: `Kubernetes API at ${apiServerOf(input.kubeConfig)} unreachable: ${unreachableReason(err, mapped, timeout.aborted, timeoutMs)}` };
    }
    return { refused: mapped, raw: err };
  }
}

export function rightName(r: (typeof NEEDED_RIGHTS)[number]): string {
  return `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''}`;
}

/** Who the worker is to the apiserver (SelfSubjectReview), for the messages; undefined when it cannot say. */
async function identity(input: ClusterCheckInput): Promise<string | undefined> {
  const answer = await attempt(
    (o) => input.kubeConfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} }, o),
    { verb: 'create', resource: 'selfsubjectreviews', namespace: input.namespace },
    input,
  );
  return 'ok' in answer ? answer.ok.status?.userInfo?.username : undefined;
}

/** Runs the checks once. Never throws for API answers; see ClusterCheckResult. */
export async function checkAgentNamespace(input: ClusterCheckInput): Promise<ClusterCheckResult> {
  const { kubeConfig: kc, namespace } = input;
  const core = kc.makeApiClient(CoreV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const pod = startCheckPod(input.template, namespace);
  const podCtx: ApiCallContext = { verb: 'create', resource: 'pods', namespace, name: pod.metadata!.name };
  const [dry, ...reviews] = await Promise.all([
    attempt((o) => core.createNamespacedPodWithHttpInfo({ namespace, body: pod, dryRun: 'All' }, o), podCtx, input),
    ...NEEDED_RIGHTS.map((r) =>
      attempt(
        (o) => authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace, verb: r.verb, resource: r.resource, subresource: r.subresource } } } }, o),
        { verb: 'create', resource: 'selfsubjectaccessreviews', namespace },
        input,
      ),
    ),
  ]);
  const down = [dry, ...reviews].find((a): a is { unreachable: string } => 'unreachable' in a);
  if (down) return { outcome: 'unreachable', reason: down.unreachable };

  const ns = `SDLC_K8S_NAMESPACE=${JSON.stringify(namespace)}`;
  const problems: string[] = [];
  const warnings: string[] = [];
  if ('refused' in dry && dry.refused.statusCode === 404) {
    // The rights reviews say nothing useful about a namespace that does not exist.
    return { outcome: 'refused', problems: [`${ns}: namespace ${namespace} does not exist (404 on a dry-run pod create). Fix: create it (kubectl create namespace ${namespace}) or set SDLC_K8S_NAMESPACE to the namespace the agent pods run in (chart value agents.namespace.name)`] };
  }
  if ('refused' in dry && (dry.refused.statusCode === undefined || dry.refused.statusCode === 401)) {
    // Not trusted, not authenticated, or no usable configuration: every request fails alike, one line says it.
    return { outcome: 'refused', problems: [`the worker's Kubernetes configuration (${apiServerOf(kc)}): ${dry.refused.message}`] };
  }
  const denied = new Set<string>();
  const who = reviews.some((r) => 'ok' in r && r.ok.status?.allowed !== true) ? await identity(input) : undefined;
  reviews.forEach((review, i) => {
    const right = NEEDED_RIGHTS[i]!;
    if ('refused' in review) {
      problems.push(`${ns}: cannot ask Kubernetes whether the worker may ${rightName(right)}: ${review.refused.message}`);
    } else if ('ok' in review && review.ok.status?.allowed !== true) {
      denied.add(right.verb + right.resource + (right.subresource ?? ''));
      problems.push(`${ns}: the worker${who ? ` (${who})` : ''} may not ${rightName(right)} in namespace "${namespace}" (a SelfSubjectAccessReview says no${review.ok.status?.reason ? `: ${review.ok.status.reason}` : ''}). Fix: allow verb "${right.verb}" on resource "${right.resource}${right.subresource ? `/${right.subresource}` : ''}" — ${CHART_ROLE}`);
    }
  });
  if ('ok' in dry) {
    const texts = warningTexts(dry.ok.headers.warning);
    if (texts.length) warnings.push(`warning: Kubernetes warns about the agent pod built from SDLC_POD_TEMPLATE_FILE=${JSON.stringify(input.templateFile)} (dry-run create in namespace "${namespace}"; admitted): ${texts.join('; ')}${texts.some((t) => podSecurityViolation(t)) ? `. Fix before the namespace enforces that level: adjust the pod template, or the namespace's pod-security.kubernetes.io/warn label` : ''}`);
  } else if ('refused' in dry) {
    const status = dry.refused.statusCode;
    const pss = status === 403 ? podSecurityViolation(parseStatusBody((dry.raw as { body?: unknown }).body)?.message) : undefined;
    if (pss) {
      problems.unshift(`SDLC_POD_TEMPLATE_FILE=${JSON.stringify(input.templateFile)}: the agent pod built from it violates the Pod Security level "${pss.level}" that namespace "${namespace}" enforces: ${pss.violations}. Fix: adjust the pod template (docs/pod-template.md), or the namespace's pod-security.kubernetes.io/enforce label`);
    } else if (status === 403 && httpStatusOf(dry.raw) === 403 && dry.refused.retryable) {
      warnings.push(`warning: ${dry.refused.message}`); // ResourceQuota used up now: it frees as pods end
    } else if (status === 403 && !denied.has('createpods')) {
      // Not RBAC (the review allows create): an admission policy or webhook, or a namespace being deleted. Its own words.
      const said = parseStatusBody((dry.raw as { body?: unknown }).body)?.message ?? dry.refused.message;
      problems.push(`${ns}: Kubernetes refuses the agent pod (dry-run create, 403) although the worker may create pods there: ${said}. Fix: the cause it names (an admission policy or webhook; a namespace being deleted: wait and recreate it, or set SDLC_K8S_NAMESPACE)`);
    } else if (status === 403) {
      // The missing create right is already a line of its own (the access review).
    } else if (status === 400 || status === 422) {
      problems.unshift(`SDLC_POD_TEMPLATE_FILE=${JSON.stringify(input.templateFile)}: the agent pod built from it is invalid for the Kubernetes API (dry-run create, ${status}): ${dry.refused.message.replace(/^Kubernetes rejected .*? as invalid \(\d+\): /, '').replace(/ Fix the pod template or the request; retrying will not help\.$/, '').replace(/\.+$/, '')}. Fix: correct the pod template (docs/pod-template.md)`);
    } else if (status !== 409) {
      // An unexpected status: said as the API said it.
      problems.push(`the worker's Kubernetes configuration (${apiServerOf(kc)}): ${dry.refused.message}`);
    }
  }
  if (problems.length) return { outcome: 'refused', problems };
  return { outcome: 'pass', warnings };
}

/**
 * Runs the checks until they pass or are refused. While the API does not answer: `onUnreachable(reason, first)`
 * after each failed attempt, then a retry with backoff (0.5 s doubling, capped at maxDelayMs).
 * Resolves 'aborted' promptly when `signal` aborts.
 */
export async function waitForAgentNamespace(
  input: ClusterCheckInput,
  hooks: { onUnreachable(reason: string, first: boolean): void | Promise<void>; maxDelayMs?: number },
): Promise<Exclude<ClusterCheckResult, { outcome: 'unreachable' }> | { outcome: 'aborted' }> {
  let delay = 500;
  let first = true;
  for (;;) {
    if (input.signal?.aborted) return { outcome: 'aborted' };
    const result = await checkAgentNamespace(input);
    if (input.signal?.aborted) return { outcome: 'aborted' };
    if (result.outcome !== 'unreachable') return result;
    await hooks.onUnreachable(result.reason, first);
    first = false;
    const aborted = await new Promise<boolean>((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        input.signal?.removeEventListener('abort', onAbort);
        resolve(false);
      }, delay);
      input.signal?.addEventListener('abort', onAbort, { once: true });
    });
    if (aborted) return { outcome: 'aborted' };
    delay = Math.min(delay * 2, hooks.maxDelayMs ?? 10_000);
  }
}
