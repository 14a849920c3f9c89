import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { RESULT_LINE_PREFIX } from '../../src/contract/result-line';
import { GIT_TOKEN, runAgentPod, startAgentFixture, type AgentFixture, type AgentRun } from './agent-harness';

/**
 * The pod's log outlives the pod (issue 11): publish pushes its log — every line the runner follows —
 * and OpenCode's event transcript to SDLC_LOG_REF before its result line, for success and failure alike.
 */
const LOG_REF = 'refs/sdlc-runner/logs/sdlc-greeting-001-greeting/0f3c9a1e-run/sdlc-t012-a1';

describe('agent pod: log archive', () => {
  let fx: AgentFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  /** The archive's log.txt as lines without their time stamps (each checked to be one). */
  function archivedLines(ref = LOG_REF): string[] {
    const text = fx!.git.git(fx!.repo, 'show', `${ref}:log.txt`);
    return text.split('\n').filter(Boolean).map((l) => {
      const space = l.indexOf(' ');
      expect(new Date(l.slice(0, space)).toISOString()).toBe(l.slice(0, space));
      return l.slice(space + 1);
    });
  }

  /** publish's stdout lines, as the runner follows them, up to and including the result line. */
  function followedLines(run: AgentRun): string[] {
    return run.phases.publish.stdout.split('\n').filter(Boolean);
  }

  test('success: the archive holds every line the runner follows, ending with the result line, and the transcript', async () => {
    fx = await startAgentFixture({
      turns: [
        { toolCalls: [{ name: 'write', args: { filePath: 'welcome.txt', content: 'Welcome!\n' } }] },
        { text: 'Created welcome.txt.' },
      ],
    });
    const run = await runAgentPod(fx.env({ [AGENT_ENV.LOG_REF]: LOG_REF }));
    expect(run.code).toBe(AGENT_EXIT.SUCCESS);
    expect(run.phases.publish.stdout).toContain(`[sdlc-publish] keeping this log and OpenCode's transcript at ${LOG_REF}\n`);
    expect(run.phases.publish.stdout).not.toContain('log archive not pushed');

    const lines = archivedLines();
    expect(lines).toEqual(followedLines(run));
    expect(lines.at(-1)!.startsWith(RESULT_LINE_PREFIX)).toBe(true);
    expect(lines.some((l) => l.includes('[sdlc-checkout]'))).toBe(true);
    expect(lines.some((l) => l.includes('[sdlc-agent] assistant: Created welcome.txt.'))).toBe(true);

    // OpenCode's events, one JSON object per line.
    const transcript = fx.git.git(fx.repo, 'show', `${LOG_REF}:transcript.jsonl`).split('\n').filter(Boolean);
    const events = transcript.map((l) => JSON.parse(l) as { type?: string });
    expect(events.some((e) => e.type === 'tool_use')).toBe(true);
    expect(transcript.join('\n')).toContain('Created welcome.txt.');
    // A commit of its own (no parent), not on the task branch; the task's work is untouched by it.
    expect(fx.git.git(fx.repo, 'rev-list', '--count', LOG_REF)).toBe('1');
    expect(fx.git.git(fx.repo, 'log', '-1', '--format=%B', LOG_REF)).toContain('Sdlc-Task-Id: T012');
    expect(fx.git.branchHead(fx.repo, 'specs/001-greeting/T012-async')).toBe(run.result.sha);
    expect(fx.git.git(fx.repo, 'show', `${LOG_REF}:log.txt`)).not.toContain(GIT_TOKEN);
  }, 60_000);

  test('an agent failure is archived too; a transcript the agent swapped for a symlink is left out, not followed', async () => {
    fx = await startAgentFixture({
      turns: [
        // The agent replaces its transcript with a link to the git token, which publish can read (the fixture
        // mounts it at <dir>/git-credentials/token; the agent runs in <dir>/workspace-N/repo).
        // A script, so OpenCode's own check of the command's paths does not stop it first: the pod must not rely on that.
        { toolCalls: [{ name: 'write', args: { filePath: 'plant.sh', content: 'ln -sf "$(cd ../.. && pwd)/git-credentials/token" ../.sdlc/opencode-events.jsonl && echo planted\n' } }] },
        { toolCalls: [{ name: 'bash', args: { command: 'sh plant.sh', description: 'plant' } }] },
        { streamError: 'scripted: stream broke off' },
      ],
    });
    const run = await runAgentPod(fx.env({ [AGENT_ENV.LOG_REF]: LOG_REF }));
    expect(run.code).toBe(AGENT_EXIT.AGENT_FAILURE);
    expect(run.stdout).toMatch(/tool bash sh plant\.sh: completed/);
    const lines = archivedLines();
    expect(lines).toEqual(followedLines(run));
    expect(lines.at(-1)).toContain('"status":"failed"');
    const tree = fx.git.git(fx.repo, 'ls-tree', '--name-only', LOG_REF);
    expect(tree.split('\n')).toEqual(['log.txt']);
    expect(fx.git.git(fx.repo, 'show', `${LOG_REF}:log.txt`)).not.toContain(GIT_TOKEN);
  }, 60_000);

  /** A pre-receive hook that acts only on pushes of log archive refs (the task branch's push goes through). */
  function onArchivePush(f: AgentFixture, action: string): string {
    const marker = path.join(f.dir, 'archive-push-started');
    const file = path.join(f.git.root, `${f.repo}.git`, 'hooks', 'pre-receive');
    writeFileSync(file, `#!/bin/sh\nwhile read old new ref; do case "$ref" in refs/sdlc-runner/*) touch '${marker}'; ${action};; esac; done\nexit 0\n`);
    chmodSync(file, 0o755);
    return marker;
  }
  const scenario = { turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'a.txt', content: 'a\n' } }] }, { text: 'done' }] };

  test('an archive the remote refuses: the task still succeeds, and the log says why the archive is missing', async () => {
    fx = await startAgentFixture(scenario);
    onArchivePush(fx, "echo 'refs/sdlc-runner/ is protected' >&2; exit 1");
    const run = await runAgentPod(fx.env({ [AGENT_ENV.LOG_REF]: LOG_REF }));
    expect({ code: run.code, status: run.result.status, sha: run.result.sha }).toEqual({ code: AGENT_EXIT.SUCCESS, status: 'succeeded', sha: fx.git.branchHead(fx.repo, 'specs/001-greeting/T012-async') });
    expect(run.phases.publish.stdout).toMatch(/\[sdlc-publish\] log archive not pushed to refs\/sdlc-runner\/logs\/\S+: git push \(log archive\) failed: .*refs\/sdlc-runner\/ is protected/);
    expect(fx.git.git(fx.repo, 'for-each-ref', 'refs/sdlc-runner/')).toBe('');
  }, 60_000);

  test('SIGTERM while the archive is being pushed: the known result goes out at once (the branch is pushed: succeeded, 0)', async () => {
    fx = await startAgentFixture(scenario);
    const marker = onArchivePush(fx, 'sleep 15');
    const t0 = Date.now();
    let signalledAt = 0;
    const run = await runAgentPod(fx.env({ [AGENT_ENV.LOG_REF]: LOG_REF }), 90_000, (pod) => {
      if (!existsSync(marker)) return false;
      signalledAt = Date.now();
      pod.kill('SIGTERM');
      return true;
    });
    expect(signalledAt).toBeGreaterThan(t0);
    expect({ code: run.code, status: run.result.status, sha: run.result.sha }).toEqual({ code: AGENT_EXIT.SUCCESS, status: 'succeeded', sha: fx.git.branchHead(fx.repo, 'specs/001-greeting/T012-async') });
    // Not held for the archive's 15 s push (nor its 20 s bound).
    expect(Date.now() - signalledAt).toBeLessThan(8_000);
    expect(run.phases.publish.stdout.trimEnd().split('\n').at(-1)).toMatch(/^::sdlc-result::/);
  }, 60_000);

  test('without SDLC_LOG_REF nothing is archived', async () => {
    fx = await startAgentFixture({ turns: [{ toolCalls: [{ name: 'write', args: { filePath: 'a.txt', content: 'a\n' } }] }, { text: 'done' }] });
    const run = await runAgentPod(fx.env());
    expect(run.code).toBe(AGENT_EXIT.SUCCESS);
    expect(fx.git.git(fx.repo, 'for-each-ref', 'refs/sdlc-runner/')).toBe('');
    expect(run.phases.publish.stdout).not.toContain('keeping this log');
  }, 60_000);
});
