/**
 * Opt-in volume support for the test kubelet (`startKubelet({ mountVolumes: true })`). There is no
 * container, so there is no mount namespace: a volume is materialised as a directory under the pod
 * directory (`<podDir>/volumes/<volume>/`), and a container sees it through its ENVIRONMENT — every
 * env value that is a container path under a volumeMount (`/etc/app/x.yaml` under mountPath
 * `/etc/app`) is rewritten to the host path. Programs configured by path-valued env (like the
 * worker's SDLC_POD_TEMPLATE_FILE) then read the mounted content unchanged.
 *
 * Materialised: emptyDir; configMap and secret (items, defaultMode/mode, optional); downwardAPI;
 * projected (serviceAccountToken via the TokenRequest API bound to the pod, configMap, secret,
 * downwardAPI). Other volume types (hostPath, PVCs, CSI, …) are left alone: paths under them are not
 * rewritten. Tokens are requested once per container start and not refreshed (tests are short).
 *
 * In-cluster config: client libraries read the service-account token from the fixed path
 * /var/run/secrets/kubernetes.io/serviceaccount, which cannot be remapped through env. So when a
 * container mounts a service-account token there and sets no KUBECONFIG itself, the kubelet writes
 * a kubeconfig that says exactly what in-cluster config would (server = KUBERNETES_SERVICE_HOST:PORT,
 * the mounted ca.crt, the mounted token as `tokenFile` for client-go and `token-file` for
 * @kubernetes/client-node, the mounted namespace) and points KUBECONFIG at
 * it. The process acts as the pod's ServiceAccount, with the pod-bound token — as in a real cluster.
 *
 * Isolation (a pod that sets runAsUser, see identity.ts): a mount namespace decides which volumes a
 * container sees; here every volume gets a group of its own instead, and a container gets that group
 * only for the volumes it mounts. `volumes/` is root 0711 (enter, not list); each volume directory is
 * root:<volume gid>, mode 2770 for emptyDir (setgid: what is created inside keeps the group, so
 * containers that share the volume share its files, subject to their umask, as with fsGroup on a
 * real emptyDir) and 2750 for configMap/secret/downwardAPI/projected (read-only in Kubernetes too);
 * their files are root:<volume gid>, item/default mode | 0040 (group read, as fsGroup ownership
 * gives). A process of a container that does not mount the volume gets EACCES on its host path.
 * `readOnly: true` on a mount is enforced with a real read-only bind mount in a mount namespace of
 * that container's own (pod-worker.ts, `unshare -m`): writes fail with EROFS. Without runAsUser
 * none of this applies (directories 0755, files with their modes, processes as root; readOnly not enforced).
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { CoreV1Api, V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { ContainerConfigError, decodeSecret, fieldValue, type EnvSources } from './env';

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface VolumeSources extends EnvSources {
  /** A token for the pod's ServiceAccount, bound to the pod (TokenRequest with boundObjectRef). */
  serviceAccountToken(req: { audience?: string; expirationSeconds?: number }): Promise<string>;
}

/** The API-backed sources with the node's own credentials (the Node authorizer decides what it may read). */
export function apiTokenSource(api: CoreV1Api, pod: V1Pod): VolumeSources['serviceAccountToken'] {
  return async ({ audience, expirationSeconds }) => {
    const meta = pod.metadata!;
    const res = await api.createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName ?? 'default',
      namespace: meta.namespace!,
      body: {
        spec: {
          audiences: audience ? [audience] : [],
          expirationSeconds: Math.max(600, expirationSeconds ?? 3607),
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: meta.name!, uid: meta.uid! },
        },
      },
    });
    if (!res.status?.token) throw new Error(`TokenRequest for ${meta.namespace}/${pod.spec?.serviceAccountName} returned no token`);
    return res.status.token;
  };
}

/** Volume name → host directory. */
export type MountedVolumes = Map<string, string>;

/** How a volume's directories and files are owned: undefined = as written (root, modes as given). */
type VolumeGroup = number | undefined;

/** Creates `dir` (and missing parents up to `top`); under isolation each new one is root:<gid> with `mode`. */
function makeDir(dir: string, gid: VolumeGroup, mode: number, top = dir): void {
  const created = mkdirSync(dir, { recursive: true });
  if (gid === undefined) return;
  // mkdirSync returns the first directory it created; own every one from there down (and `top` itself).
  const from = created ? path.resolve(created) : path.resolve(dir);
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (d.length < path.resolve(top).length) break;
    chownSync(d, 0, gid);
    chmodSync(d, mode);
    if (d === from || d === path.resolve(top)) break;
  }
}

