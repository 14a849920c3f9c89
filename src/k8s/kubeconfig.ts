/**
 * Whether there is a Kubernetes configuration to use at all, asked before anything is contacted: without
 * one, client-node quietly tries http://localhost:8080 and fails later with an unrelated message. Used by
 * the CLI (`logs`, `--logs`) and by the worker at start.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Why there is no Kubernetes configuration to use (naming the fix), or undefined. `hasFlag`: the caller has
 * a --kubeconfig flag to offer (the CLI; the worker has only the environment).
 */
export function kubeConfigProblem(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env, opts: { hasFlag?: boolean } = {}): string | undefined {
  const orFlag = opts.hasFlag === false ? '' : ', or pass --kubeconfig';
  if (kubeconfig !== undefined) {
    if (!existsSync(kubeconfig)) return `--kubeconfig '${kubeconfig}' does not exist. Fix: pass the path of a kubeconfig file, or leave --kubeconfig out to use KUBECONFIG or ~/.kube/config`;
    return undefined;
  }
  const listed = (env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
  const missing = listed.find((f) => !existsSync(f));
  if (missing) return `KUBECONFIG names '${missing}', which does not exist. Fix: set KUBECONFIG to your kubeconfig file(s)${orFlag}`;
  const folder = listed.find((f) => statSync(f).isDirectory());
  if (folder) return `KUBECONFIG names '${folder}', which is a directory. Fix: set KUBECONFIG to your kubeconfig file(s)${orFlag}`;
  if (listed.length) return undefined;
  if (env.HOME && existsSync(path.join(env.HOME, '.kube', 'config'))) return undefined;
  if (existsSync(SERVICE_ACCOUNT_TOKEN)) return undefined;
  return `no Kubernetes configuration: set KUBECONFIG${opts.hasFlag === false ? '' : ' or pass --kubeconfig'} (there is no ${env.HOME ? path.join(env.HOME, '.kube', 'config') : '~/.kube/config'}, and this is not a pod with a service account)`;
}

