import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { toolPath } from '../../src/tools';
import { runAgentPod, startAgentFixture, TASK_BRANCH, type AgentFixture } from './agent-harness';

/** The watchdog: OpenCode that finished but does not exit, and the time limit. */
describe('agent entrypoint: watchdog', () => {
  let fx: AgentFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  test('opencode emits its final step_finish but never exits → the watchdog ends it and the result is still reported', async () => {
    fx = await startAgentFixture({
      turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome!\n' } }] }, { text: 'Done.' }],
    });
    // Simulates the upstream hang: the real opencode runs to its final step_finish, then the
    // process (holding stdout open, like the hung opencode) never exits.
    const wrapper = path.join(fx.dir, 'opencode-that-never-exits');
    writeFileSync(wrapper, `#!/bin/sh\n"${toolPath('opencode')}" "$@"\nexec sleep 100000\n`);
    chmodSync(wrapper, 0o755);

    const run = await runAgentPod(fx.env({ OPENCODE_BIN: wrapper, SDLC_EXIT_GRACE_SECONDS: '2' }));

    expect(run.stdout).toMatch(/watchdog: opencode finished its last step but did not exit within 2s/);
    expect(run.code).toBe(AGENT_EXIT.SUCCESS);
    expect(run.result).toMatchObject({ status: 'succeeded', sha: fx.git.branchHead(fx.repo, TASK_BRANCH), commits: 1 });
    expect(fx.git.readFile(fx.repo, run.result.sha!, 'welcome.txt')).toBe('Welcome!\n');
  });

  test('the time limit passes while the model hangs → timeout code, nothing pushed', async () => {
    fx = await startAgentFixture({
      turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'partial\n' } }] }, { hang: true }],
    });
    const run = await runAgentPod(fx.env({ SDLC_TIME_LIMIT_SECONDS: '8' }));
    expect(run.code).toBe(AGENT_EXIT.TIMEOUT);
    expect(run.result).toMatchObject({ status: 'timed_out', commits: 0, partialPushed: false });
    expect(run.result.reason).toContain('time limit of 8s');
    expect(run.stdout).toContain('watchdog: time limit reached');
    // Ended by the watchdog (SIGTERM, then SIGKILL 3 s later when opencode ignores it), not by the harness's 120 s kill;
    // the bound leaves room for clone and opencode start-up on a loaded machine.
    expect(run.durationMs).toBeLessThan(8_000 + 30_000);
    expect(fx.git.branchHead(fx.repo, TASK_BRANCH)).toBeUndefined();
  });

  test('the pod is stopped (SIGTERM) mid-run → a failed result line, exit 143, and opencode goes with it', async () => {
    fx = await startAgentFixture({ turns: [{ hang: true }] });
    let signalledAt = 0;
    const pending = runAgentPod(fx.env(), 60_000, (pod, stdout) => {
      // Stop the pod once opencode is talking to the model, as a kubelet would on pod deletion.
      if (fx!.model.requests.some((r) => !r.title) && stdout.includes('running opencode')) {
        signalledAt = Date.now();
        pod.kill('SIGTERM');
        return true;
      }
      return false;
    });
    const run = await pending;
    expect(run.code).toBe(143);
    expect(run.result).toMatchObject({ status: 'failed', taskId: 'T012' });
    expect(run.result.reason).toContain('SIGTERM');
    // It went on the signal (not at the harness's 60 s kill), however long clone and opencode start-up took.
    expect(signalledAt).toBeGreaterThan(0);
    expect(Date.now() - signalledAt).toBeLessThan(20_000);
    expect(fx.git.branchHead(fx.repo, TASK_BRANCH)).toBeUndefined();
    // No opencode left behind: its command line names the clone, which lives under the fixture dir.
    // SIGKILLed processes take a moment to go on a loaded machine: wait (bounded) for them to be gone.
    const leftovers = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((p) => p.includes(fx!.dir));
    const deadline = Date.now() + 10_000;
    let left = leftovers();
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = leftovers();
    }
    expect(left).toEqual([]);
  });
});
