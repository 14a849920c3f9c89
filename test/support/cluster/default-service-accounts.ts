/**
 * The one piece of kube-controller-manager the test cluster needs: every namespace gets a
 * `default` ServiceAccount, because the ServiceAccount admission plugin refuses pods whose
 * service account does not exist (and pods without one use `default`).
 */
import { CoreV1Api, KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import { startWatchLoop } from './watch-loop';

export interface Controller {
  stop(): void;
}

/** Creates `default` in namespace ns unless it exists. */
export async function ensureDefaultServiceAccount(api: CoreV1Api, namespace: string): Promise<void> {
  try {
    await api.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'default' } } });
  } catch (err) {
    const code = (err as { code?: number }).code;
    // 409: already there. 403/404 with a terminating or vanished namespace: nothing to do.
    if (code === 409 || code === 404 || code === 403) return;
    throw err;
  }
}

export async function startDefaultServiceAccountController(kubeconfigPath: string, log?: (s: string) => void): Promise<Controller> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const api = kc.makeApiClient(CoreV1Api);
  const seen = new Set<string>();
  const handle = (ns: V1Namespace) => {
    const name = ns.metadata?.name;
    if (!name || seen.has(name) || ns.status?.phase === 'Terminating') return;
    seen.add(name);
    ensureDefaultServiceAccount(api, name).catch((err: Error) => {
      seen.delete(name); // try again on the next event or relist
      log?.(`default ServiceAccount in ${name}: ${err.message}`);
    });
  };
  const loop = startWatchLoop<V1Namespace>({
    kubeConfig: kc,
    path: '/api/v1/namespaces',
    list: () => api.listNamespace(),
    onSync: (items) => items.forEach(handle),
    onEvent: (type, ns) => {
      if (type === 'DELETED') seen.delete(ns.metadata?.name ?? '');
      else handle(ns);
    },
    log,
  });
  await loop.synced;
  return { stop: () => loop.stop() };
}
