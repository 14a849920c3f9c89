/**
 * One keep-alive connection pool per TLS identity for the API calls and streams of a process. client-node
 * 1.4 builds a new https.Agent for every request and stream (KubeConfig.applySecurityAuthentication,
 * applyToHTTPSOptions), so each call paid a TLS handshake and a freshly parsed SecureContext: measured
 * ~0.5 s of the worker's main thread per 50 tasks, and the apiserver's share of every handshake. The
 * kubeconfig still supplies everything (credentials, CA, client certificate) on every call; only the
 * connection is reused, and a rotated certificate gets a pool of its own.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { RequestContext, SecurityAuthentication } from '@kubernetes/client-node';
import { createConfiguration, ServerConfiguration, type KubeConfig } from './client-node';

const pools = new Map<string, http.Agent>();

/** The TLS material and checks that make two agents interchangeable. */
const IDENTITY_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername', 'ciphers', 'secureProtocol', 'crl'] as const;

/** The pooled agent equivalent to `fresh` (a per-call agent client-node just made, dropped unused). Proxy agents pass through. */
export function sharedAgent(fresh: http.Agent | https.Agent | undefined): http.Agent | https.Agent | undefined {
  if (!fresh || (fresh.constructor !== https.Agent && fresh.constructor !== http.Agent)) return fresh;
  const options = (fresh as https.Agent).options as Record<string, unknown>;
  const hash = createHash('sha256').update(fresh.constructor === https.Agent ? 'https' : 'http');
  for (const field of IDENTITY_FIELDS) {
    const value = options[field];
    hash.update(`\0${field}=`);
    if (value === undefined) continue;
    for (const part of Array.isArray(value) ? value : [value]) hash.update(Buffer.isBuffer(part) ? part : String(part));
  }
  const key = hash.digest('hex');
  let pooled = pools.get(key);
  if (!pooled) {
    pooled = fresh.constructor === https.Agent ? new https.Agent({ ...options, keepAlive: true }) : new http.Agent({ ...options, keepAlive: true });
    pools.set(key, pooled);
  }
  return pooled;
}

/** kc's own authentication, on a pooled connection. */
function pooledAuth(kc: KubeConfig): SecurityAuthentication {
  return {
    getName: () => 'kubeconfig (pooled connections)',
    async applySecurityAuthentication(context: RequestContext) {
      await kc.applySecurityAuthentication(context);
      const agent = sharedAgent(context.getAgent());
      if (agent) context.setAgent(agent);
    },
  };
}

/** As kc.makeApiClient(type), with connections reused across calls. */
export function makePooledApiClient<T>(kc: KubeConfig, type: new (config: ReturnType<typeof createConfiguration>) => T): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  return new type(createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: pooledAuth(kc) } }));
}

/** As kc.applyToHTTPSOptions(opts), with the connection pooled (for streams opened with node's https). */
export async function applyPooledHTTPSOptions(kc: KubeConfig, opts: https.RequestOptions): Promise<void> {
  await kc.applyToHTTPSOptions(opts);
  if (opts.agent instanceof http.Agent) opts.agent = sharedAgent(opts.agent);
}
