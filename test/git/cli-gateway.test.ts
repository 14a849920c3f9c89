import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { createActivities } from '../../activities';
import { createCliGitGateway } from '../../src/git/cli-gateway';
import { GitRemoteError } from '../../src/git/gateway';
import { repoRoot } from '../../src/tools';
import { freePort } from '../../src/util/free-port';
import { startGitServer, type GitServer } from '../support/git-server';
import { MemoryGit, MemoryKubernetesGateway } from '../support/memory-gateway';

/**
 * The worker's git gateway (`git ls-remote` with a credential helper reading a token file) against a
 * real token-protected git server: what branch verification sees, and which failures retrying cannot heal.
 */
const TOKEN = 'tok_' + 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2';
let server: GitServer;
let dir: string;
let goodToken: string;
let badToken: string;

beforeAll(async () => {
  server = await startGitServer({ token: TOKEN });
  server.createRepo('app', { 'README.md': 'hello\n' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-git-gw-'));
  goodToken = path.join(dir, 'good');
  badToken = path.join(dir, 'bad');
  writeFileSync(goodToken, TOKEN + '\n');
  writeFileSync(badToken, 'tok_wrong_' + 'Ab1Cd2Ef3Gh4\n');
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

test('with the right token: the branch head, or undefined for a branch that does not exist', async () => {
  const git = createCliGitGateway({ tokenFile: goodToken });
  expect(await git.branchHead(server.url('app'), 'main')).toBe(server.branchHead('app', 'main'));
  expect(await git.branchHead(server.url('app'), 'specs/001/T001-async')).toBeUndefined();
});

test('many tasks checking their branches at once: one ls-remote for the repository, each answer its own branch', async () => {
  const branches = Array.from({ length: 30 }, (_, i) => `specs/009/T${String(i + 1).padStart(3, '0')}-async`);
  const pushed = branches.filter((_, i) => i % 3 === 0);
  for (const b of pushed) server.commitToBranch('app', b, { [`${b}.txt`]: 'done\n' }, `work on ${b}`, 'main');
  const git = createCliGitGateway({ tokenFile: goodToken });
  const before = server.requests.length;
  const heads = await Promise.all(branches.map((b) => git.branchHead(server.url('app'), b)));
  expect(heads).toEqual(branches.map((b) => (pushed.includes(b) ? server.branchHead('app', b) : undefined)));
  // One listing: git's ref advertisement was asked for once (with the token), not 30 times.
  const adverts = server.requests.slice(before).filter((r) => r.url.includes('/info/refs') && r.authorized);
  expect(adverts).toHaveLength(1);
});

test('a refused token is a permanent failure that says what to fix, and never shows the token', async () => {
  const error = await failure(createCliGitGateway({ tokenFile: badToken }).branchHead(server.url('app'), 'main'));
  expect(error).toBeInstanceOf(GitRemoteError);
  expect((error as GitRemoteError).retryable).toBe(false);
  expect((error as Error).message).toContain(`git ls-remote ${server.url('app')} failed:`);
  expect((error as Error).message).toContain("Fix: check that the repository URL is right and that the worker's git credentials (SDLC_GIT_TOKEN_FILE) can read it");
  expect((error as Error).message).not.toContain('tok_wrong_');
  expect((error as Error).message).not.toContain(TOKEN);
});

test('no credentials at all: permanent, and the message says the token file is not set', async () => {
  const error = await failure(createCliGitGateway().branchHead(server.url('app'), 'main'));
  expect((error as GitRemoteError).retryable).toBe(false);
  expect((error as Error).message).toContain('(SDLC_GIT_TOKEN_FILE, not set)');
});

test('a server that is not there (connection refused) is retryable', async () => {
  const port = await freePort();
  const error = await failure(createCliGitGateway({ tokenFile: goodToken }).branchHead(`http://127.0.0.1:${port}/app.git`, 'main'));
  expect(error).toBeInstanceOf(GitRemoteError);
  expect((error as GitRemoteError).retryable).toBe(true);
});

test('verifyBranch: a refused token fails the activity non-retryably (the task fails now, not after five tries)', async () => {
  const activities = createActivities({ kubernetes: new MemoryKubernetesGateway(() => ({}), new MemoryGit()), git: createCliGitGateway({ tokenFile: badToken }) });
  const error = await failure(activities.verifyBranch({ repoUrl: server.url('app'), branch: 'main', expectedSha: 'a'.repeat(40) }));
  expect(error).toBeInstanceOf(ApplicationFailure);
  expect((error as ApplicationFailure).nonRetryable).toBe(true);
  expect((error as ApplicationFailure).type).toBe('GitRemoteError');
  // And with the right token the same call verifies the branch.
  const ok = createActivities({ kubernetes: new MemoryKubernetesGateway(() => ({}), new MemoryGit()), git: createCliGitGateway({ tokenFile: goodToken }) });
  const head = server.branchHead('app', 'main')!;
  expect(await ok.verifyBranch({ repoUrl: server.url('app'), branch: 'main', expectedSha: head })).toEqual({ ok: true, head });
});

/** What `git credential fill` answers for a host, with the helpers configured in `env` (real git). */
function credentialFor(env: NodeJS.ProcessEnv, protocol: string, host: string): string {
  const result = spawnSync('git', ['credential', 'fill'], { env: { ...env, PATH: process.env.PATH, GIT_TERMINAL_PROMPT: '0' }, input: `protocol=${protocol}\nhost=${host}\n\n`, encoding: 'utf8' });
  return result.status === 0 ? result.stdout : '';
}

describe('the token goes only to the repository host (a redirect or a submodule elsewhere gets nothing)', () => {
  test("the worker's branch check", async () => {
    // Capture the env the gateway gives git by pointing it at a git that records it.
    const envFile = path.join(dir, 'git-env.json');
    const fakeGit = path.join(dir, 'bin');
    mkdirSync(fakeGit, { recursive: true });
    writeFileSync(path.join(fakeGit, 'git'), `#!/bin/sh\nnode -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))' ${envFile}\n`, { mode: 0o755 });
    const savedPath = process.env.PATH;
    process.env.PATH = `${fakeGit}:${savedPath}`;
    try {
      await createCliGitGateway({ tokenFile: goodToken }).branchHead('https://git.example.test:8443/acme/app.git', 'main');
    } finally {
      process.env.PATH = savedPath;
    }
    const env = JSON.parse(readFileSync(envFile, 'utf8')) as NodeJS.ProcessEnv;
    expect(credentialFor(env, 'https', 'git.example.test:8443')).toContain(`password=${TOKEN}`);
    expect(credentialFor(env, 'https', 'evil.example.test')).not.toContain(TOKEN);
    expect(credentialFor(env, 'http', 'git.example.test:8443')).not.toContain(TOKEN);
  });

  test("the worker's branch check sends the configured username (a deploy token's user), read from the environment, not the shell text", async () => {
    const envFile = path.join(dir, 'git-env-user.json');
    const fakeGit = path.join(dir, 'bin-user');
    mkdirSync(fakeGit, { recursive: true });
    writeFileSync(path.join(fakeGit, 'git'), `#!/bin/sh\nnode -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))' ${envFile}\n`, { mode: 0o755 });
    const savedPath = process.env.PATH;
    process.env.PATH = `${fakeGit}:${savedPath}`;
    try {
      await createCliGitGateway({ tokenFile: goodToken, username: 'gitlab+deploy-token-42' }).branchHead('https://git.example.test/acme/app.git', 'main');
    } finally {
      process.env.PATH = savedPath;
    }
    const env = JSON.parse(readFileSync(envFile, 'utf8')) as NodeJS.ProcessEnv;
    expect(credentialFor(env, 'https', 'git.example.test')).toContain(`username=gitlab+deploy-token-42\npassword=${TOKEN}`);
    expect(env.GIT_CONFIG_VALUE_1).not.toContain('gitlab+deploy-token-42');
    // And the real server still answers with it.
    const git = createCliGitGateway({ tokenFile: goodToken, username: 'gitlab+deploy-token-42' });
    expect(await git.branchHead(server.url('app'), 'main')).toBe(server.branchHead('app', 'main'));
  });

  test('a username that is not plain (whitespace, quotes, shell or URL characters) is refused up front', () => {
    for (const username of ['bot user', 'bot\npassword=x', "bot'$(id)", 'bot:pw', 'bot@host', '']) {
      expect(() => createCliGitGateway({ tokenFile: goodToken, username })).toThrow(/is not a plain username/);
    }
  });

  test("the agent pod's git (docker/agent/git.js)", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Git } = require(path.join(repoRoot, 'docker', 'agent', 'git.js'));
    const cfg = { repoUrl: 'https://git.example.test:8443/acme/app.git', tokenFile: goodToken, gitUsername: 'bot', authorName: 'a', authorEmail: 'a@example.test', gitStateDir: dir };
    const git = new Git(cfg, { info: () => undefined }, mkdtempSync(path.join(dir, 'agent-')));
    expect(credentialFor(git.env, 'https', 'git.example.test:8443')).toContain(`username=bot\npassword=${TOKEN}`);
    expect(credentialFor(git.env, 'https', 'evil.example.test')).not.toContain(TOKEN);
  });
});
