/**
 * Where an agent pod keeps its log after it is gone (docker/agent/log-archive.js): one ref per pod in the
 * task's repository, `refs/sdlc-runner/logs/<run>/<run uid>/<pod>`. The run's first execution ID keeps
 * runs of the same feature (same workflow ID) apart; the pod name tells attempts and infrastructure
 * retries apart. The worker sets it on each pod (SDLC_LOG_REF); `sdlc-runner logs` lists the run's prefix.
 */
export const LOG_ARCHIVE_ROOT = 'refs/sdlc-runner/logs';

/** One ref path component that `git check-ref-format` accepts, from any text. */
function refComponent(text: string): string {
  const c = text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[.-]+|\.+$/g, '')
    .replace(/\.lock$/i, '-lock');
  return c || 'x';
}

/** Every run's archive refs of this workflow ID (one feature of one repository) start with this (ends with `/`). */
export function logArchiveFeaturePrefix(workflowId: string): string {
  return `${LOG_ARCHIVE_ROOT}/${refComponent(workflowId)}/`;
}

/** The run's archive refs all start with this (ends with `/`). */
export function logArchivePrefix(workflowId: string, runUid: string): string {
  return `${logArchiveFeaturePrefix(workflowId)}${refComponent(runUid)}/`;
}

export function logArchiveRef(workflowId: string, runUid: string, podName: string): string {
  return logArchivePrefix(workflowId, runUid) + refComponent(podName);
}

/** The pod a ref of the run's prefix belongs to. */
export function podOfLogArchiveRef(ref: string): string {
  return ref.slice(ref.lastIndexOf('/') + 1);
}
