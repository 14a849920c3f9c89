/**
 * The test kubelet's container backend (`startKubelet({ runtime: 'podman' })`): a pod runs as one podman pod whose
 * containers are real containers of the pod's images, through scripts/podman.sh (the project's containers.conf,
 * runc with cgroupfs, the image store under the cache dir). pod-worker.ts keeps the pod's life (init order,
 * sidecars, status, deadline, deletion, logs); this file turns a container spec into `podman run` arguments and
 * tells how a container ended.
 *
 * Network: the pod is created with `--network host`, as test/images/agent-pod-containers.ts does: a bridge
 * network cannot reach the host's loopback, where the test servers (apiserver, git, model) listen, and the
 * pod's containers still share one network namespace (the host's), so a sidecar on 127.0.0.1 is reachable from
 * its neighbours. The cost: pods on this machine share ports (the chart's fixed gateway port cannot be used).
 *
 * Mapping (Kubernetes → podman): command → --entrypoint (JSON), args → the command's arguments; env (secretKeyRef
 * and configMapKeyRef resolved by env.ts) → --env; runAsUser/runAsGroup → --user uid:gid; fsGroup and
 * supplementalGroups → --group-add (and the volumes' group, see volumes.ts, as the kubelet's fsGroup ownership);
 * readOnlyRootFilesystem → --read-only (without podman's writable tmpfs on /run, /tmp, /var/tmp);
 * capabilities → --cap-drop/--cap-add; allowPrivilegeEscalation false → no-new-privileges; seccompProfile
 * RuntimeDefault → podman's default profile (always on); privileged →
 * --privileged; resources.limits.memory → --memory and the same --memory-swap (no swap beyond the limit);
 * workingDir → --workdir; volumes (volumes.ts materialises them under the pod dir) → bind mounts, Secret,
 * ConfigMap, downwardAPI and projected volumes always read-only, as the kubelet mounts them. Images are never
 * pulled (`--pull never`: no registry here); a missing image is a start error. Not mapped: cpu limits,
 * ephemeral-storage and emptyDir sizeLimit, probes, runAsNonRoot without a runAsUser (the image's user is not
 * checked), hostPath/PVC volumes.
 *
 * OOM kills: Debian's podman 4.3 never sets State.OOMKilled with Debian's conmon 2.1.6: conmon sees the cgroup's
 * OOM event but writes its `oom` marker file into its working directory (inherited from the podman client),
 * not where podman looks. So each container's `podman run` runs in a directory of its own (conmonDir), and the
 * container counts as OOM-killed when podman says so or that marker is there — as containerd and CRI-O report
 * OOMKilled (any process of the container killed for the cgroup's limit; the exit code is the container's own,
 * 137 when its main process was the one killed). Beware: any other podman command that runs an OOM-killed
 * container leaves an empty `oom` file in its working directory.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { repoRoot } from '../../../src/tools';
import { ContainerConfigError } from './env';

export const PODMAN = path.join(repoRoot, 'scripts', 'podman.sh');

export interface PodmanResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `bash scripts/podman.sh <args>`; never rejects. */
export function podman(args: string[], timeoutMs = 120_000): Promise<PodmanResult> {
  return new Promise((resolve) => {
    execFile('bash', [PODMAN, ...args], { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A podman command whose stdout/stderr the caller reads (the attached `podman run` of a container), in `cwd` (conmon's too). */
export function spawnPodman(args: string[], cwd: string): ChildProcess {
  return spawn('bash', [PODMAN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Synchronous, for process exit hooks only. */
export function podmanSync(args: string[]): void {
  spawnSync('bash', [PODMAN, ...args], { cwd: repoRoot, stdio: 'ignore', timeout: 60_000 });
}

/** Fails loudly (never skips) without podman or one of the images. */
export async function requirePodmanImages(images: string[]): Promise<void> {
  const v = await podman(['version', '--format', '{{.Client.Version}}']);
  if (v.code !== 0) throw new Error(`podman is required for the container tests (bash scripts/setup.sh installs it): ${v.stderr.trim()}`);
  for (const image of images) {
    const r = await podman(['image', 'exists', image]);
    if (r.code !== 0) throw new Error(`${image} is missing: build it with \`npm run images\` (scripts/setup.sh and scripts/test.sh do)`);
  }
}

/** A Kubernetes memory quantity in bytes ("256Mi", "1G", "128974848", "129e6"). */
export function memoryBytes(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+(?:e[0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(q.trim());
  if (!m) throw new ContainerConfigError(`invalid memory quantity "${q}"`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1;
  return Math.ceil(Number(m[1]) * unit);
}

/** Volume types Kubernetes always mounts read-only. */
function alwaysReadOnly(v: V1Volume | undefined): boolean {
  return !!(v?.secret || v?.configMap || v?.downwardAPI || v?.projected);
}

/** `podman run` arguments for one container of `pod` (everything before the image); `mounted`: volume name → host directory (volumes.ts). */
export function runArgs(o: { pod: V1Pod; podName: string; name: string; spec: V1Container; env: Record<string, string>; mounted: ReadonlyMap<string, string> }): string[] {
  const { pod, spec } = o;
  const psc = pod.spec?.securityContext ?? {};
  const csc = spec.securityContext ?? {};
  const args = ['run', '--pull', 'never', '--pod', o.podName, '--name', o.name];
  const uid = csc.runAsUser ?? psc.runAsUser;
  const gid = csc.runAsGroup ?? psc.runAsGroup;
  if (uid !== undefined && uid !== null) args.push('--user', gid !== undefined && gid !== null ? `${uid}:${gid}` : String(uid));
  else if (gid !== undefined && gid !== null) throw new ContainerConfigError('runAsGroup without runAsUser is not supported by the podman backend');
  for (const g of new Set([psc.fsGroup, ...(psc.supplementalGroups ?? [])].filter((g): g is number => typeof g === 'number'))) args.push('--group-add', String(g));
  if (csc.readOnlyRootFilesystem) args.push('--read-only', '--read-only-tmpfs=false');
  if (csc.privileged) args.push('--privileged');
  for (const c of csc.capabilities?.drop ?? []) args.push('--cap-drop', c.toUpperCase() === 'ALL' ? 'ALL' : c.toUpperCase().replace(/^(CAP_)?/, 'CAP_'));
  for (const c of csc.capabilities?.add ?? []) args.push('--cap-add', c.toUpperCase().replace(/^(CAP_)?/, 'CAP_'));
  if (csc.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  const limit = spec.resources?.limits?.memory;
  if (limit !== undefined) {
    const bytes = String(memoryBytes(limit as string | number));
    args.push('--memory', bytes, '--memory-swap', bytes);
  }
  if (spec.workingDir) args.push('--workdir', spec.workingDir);
  const volumes = pod.spec?.volumes ?? [];
  for (const m of spec.volumeMounts ?? []) {
    const dir = o.mounted.get(m.name);
    if (!dir) continue; // a volume type volumes.ts does not materialise (hostPath, PVC, …): not mounted
    const host = m.subPath ? path.join(dir, m.subPath) : dir;
    if (!host.startsWith(dir)) throw new ContainerConfigError(`subPath "${m.subPath}" escapes volume ${m.name}`);
    const ro = m.readOnly === true || alwaysReadOnly(volumes.find((v) => v.name === m.name));
    args.push('--volume', `${host}:${m.mountPath}${ro ? ':ro' : ''}`);
  }
  for (const [k, v] of Object.entries(o.env)) args.push('--env', `${k}=${v}`);
  if (spec.command?.length) args.push('--entrypoint', JSON.stringify(spec.command));
  return args;
}

export interface ContainerEnd {
  exitCode: number;
  reason: string;
  message?: string;
  /** Whether the container's process ever started (false: a start error). */
  started: boolean;
}

interface InspectState {
  Status: string;
  ExitCode: number;
  OOMKilled: boolean;
  StartedAt: string;
  Error?: string;
}

/**
 * How container `name` ended, after its attached `podman run` (run in `conmonDir`) exited with `code`: podman's
 * record and conmon's OOM marker (see the file comment), or a start error with podman's message.
 */
export async function containerEnd(name: string, code: number | null, stderrTail: string, conmonDir: string): Promise<ContainerEnd> {
  const r = await podman(['container', 'inspect', '--format', 'json', name]);
  let state: InspectState | undefined;
  if (r.code === 0) {
    const [c] = JSON.parse(r.stdout) as { State: InspectState }[];
    if (c) state = c.State;
  }
  const podmanError = stderrTail.split('\n').filter((l) => l.startsWith('Error: ')).at(-1)?.slice('Error: '.length);
  const never = !state || state.StartedAt.startsWith('0001-01-01');
  if (never) return { exitCode: 128, reason: 'StartError', message: state?.Error || podmanError || `podman run exited ${code}`, started: false };
  const exitCode = state!.ExitCode;
  if (state!.OOMKilled || existsSync(path.join(conmonDir, 'oom'))) return { exitCode, reason: 'OOMKilled', started: true };
  return { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', started: true };
}
