import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { egressProxyUrl } from '../../src/egress/auth';
import type { LogRecord } from '../../src/egress/log';
import { startEgressProxy } from '../../src/egress/proxy';
import { deniedRanges } from '../../src/egress/ranges';
import { signTicket } from '../../src/egress/ticket';
import { startGitSshServer, type GitSshServer } from '../support/git-server/ssh';
import { expectNoSecrets, GIT_TOKEN, MODEL_API_KEY, runAgentPod, startAgentFixture, TASK_BRANCH, type AgentFixture } from './agent-harness';

describe('agent entrypoint: git credentials and configuration', () => {
  let fx: AgentFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  test('a wrong git token → git failure code, and neither token nor key appears anywhere in the output', async () => {
    fx = await startAgentFixture({ turns: [{ text: 'unused' }] });
    const wrongToken = 'gtok-wrong-8c2e5a1f9d3b';
    const wrongFile = path.join(fx.dir, 'wrong-token');
    writeFileSync(wrongFile, `${wrongToken}\n`);

    const run = await runAgentPod(fx.env({ SDLC_GIT_TOKEN_FILE: wrongFile }));

    expect(run.code).toBe(AGENT_EXIT.GIT_FAILURE);
    expect(run.result).toMatchObject({ status: 'git_failed', commits: 0 });
    expect(run.result.reason).toMatch(/Authentication failed|401/);
    expectNoSecrets(run, [wrongToken, GIT_TOKEN, MODEL_API_KEY, Buffer.from(`sdlc-bot:${wrongToken}`).toString('base64')]);
    // The credential went out only in an Authorization header (rejected), never in a URL.
    expect(fx.git.requests.length).toBeGreaterThan(0);
    expect(fx.git.requests.every((r) => !r.authorized && !r.url.includes(wrongToken))).toBe(true);
    // Git failed before the agent started: the model was never asked.
    expect(fx.model.requests).toHaveLength(0);
  });

  test('the right token is only ever sent as basic auth to the git server', async () => {
    fx = await startAgentFixture({
      turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'hi\n' } }] }, { text: 'done' }],
    });
    const run = await runAgentPod(fx.env());
    expect(run.code).toBe(AGENT_EXIT.SUCCESS);
    expect(fx.git.requests.some((r) => r.authorized && r.url.includes('git-receive-pack'))).toBe(true);
    expect(fx.git.requests.every((r) => !r.url.includes(GIT_TOKEN))).toBe(true);
    expectNoSecrets(run, [GIT_TOKEN, MODEL_API_KEY]);
  });

  test('the base branch does not exist → git failure', async () => {
    fx = await startAgentFixture({ turns: [{ text: 'unused' }] });
    const run = await runAgentPod(fx.env({ SDLC_BASE_BRANCH: 'no-such-branch' }));
    expect(run.code).toBe(AGENT_EXIT.GIT_FAILURE);
    expect(run.result.reason).toContain("base branch 'no-such-branch' does not exist");
    expect(fx.git.branchHead(fx.repo, TASK_BRANCH)).toBeUndefined();
  });

  test.each([
    ['a required variable is missing', { SDLC_REPO_URL: '' }, /SDLC_REPO_URL is required/],
    ['credentials in the repo URL', { SDLC_REPO_URL: 'https://bot:hunter2-secret@git.example.test/r.git' }, /must not contain credentials/],
    ['the token file is missing', { SDLC_GIT_TOKEN_FILE: '/nonexistent/token' }, /SDLC_GIT_TOKEN_FILE points to a file that cannot be read/],
    ['an invalid time limit', { SDLC_TIME_LIMIT_SECONDS: 'soon' }, /SDLC_TIME_LIMIT_SECONDS must be a positive number/],
    ['a model without provider', { SDLC_MODEL: 'just-a-model' }, /SDLC_MODEL must be provider\/model/],
    ['an SSH key without known_hosts', { SDLC_GIT_SSH_KEY_FILE: '/etc/hostname' }, /needs SDLC_GIT_KNOWN_HOSTS_FILE/],
  ])('configuration error: %s → code 30 and a config_error result', async (_name, overrides, reason) => {
    fx = await startAgentFixture({ turns: [] });
    const run = await runAgentPod(fx.env(overrides));
    expect(run.code).toBe(AGENT_EXIT.CONFIG_ERROR);
    expect(run.result).toMatchObject({ status: 'config_error', taskId: 'T012' });
    expect(run.result.reason).toMatch(reason);
    expect(run.stdout + run.stderr).not.toContain('hunter2-secret');
    expect(fx.git.requests).toHaveLength(0);
  });

  describe('over SSH (real OpenSSH client, key from a mounted file, strict known_hosts)', () => {
    let ssh: GitSshServer | undefined;
    afterEach(async () => {
      await ssh?.stop();
      ssh = undefined;
    });

    async function sshFixture(): Promise<{ f: AgentFixture; s: GitSshServer; keyFile: string; knownHosts: string }> {
      const f = await startAgentFixture({
        turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'over ssh\n' } }] }, { text: 'done' }],
      });
      fx = f;
      const s = await startGitSshServer({ root: f.git.root });
      ssh = s;
      // Secret volumes often mount keys world-readable; the entrypoint must cope (ssh refuses such keys).
      const keyFile = path.join(f.dir, 'ssh-privatekey');
      copyFileSync(s.clientKeyFile, keyFile);
      chmodSync(keyFile, 0o644);
      const knownHosts = path.join(f.dir, 'known_hosts');
      writeFileSync(knownHosts, `${s.knownHostsLine}\n`);
      return { f, s, keyFile, knownHosts };
    }

    test('clones and pushes with the SSH key; the key never appears in the output', async () => {
      const { f, s, keyFile, knownHosts } = await sshFixture();
      const run = await runAgentPod(f.env({
        SDLC_REPO_URL: s.url(f.repo), SDLC_GIT_TOKEN_FILE: '', SDLC_GIT_SSH_KEY_FILE: keyFile, SDLC_GIT_KNOWN_HOSTS_FILE: knownHosts,
      }));
      expect({ code: run.code, reason: run.result.reason }).toEqual({ code: AGENT_EXIT.SUCCESS, reason: undefined });
      expect(run.result.sha).toBe(f.git.branchHead(f.repo, TASK_BRANCH));
      expect(f.git.readFile(f.repo, run.result.sha!, 'welcome.txt')).toBe('over ssh\n');
      expect(s.commands.some((c) => c.startsWith('git-receive-pack'))).toBe(true);
      const keyLines = readFileSync(keyFile, 'utf8').split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
      expectNoSecrets(run, keyLines);
    });

    test.each([
      ['granted by the ticket: clones and pushes through a CONNECT tunnel', true],
      ['not granted: the proxy refuses, git fails with its reason, the server sees nothing', false],
    ])('in the proxy mode, ssh goes through the egress proxy (ProxyCommand) — %s', async (_name, granted) => {
      const { f, s, keyFile, knownHosts } = await sshFixture();
      const sshAt = new URL(s.url(f.repo)).host;
      const key = Buffer.from('ssh-egress-test-key-0123456789abcdef012345');
      const log: LogRecord[] = [];
      const proxy = await startEgressProxy({ host: '127.0.0.1', port: 0, keys: [key], alwaysAllow: [], denied: deniedRanges({ allowLoopback: true }), log: (r) => log.push(r) });
      try {
        const ticket = signTicket({ run: 'run-ssh', task: 'T012', attempt: 1, hosts: granted ? [sshAt] : [], exp: Math.floor(Date.now() / 1000) + 600 }, key);
        const run = await runAgentPod(f.env({
          SDLC_REPO_URL: s.url(f.repo), SDLC_GIT_TOKEN_FILE: '', SDLC_GIT_SSH_KEY_FILE: keyFile, SDLC_GIT_KNOWN_HOSTS_FILE: knownHosts,
          HTTPS_PROXY: egressProxyUrl({ host: '127.0.0.1', port: proxy.port }, ticket), NO_PROXY: 'localhost',
        }));
        if (granted) {
          expect({ code: run.code, reason: run.result.reason }).toEqual({ code: AGENT_EXIT.SUCCESS, reason: undefined });
          expect(f.git.readFile(f.repo, run.result.sha!, 'welcome.txt')).toBe('over ssh\n');
          // checkout's reads and clone, publish's push: each ssh its own tunnel, all allowed, under the ticket's attempt
          await proxy.close(1000);
          const tunnels = log.filter((l) => l.kind === 'connect' && `${l.host}:${l.port}` === sshAt).map((l) => `${l.decision} ${l.run}`);
          expect(tunnels.length).toBeGreaterThanOrEqual(2);
          expect(new Set(tunnels)).toEqual(new Set(['allow run-ssh']));
        } else {
          expect(run.code).toBe(AGENT_EXIT.GIT_FAILURE);
          expect(run.result.reason).toContain(`proxy-agent: egress proxy refused ${sshAt}: 403 (egress to ${sshAt} is not allowed for this run; grant it with: sdlc-runner implement --allow-egress ${sshAt})`);
          expect(run.result.reason).not.toMatch(/after \d+ attempts/); // a refusal is not retried
          expect(s.commands).toEqual([]);
        }
      } finally {
        await proxy.close(0);
      }
    });

    test('an unknown host key → git failure, nothing cloned', async () => {
      const { f, s, keyFile } = await sshFixture();
      const otherHosts = path.join(f.dir, 'other_known_hosts');
      writeFileSync(otherHosts, `${s.knownHostsLine.split(' ')[0]} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n`);
      const run = await runAgentPod(f.env({
        SDLC_REPO_URL: s.url(f.repo), SDLC_GIT_TOKEN_FILE: '', SDLC_GIT_SSH_KEY_FILE: keyFile, SDLC_GIT_KNOWN_HOSTS_FILE: otherHosts,
      }));
      expect(run.code).toBe(AGENT_EXIT.GIT_FAILURE);
      expect(run.result.reason).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
      expect(s.commands).toEqual([]);
    });
  });
});
