import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, toolPath } from '../../src/tools';

/**
 * The agent image, without a Docker engine: the Dockerfiles pass a real linter (hadolint, installed
 * by scripts/setup.sh), the entrypoint passes shellcheck, and the Dockerfile's promises that a
 * user relies on hold (pins, non-root, init, the layout the entrypoint expects).
 */
const exec = promisify(execFile);
const dockerDir = path.join(repoRoot, 'docker');
const dockerfile = readFileSync(path.join(dockerDir, 'Dockerfile.opencode'), 'utf8');

async function lint(bin: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await exec(bin, args, { cwd: repoRoot });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('agent image', () => {
  const dockerfiles = readdirSync(dockerDir).filter((f) => f.startsWith('Dockerfile'));

  test('Dockerfile.opencode exists among the linted Dockerfiles', () => {
    expect(dockerfiles).toContain('Dockerfile.opencode');
  });

  test.each(dockerfiles)('docker/%s passes hadolint', async (file) => {
    const r = await lint(toolPath('hadolint'), ['--failure-threshold', 'style', path.join('docker', file)]);
    expect(r).toEqual({ code: 0, out: '' });
  });

  test('docker/agent-entrypoint.sh passes shellcheck', async () => {
    const r = await lint('shellcheck', ['--shell=sh', 'docker/agent-entrypoint.sh']);
    expect(r).toEqual({ code: 0, out: '' });
  });

  test('pins the base image by digest and OpenCode to the version the tests run', () => {
    // The pinned public image is the default of NODE_IMAGE (scripts/images.sh passes the local equivalent).
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim@sha256:[0-9a-f]{64}$/m);
    expect(dockerfile.match(/^FROM .*$/gm)).toEqual(['FROM ${NODE_IMAGE}']);
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    const tested = { ...pkg.dependencies, ...pkg.devDependencies }['opencode-linux-x64'];
    expect(tested).toMatch(/^\d+\.\d+\.\d+$/);
    expect(dockerfile).toContain(`ARG OPENCODE_VERSION=${tested}`);
    expect(dockerfile).toMatch(/"opencode-ai@\$\{OPENCODE_VERSION\}" "opencode-linux-x64@\$\{OPENCODE_VERSION\}"/);
    const instructions = dockerfile.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
    expect(instructions).not.toMatch(/(curl|wget)[^\n]*\|\s*(ba)?sh/);
  });

  test('runs as a non-root user in /workspace, under tini, with the entrypoint next to its runner', () => {
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toMatch(/^WORKDIR \/workspace$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/opt\/sdlc\/agent-entrypoint\.sh"\]$/m);
    expect(dockerfile).toMatch(/tini=/);
    // The image copies the same layout the tests run: <dir>/agent-entrypoint.sh + <dir>/agent/.
    expect(dockerfile).toMatch(/COPY .*docker\/agent-entrypoint\.sh \/opt\/sdlc\/agent-entrypoint\.sh/);
    expect(dockerfile).toMatch(/COPY .*docker\/agent\/ \/opt\/sdlc\/agent\//);
    expect(existsSync(path.join(dockerDir, 'agent', 'agent-runner.js'))).toBe(true);
  });

  test('the runner uses Node builtins only (the image has no node_modules for it)', () => {
    for (const file of readdirSync(path.join(dockerDir, 'agent')).filter((f) => f.endsWith('.js'))) {
      const src = readFileSync(path.join(dockerDir, 'agent', file), 'utf8');
      for (const [, mod] of src.matchAll(/require\(['"]([^'"]+)['"]\)/g)) {
        expect(`${file}: ${mod}`).toMatch(/: (node:|\.\/)/);
      }
    }
  });
});
