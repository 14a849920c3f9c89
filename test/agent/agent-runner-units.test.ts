import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_ENV } from '../../src/contract/agent-env';
import { AGENT_EXIT } from '../../src/contract/agent-exit-codes';
import { AgentResultStatus, parseResultLine, RESULT_LINE_PREFIX } from '../../src/contract/result-line';
import { repoRoot } from '../../src/tools';

/* The image's program is plain CommonJS (no npm deps); load it the way node in the image does. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const agentModule = (name: string) => require(path.join(repoRoot, 'docker', 'agent', name));
const contract = agentModule('contract.js');
const { Redactor, MASK } = agentModule('redact.js');
const { composePrompt } = agentModule('prompt.js');
const { formatResultLine } = agentModule('result.js');
const { EventTracker } = agentModule('events.js');
const { runOpencode } = agentModule('opencode.js');

describe('agent runner: contract mirror', () => {
  test('exit codes, statuses, env names and the result prefix match src/contract', () => {
    expect(contract.EXIT).toEqual(AGENT_EXIT);
    expect(Object.values(contract.STATUS_FOR_EXIT).sort()).toEqual([...AgentResultStatus.options].sort());
    expect(contract.ENV).toEqual(AGENT_ENV);
    expect(contract.RESULT_LINE_PREFIX).toBe(RESULT_LINE_PREFIX);
  });

  test('docker/agent/README.md documents every variable of the env contract and every exit code (the image users read it)', () => {
    const doc = readFileSync(path.join(repoRoot, 'docker', 'agent', 'README.md'), 'utf8');
    expect(Object.values(AGENT_ENV).filter((name) => !doc.includes(`\`${name}\``))).toEqual([]);
    const table = new Set([...doc.matchAll(/^\| (\d+)(?: \((\d+) for SIGINT\))? \|/gm)].flatMap((m) => [m[1], m[2]]).filter(Boolean).map(Number));
    expect([...Object.values(AGENT_EXIT), 143, 130].filter((code) => !table.has(code))).toEqual([]);
  });

  test('the result line the runner writes parses with the workflow\'s parser', () => {
    const line = formatResultLine({
      status: 'succeeded', taskId: 'T001', branch: 'b', sha: 'a'.repeat(40), commits: 1,
      tokens: { input: 1, output: 2, reasoning: 0, cacheRead: 0, cacheWrite: 0 }, cost: 0.5,
    });
    expect(parseResultLine(line)).toEqual({ ok: true, result: expect.objectContaining({ status: 'succeeded', sha: 'a'.repeat(40), cost: 0.5 }) });
    const long = formatResultLine({ status: 'failed', taskId: 'T001', branch: 'b', reason: 'x'.repeat(5000) });
    expect(parseResultLine(long)).toMatchObject({ ok: true });
  });
});

describe('agent runner: redaction', () => {
  const r = new Redactor();
  r.addSecret('file-token-value-123\n');
  r.addSecret('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUA\n-----END OPENSSH PRIVATE KEY-----\n');
  r.addSecretsFromEnv({ ANTHROPIC_API_KEY: 'anthropic-key-value-xyz', SDLC_PUSH_PARTIAL: 'true', HOME: '/home/agent' });

  test.each([
    ['the token file content', 'fatal: token file-token-value-123 rejected'],
    ['a provider key from the environment', 'using anthropic-key-value-xyz'],
    ['a line of a private key', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUA'],
    ['URL userinfo', 'cloning https://bot:s3cr3tpass@git.example.test/repo.git'],
    ['a token-only URL userinfo', 'remote: https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/x'],
    ['an Authorization header', 'Authorization: Basic Ym90OnMzY3IzdHBhc3M='],
    ['a bearer token', 'curl -H "authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"'],
    ['a GitHub token', 'token ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'],
    ['an OpenAI-style key', 'key sk-proj-abcdefghijklmnop1234'],
    ['an AWS access key id', 'AKIAABCDEFGHIJKLMNOP'],
    ['a password assignment', 'DB_PASSWORD=correcthorsebattery'],
  ])('masks %s', (_what, text) => {
    const out = r.redact(text);
    expect(out).toContain(MASK);
    for (const secret of ['file-token-value-123', 'anthropic-key-value-xyz', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUA', 's3cr3tpass', 'Ym90OnMzY3IzdHBhc3M=', 'eyJhbGciOiJIUzI1NiJ9', 'ghp_', 'sk-proj-abcdefghijklmnop1234', 'AKIAABCDEFGHIJKLMNOP', 'correcthorsebattery']) {
      expect(out).not.toContain(secret);
    }
  });

  test.each([
    ['a JSON Authorization header', '{"headers":{"Authorization": "Basic Ym90OnMzY3IzdHBhc3M="}}', 'Ym90OnMzY3IzdHBhc3M='],
    ['a quoted token Authorization header', "headers: {authorization: 'token abcdefgh12345'}", 'abcdefgh12345'],
    ['an AWS secret access key assignment', 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'wJalrXUtnFEMI'],
    ['an AWS temporary access key id', 'aws_access_key_id = ASIAABCDEFGHIJKLMNOP', 'ASIAABCDEFGHIJKLMNOP'],
    ['a *_TOKEN assignment', 'export GITLAB_TOKEN=abcdefghij123', 'abcdefghij123'],
    ['a password that contains @ in a URL', 'https://bob:p@ssw0rd@git.example.test/x.git', 'ssw0rd'],
  ])('masks %s', (_what, text, secret) => {
    const out = new Redactor().redact(text);
    expect(out).toContain(MASK);
    expect(out).not.toContain(secret);
  });

  test('leaves ordinary progress lines alone', () => {
    const line = 'tool write src/app.ts: completed; step 2 finished (stop): tokens in=10 out=5, cost $0.000100 home /home/agent true';
    expect(r.redact(line)).toBe(line);
    const json = '{"url":"https://git.example.test:8443","author":"bob@example.test"}';
    expect(r.redact(json)).toBe(json);
  });
});

describe('agent runner: redaction of encoded secrets', () => {
  // '+' and '/' in its base64, characters encodeURIComponent escapes, a non-ASCII one: every form differs.
  const token = 'gtok-4f1c?9a7e>2b8d/x+y&z é';
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const url = (s: string) => b64(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const hex = Buffer.from(token, 'utf8').toString('hex');
  const everyByte = hex.replace(/../g, '%$&');
  const r = new Redactor();
  r.addSecret(`${token}\n`);

  test('the forms below really differ from each other and from the token', () => {
    const forms = [b64(token), url(token), hex, hex.toUpperCase(), encodeURIComponent(token), everyByte, everyByte.toUpperCase()];
    expect(new Set([token, ...forms]).size).toBe(forms.length + 1);
    expect(b64(token)).toMatch(/[+/]/);
  });

  test.each([
    ['base64', b64(token)],
    ['base64 without padding', b64(token).replace(/=+$/, '')],
    ['base64 of the token file (with its newline)', b64(`${token}\n`)],
    ['base64url', url(token)],
    ['hex, lower case', hex],
    ['hex, upper case', hex.toUpperCase()],
    ['percent-encoding (encodeURIComponent)', encodeURIComponent(token)],
    ['percent-encoding (encodeURIComponent, lower-case hex)', encodeURIComponent(token).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())],
    ['percent-encoding of every byte, upper case', everyByte.toUpperCase()],
    ['percent-encoding of every byte, lower case', everyByte],
  ])('masks the token encoded as %s', (_what, encoded) => {
    const out = r.redact(`leaked: ${encoded} (done)`);
    expect(out).toBe(`leaked: ${MASK} (done)`);
  });

  /** What a masked base64 text still tells: each piece between masks, decoded, must not hold any 4 characters of the token in a row. */
  function expectNoTokenIn(out: string, decode: (s: string) => string) {
    expect(out).toContain(MASK);
    const windows = Array.from({ length: token.length - 3 }, (_, i) => token.slice(i, i + 4));
    for (const piece of out.split(MASK)) {
      const text = decode(piece);
      expect(windows.filter((w) => text.includes(w))).toEqual([]);
    }
  }

  test.each(['', 'x', 'xy'])('masks base64 of "Authorization: Bearer " + token (prefix padded by %j: each offset mod 3), with and without text after it', (pad) => {
    const prefix = `Authorization: Bearer ${pad}`;
    for (const suffix of ['', '\n', ' and more text after the token']) {
      const plain = `${prefix}${token}${suffix}`;
      const fromBase64 = (s: string) => Buffer.from(s, 'base64').toString('latin1');
      expectNoTokenIn(r.redact(b64(plain)), fromBase64);
      expectNoTokenIn(r.redact(url(plain)), (s) => Buffer.from(s, 'base64url').toString('latin1'));
      // The prefix's own encoding is left alone: only the token's part is masked.
      expect(r.redact(b64(plain)).startsWith(b64(prefix).slice(0, Math.floor((prefix.length * 8) / 6)))).toBe(true);
    }
    expect(new Set(['', 'x', 'xy'].map((p) => `Authorization: Bearer ${p}`.length % 3)).size).toBe(3);
  });

  test('an encoding of a secret shorter than 8 characters is not masked (the value itself still is)', () => {
    const short = new Redactor();
    short.addSecret('ab12cd3'); // 7 characters
    expect(short.redact('ab12cd3')).toBe(MASK);
    for (const encoded of [b64('ab12cd3'), url('ab12cd3'), Buffer.from('ab12cd3').toString('hex'), '%61%62%31%32%63%64%33']) {
      expect(short.redact(`x ${encoded} y`)).toBe(`x ${encoded} y`);
    }
    // 8 characters: encodings masked.
    short.addSecret('ab12cd34');
    expect(short.redact(`x ${b64('ab12cd34')} y`)).toBe(`x ${MASK} y`);
  });

  test('ordinary text, hex and base64 that do not hold a secret are left alone', () => {
    const lines = [
      'commit 62ba59f36605cf35801d021b09d41687ba18141e (HEAD -> specs/001-greeting/T012-async)',
      'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">',
      `echo ${b64('hello, world: nothing secret here')} | base64 -d`,
      'GET /search?q=caf%C3%A9%20au%20lait&page=2 200',
      `integrity: sha512-${Buffer.alloc(64, 7).toString('base64')}`,
      'tool write src/app.ts: completed; step 2 finished (stop): tokens in=10 out=5, cost $0.000100',
    ];
    for (const line of lines) expect(r.redact(line)).toBe(line);
  });

  test('10,000 log lines with 5 registered secrets redact in well under a second', () => {
    const secrets = [token, 'anthropic-key-value-xyz-0123456789', 'sk-proj-abcdefghijklmnop1234', 'custom-provider-key-9d8c7b6a', 'gtok-right-4f1c9a7e2b8d'];
    const five = new Redactor();
    const setupStart = performance.now();
    for (const s of secrets) five.addSecret(s);
    five.redact('');
    const setupMs = performance.now() - setupStart;
    const lines = Array.from({ length: 10_000 }, (_, i) => {
      const s = secrets[i % secrets.length]!;
      return [
        `step ${i} finished (stop): tokens in=1000 out=200 reasoning=0 cache r/w=0/0, cost $0.000100`,
        `tool bash npm test -- --runInBand src/module${i}.test.ts: completed`,
        `assistant: I changed src/app.ts; commit 62ba59f36605cf35801d021b09d41687ba18141e looks fine`,
        `tool bash echo ${b64(`Authorization: Bearer ${s}`)}: completed`,
        `GET /cb?state=${encodeURIComponent(s)}&code=${Buffer.from(s).toString('hex')} 200`,
      ][i % 5]!;
    });
    const start = performance.now();
    const out = lines.map((l) => five.redact(l));
    const ms = performance.now() - start;
    // eslint-disable-next-line no-console
    console.log(`[timing] redaction: 10,000 lines, 5 secrets (${five.literals.size} masked forms, set up in ${setupMs.toFixed(1)} ms): ${ms.toFixed(1)} ms`);
    expect(out.filter((l) => l.includes(MASK))).toHaveLength(4000);
    expect(ms).toBeLessThan(5000); // loose: the figure above is what to watch
  });
});

