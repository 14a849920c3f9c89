/** Kubeconfig files for the test cluster: one cluster, one bearer-token user, one context. */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigSpec {
  server: string;
  caPem: string;
  userName: string;
  token: string;
  namespace?: string;
}

export function kubeconfigYaml(spec: KubeconfigSpec): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sdlc-test', cluster: { server: spec.server, 'certificate-authority-data': Buffer.from(spec.caPem).toString('base64') } }],
    users: [{ name: spec.userName, user: { token: spec.token } }],
    contexts: [{ name: 'sdlc-test', context: { cluster: 'sdlc-test', user: spec.userName, ...(spec.namespace ? { namespace: spec.namespace } : {}) } }],
    'current-context': 'sdlc-test',
    preferences: {},
  });
}

/** Writes the kubeconfig owner-readable only: it holds a bearer token. */
export function writeKubeconfig(file: string, spec: KubeconfigSpec): string {
  writeFileSync(file, kubeconfigYaml(spec), { mode: 0o600 });
  return file;
}
