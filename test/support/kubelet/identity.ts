/**
 * Who a container's processes are, on the test kubelet. There is no container runtime, so the
 * securityContext is applied with the operating system's own means:
 *
 * - uid / gid: `runAsUser` / `runAsGroup`, the container's over the pod's. Without runAsGroup the
 *   primary group is the uid's group in this host's /etc/passwd (the image's /etc/passwd in a real
 *   runtime; the host's files are the "image" here), else 0 — as containerd does for an unknown uid.
 * - supplementary groups: exactly the pod's `fsGroup` and `supplementalGroups`, plus one group per
 *   volume the container mounts (see volumes.ts: that group is what stands in for the mount).
 *   Groups of the user in the image's /etc/group (supplementalGroupsPolicy Merge) are not added.
 * - `allowPrivilegeEscalation: false` → no_new_privs; `capabilities.drop` → removed from the bounding
 *   and inheritable sets (`ALL` → all), so even uid 0 has no effective capability after exec.
 *   `capabilities.add`, `privileged`, `readOnlyRootFilesystem`, seccomp/AppArmor/SELinux are not modelled.
 * - `runAsNonRoot: true` with an effective uid 0 → CreateContainerConfigError, as the kubelet refuses it.
 *
 * The process is started through `setpriv` (util-linux): Node's spawn uid/gid options drop every
 * supplementary group, which the volume groups need. setpriv execs, so the container's pid and
 * process group stay those the kubelet spawned.
 *
 * All of this applies only to a pod that sets runAsUser somewhere (pod or any container). A pod
 * without runAsUser runs as before: processes as the kubelet's own user (root), no wrapper.
 *
 * Volume groups are allocated per pod from GID_RANGE, unique across every test kubelet on this
 * machine (also in other processes): each allocated gid is a lock file in a shared directory,
 * reclaimed when the process that took it is gone.
 */
import { constants as fsConstants, accessSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError } from './env';
import { MachineLocks } from './machine-locks';

export const GID_RANGE = { first: 40000, last: 59999 };

export interface ContainerIdentity {
  uid: number;
  gid: number;
  /** Supplementary groups, in order: fsGroup, supplementalGroups, volume groups. */
  groups: number[];
  noNewPrivs: boolean;
  /** Capabilities to drop from the bounding and inheritable sets ('all', or lower-case names without cap_). */
  dropCaps: 'all' | string[];
}

/** True when the pod (or any of its containers, init containers included) sets runAsUser: then identities are applied. */
export function podSetsRunAsUser(pod: V1Pod): boolean {
  const spec = pod.spec;
  if (spec?.securityContext?.runAsUser !== undefined && spec.securityContext.runAsUser !== null) return true;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].some((c) => c.securityContext?.runAsUser !== undefined && c.securityContext.runAsUser !== null);
}

let passwd: Map<number, number> | undefined;
/** uid → primary gid from this host's /etc/passwd. */
function primaryGroupOf(uid: number): number | undefined {
  if (!passwd) {
    passwd = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length >= 4 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!)) passwd.set(Number(f[2]), Number(f[3]));
      }
    } catch {
      // no passwd file: every uid is unknown
    }
  }
  return passwd.get(uid);
}

/** The identity `container` runs with; `volumeGids` maps a volume name to its group (only mounted volumes are granted). */
export function containerIdentity(pod: V1Pod, container: V1Container, volumeGids: ReadonlyMap<string, number>): ContainerIdentity {
  const psc = pod.spec?.securityContext ?? {};
  const csc = container.securityContext ?? {};
  const uid = csc.runAsUser ?? psc.runAsUser ?? 0;
  const gid = csc.runAsGroup ?? psc.runAsGroup ?? primaryGroupOf(uid) ?? 0;
  if ((csc.runAsNonRoot ?? psc.runAsNonRoot) && uid === 0) {
    throw new ContainerConfigError(`container has runAsNonRoot and image will run as root (pod: "${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})", container: ${container.name})`);
  }
  const groups: number[] = [];
  const add = (g: number | undefined | null) => {
    if (g !== undefined && g !== null && !groups.includes(g)) groups.push(g);
  };
  add(psc.fsGroup);
  (psc.supplementalGroups ?? []).forEach(add);
  for (const m of container.volumeMounts ?? []) add(volumeGids.get(m.name));
  const drop = (csc.capabilities?.drop ?? []).map((c) => c.toLowerCase().replace(/^cap_/, ''));
  return {
    uid,
    gid,
    groups,
    noNewPrivs: csc.allowPrivilegeEscalation === false,
    dropCaps: drop.includes('all') ? 'all' : drop.filter((c) => /^[a-z_]+$/.test(c)),
  };
}

