/**
 * Benchmark: what stacking and integration add to a task, on the worker, against the real authenticated
 * git server with real git — side by side with what every task already costs (the branch check,
 * `git ls-remote`, and the agent's own clone). Prints medians and the machine; run with
 * `npm run bench:stacking -- [files in the repository] [repetitions]`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCliGitGateway } from '../../src/git/cli-gateway';
import { startGitServer } from '../support/git-server';

const TOKEN = 'bench-token-5c1e';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]!);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function run(): Promise<void> {
  const files = Number(process.argv[2] ?? 500);
  const reps = Number(process.argv[3] ?? 5);
  const server = await startGitServer({ token: TOKEN });
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'sdlc-bench-stack-'));
  const tokenFile = path.join(scratch, 'token');
  writeFileSync(tokenFile, TOKEN, { mode: 0o400 });
  try {
    const repo = 'bench';
    const base: Record<string, string> = {};
    for (let i = 0; i < files; i++) base[`src/module${i}.js`] = `module.exports = ${i};\n`.repeat(20);
    server.createRepo(repo, base);
    const url = server.url(repo);
    const git = createCliGitGateway({ tokenFile });
    const deps = ['T001', 'T002', 'T003'].map((id) => ({
      taskId: id,
      title: `task ${id}`,
      branch: `specs/bench/${id}-async`,
      commit: server.commitToBranch(repo, `specs/bench/${id}-async`, { [`src/${id}.js`]: `// ${id}\n` }, `${id}: work\n\nSdlc-Task-Id: ${id}`, 'main'),
    }));
    const samples: Record<string, number[]> = { lsRemote: [], agentClone: [], stackOneDependency: [], stackThreeDependencies: [], integrateThreeTasks: [] };
    for (let r = 0; r < reps; r++) {
      const stamp = new Date(Date.UTC(2026, 0, 1, 0, 0, r)).toISOString();
      samples.lsRemote!.push(await timed(() => git.branchHead(url, 'main')));
      const cloneDir = path.join(scratch, `clone-${r}`);
      samples.agentClone!.push(
        await timed(() =>
          // The token as a header from the environment (never argv). Async: the git server runs in this process.
          promisify(execFile)('git', ['clone', '--quiet', '--single-branch', '--branch', 'main', url, cloneDir], {
            env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
          }),
        ),
      );
      rmSync(cloneDir, { recursive: true, force: true });
      samples.stackOneDependency!.push(await timed(() => git.prepareTaskBranch({ repoUrl: url, baseBranch: 'main', branch: `specs/bench/T010-${r}`, taskId: 'T010', sources: deps.slice(0, 1), timestamp: stamp })));
      samples.stackThreeDependencies!.push(await timed(() => git.prepareTaskBranch({ repoUrl: url, baseBranch: 'main', branch: `specs/bench/T011-${r}`, taskId: 'T011', sources: deps, timestamp: stamp })));
      samples.integrateThreeTasks!.push(await timed(() => git.integrate({ repoUrl: url, baseBranch: 'main', branch: `specs/bench/integration-${r}`, sources: deps, timestamp: stamp, runId: 'bench' })));
    }
    console.log(
      JSON.stringify(
        {
          machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, git: execFileSync('git', ['--version'], { encoding: 'utf8' }).trim() },
          repository: { files, baseFiles: files },
          repetitions: reps,
          medianMs: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])),
          note: 'lsRemote = the branch check every task already does; agentClone = the clone every agent pod already does; stack* = the extra work per dependant, before its pod',
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await server.stop();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
