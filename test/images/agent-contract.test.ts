/**
 * The agent image's contract, run as the built image (localhost/sdlc-runner/agent:dev) in real containers laid
 * out as the chart lays out the pod (test/images/agent-pod-containers.ts: one podman pod, the gateway sidecar,
 * checkout, then agent and publish; each phase's uid, the fsGroup, read-only root, no capabilities, no
 * privilege escalation, the emptyDirs and the Secret files), against the fixture's git server and scripted
 * model. The scenarios and assertions of the process-backed tests (test/agent/agent-success, agent-failures,
 * agent-watchdog, agent-sigterm), so both stay honest. Fails loudly without podman or the image.
 */
import { AGENT_ENV } from '../../src/contract/agent-env';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { expectNoSecrets, expectWelcomePushed, GIT_TOKEN, holdPush, WELCOME_SCENARIO, MODEL_API_KEY, sigtermWhen, startAgentFixture, TASK_BRANCH, type AgentFixture } from '../agent/agent-harness';
import type { Scenario } from '../support/model-server';
import { removeAllPods, requireAgentImage, runAgentPodInContainers } from './agent-pod-containers';

const LOG_REF = 'refs/sdlc-runner/logs/sdlc-greeting-001-greeting/0f3c9a1e-run/sdlc-t012-a1';
/** The scripted model's list price ($3 / $15 per million), as the gateway's pricing table. */
const PRICING = { '*': { input: 3, output: 15 } };

beforeAll(requireAgentImage, 60_000);
afterAll(removeAllPods, 60_000);

