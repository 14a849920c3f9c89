import { readFileSync } from 'node:fs';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { MODEL_API_KEY, expectNoSecrets, runAgentPod, startAgentFixture, TASK_BRANCH, type AgentFixture } from './agent-harness';

/**
 * The model gateway sidecar holds the provider key and meters what the model really billed; the agent's
 * OpenCode talks to it without a key. A task that keeps asking ends `budget_exceeded` at its limit, with
 * the gateway's figures, and nothing is pushed.
 */
describe('agent pod with the model gateway: no key in the agent, usage and budgets from the gateway', () => {
  let fx: AgentFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  /** A model that never stops: a tool call on every turn. */
  const endless = { turns: Array.from({ length: 12 }, (_, i) => ({ toolCalls: [{ name: 'write', args: { filePath: `step-${i}.txt`, content: `${i}\n` } }] })) };

  test('the agent has no provider key; the model sees the gateway\'s; the result\'s usage is the gateway\'s count', async () => {
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'bash', args: { command: 'echo "key-vars=$(env | grep -c SCRIPTED_MODEL_API_KEY)"; echo welcome > welcome.txt', description: 'look around' } }] },
        { text: 'Done.' },
      ],
    });
    const env = fx.env();
    const run = await runAgentPod(env, 120_000, undefined, { model: fx.model });

    expect({ code: run.code, status: run.result.status }).toEqual({ code: AGENT_EXIT.SUCCESS, status: 'succeeded' });
    expect(run.result.sha).toBe(fx.git.branchHead(fx.repo, TASK_BRANCH));
    // The agent's tools found no key in their environment; every request reached the model with the real key.
    expect(JSON.stringify(fx.model.requests.map((r) => r.body.messages))).toContain('key-vars=0');
    expect(fx.model.requests.length).toBeGreaterThan(0);
    expect(new Set(fx.model.requests.map((r) => r.authorization))).toEqual(new Set([`Bearer ${MODEL_API_KEY}`]));
    // Usage in the result line = the gateway's usage.json.
    const usage = JSON.parse(readFileSync(`${env.SDLC_WORKDIR}-gateway/usage.json`, 'utf8'));
    expect(run.result.tokens).toEqual(usage.tokens);
    expect(run.result.cost).toBeCloseTo(usage.cost, 8);
    expect(run.stdout).toContain('[sdlc-agent] model traffic goes through the gateway at http://127.0.0.1:');
    expectNoSecrets(run, [MODEL_API_KEY]);
  });

  test('a model that keeps asking → budget_exceeded at the token limit, the gateway\'s figures, nothing pushed', async () => {
    fx = await startAgentFixture(endless);
    const run = await runAgentPod(fx.env(), 120_000, undefined, { model: fx.model, budget: { maxTokens: 3000 } });

    expect({ code: run.code, status: run.result.status }).toEqual({ code: AGENT_EXIT.BUDGET_EXCEEDED, status: 'budget_exceeded' });
    // The scripted usage is 1200 in + 340 out per request: the second request crosses 3000, the third is refused.
    expect(run.result.reason).toMatch(/token budget ran out: 3080 of 3000 tokens used \(the model gateway's count\); nothing was committed or pushed/);
    expect(run.result.tokens).toMatchObject({ input: 2400, output: 680 });
    expect(fx.git.branchHead(fx.repo, TASK_BRANCH)).toBeUndefined();
    expect(fx.model.requests.filter((r) => !r.title)).toHaveLength(2);
  });

  test('a cost budget: budget_exceeded at the cost limit, priced by the gateway\'s table', async () => {
    fx = await startAgentFixture(endless);
    // $3 / $15 per million: 1200 in + 340 out = $0.0087 a request.
    const run = await runAgentPod(fx.env(), 120_000, undefined, { model: fx.model, budget: { maxCost: 0.02 }, pricing: { '*': { input: 3, output: 15 } } });

    expect({ code: run.code, status: run.result.status }).toEqual({ code: AGENT_EXIT.BUDGET_EXCEEDED, status: 'budget_exceeded' });
    expect(run.result.reason).toMatch(/cost budget ran out: \$0\.0261 of \$0\.02 spent/);
    expect(run.result.cost).toBeCloseTo(0.0261, 6);
  });
});
