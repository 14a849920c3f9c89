/**
 * Namespaces and least-privilege credentials on the test cluster: what the runner gets in a real
 * install — a ServiceAccount token bound to a Role that allows only pods and pods/log in one namespace.
 */
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { ensureDefaultServiceAccount } from './default-service-accounts';

/** The cluster fields these helpers use (a Cluster from startCluster fits). */
export interface ClusterAccess {
  kubeconfigPath: string;
  kubeconfigFor(user: { token: string; name?: string; namespace?: string }): string;
}

/** The Role the runner needs: pods create/get/list/watch/delete and pods/log get. Nothing else. */
export const RUNNER_ROLE_RULES = [
  { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
];

export interface LeastPrivilegeAccess {
  namespace: string;
  serviceAccount: string;
  /** Bound service-account token (TokenRequest API). Treat as a secret. */
  token: string;
  /** Kubeconfig with that token and `namespace` as the context's default namespace. */
  kubeconfigPath: string;
}

function adminApis(cluster: ClusterAccess): { core: CoreV1Api; rbac: RbacAuthorizationV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  return { core: kc.makeApiClient(CoreV1Api), rbac: kc.makeApiClient(RbacAuthorizationV1Api) };
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/** Creates the namespace (no error if it exists) and its `default` ServiceAccount, ready for pods. */
export async function createNamespace(cluster: ClusterAccess, namespace: string): Promise<void> {
  const { core } = adminApis(cluster);
  await ignoreConflict(core.createNamespace({ body: { metadata: { name: namespace } } }));
  // The cluster's controller does this too; doing it here means a pod can be created right away.
  await ensureDefaultServiceAccount(core, namespace);
}

/**
 * Namespace + ServiceAccount + Role (RUNNER_ROLE_RULES) + RoleBinding, and a kubeconfig with a
 * token for that ServiceAccount. Idempotent: existing objects are kept.
 */
export async function createLeastPrivilegeAccess(
  cluster: ClusterAccess,
  opts: { namespace: string; serviceAccount?: string; tokenExpirationSeconds?: number },
): Promise<LeastPrivilegeAccess> {
  const { core, rbac } = adminApis(cluster);
  const namespace = opts.namespace;
  const serviceAccount = opts.serviceAccount ?? 'sdlc-runner';
  await createNamespace(cluster, namespace);
  await ignoreConflict(core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } }));
  await ignoreConflict(rbac.createNamespacedRole({ namespace, body: { metadata: { name: serviceAccount }, rules: RUNNER_ROLE_RULES } }));
  await ignoreConflict(
    rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: serviceAccount },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: serviceAccount },
        subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
      },
    }),
  );
  const tokenRequest = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: opts.tokenExpirationSeconds ?? 24 * 3600 } },
  });
  const token = tokenRequest.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  const kubeconfigPath = cluster.kubeconfigFor({ token, name: `${namespace}-${serviceAccount}`, namespace });
  return { namespace, serviceAccount, token, kubeconfigPath };
}