/** `setpriv … -- argv`: the process becomes exactly `id` before it execs the container's command. */
export function setprivArgv(setpriv: string, id: ContainerIdentity, argv: string[]): string[] {
  const out = [setpriv, `--reuid=${id.uid}`, `--regid=${id.gid}`, id.groups.length ? `--groups=${id.groups.join(',')}` : '--clear-groups'];
  if (id.noNewPrivs) out.push('--no-new-privs');
  const caps = id.dropCaps === 'all' ? '-all' : id.dropCaps.map((c) => `-${c}`).join(',');
  if (caps) out.push(`--inh-caps=${caps}`, `--bounding-set=${caps}`);
  return [...out, '--', ...argv];
}

/** An executable's path as execvp would find it through `PATH`, or undefined. */
export function lookPath(file: string, pathEnv: string | undefined): string | undefined {
  const canRun = (p: string) => {
    try {
      accessSync(p, fsConstants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (file.includes('/')) return canRun(file) ? file : undefined;
  for (const dir of (pathEnv ?? '').split(':')) {
    const p = path.join(dir || '.', file);
    if (canRun(p)) return p;
  }
  return undefined;
}

/** The first directory from `/` down to `dir` that a non-root uid cannot traverse (no search bit for others), if any. */
export function untraversableAncestor(dir: string): string | undefined {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const p = path.sep + parts.slice(0, i).join(path.sep);
    try {
      if ((statSync(p).mode & 0o001) === 0) return p;
    } catch {
      return p;
    }
  }
  return undefined;
}

// --- volume group allocation, shared by every process on this machine ---

const locks = new MachineLocks('/tmp/sdlc-test-kubelet-gids');
let hostGroups: Set<number> | undefined;

function existingGroups(): Set<number> {
  if (!hostGroups) {
    hostGroups = new Set();
    try {
      for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
        const g = line.split(':')[2];
        if (g && /^\d+$/.test(g)) hostGroups.add(Number(g));
      }
    } catch {
      // no group file
    }
  }
  return hostGroups;
}

/** `count` free gids from GID_RANGE, none of them in `avoid` nor a group of this host. */
export function allocateGids(count: number, avoid: ReadonlySet<number>): number[] {
  if (count === 0) return [];
  const out: number[] = [];
  const skip = existingGroups();
  for (let g = GID_RANGE.first; g <= GID_RANGE.last && out.length < count; g++) {
    if (avoid.has(g) || skip.has(g)) continue;
    if (locks.take(g)) out.push(g);
  }
  if (out.length < count) {
    locks.release(out);
    throw new Error(`no free volume group ids left in ${GID_RANGE.first}-${GID_RANGE.last} (locks in /tmp/sdlc-test-kubelet-gids)`);
  }
  return out;
}

export function releaseGids(gids: Iterable<number>): void {
  locks.release(gids);
}

/** Every gid a pod names itself (fsGroup, supplementalGroups, runAsGroup): never handed out as a volume group of that pod. */
export function gidsNamedBy(pod: V1Pod): Set<number> {
  const out = new Set<number>();
  const psc = pod.spec?.securityContext;
  for (const g of [psc?.fsGroup, psc?.runAsGroup, ...(psc?.supplementalGroups ?? [])]) if (typeof g === 'number') out.add(g);
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) if (typeof c.securityContext?.runAsGroup === 'number') out.add(c.securityContext.runAsGroup);
  return out;
}