describe('agent runner: redaction of shortened event text', () => {
  test('a secret at the point where a long line is cut is masked whole, in progress lines and in the verdict', () => {
    const secret = 'gtok-right-4f1c9a7e2b8d';
    const r = new Redactor();
    r.addSecret(secret);
    const printed: string[] = [];
    // Wired as agent-runner.js wires it: the printer redacts, and the tracker redacts before it shortens.
    const t = new EventTracker((l: string) => printed.push(r.redact(l)), (s: string) => r.redact(s));
    t.handleLine(JSON.stringify({ type: 'text', part: { text: `${'x'.repeat(390)} ${secret}` } }));
    t.handleLine(JSON.stringify({ type: 'tool_use', part: { tool: 'bash', state: { status: 'error', input: { command: `${'y'.repeat(190)} ${secret}` }, error: `${'z'.repeat(290)} ${secret}` } } }));
    t.handleLine(JSON.stringify({ type: 'error', error: { name: 'APIError', data: { message: `${'w'.repeat(290)} ${secret}` } } }));
    const all = [...printed, t.verdict({ exitCode: 0, signal: null, endedByWatchdogAfterFinish: false }).reason].join('\n');
    expect(all).toContain('[REDACTE'); // the mask itself may be the part that is cut
    expect(all).not.toContain(secret.slice(0, 6));
  });
});

