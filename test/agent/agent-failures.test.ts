import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { runAgentPod, startAgentFixture, TASK_BRANCH, type AgentFixture } from './agent-harness';

/**
 * The ways an agent run fails that OpenCode's exit code alone does not tell truthfully: each must
 * end as a failure result with the documented code, and nothing may reach the remote.
 */
describe('agent entrypoint: agent failures are reported, nothing is pushed', () => {
  let fx: AgentFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  function expectNothingPushed(f: AgentFixture): void {
    expect(f.git.branchHead(f.repo, TASK_BRANCH)).toBeUndefined();
    expect(f.git.requests.some((r) => r.url.includes('git-receive-pack') && r.method === 'POST')).toBe(false);
  }

  test('the model returns an error → agent failure, nothing pushed', async () => {
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'half done\n' } }] },
        { httpError: { status: 400, message: 'scripted: the model refused the request' } },
      ],
    });
    const run = await runAgentPod(fx.env());
    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    expect(run.result).toMatchObject({ status: 'failed', commits: 0, partialPushed: false });
    expect(run.result.sha).toBeUndefined();
    expect(run.result.reason).toContain('the model refused the request');
    expectNothingPushed(fx);
  });

  test('an error chunk in the model stream → agent failure', async () => {
    fx = await startAgentFixture({ turns: [{ streamError: 'scripted: stream broke off' }] });
    const run = await runAgentPod(fx.env());
    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    expect(run.result.reason).toContain('stream broke off');
    expectNothingPushed(fx);
  });

  test('the agent makes no change → agent failure, nothing pushed', async () => {
    fx = await startAgentFixture({ turns: [{ text: 'Everything is already done, nothing to change.' }] });
    const run = await runAgentPod(fx.env());
    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    expect(run.result).toMatchObject({ status: 'failed', commits: 0 });
    expect(run.result.reason).toContain('no change');
    expectNothingPushed(fx);
  });

  test('a write outside the working directory is rejected by permissions (opencode exits 0) → failure, not success', async () => {
    const outside = path.join(os.tmpdir(), `sdlc-outside-the-clone-${process.pid}-${Date.now()}.txt`);
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome!\n' } }] },
        { toolCalls: [{ name: 'write', args: { filePath: outside, content: 'escaped\n' } }] },
        { text: 'All done.' },
      ],
    });
    const run = await runAgentPod(fx.env());
    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    expect(run.result.reason).toMatch(/tool call failed or was rejected: write .*sdlc-outside-the-clone/);
    expect(run.stdout).toMatch(/opencode ended \(exit code 0\)/);
    expect(existsSync(outside)).toBe(false);
    expectNothingPushed(fx);
  });

  test('truncated output (finish reason "length") → failure', async () => {
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome!\n' } }] },
        { text: 'I will now also', finishReason: 'length' },
      ],
    });
    const run = await runAgentPod(fx.env());
    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    expect(run.result.reason).toContain('"length"');
    expectNothingPushed(fx);
  });

  test('with SDLC_PUSH_PARTIAL=true a failed run pushes its partial work to the task branch, still reported as failed', async () => {
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'half done\n' } }] },
        { httpError: { status: 400, message: 'scripted: the model refused the request' } },
      ],
    });
    const run = await runAgentPod(fx.env({ SDLC_PUSH_PARTIAL: 'true' }));
    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    const head = fx.git.branchHead(fx.repo, TASK_BRANCH);
    expect(run.result).toMatchObject({ status: 'failed', partialPushed: true, sha: head, commits: 1 });
    expect(fx.git.readFile(fx.repo, head!, 'welcome.txt')).toBe('half done\n');
    expect(fx.git.git(fx.repo, 'log', '-1', '--format=%s', head!)).toMatch(/^WIP \(agent failed, partial work\): T012/);
  });
});
