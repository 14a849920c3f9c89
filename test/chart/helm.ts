/**
 * Test helpers for the Helm chart: run the real helm/kubectl binaries (from .tools/bin via toolPath),
 * render the chart or a release, and parse the output with the `yaml` package.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot, toolPath } from '../../src/tools';

export const CHART_NAME = 'agentic-sdlc-agent-runner';
export const CHART_DIR = path.join(repoRoot, 'charts', CHART_NAME);
export const ENVIRONMENTS = ['dev', 'stg', 'prod'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
export const releaseName = (env: Environment): string => `${CHART_NAME}-${env}`;
export const releaseNamespace = (env: Environment): string => `agent-runner-${env}`;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a binary; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env: opts.env ?? process.env, cwd: opts.cwd ?? repoRoot, maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err);
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a binary and throws with its output when it fails. */
export async function runOk(file: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

export const helm = (args: string[], opts?: Parameters<typeof run>[2]) => run(toolPath('helm'), args, opts);
export const helmOk = (args: string[], opts?: Parameters<typeof run>[2]) => runOk(toolPath('helm'), args, opts);

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export function parseManifests(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`rendered YAML is invalid: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  valuesFiles?: string[];
  set?: string[];
  /** --set-json entries (key=JSON), e.g. a float that --set would pass as a string. */
  setJson?: string[];
  chartDir?: string;
}

export function templateArgs(o: RenderOptions = {}): string[] {
  const args = ['template', o.release ?? 'sdlc', o.chartDir ?? CHART_DIR, '--namespace', o.namespace ?? 'sdlc'];
  for (const f of o.valuesFiles ?? []) args.push('--values', f);
  for (const s of o.set ?? []) args.push('--set', s);
  for (const s of o.setJson ?? []) args.push('--set-json', s);
  return args;
}

export async function render(o: RenderOptions = {}): Promise<K8sObject[]> {
  return parseManifests(await helmOk(templateArgs(o)));
}

export function find(objs: K8sObject[], kind: string, nameSuffix = ''): K8sObject {
  const hits = objs.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (hits.length !== 1) {
    throw new Error(`expected one ${kind} named *${nameSuffix}, found ${hits.length}: ${objs.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  }
  return hits[0]!;
}

/** The agent pod template (a Pod) held by the pod-template ConfigMap. */
export function podTemplateOf(objs: K8sObject[]): { text: string; pod: K8sObject & { spec: Record<string, any> } } {
  const cm = find(objs, 'ConfigMap', '-pod-template') as K8sObject & { data: Record<string, string> };
  const text = cm.data['pod-template.yaml'];
  if (!text) throw new Error('pod-template ConfigMap has no pod-template.yaml key');
  return { text, pod: YAML.parse(text) };
}

export interface ReleaseCopies {
  /** releases/<name> directories with their chart dependency built, in a scratch copy of the repo layout. */
  dirs: Record<Environment, string>;
  cleanup(): void;
}

/**
 * The releases depend on ../../charts/<chart> by file:// path. `helm dependency build` writes the
 * packaged dependency into releases/<name>/charts/; doing that in a scratch copy keeps the checkout
 * clean and lets test files run in parallel.
 */
export async function buildReleaseCopies(): Promise<ReleaseCopies> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sdlc-releases-'));
  cpSync(CHART_DIR, path.join(root, 'charts', CHART_NAME), { recursive: true });
  const dirs = {} as Record<Environment, string>;
  for (const env of ENVIRONMENTS) {
    const dir = path.join(root, 'releases', releaseName(env));
    cpSync(path.join(repoRoot, 'releases', releaseName(env)), dir, {
      recursive: true,
      filter: (src) => !/[/\\]charts([/\\]|$)|Chart\.lock$/.test(path.relative(repoRoot, src).replace(/^releases[/\\][^/\\]+/, '')),
    });
    await helmOk(['dependency', 'build', dir]);
    dirs[env] = dir;
  }
  return { dirs, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export async function renderRelease(copies: ReleaseCopies, env: Environment): Promise<K8sObject[]> {
  return render({ chartDir: copies.dirs[env], release: releaseName(env), namespace: releaseNamespace(env) });
}
