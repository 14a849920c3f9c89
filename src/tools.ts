import { existsSync } from 'node:fs';
import path from 'node:path';

/** Repository root, whether running from sources (ts-jest) or from dist/. */
export const repoRoot: string = (() => {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
})();

const envOverrides: Record<string, string> = {
  temporal: 'TEMPORAL_CLI_PATH',
  kubectl: 'KUBECTL_PATH',
  helm: 'HELM_PATH',
  opencode: 'OPENCODE_PATH',
};

/**
 * Finds a tool binary: an explicit env override, then the project's tool dir (.tools/bin, filled by
 * scripts/setup.sh), then PATH. Throws a message that says how to get it, never returns a guess.
 */
export function toolPath(name: string): string {
  const override = envOverrides[name] ? process.env[envOverrides[name]!] : undefined;
  if (override) {
    if (!existsSync(override)) throw new Error(`${envOverrides[name]}=${override} does not exist`);
    return override;
  }
  const local = path.join(repoRoot, '.tools', 'bin', name);
  if (existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  throw new Error(`'${name}' was not found in .tools/bin or on PATH. Run 'npm run setup' (scripts/setup.sh) to install it.`);
}
