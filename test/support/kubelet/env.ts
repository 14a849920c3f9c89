/**
 * A container's environment and argv, computed as the kubelet does: env/envFrom with valueFrom
 * secretKeyRef / configMapKeyRef / fieldRef resolved through the API (with the node's own
 * credentials, so the Node authorizer decides, as on a real node), and $(VAR) expansion in
 * command/args.
 */
import type { CoreV1Api, V1ConfigMap, V1Container, V1Pod, V1Secret } from '@kubernetes/client-node';

/** Raised when a referenced object or key is missing: the container waits with CreateContainerConfigError. */
export class ContainerConfigError extends Error {}

export interface EnvSources {
  secret(name: string): Promise<V1Secret | undefined>;
  configMap(name: string): Promise<V1ConfigMap | undefined>;
}

/** Fetches each secret/config map once per pod start; a 404 means "missing", other errors propagate. */
export function apiEnvSources(api: CoreV1Api, namespace: string): EnvSources {
  const cache = new Map<string, Promise<unknown>>();
  const get = <T>(key: string, fetch: () => Promise<T>): Promise<T | undefined> => {
    if (!cache.has(key)) {
      cache.set(
        key,
        fetch().catch((err: { code?: number }) => {
          if (err.code === 404) return undefined;
          cache.delete(key);
          throw err;
        }),
      );
    }
    return cache.get(key) as Promise<T | undefined>;
  };
  return {
    secret: (name) => get(`secret/${name}`, () => api.readNamespacedSecret({ name, namespace })),
    configMap: (name) => get(`configmap/${name}`, () => api.readNamespacedConfigMap({ name, namespace })),
  };
}

/** The value of a downward-API fieldRef (env and downwardAPI volumes). */
export function fieldValue(pod: V1Pod, fieldPath: string): string {
  const meta = pod.metadata ?? {};
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (sub) return (sub[1] === 'labels' ? meta.labels : meta.annotations)?.[sub[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
    case 'status.podIP':
      return '127.0.0.1';
    case 'status.hostIPs':
    case 'status.podIPs':
      return '127.0.0.1';
    default:
      throw new ContainerConfigError(`unsupported fieldRef ${fieldPath}`);
  }
}

export function decodeSecret(secret: V1Secret, key: string): string | undefined {
  const v = secret.data?.[key];
  return v === undefined ? secret.stringData?.[key] : Buffer.from(v, 'base64').toString('utf8');
}

/** $(VAR) → value of VAR when defined, $$ → $, otherwise left as written (Kubernetes semantics). */
export function expandVars(input: string, env: Record<string, string>): string {
  return input.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && Object.prototype.hasOwnProperty.call(env, name) ? env[name]! : match;
  });
}

export async function resolveContainerEnv(pod: V1Pod, container: V1Container, sources: EnvSources): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  const where = `container ${container.name} of pod ${pod.metadata?.namespace}/${pod.metadata?.name}`;

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.secretRef) {
      const s = await sources.secret(from.secretRef.name!);
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new ContainerConfigError(`secret "${from.secretRef.name}" not found (${where})`);
      }
      for (const k of Object.keys({ ...s.data, ...s.stringData })) env[prefix + k] = decodeSecret(s, k)!;
    }
    if (from.configMapRef) {
      const cm = await sources.configMap(from.configMapRef.name!);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new ContainerConfigError(`configmap "${from.configMapRef.name}" not found (${where})`);
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) env[prefix + k] = v;
    }
  }

  for (const e of container.env ?? []) {
    if (e.value !== undefined || !e.valueFrom) {
      env[e.name] = expandVars(e.value ?? '', env);
      continue;
    }
    const vf = e.valueFrom;
    if (vf.secretKeyRef) {
      const ref = vf.secretKeyRef;
      const s = await sources.secret(ref.name!);
      const v = s ? decodeSecret(s, ref.key) : undefined;
      if (v === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(s ? `couldn't find key ${ref.key} in Secret ${pod.metadata?.namespace}/${ref.name}` : `secret "${ref.name}" not found`);
      }
      env[e.name] = v;
    } else if (vf.configMapKeyRef) {
      const ref = vf.configMapKeyRef;
      const cm = await sources.configMap(ref.name!);
      const v = cm?.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(cm ? `couldn't find key ${ref.key} in ConfigMap ${pod.metadata?.namespace}/${ref.name}` : `configmap "${ref.name}" not found`);
      }
      env[e.name] = v;
    } else if (vf.fieldRef) {
      env[e.name] = fieldValue(pod, vf.fieldRef.fieldPath);
    } else if (vf.resourceFieldRef) {
      // No cgroups here: report "no limit" the way the kubelet does for unset limits (node allocatable is not modelled).
      env[e.name] = '0';
    }
  }
  return env;
}
