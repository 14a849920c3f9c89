/**
 * Turns whatever a Kubernetes API call threw (client-node's ApiException, a node-fetch/system
 * network error, or a status we read from a raw stream) into a KubernetesError that says whether a
 * retry can help and what the operator should fix. Activities hand `retryable` to Temporal.
 */
import { KubernetesError } from './gateway';

/** What was being attempted, so messages can name the verb/resource the Role must allow. */
export interface ApiCallContext {
  verb: 'create' | 'get' | 'list' | 'watch' | 'delete';
  /** "pods" or "pods/log". */
  resource: string;
  namespace: string;
  name?: string;
}

/** Error codes of network-level failures: the request may not have reached the server, or the reply was lost. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The parts of a Kubernetes `Status` object we use. */
interface StatusBody {
  message?: string;
  reason?: string;
  code?: number;
}

export function parseStatusBody(body: unknown): StatusBody | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() ? { message: body.trim().slice(0, 500) } : undefined;
    }
  }
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    return {
      message: typeof v.message === 'string' ? v.message : undefined,
      reason: typeof v.reason === 'string' ? v.reason : undefined,
      code: typeof v.code === 'number' ? v.code : undefined,
    };
  }
  return undefined;
}

function target(ctx: ApiCallContext): string {
  return `${ctx.verb} ${ctx.resource}${ctx.name ? ` "${ctx.name}"` : ''} in namespace "${ctx.namespace}"`;
}

/** Maps an HTTP status (with the API's Status body, when there is one) to a KubernetesError. */
export function errorForStatus(statusCode: number, body: unknown, ctx: ApiCallContext): KubernetesError {
  const status = parseStatusBody(body);
  const detail = status?.message ? `: ${status.message}` : '';
  const what = target(ctx);
  switch (true) {
    case statusCode === 400 || statusCode === 422:
      return new KubernetesError(
        `Kubernetes rejected ${what} as invalid (${statusCode})${detail}. Fix the pod template or the request; retrying will not help.`,
        false,
        statusCode,
      );
    case statusCode === 401:
      return new KubernetesError(
        `Kubernetes did not accept the credentials for ${what} (401)${detail}. Check the kubeconfig / service-account token.`,
        false,
        statusCode,
      );
    case statusCode === 403 && /exceeded quota/i.test(status?.message ?? ''):
      // Not a permission problem: the namespace's ResourceQuota is used up for now (e.g. by other
      // agent pods). It frees up as pods end, so a retry (with backoff) can succeed.
      return new KubernetesError(
        `The namespace's ResourceQuota does not allow ${what} now (403)${detail}. Retrying as other pods end; if it persists, raise the ResourceQuota of namespace "${ctx.namespace}" or lower the run's parallelism.`,
        true,
        statusCode,
      );
    case statusCode === 403 && podSecurityViolation(status?.message) !== undefined: {
      // Not RBAC: the namespace's Pod Security admission refuses this pod; the template (or the namespace's level) must change.
      const pss = podSecurityViolation(status?.message)!;
      return new KubernetesError(
        `The Pod Security admission of namespace "${ctx.namespace}" refuses ${what} (403): the pod violates level "${pss.level}": ${pss.violations}. Fix: adjust the pod template so the pod meets "${pss.level}", or the namespace's pod-security.kubernetes.io/enforce label; retrying will not help.`,
        false,
        statusCode,
      );
    }
    case statusCode === 403:
      return new KubernetesError(
        `Forbidden: the runner's identity may not ${what} (403)${detail}. The Role bound to the runner's ServiceAccount must allow verb "${ctx.verb}" on resource "${ctx.resource}" in namespace "${ctx.namespace}".`,
        false,
        statusCode,
      );
    case statusCode === 404 && isNamespaceNotFound(status, ctx):
      return new KubernetesError(
        `Namespace "${ctx.namespace}" does not exist (404 on ${what})${detail}. Create it (kubectl create namespace ${ctx.namespace}) or point the runner at an existing namespace.`,
        false,
        statusCode,
      );
    case statusCode === 404:
      return new KubernetesError(`Not found: ${what} (404)${detail}.`, false, statusCode);
    case statusCode === 409:
      return new KubernetesError(`Conflict on ${what} (409)${detail}.`, false, statusCode);
    case statusCode === 410:
      return new KubernetesError(`Gone on ${what} (410)${detail}: the resource version is too old; retry from a fresh list.`, true, statusCode);
    case statusCode === 429:
      return new KubernetesError(`The API server is throttling ${what} (429)${detail}; retry later.`, true, statusCode);
    case statusCode >= 500:
      return new KubernetesError(`The API server failed on ${what} (${statusCode})${detail}; retry later.`, true, statusCode);
    default:
      return new KubernetesError(`Unexpected HTTP ${statusCode} on ${what}${detail}.`, false, statusCode);
  }
}

/**
 * A Pod Security admission refusal (`pods "x" is forbidden: violates PodSecurity "restricted:latest": …`)
 * or warning (`would violate PodSecurity …`): the level and the violations, or undefined for anything else.
 */
export function podSecurityViolation(message: string | undefined): { level: string; violations: string } | undefined {
  const m = /violates? PodSecurity "([^"]+)":\s*(.*)$/s.exec(message ?? '');
  return m ? { level: m[1]!, violations: m[2]!.trim() } : undefined;
}

/**
 * A 404 on a pod create (or on a list/watch) means the namespace is missing; on get/delete of a
 * named pod, the pod is. The apiserver says which in the Status message: `namespaces "x" not found`.
 */
function isNamespaceNotFound(status: StatusBody | undefined, ctx: ApiCallContext): boolean {
  if (status?.message && /namespaces? "[^"]*" not found/.test(status.message)) return true;
  return ctx.verb === 'create' || ctx.verb === 'list' || ctx.verb === 'watch';
}

function networkCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    if ((e as { type?: unknown }).type === 'system' && typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  const message = err instanceof Error ? err.message : '';
  if (/socket hang up|network|ECONNRE|ETIMEDOUT|premature close/i.test(message)) return 'network';
  return undefined;
}

/** HTTP status of a client-node ApiException (or anything carrying `code`/`statusCode` as a number). */
export function httpStatusOf(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export function toKubernetesError(err: unknown, ctx: ApiCallContext): KubernetesError {
  if (err instanceof KubernetesError) return err;
  const status = httpStatusOf(err);
  if (status !== undefined) return errorForStatus(status, (err as { body?: unknown }).body, ctx);
  const code = networkCode(err);
  if (code) {
    return new KubernetesError(
      `Cannot reach the Kubernetes API server to ${target(ctx)} (${code}: ${err instanceof Error ? err.message : String(err)}); retrying.`,
      true,
    );
  }
  // Unknown failures (e.g. a TLS or kubeconfig problem) are surfaced as they are and not retried
  // blindly; the message keeps the original text so the operator can act on it.
  return new KubernetesError(`Failed to ${target(ctx)}: ${err instanceof Error ? err.message : String(err)}`, false);
}