describe('agent image contract: the pod as real containers', () => {
  let fx: AgentFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  const start = async (scenario: Scenario) => (fx = await startAgentFixture(scenario));
  function expectNothingPushed(f: AgentFixture): void {
    expect(f.git.branchHead(f.repo, TASK_BRANCH)).toBeUndefined();
    expect(f.git.requests.some((r) => r.url.includes('git-receive-pack') && r.method === 'POST')).toBe(false);
  }

  test('success: clone → opencode → commit → push → result line with the pushed sha and the gateway\'s tokens and cost', async () => {
    // agent-success.test.ts's first scenario.
    const f = await start(WELCOME_SCENARIO);
    const baseHead = f.git.branchHead(f.repo, 'main');

    // The worker gives every pod a log ref: publish archives its log and the agent's transcript (written by uid 10001) there.
    const run = await runAgentPodInContainers(f.env({ [AGENT_ENV.LOG_REF]: LOG_REF }), { model: f.model, pricing: PRICING });

    expectWelcomePushed(f, run, baseHead);
    // The usage is the gateway's count (usage.json), priced by its table: four turns at 1000 in / 200 out.
    expect(run.result.tokens).toEqual(run.usage.tokens);
    expect(run.result.cost).toBeCloseTo(run.usage.cost, 8);
    expect(run.result.tokens).toMatchObject({ input: 4000, output: 800 });
    expect(run.result.cost).toBeCloseTo((4000 * 3 + 800 * 15) / 1e6, 8);
    expect(run.stdout).toMatch(/tool write welcome\.txt: completed/);
    expect(run.stdout).toMatch(/tool edit .*src\/greeting\.txt: completed/);
    expect(run.stdout).toMatch(/tool bash cat welcome\.txt src\/greeting\.txt: completed/);
    expect(run.stdout).toContain('assistant: Created welcome.txt and extended the greeting.');
    expect(run.stdout).toContain('[sdlc-agent] model traffic goes through the gateway at http://127.0.0.1:');
    // Every request reached the model with the gateway's key; the agent held none.
    expect(new Set(f.model.requests.map((r) => r.authorization))).toEqual(new Set([`Bearer ${MODEL_API_KEY}`]));
    expectNoSecrets(run, [GIT_TOKEN, MODEL_API_KEY]);
    // The log archive: every line publish printed (time-stamped), ending with the result line; OpenCode's events.
    expect(run.phases.publish.stdout).not.toContain('log archive not pushed');
    const archived = f.git.git(f.repo, 'show', `${LOG_REF}:log.txt`).split('\n').filter(Boolean).map((l) => l.slice(l.indexOf(' ') + 1));
    expect(archived).toEqual(run.phases.publish.stdout.split('\n').filter(Boolean));
    const transcript = f.git.git(f.repo, 'show', `${LOG_REF}:transcript.jsonl`).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type?: string });
    expect(transcript.filter((e) => e.type === 'tool_use')).toHaveLength(3);
    // The sidecar, stopped (SIGTERM) after the others, exits 0.
    expect(run.phases.gateway.code).toBe(0);

    // The pod really ran as the chart lays it out: each phase its uid, the fsGroup, read-only root, nothing added,
    // every default capability dropped, no privilege escalation, tini as PID 1, the chart's memory limits.
    const uids = { gateway: 10004, checkout: 10002, agent: 10001, publish: 10003 };
    const memory = { gateway: 256, checkout: 1024, agent: 4096, publish: 1024 };
    for (const [phase, c] of Object.entries(run.containers) as [keyof typeof uids, (typeof run.containers)['agent']][]) {
      expect({ phase, ...c, mounts: undefined, capDrop: c.capDrop.length }).toEqual({
        phase, user: `${uids[phase]}:${uids[phase]}`, groupAdd: ['10000'], readOnlyRoot: true, capAdd: [], capDrop: 14,
        securityOpt: ['no-new-privileges'], memory: memory[phase] * 1024 * 1024, network: 'host', mounts: undefined,
        entrypoint: '/usr/bin/tini -- /opt/sdlc/agent-entrypoint.sh',
      });
    }
    // Who mounts what (mount point → writable): only checkout and publish have the git credential, only the gateway
    // the provider key, the agent neither, nor the git state or the gateway's state.
    expect(run.containers.agent.mounts).toEqual({ '/workspace': true, '/home/agent': true, '/tmp': true, '/etc/sdlc-opencode/opencode-extra.json': false });
    expect(run.containers.checkout.mounts).toEqual({ '/workspace': true, '/sdlc-git': true, '/tmp': true, '/var/run/secrets/sdlc-git': false });
    expect(run.containers.publish.mounts).toEqual({ '/workspace': true, '/sdlc-git': true, '/tmp': true, '/var/run/secrets/sdlc-git': false, '/sdlc-gateway': false });
    expect(run.containers.gateway.mounts).toEqual({ '/workspace': true, '/sdlc-gateway': true, '/tmp': true, '/var/run/secrets/sdlc-llm': false });
    // eslint-disable-next-line no-console
    console.log(`[timing] container success run: ${run.durationMs} ms`);
  });
  test('agent failure: the model returns an error → failed, exit 10, nothing pushed', async () => {
    // agent-failures.test.ts's first scenario.
    const f = await start({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'half done\n' } }] },
        { httpError: { status: 400, message: 'scripted: the model refused the request' } },
      ],
    });
    const run = await runAgentPodInContainers(f.env(), { model: f.model, pricing: PRICING });

    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    expect(run.result).toMatchObject({ status: 'failed', commits: 0, partialPushed: false });
    expect(run.result.sha).toBeUndefined();
    expect(run.result.reason).toContain('the model refused the request');
    expectNothingPushed(f);
    expect(run.result.tokens).toEqual(run.usage.tokens);
    expectNoSecrets(run, [GIT_TOKEN, MODEL_API_KEY]);
    // eslint-disable-next-line no-console
    console.log(`[timing] container agent-failure run: ${run.durationMs} ms`);
  });

  test('the time limit passes while the model hangs → timed_out, exit 40, nothing pushed', async () => {
    // agent-watchdog.test.ts's time-limit scenario.
    const f = await start({
      turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'partial\n' } }] }, { hang: true }],
    });
    const run = await runAgentPodInContainers(f.env({ SDLC_TIME_LIMIT_SECONDS: '8' }), { model: f.model, pricing: PRICING });

    expect(run.code).toBe(AGENT_EXIT.TIMEOUT);
    expect(run.result).toMatchObject({ status: 'timed_out', commits: 0, partialPushed: false });
    expect(run.result.reason).toContain('time limit of 8s');
    expect(run.stdout).toContain('watchdog: time limit reached');
    // Ended by the watchdog (SIGTERM, then SIGKILL 3 s later), not by the harness's kill; room for a loaded machine.
    expect(run.durationMs).toBeLessThan(8_000 + 30_000);
    expectNothingPushed(f);
    expectNoSecrets(run, [GIT_TOKEN, MODEL_API_KEY]);
    // eslint-disable-next-line no-console
    console.log(`[timing] container time-limit run: ${run.durationMs} ms`);
  });

  test('the pod is stopped (SIGTERM) mid-run → failed, exit 143, nothing pushed, and it goes on the signal', async () => {
    // agent-watchdog.test.ts's mid-run stop: tini (PID 1) passes the kubelet's SIGTERM on to the runner.
    const f = await start({ turns: [{ hang: true }] });
    const run = await runAgentPodInContainers(f.env(), {
      model: f.model,
      pricing: PRICING,
      whileRunning: (pod, stdout) => {
        if (!f.model.requests.some((r) => !r.title) || !stdout.includes('running opencode')) return false;
        pod.kill('SIGTERM');
        return true;
      },
    });

    expect(run.code).toBe(143);
    expect(run.result).toMatchObject({ status: 'failed', taskId: 'T012' });
    expect(run.result.reason).toContain('SIGTERM');
    // Each main container ended on the signal itself (143), not by the SIGKILL after the 30 s grace (137).
    expect({ agent: run.phases.agent.code, publish: run.phases.publish.code }).toEqual({ agent: 143, publish: 143 });
    expect(run.signalledAt).toBeGreaterThan(0);
    expectNothingPushed(f);
    // eslint-disable-next-line no-console
    console.log(`[timing] container SIGTERM-mid-run run: ${run.durationMs} ms`);
  });

  test('the agent container is killed (SIGKILL, as the OOM killer) mid-run → publish reports failed once its heartbeat stops, exit 10, nothing pushed', async () => {
    // No process-backed twin: only a container takes opencode and its tools down with the runner.
    const f = await start({ turns: [{ hang: true }] });
    let killedAt = 0;
    const run = await runAgentPodInContainers(f.env(), {
      model: f.model,
      pricing: PRICING,
      whileRunning: (pod, stdout) => {
        if (!f.model.requests.some((r) => !r.title) || !stdout.includes('running opencode')) return false;
        killedAt = Date.now();
        pod.killContainer('agent', 'SIGKILL');
        return true;
      },
    });

    expect(run.phases.agent.code).toBe(137);
    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    expect(run.result).toMatchObject({ status: 'failed', commits: 0 });
    expect(run.result.reason).toMatch(/the agent container stopped without handing over its work \(no heartbeat for \d+s: killed, or out of memory\?\)/);
    // Within the heartbeat bound (20 s) and some slack, not at the harness's timeout.
    expect(Date.now() - killedAt).toBeLessThan(20_000 + 15_000);
    expectNothingPushed(f);
    // eslint-disable-next-line no-console
    console.log(`[timing] container agent-killed run: ${run.durationMs} ms`);
  });

  describe('SIGTERM (podman kill, as the kubelet on pod deletion) during the push', () => {
    const scenario: Scenario = {
      turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome!\n' } }] }, { text: 'Done.' }],
    };

    test('while the push is in flight → the push finishes and the pushed sha is reported (succeeded, 0)', async () => {
      const f = await start(scenario);
      const marker = holdPush(f, 'pre-receive', 3);

      const run = await runAgentPodInContainers(f.env(), { model: f.model, pricing: PRICING, whileRunning: sigtermWhen(marker) });

      expect(run.signalledAt).toBeGreaterThan(0);
      expect(run.stdout).toContain('received SIGTERM');
      const head = f.git.branchHead(f.repo, TASK_BRANCH);
      expect(head).toBeDefined();
      expect({ code: run.code, status: run.result.status, sha: run.result.sha }).toEqual({ code: AGENT_EXIT.SUCCESS, status: 'succeeded', sha: head });
      expect(f.git.readFile(f.repo, head!, 'welcome.txt')).toBe('Welcome!\n');
      // The agent container had handed over and exited on its own (0) before the push began: it is not still
      // around to be stopped (143) by the SIGTERM that comes with the push in flight.
      expect(run.phases.agent.code).toBe(0);
      expectNoSecrets(run, [GIT_TOKEN, MODEL_API_KEY]);
      // eslint-disable-next-line no-console
      console.log(`[timing] container SIGTERM-during-push run: ${run.durationMs} ms`);
    });

    test('a push that outlasts the exit grace → failed, 143, the branch may have moved; the result line comes before the kubelet\'s SIGKILL', async () => {
      const f = await start(scenario);
      const marker = holdPush(f, 'pre-receive', 15);

      // Exit grace 20 s (the default) but a pod that is SIGKILLed 4 s after SIGTERM: the push grace ends 2 s before.
      const run = await runAgentPodInContainers(f.env(), { model: f.model, pricing: PRICING, terminationGraceSeconds: 4, whileRunning: sigtermWhen(marker) });

      expect(run.code).toBe(143);
      expect(run.result).toMatchObject({ status: 'failed', taskId: 'T012' });
      expect(run.result.sha).toBeUndefined();
      expect(run.result.reason).toMatch(/SIGTERM.*push did not finish within 2s.*may have moved/);
      expect(run.stdout).toContain('letting the push finish (up to 2s)');
      // publish exited on its own (143), not by the SIGKILL 4 s after the SIGTERM (which podman reports as 137).
      expect(run.phases.publish.code).toBe(143);
      expect(run.phases.agent.code).toBe(0);
      expectNoSecrets(run, [GIT_TOKEN, MODEL_API_KEY]);
      // eslint-disable-next-line no-console
      console.log(`[timing] container SIGTERM-push-outlasts-grace run: ${run.durationMs} ms`);
    });
  });
});