describe('agent runner: prompt', () => {
  let repo: string;
  beforeAll(() => {
    repo = mkdtempSync(path.join(os.tmpdir(), 'sdlc-prompt-'));
    mkdirSync(path.join(repo, 'specs/002-x/contracts'), { recursive: true });
    for (const f of ['spec.md', 'tasks.md', 'data-model.md']) writeFileSync(path.join(repo, 'specs/002-x', f), '#\n');
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  test('names the task, only the feature documents that exist, and the rules', () => {
    const prompt: string = composePrompt(
      { taskId: 'T007', taskText: 'T007 [ASYNC] Add the parser\nDetails here.', featureDir: 'specs/002-x' },
      { repoDir: repo, resumed: false },
    );
    expect(prompt).toContain('## Task T007\n\nT007 [ASYNC] Add the parser\nDetails here.');
    expect(prompt).toContain('- specs/002-x/spec.md\n- specs/002-x/tasks.md\n- specs/002-x/data-model.md\n- specs/002-x/contracts/');
    expect(prompt).not.toContain('plan.md');
    expect(prompt).toContain('Implement only task T007');
    expect(prompt).toMatch(/Do not commit, push/);
    expect(prompt).not.toContain('Earlier attempt');
  });
});

describe('agent runner: verdict from events', () => {
  const finish = (reason: string) => ({ type: 'step_finish', part: { reason, tokens: { input: 1, output: 1, cache: { read: 0, write: 0 } }, cost: 0 } });
  const verdict = (events: object[], end = { exitCode: 0, signal: null, endedByWatchdogAfterFinish: false }) => {
    const t = new EventTracker(() => undefined);
    for (const e of events) t.handleLine(JSON.stringify(e));
    return t.verdict(end);
  };

  test('success needs a final "stop" step, no error, no failed tool call, and exit code 0', () => {
    expect(verdict([finish('tool-calls'), finish('stop')])).toEqual({ ok: true });
    expect(verdict([finish('stop')], { exitCode: 1, signal: null, endedByWatchdogAfterFinish: false })).toMatchObject({ ok: false });
    expect(verdict([finish('stop')], { exitCode: null, signal: 'SIGKILL', endedByWatchdogAfterFinish: true } as never)).toEqual({ ok: true });
    expect(verdict([finish('tool-calls')])).toMatchObject({ ok: false, reason: expect.stringContaining('tool-calls') });
    expect(verdict([])).toMatchObject({ ok: false, reason: expect.stringContaining('no step_finish') });
    expect(verdict([{ type: 'tool_use', part: { tool: 'edit', state: { status: 'error', input: { filePath: 'a' }, error: 'no match' } } }, finish('stop')]))
      .toMatchObject({ ok: false, reason: expect.stringContaining('edit a: no match') });
  });
});

describe('agent runner: watchdog timers', () => {
  /** A stand-in for opencode: one final step, then it exits by itself after 500 ms. */
  const finishesAlone = (limits: { deadline: number; exitGraceMs: number }) =>
    runOpencode({
      bin: process.execPath,
      args: ['-e', `console.log(JSON.stringify({ type: 'step_finish', part: { reason: 'stop', tokens: {} } })); setTimeout(() => {}, 500);`],
      cwd: os.tmpdir(),
      env: { PATH: process.env.PATH },
      ...limits,
      progress: () => undefined,
      stderrLine: () => undefined,
    });
  const DAYS_30 = 30 * 24 * 3600 * 1000;

  test('a time limit beyond 24.8 days (the longest Node timer) does not end opencode at once', async () => {
    const run = await finishesAlone({ deadline: Date.now() + DAYS_30, exitGraceMs: 10_000 });
    expect(run).toMatchObject({ timedOut: false, exitCode: 0, endedByWatchdogAfterFinish: false });
  });

  test('an exit grace beyond 24.8 days does not end opencode right after its final step', async () => {
    const run = await finishesAlone({ deadline: Date.now() + 60_000, exitGraceMs: DAYS_30 });
    expect(run).toMatchObject({ timedOut: false, exitCode: 0, endedByWatchdogAfterFinish: false });
  });
});