function writeEntry(dir: string, relPath: string, content: string, mode: number, gid: VolumeGroup): void {
  const file = path.join(dir, relPath);
  if (!file.startsWith(dir + path.sep)) throw new ContainerConfigError(`volume item path "${relPath}" escapes the volume`);
  makeDir(path.dirname(file), gid, 0o2750, dir);
  writeFileSync(file, content);
  if (gid !== undefined) chownSync(file, 0, gid);
  chmodSync(file, gid === undefined ? mode : mode | 0o040);
}

/** key → path entries: the `items` when given (a missing key is an error unless optional), else every key. */
function keyedEntries(data: Record<string, string>, items: V1KeyToPath[] | undefined, what: string, optional: boolean): { path: string; content: string; mode?: number }[] {
  if (!items?.length) return Object.entries(data).map(([k, v]) => ({ path: k, content: v }));
  const out: { path: string; content: string; mode?: number }[] = [];
  for (const item of items) {
    const v = data[item.key];
    if (v === undefined) {
      if (optional) continue;
      throw new ContainerConfigError(`MountVolume.SetUp failed: couldn't find key ${item.key} in ${what}`);
    }
    out.push({ path: item.path, content: v, mode: item.mode });
  }
  return out;
}

async function configMapData(sources: VolumeSources, name: string): Promise<Record<string, string> | undefined> {
  const cm = await sources.configMap(name);
  return cm ? { ...(cm.data ?? {}), ...Object.fromEntries(Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) } : undefined;
}

async function secretData(sources: VolumeSources, name: string): Promise<Record<string, string> | undefined> {
  const s = await sources.secret(name);
  if (!s) return undefined;
  return Object.fromEntries(Object.keys({ ...s.data, ...s.stringData }).map((k) => [k, decodeSecret(s, k)!]));
}

/** The volume types materialised under the pod dir (others are left alone). */
export function isMaterialised(v: V1Volume): boolean {
  return !!(v.emptyDir || v.configMap || v.secret || v.downwardAPI || v.projected);
}

async function materialise(pod: V1Pod, v: V1Volume, dir: string, sources: VolumeSources, gid: VolumeGroup): Promise<boolean> {
  const ns = pod.metadata?.namespace;
  const write = (entries: { path: string; content: string; mode?: number }[], defaultMode: number | undefined) =>
    entries.forEach((e) => writeEntry(dir, e.path, e.content, e.mode ?? defaultMode ?? 0o644, gid));
  const mkdir = () => makeDir(dir, gid, v.emptyDir ? 0o2770 : 0o2750);

  if (v.emptyDir) {
    mkdir();
    return true;
  }
  if (v.configMap) {
    const data = await configMapData(sources, v.configMap.name!);
    if (!data && !v.configMap.optional) throw new ContainerConfigError(`MountVolume.SetUp failed for volume "${v.name}": configmap "${v.configMap.name}" not found`);
    mkdir();
    if (data) write(keyedEntries(data, v.configMap.items, `ConfigMap ${ns}/${v.configMap.name}`, !!v.configMap.optional), v.configMap.defaultMode);
    return true;
  }
  if (v.secret) {
    const data = await secretData(sources, v.secret.secretName!);
    if (!data && !v.secret.optional) throw new ContainerConfigError(`MountVolume.SetUp failed for volume "${v.name}": secret "${v.secret.secretName}" not found`);
    mkdir();
    if (data) write(keyedEntries(data, v.secret.items, `Secret ${ns}/${v.secret.secretName}`, !!v.secret.optional), v.secret.defaultMode);
    return true;
  }
  if (v.downwardAPI) {
    mkdir();
    write((v.downwardAPI.items ?? []).filter((i) => i.fieldRef).map((i) => ({ path: i.path, content: fieldValue(pod, i.fieldRef!.fieldPath), mode: i.mode })), v.downwardAPI.defaultMode);
    return true;
  }
  if (v.projected) {
    mkdir();
    const mode = v.projected.defaultMode;
    for (const src of v.projected.sources ?? []) {
      if (src.serviceAccountToken) {
        const token = await sources.serviceAccountToken({ audience: src.serviceAccountToken.audience, expirationSeconds: src.serviceAccountToken.expirationSeconds });
        writeEntry(dir, src.serviceAccountToken.path, token, mode ?? 0o600, gid);
      } else if (src.configMap) {
        const data = await configMapData(sources, src.configMap.name!);
        if (!data && !src.configMap.optional) throw new ContainerConfigError(`MountVolume.SetUp failed for volume "${v.name}": configmap "${src.configMap.name}" not found`);
        if (data) write(keyedEntries(data, src.configMap.items, `ConfigMap ${ns}/${src.configMap.name}`, !!src.configMap.optional), mode);
      } else if (src.secret) {
        const data = await secretData(sources, src.secret.name!);
        if (!data && !src.secret.optional) throw new ContainerConfigError(`MountVolume.SetUp failed for volume "${v.name}": secret "${src.secret.name}" not found`);
        if (data) write(keyedEntries(data, src.secret.items, `Secret ${ns}/${src.secret.name}`, !!src.secret.optional), mode);
      } else if (src.downwardAPI) {
        write((src.downwardAPI.items ?? []).filter((i) => i.fieldRef).map((i) => ({ path: i.path, content: fieldValue(pod, i.fieldRef!.fieldPath), mode: i.mode })), mode);
      }
    }
    return true;
  }
  return false; // not materialised (hostPath, PVC, CSI, ...)
}

