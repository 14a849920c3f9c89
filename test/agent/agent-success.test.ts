import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { AGENT_ENV } from '../../src/contract/agent-env';
import {
  expectNoSecrets, expectWelcomePushed, FEATURE_DIR, GIT_TOKEN, MODEL_API_KEY, runAgentPod, startAgentFixture, TASK_BRANCH, WELCOME_SCENARIO, type AgentFixture,
} from './agent-harness';

/** The agent pod's happy paths, run through docker/agent-entrypoint.sh with the real opencode. */
describe('agent entrypoint: success', () => {
  let fx: AgentFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  test('creates the task branch from base, pushes the agent\'s work, and reports the pushed sha, tokens and cost', async () => {
    fx = await startAgentFixture(WELCOME_SCENARIO);
    const baseHead = fx.git.branchHead(fx.repo, 'main');
    expect(fx.git.branchHead(fx.repo, TASK_BRANCH)).toBeUndefined();

    const run = await runAgentPod(fx.env());

    expectWelcomePushed(fx, run, baseHead);
    // Four model turns at 1000 in / 200 out each; the scripted model costs $3 / $15 per million.
    expect(run.result.tokens).toMatchObject({ input: 4000, output: 800 });
    expect(run.result.cost).toBeCloseTo((4000 * 3 + 800 * 15) / 1e6, 8);

    // Readable progress from the JSON events.
    expect(run.stdout).toMatch(/tool write welcome\.txt: completed/);
    expect(run.stdout).toMatch(/tool edit .*src\/greeting\.txt: completed/);
    expect(run.stdout).toMatch(/tool bash cat welcome\.txt src\/greeting\.txt: completed/);
    expect(run.stdout).toMatch(/step 4 finished \(stop\): tokens in=1000 out=200/);
    expect(run.stdout).toContain('assistant: Created welcome.txt and extended the greeting.');

    // The prompt: the task's text, the feature documents that exist, and the rules.
    const first = fx.model.requests.find((r) => !r.title)!;
    const userText = JSON.stringify(first.body.messages?.filter((m) => m.role === 'user'));
    expect(userText).toContain('Create welcome.txt with a friendly welcome.');
    for (const doc of ['spec.md', 'plan.md', 'tasks.md', 'contracts/']) expect(userText).toContain(`${FEATURE_DIR}/${doc}`);
    expect(userText).not.toContain('data-model.md'); // absent from this feature, so not offered
    expect(userText).toContain('Implement only task T012');
    expect(userText).toMatch(/Do not commit, push/);
    // The provider key reached the model as a bearer token, never the output.
    expect(first.authorization).toBe(`Bearer ${MODEL_API_KEY}`);
    expectNoSecrets(run, [GIT_TOKEN, MODEL_API_KEY]);
    // eslint-disable-next-line no-console
    console.log(`[timing] success run: ${run.durationMs} ms`);
  });

  test('retry: when the task branch already has an earlier commit, the new work lands on top of it', async () => {
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'second.txt', content: 'second attempt\n' } }] },
        { text: 'Finished the task on top of the earlier work.' },
      ],
    });
    const earlier = fx.git.commitToBranch(fx.repo, TASK_BRANCH, { 'first.txt': 'first attempt\n' }, 'T012: earlier partial work', 'main');

    const run = await runAgentPod(fx.env({ SDLC_ATTEMPT: '2', SDLC_RUN_ID: 'run-retry-2' }));

    expect({ code: run.code, reason: run.result.reason }).toEqual({ code: AGENT_EXIT.SUCCESS, reason: undefined });
    const head = fx.git.branchHead(fx.repo, TASK_BRANCH)!;
    expect(run.result).toMatchObject({ status: 'succeeded', sha: head, commits: 1 });
    expect(fx.git.git(fx.repo, 'rev-parse', `${head}^`)).toBe(earlier);
    expect(fx.git.readFile(fx.repo, head, 'first.txt')).toBe('first attempt\n');
    expect(fx.git.readFile(fx.repo, head, 'second.txt')).toBe('second attempt\n');
    expect(fx.git.git(fx.repo, 'log', '-1', '--format=%B', head)).toContain('Sdlc-Run-Id: run-retry-2');
    expect(run.stdout).toContain('continuing on top of earlier work');
    const prompt = JSON.stringify(fx.model.requests.find((r) => !r.title)!.body.messages);
    expect(prompt).toContain('T012: earlier partial work');
  });

  test("stacked: the branch holds only its dependencies' work; the prompt says which, the agent is not told it resumes, and its commit lands on top", async () => {
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'index.js', content: "module.exports = require('./dep');\n" } }] },
        { text: 'Exported the dependency.' },
      ],
    });
    const dep = fx.git.commitToBranch(fx.repo, TASK_BRANCH, { 'dep.js': 'module.exports = 1;\n' }, 'T010: Create dep.js\n\nSdlc-Task-Id: T010', 'main');
    const stackedOn = [{ taskId: 'T010', title: 'Create `dep.js`', commit: dep }];

    const run = await runAgentPod(fx.env({ [AGENT_ENV.STACKED_ON]: JSON.stringify(stackedOn) }));

    expect({ code: run.code, reason: run.result.reason }).toEqual({ code: AGENT_EXIT.SUCCESS, reason: undefined });
    const head = fx.git.branchHead(fx.repo, TASK_BRANCH)!;
    expect(fx.git.git(fx.repo, 'rev-parse', `${head}^`)).toBe(dep);
    expect(run.stdout).toContain(`cloned task branch at ${dep.slice(0, 12)} holding T010`);
    expect(run.stdout).not.toContain('continuing on top of earlier work');
    const prompt = (fx.model.requests.find((r) => !r.title)!.body.messages as { content: unknown }[]).map((m) => JSON.stringify(m.content)).join('\n');
    expect(prompt).toContain('## Starting point');
    expect(prompt).toContain(`- T010: Create \`dep.js\` (commit ${dep.slice(0, 12)})`);
    expect(prompt).not.toContain('Earlier attempt');
  });

  test('a model that has a tool print the provider key encoded (base64, hex, percent) and repeats it gets every form masked', async () => {
    // The agent container has no git credential to leak (agent-isolation.test.ts), but until the model gateway
    // holds the provider key, its tools see the key in their environment.
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const encodings = (v: string) =>
      `v=${v}; ` +
      `printf 'b64 %s\\n' "$(printf %s "$v" | base64 -w0)"; ` +
      `printf 'header %s\\n' "$(printf 'Authorization: Bearer %s' "$v" | base64 -w0)"; ` +
      `printf 'hex %s\\n' "$(printf %s "$v" | od -An -v -tx1 | tr -d ' \\n')"; ` +
      `printf 'HEX %s\\n' "$(printf %s "$v" | od -An -v -tx1 | tr -d ' \\n' | tr a-f A-F)"; ` +
      `printf 'pct %s\\n' "$(printf %s "$v" | od -An -v -tx1 | tr -d '\\n' | sed 's/ /%/g')"; `;
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome!\n' } }] },
        {
          toolCalls: [{
            name: 'bash',
            args: { command: encodings('"$SCRIPTED_MODEL_API_KEY"'), description: 'Collect some values' },
          }],
        },
        { textFromToolResult: (output) => `Here is what I found: ${output.replace(/\n/g, ' | ')}` },
      ],
    });

    const run = await runAgentPod(fx.env());

    expect({ code: run.code, reason: run.result.reason }).toEqual({ code: AGENT_EXIT.SUCCESS, reason: undefined });
    // The model really got the encodings (the tool ran and read the key) …
    const sent = JSON.stringify(fx.model.requests.map((r) => r.body.messages));
    expect(sent).toContain(b64(MODEL_API_KEY));
    expect(sent).toContain(Buffer.from(MODEL_API_KEY).toString('hex'));
    // … and repeated them: the line is printed, with every form masked.
    const said = run.stdout.split('\n').find((l) => l.includes('assistant: Here is what I found'));
    expect(said).toMatch(/b64 \[REDACTED\] \| header QXV0aG9yaXphdGlvbjogQmVhcmVyI.{0,2}\[REDACTED\]/);
    expect(said).toMatch(/hex \[REDACTED\] \| HEX \[REDACTED\] \| pct \[REDACTED\]/);
    expect(run.stdout).toMatch(/tool bash v="\$SCRIPTED_MODEL_API_KEY";.*: completed/);
    const hex = (v: string) => Buffer.from(v).toString('hex');
    const forms = (v: string) => [
      v, b64(v), b64(v).replace(/=+$/, ''), hex(v), hex(v).toUpperCase(), hex(v).replace(/../g, '%$&'),
      // the key's part of base64("Authorization: Bearer " + v), whatever the alignment
      b64(`Authorization: Bearer ${v}`).slice(32, -4),
    ];
    expectNoSecrets(run, [...forms(GIT_TOKEN), ...forms(MODEL_API_KEY)]);
  });

  test('a malformed SDLC_STACKED_ON is a configuration error (exit 30), nothing cloned', async () => {
    fx = await startAgentFixture({ turns: [{ text: 'never asked' }] });
    const run = await runAgentPod(fx.env({ [AGENT_ENV.STACKED_ON]: '[{"taskId":"T010"}]' }));
    expect(run.code).toBe(AGENT_EXIT.CONFIG_ERROR);
    expect(run.result.reason).toContain('SDLC_STACKED_ON must be a JSON array of {taskId, title, commit}');
    expect(fx.model.requests).toHaveLength(0);
  });
});
