import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { holdPush, runAgentPod, sigtermWhen, startAgentFixture, TASK_BRANCH, type AgentFixture } from './agent-harness';

/**
 * A pod stopped (SIGTERM from the kubelet: deletion, eviction) around the push. The result line must
 * state what happened on the remote — the workflow trusts the last result line and the exit code —
 * and there must be exactly one, however the signal and the normal end interleave.
 */
describe('agent entrypoint: SIGTERM around the push', () => {
  let fx: AgentFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  const scenario = {
    turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome!\n' } }] }, { text: 'Done.' }],
  };



  test('SIGTERM while the push is in flight → the push finishes and the pushed sha is reported (succeeded, 0)', async () => {
    fx = await startAgentFixture(scenario);
    const marker = holdPush(fx, 'pre-receive', 3);

    const run = await runAgentPod(fx.env(), 90_000, sigtermWhen(marker));

    expect(run.stdout).toContain('received SIGTERM');
    const head = fx.git.branchHead(fx.repo, TASK_BRANCH);
    expect(head).toBeDefined();
    expect({ code: run.code, status: run.result.status, sha: run.result.sha }).toEqual({ code: AGENT_EXIT.SUCCESS, status: 'succeeded', sha: head });
    expect(fx.git.readFile(fx.repo, head!, 'welcome.txt')).toBe('Welcome!\n');
  });

  test('SIGTERM after the remote branch moved (push not yet returned) → succeeded with that sha, not failed', async () => {
    fx = await startAgentFixture(scenario);
    const marker = holdPush(fx, 'post-receive', 2);

    const run = await runAgentPod(fx.env(), 90_000, sigtermWhen(marker));

    const head = fx.git.branchHead(fx.repo, TASK_BRANCH);
    expect(head).toBeDefined();
    expect({ code: run.code, status: run.result.status, sha: run.result.sha }).toEqual({ code: AGENT_EXIT.SUCCESS, status: 'succeeded', sha: head });
  });

  test('a push that outlasts the exit grace after SIGTERM → failed, 143, and the reason says the branch may have moved', async () => {
    fx = await startAgentFixture(scenario);
    const marker = holdPush(fx, 'pre-receive', 8);

    const run = await runAgentPod(fx.env({ SDLC_EXIT_GRACE_SECONDS: '2' }), 90_000, sigtermWhen(marker));

    expect(run.code).toBe(143);
    expect(run.result).toMatchObject({ status: 'failed', taskId: 'T012' });
    expect(run.result.sha).toBeUndefined();
    expect(run.result.reason).toMatch(/SIGTERM.*push.*may have moved/);
  });

  test("the exit grace set above the pod's terminationGracePeriodSeconds → the push grace ends 2 s before the kubelet's SIGKILL, so the result line is still written", async () => {
    fx = await startAgentFixture(scenario);
    const marker = holdPush(fx, 'pre-receive', 15);
    let signalledAt = 0;
    const sigterm = sigtermWhen(marker);

    // Exit grace 20 s (the default) but a pod that is SIGKILLed 4 s after SIGTERM.
    const run = await runAgentPod(fx.env({ SDLC_TERMINATION_GRACE_SECONDS: '4' }), 90_000, (child) => {
      if (!sigterm(child)) return false;
      signalledAt = Date.now();
      return true;
    });
    const closedAfterMs = Date.now() - signalledAt;

    expect(run.code).toBe(143);
    expect(run.result).toMatchObject({ status: 'failed', taskId: 'T012' });
    expect(run.result.reason).toMatch(/SIGTERM.*push did not finish within 2s.*may have moved/);
    expect(run.stdout).toContain('letting the push finish (up to 2s)');
    // The result line came before the kubelet would have SIGKILLed the pod (4 s after SIGTERM).
    expect(closedAfterMs).toBeLessThan(4_000);
  });

});