/**
 * Materialises every supported volume of the pod under `<podDir>/volumes/`. Throws ContainerConfigError while a
 * referenced object is missing. `volumeGids` (isolation, see the file comment): volume name → its group.
 */
export async function mountVolumes(pod: V1Pod, podDir: string, sources: VolumeSources, volumeGids?: ReadonlyMap<string, number>): Promise<MountedVolumes> {
  const mounted: MountedVolumes = new Map();
  const root = path.join(podDir, 'volumes');
  mkdirSync(root, { recursive: true });
  if (volumeGids) chmodSync(root, 0o711);
  for (const v of pod.spec?.volumes ?? []) {
    const dir = path.join(root, v.name);
    if (await materialise(pod, v, dir, sources, volumeGids?.get(v.name))) mounted.set(v.name, dir);
  }
  return mounted;
}

/**
 * The directory of an emptyDir `subPath` mount is created by the kubelet, as on a node (under isolation
 * with the volume's group, 2770). Other volume types: the subPath must exist in the content.
 */
export function makeSubPathDirs(pod: V1Pod, container: V1Container, mounted: MountedVolumes, volumeGids?: ReadonlyMap<string, number>): void {
  for (const m of container.volumeMounts ?? []) {
    const v = pod.spec?.volumes?.find((x) => x.name === m.name);
    const base = mounted.get(m.name);
    if (!m.subPath || !v?.emptyDir || !base) continue;
    const dir = path.join(base, m.subPath);
    if (!dir.startsWith(base + path.sep)) throw new ContainerConfigError(`subPath "${m.subPath}" escapes volume ${m.name}`);
    makeDir(dir, volumeGids?.get(m.name), 0o2770, base);
  }
}

/** container path → host path, for the container's mounts of materialised volumes (longest mountPath first). */
export function containerMounts(container: V1Container, mounted: MountedVolumes): { mountPath: string; hostPath: string; readOnly: boolean }[] {
  return (container.volumeMounts ?? [])
    .filter((m) => mounted.has(m.name))
    .map((m) => ({
      mountPath: m.mountPath.replace(/\/+$/, '') || '/',
      hostPath: m.subPath ? path.join(mounted.get(m.name)!, m.subPath) : mounted.get(m.name)!,
      readOnly: m.readOnly === true,
    }))
    .sort((a, b) => b.mountPath.length - a.mountPath.length);
}

/** Rewrites env values that are container paths under a mount to the host path (see the file comment). */
export function remapEnvPaths(env: Record<string, string>, mounts: { mountPath: string; hostPath: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    const m = mounts.find((x) => v === x.mountPath || v.startsWith(x.mountPath + '/'));
    out[k] = m ? m.hostPath + v.slice(m.mountPath.length) : v;
  }
  return out;
}

/**
 * The in-cluster stand-in: a kubeconfig that uses the mounted service-account files, written next to
 * the volumes. Returns its path, or undefined when the container mounts no service-account token.
 */
export function writeInClusterKubeconfig(
  podDir: string,
  containerName: string,
  mounts: { mountPath: string; hostPath: string }[],
  server: string,
  owner?: { uid: number; gid: number },
): string | undefined {
  const sa = mounts.find((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT);
  if (!sa) return undefined;
  const token = path.join(sa.hostPath, 'token');
  let namespace = 'default';
  try {
    namespace = readFileSync(path.join(sa.hostPath, 'namespace'), 'utf8').trim() || namespace;
  } catch {
    // no namespace file projected: in-cluster config falls back to "default" too
  }
  try {
    readFileSync(token);
  } catch {
    return undefined;
  }
  const file = path.join(podDir, 'volumes', `.in-cluster-${containerName}.kubeconfig`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'in-cluster', cluster: { server, 'certificate-authority': path.join(sa.hostPath, 'ca.crt') } }],
    // client-go reads `tokenFile`, @kubernetes/client-node `token-file`: both, so either kind of client authenticates.
    users: [{ name: 'service-account', user: { tokenFile: token, 'token-file': token } }],
    contexts: [{ name: 'in-cluster', context: { cluster: 'in-cluster', user: 'service-account', namespace } }],
    'current-context': 'in-cluster',
  };
  writeFileSync(file, YAML.stringify(config), { mode: 0o600 });
  if (owner) chownSync(file, owner.uid, owner.gid); // the container's own (0600): only its processes read it
  return file;
}
