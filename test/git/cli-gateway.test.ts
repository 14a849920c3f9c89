import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { createActivities } from '../../activities';
import { createCliGitGateway } from '../../src/git/cli-gateway';
import { GitRemoteError } from '../../src/git/gateway';
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
