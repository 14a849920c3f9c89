/**
 * Deterministic DNS-1123 names for agent pods: the same run, task and attempt always give the same
 * name, so a retried or resumed activity finds (adopts) the pod it already created instead of making
 * a second one. Pure and deterministic: workflows call it too.
 */
const MAX_NAME = 63;

/** lowercase, [a-z0-9-] only, no leading/trailing dashes, collapsed dashes. */
export function dnsSlug(input: string): string {
  return input
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

/** 32-bit FNV-1a as 7 base-36 chars: short, stable, no crypto needed (not a security boundary). */
export function shortHash(input: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) {
    h ^= input.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36).padStart(7, '0').slice(-7);
}

/**
 * `infraRetry` > 0 names the replacement pod after an infrastructure failure (eviction, OOM kill) of
 * the same attempt.
 */
export function podName(runId: string, taskId: string, attempt: number, infraRetry = 0, runUid = ''): string {
  const task = dnsSlug(taskId) || 'task';
  const tag = infraRetry > 0 ? `a${attempt}r${infraRetry}` : `a${attempt}`;
  // The readable run ID names the pod; the run's unique ID (when given) keeps runs of the same feature apart.
  const suffix = `${task}-${tag}-${shortHash(`${runId}\u0000${runUid}\u0000${taskId}\u0000${attempt}\u0000${infraRetry}`)}`;
  const room = MAX_NAME - 'sdlc-'.length - suffix.length - 1;
  const run = dnsSlug(runId).replace(/^sdlc-/, '').slice(0, Math.max(0, room)).replace(/-$/, '');
  return (run ? `sdlc-${run}-${suffix}` : `sdlc-${suffix}`).slice(0, MAX_NAME).replace(/-$/, '');
}

/** Label values: ≤ 63 chars, alphanumeric at both ends, [-_.A-Za-z0-9] inside. */
export function labelValue(input: string): string {
  const v = input.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 63);
  return v.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}
