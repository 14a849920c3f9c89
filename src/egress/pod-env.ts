/**
 * The worker's half of the egress proxy: for each task attempt, a ticket naming the run's extra hosts,
 * signed with the current key, handed to every container of the pod as its proxy URL. git, curl, Bun
 * (OpenCode) and the model gateway all read the standard proxy variables; loopback stays direct (the
 * model gateway sidecar shares the pod's network namespace).
 */
import { splitHostPort } from './allowlist';
import { egressProxyUrl } from './auth';
import { readKeyRing } from './keys';
import { signTicket } from './ticket';

export interface EgressSigner {
  proxy: { host: string; port: number };
  /** The key ring file(s), read at every signing: a rotated Secret is picked up without a restart. */
  keyFiles: readonly string[];
}

/** Loopback is never proxied: the model gateway listens there, inside the pod. */
export const NO_PROXY = 'localhost,127.0.0.1,::1';

/**
 * A pod waits in Pending for at most a day (the run input's bound on pendingTimeoutSeconds), then runs
 * for at most its activeDeadlineSeconds: a ticket outlives every pod it is given to.
 */
const LONGEST_PENDING_SECONDS = 24 * 60 * 60;

/** `host:port` of the proxy Service, as SDLC_EGRESS_PROXY gives it. */
export function parseProxyAddress(text: string): { host: string; port: number } {
  const { host, port } = splitHostPort(text.trim());
  const n = Number(port);
  if (!host || port === undefined || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error('must be host:port of the egress proxy Service, e.g. sdlc-egress.sdlc.svc.cluster.local:3128');
  }
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port: n };
}

export interface AttemptEgress {
  run: string;
  task: string;
  attempt: number;
  /** The run's grants, comma-separated (AGENT_ENV.EGRESS_HOSTS); empty = the always-allowed hosts only. */
  hosts: string | undefined;
  activeDeadlineSeconds: number;
}

/** The proxy variables for one attempt's pod, both spellings (curl reads only the lowercase http_proxy). */
export function egressEnv(signer: EgressSigner, a: AttemptEgress, nowSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  // signTicket refuses any entry the proxy could not parse: no second check here.
  const hosts = (a.hosts ?? '').split(/[\s,]+/).filter((h) => h !== '');
  const ticket = signTicket(
    { run: a.run, task: a.task, attempt: a.attempt, hosts, exp: nowSeconds + a.activeDeadlineSeconds + LONGEST_PENDING_SECONDS },
    readKeyRing(signer.keyFiles),
  );
  const url = egressProxyUrl(signer.proxy, ticket);
  return { HTTPS_PROXY: url, https_proxy: url, HTTP_PROXY: url, http_proxy: url, NO_PROXY, no_proxy: NO_PROXY };
}
