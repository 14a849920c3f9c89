/**
 * `sdlc-runner init` through the built binary, in a sample spec-kit repository: installs the OpenCode
 * commands and the spec-kit implement hooks; is a no-op the second time; refuses to overwrite what the
 * user edited unless --force; writes nothing with --dry-run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { stampManaged } from '../../src/init/marker';
import { runCliSync } from './support/cli';
import { createSampleRepo, type SampleRepo } from './support/sample-repo';

const CMD = '.opencode/commands';
const INSTALLED = [
  `${CMD}/implement-async.md`,
  `${CMD}/implement-async-retry.md`,
  `${CMD}/speckit.sdlc-runner.dispatch.md`,
  `${CMD}/speckit.sdlc-runner.report.md`,
  '.specify/extensions.yml',
];

let repo: SampleRepo;
const read = (rel: string) => readFileSync(path.join(repo.dir, rel), 'utf8');
const init = (...args: string[]) => runCliSync(['init', ...args], { cwd: repo.dir });

beforeEach(() => {
  repo = createSampleRepo();
});
afterEach(() => rmSync(path.dirname(repo.dir), { recursive: true, force: true }));

test('init installs the OpenCode commands and registers the spec-kit implement hooks', () => {
  const r = init();
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  for (const f of INSTALLED) expect(r.stdout).toContain(`created         ${f}`);
  for (const f of INSTALLED) expect(existsSync(path.join(repo.dir, f))).toBe(true);

  // OpenCode's command format: YAML front matter first (description, agent), the body is the template.
  const main = read(`${CMD}/implement-async.md`);
  expect(main).toMatch(/^---\ndescription: .+\nagent: build\n---\n/);
  expect(main).toContain('$ARGUMENTS');
  for (const step of ['check-prerequisites.sh --json --require-tasks --include-tasks', 'sdlc-runner plan <tasks.md>', 'sdlc-runner implement <tasks.md>', 'sdlc-runner status <run>', 'sdlc-runner logs <run> --task <ID>', 'sdlc-runner watch <run>', 'sdlc-runner retry <run> --task <ID>']) {
    expect(main).toContain(step);
  }
  expect(read(`${CMD}/implement-async-retry.md`)).toContain('sdlc-runner retry <run>');

  const ext = parseYaml(read('.specify/extensions.yml')) as { hooks: Record<string, Array<Record<string, unknown>>> };
  expect(ext.hooks.before_implement).toEqual([expect.objectContaining({ extension: 'sdlc-runner', command: 'speckit.sdlc-runner.dispatch', enabled: true, optional: false })]);
  expect(ext.hooks.after_implement).toEqual([expect.objectContaining({ extension: 'sdlc-runner', command: 'speckit.sdlc-runner.report', enabled: true, optional: false })]);
  // The hook's command exists under the name spec-kit's implement template tells the agent to run.
  expect(read(`${CMD}/speckit.sdlc-runner.dispatch.md`)).toContain('sdlc-runner implement <tasks.md>');
});

test('a second init is a no-op: same bytes, same mtimes', () => {
  expect(init().code).toBe(0);
  const before = INSTALLED.map((f) => [read(f), statSync(path.join(repo.dir, f)).mtimeMs]);
  const r = init();
  expect(r.code).toBe(0);
  for (const f of INSTALLED) expect(r.stdout).toContain(`unchanged       ${f}`);
  expect(r.stdout).toContain('already installed');
  expect(INSTALLED.map((f) => [read(f), statSync(path.join(repo.dir, f)).mtimeMs])).toEqual(before);
});

test('an edited command file is refused (named, with --force) and nothing is written; --force replaces it', () => {
  expect(init().code).toBe(0);
  const edited = read(`${CMD}/implement-async.md`) + '\nAlso run the linter before step 6.\n';
  writeFileSync(path.join(repo.dir, CMD, 'implement-async.md'), edited);
  rmSync(path.join(repo.dir, CMD, 'implement-async-retry.md'));

  const r = init();
  expect(r.code).toBe(2);
  expect(r.stdout).toContain(`conflict        ${CMD}/implement-async.md (you edited it)`);
  expect(r.stderr).toContain(`${CMD}/implement-async.md`);
  expect(r.stderr).toContain('sdlc-runner init --force');
  expect(r.stderr).toContain('Nothing was written');
  expect(read(`${CMD}/implement-async.md`)).toBe(edited);
  expect(existsSync(path.join(repo.dir, CMD, 'implement-async-retry.md'))).toBe(false);

  const forced = init('--force');
  expect(forced.code).toBe(0);
  expect(forced.stdout).toContain(`overwrote       ${CMD}/implement-async.md`);
  expect(forced.stdout).toContain(`created         ${CMD}/implement-async-retry.md`);
  expect(read(`${CMD}/implement-async.md`)).not.toContain('Also run the linter');
  expect(init().stdout).toContain('already installed');
});

test("a user's own file of the same name (no marker) is not ours: refused", () => {
  mkdirSync(path.join(repo.dir, CMD), { recursive: true });
  writeFileSync(path.join(repo.dir, CMD, 'implement-async.md'), '---\ndescription: my own\n---\nDo it my way.\n');
  const r = init();
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`${CMD}/implement-async.md (it is not ours (no sdlc-runner marker))`);
  expect(read(`${CMD}/implement-async.md`)).toBe('---\ndescription: my own\n---\nDo it my way.\n');
});

test('an older unedited copy of ours is updated without --force', () => {
  mkdirSync(path.join(repo.dir, CMD), { recursive: true });
  writeFileSync(path.join(repo.dir, CMD, 'implement-async.md'), stampManaged('---\ndescription: old version\nagent: build\n---\n\nOld text.\n'));
  const r = init();
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`updated         ${CMD}/implement-async.md (newer version of our unedited file)`);
  expect(read(`${CMD}/implement-async.md`)).toContain('sdlc-runner implement <tasks.md>');
});

test("extensions.yml: the user's hooks and comments are kept; our entry, once edited, is refused without --force", () => {
  const own = [
    '# team hooks — keep',
    'installed:',
    '- git',
    'settings:',
    '  auto_execute_hooks: true',
    'hooks:',
    '  before_implement:',
    '  - extension: git',
    '    command: speckit.git.commit',
    '    enabled: true',
    '    optional: true',
    '    prompt: Commit first?',
    '    description: ""',
    '    condition: null',
    '',
  ].join('\n');
  writeFileSync(path.join(repo.dir, '.specify/extensions.yml'), own);
  expect(init().code).toBe(0);
  const text = read('.specify/extensions.yml');
  expect(text).toContain('# team hooks — keep');
  const ext = parseYaml(text) as { installed: string[]; hooks: Record<string, Array<{ extension: string; command: string; enabled: boolean }>> };
  expect(ext.installed).toEqual(['git']);
  expect(ext.hooks.before_implement!.map((h) => h.command)).toEqual(['speckit.git.commit', 'speckit.sdlc-runner.dispatch']);

  // The user switches our hook off: a later init must not switch it back on silently.
  writeFileSync(path.join(repo.dir, '.specify/extensions.yml'), text.replace(/(command: speckit\.sdlc-runner\.dispatch\n\s+enabled:) true/, '$1 false'));
  const r = init();
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('.specify/extensions.yml (our before_implement hook entry was edited)');
  expect(r.stderr).toContain('--force');
  expect((parseYaml(read('.specify/extensions.yml')) as typeof ext).hooks.before_implement![1]!.enabled).toBe(false);

  expect(init('--force').code).toBe(0);
  const forced = parseYaml(read('.specify/extensions.yml')) as typeof ext;
  expect(forced.hooks.before_implement!.filter((h) => h.extension === 'sdlc-runner')).toEqual([expect.objectContaining({ enabled: true })]);
  expect(forced.hooks.before_implement![0]!.command).toBe('speckit.git.commit');
});

test('--dry-run lists what it would write and writes nothing', () => {
  const r = init('--dry-run');
  expect(r.code).toBe(0);
  for (const f of INSTALLED) expect(r.stdout).toContain(`would create    ${f}`);
  expect(r.stdout).toContain('dry run: nothing written');
  expect(existsSync(path.join(repo.dir, '.opencode'))).toBe(false);
  expect(existsSync(path.join(repo.dir, '.specify/extensions.yml'))).toBe(false);

  // Also after an edit: a dry run shows the conflict, exits 2 like the real run, and changes nothing.
  expect(init().code).toBe(0);
  writeFileSync(path.join(repo.dir, CMD, 'implement-async-retry.md'), 'mine\n');
  const dry = init('--dry-run', '--force');
  expect(dry.code).toBe(0);
  expect(dry.stdout).toContain(`would overwrite ${CMD}/implement-async-retry.md`);
  expect(read(`${CMD}/implement-async-retry.md`)).toBe('mine\n');
});

test('next to spec-kit\'s own OpenCode commands (.opencode/command/), and outside spec-kit (commands only)', () => {
  writeFileSync(path.join(repo.dir, 'README.md'), '# app\n');
  mkdirSync(path.join(repo.dir, '.opencode/command'), { recursive: true });
  writeFileSync(path.join(repo.dir, '.opencode/command/speckit.implement.md'), '---\ndescription: spec-kit implement\n---\n$ARGUMENTS\n');
  const r = init();
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('created         .opencode/command/implement-async.md');

  rmSync(path.join(repo.dir, '.specify'), { recursive: true });
  rmSync(path.join(repo.dir, '.opencode'), { recursive: true });
  const plain = init();
  expect(plain.code).toBe(0);
  expect(plain.stdout).toContain(`created         ${CMD}/implement-async.md`);
  expect(plain.stdout).not.toContain('speckit.sdlc-runner');
  expect(plain.stdout).toContain('note: no .specify/ here');
});

test('an old spec-kit gets the hooks but a note that its /speckit.implement does not read them', () => {
  rmSync(path.dirname(repo.dir), { recursive: true, force: true });
  repo = createSampleRepo({ speckitVersion: '0.1.4' });
  const r = init();
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('note: spec-kit 0.1.4 does not read implement hooks (needs ≥ 0.3.2)');
});

test("the watch step's documented 'timeout passed first' exit code is the one the shell reports", () => {
  // What the command texts run: `timeout -s INT 540 sdlc-runner watch <run>`; watch ends 130 on SIGINT.
  // A stand-in that behaves like watch on SIGINT, under the same timeout invocation (1 s instead of 540).
  const r = spawnSync('timeout', ['-s', 'INT', '1', process.execPath, '-e', "process.on('SIGINT', () => process.exit(130)); setInterval(() => {}, 1000)"]);
  const reported = r.status;
  expect(init().code).toBe(0);
  for (const f of INSTALLED.filter((f) => f.endsWith('.md'))) {
    const text = read(f);
    if (!text.includes('timeout -s INT')) continue;
    const sentence = /[^.]*timeout passed first[^.]*/.exec(text.replace(/\s+/g, ' '))?.[0];
    expect([f, sentence !== undefined]).toEqual([f, true]);
    const codes = [...sentence!.matchAll(/\b(\d{1,3})\b/g)].map((m) => Number(m[1]));
    expect([f, codes]).toEqual([f, expect.arrayContaining([reported])]);
  }
});

test('installed files with Windows line endings (a git autocrlf checkout) are not mistaken for edits', () => {
  expect(init().code).toBe(0);
  for (const f of INSTALLED.filter((f) => f.endsWith('.md'))) writeFileSync(path.join(repo.dir, f), read(f).replace(/\n/g, '\r\n'));
  const r = init();
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  for (const f of INSTALLED) expect(r.stdout).toContain(`unchanged       ${f}`);
  // And a CRLF template (sdlc-runner itself checked out with autocrlf) keeps its front matter first, as OpenCode requires.
  expect(stampManaged('---\r\ndescription: d\r\nagent: build\r\n---\r\n\r\nBody $ARGUMENTS\r\n')).toMatch(/^---\ndescription: d\nagent: build\n---\n<!-- sdlc-runner:managed /);
});

test('a spec-kit project in a subfolder of a larger git repository gets the commands and hooks next to its .specify/', () => {
  const mono = mkdtempSync(path.join(os.tmpdir(), 'sdlc-mono-'));
  try {
    const app = path.join(mono, 'services', 'app');
    mkdirSync(path.join(app, '.specify'), { recursive: true });
    writeFileSync(path.join(app, '.specify', 'init-options.json'), JSON.stringify({ ai: 'opencode', script: 'sh', speckit_version: '0.11.9' }));
    writeFileSync(path.join(mono, 'README.md'), '# mono\n');
    spawnSync('git', ['init', '-q', '-b', 'main'], { cwd: mono });
    for (const args of [['init'], ['init', '--dir', app]]) {
      const r = runCliSync(args, { cwd: app });
      expect([args, r.code, r.stderr]).toEqual([args, 0, '']);
      expect(r.stdout).not.toContain('note: no .specify/ here');
      expect(existsSync(path.join(app, '.specify', 'extensions.yml'))).toBe(true);
      expect(existsSync(path.join(app, '.opencode', 'commands', 'speckit.sdlc-runner.dispatch.md'))).toBe(true);
      expect(existsSync(path.join(mono, '.opencode'))).toBe(false);
    }
  } finally {
    rmSync(mono, { recursive: true, force: true });
  }
});

const flatText = (f: string) => read(f).replace(/\s+/g, ' ');

test('the texts find tasks.md in a PowerShell spec-kit project too (specify init --script ps), bash first', () => {
  expect(init().code).toBe(0);
  // Only .specify/scripts/powershell/check-prerequisites.ps1 exists there (flags as in spec-kit's implement template).
  // The hook and /implement-async say it the same way.
  const psFallback = (t: string) => /; if only `\.specify\/scripts\/powershell\/check-prerequisites\.ps1` exists .*? instead\./.exec(t)?.[0];
  for (const f of [`${CMD}/speckit.sdlc-runner.dispatch.md`, `${CMD}/implement-async.md`]) {
    const t = flatText(f);
    const sh = t.indexOf('.specify/scripts/bash/check-prerequisites.sh --json --require-tasks --include-tasks');
    const ps = t.indexOf('.specify/scripts/powershell/check-prerequisites.ps1 -Json -RequireTasks -IncludeTasks');
    expect([f, sh >= 0, ps > sh]).toEqual([f, true, true]);
  }
  const dispatch = psFallback(flatText(`${CMD}/speckit.sdlc-runner.dispatch.md`));
  expect(dispatch).toBeDefined();
  expect(dispatch).toBe(psFallback(flatText(`${CMD}/implement-async.md`)));
});

test("the dispatch hook squares the delegated [ASYNC] tasks with /speckit.implement's 'all tasks completed and marked [X]'", () => {
  expect(init().code).toBe(0);
  const dispatch = flatText(`${CMD}/speckit.sdlc-runner.dispatch.md`);
  expect(dispatch).toMatch(/completed \(and marked `\[X\]`\) only when their branches are merged/);
  expect(dispatch).toContain('report them as "delegated to run <run>" with `sdlc-runner status <run>`');
  expect(dispatch).toContain('do not tick them or implement them locally');
});

test('every text that runs `timeout -s INT` says what to do without GNU timeout (macOS): gtimeout, else status', () => {
  expect(init().code).toBe(0);
  const withTimeout = INSTALLED.filter((f) => f.endsWith('.md') && read(f).includes('timeout -s INT'));
  expect(withTimeout).toHaveLength(3);
  for (const f of withTimeout) {
    expect([f, /If `timeout` is not found[^.]*`gtimeout`[^.]*; if neither exists, run `sdlc-runner status <run>`/.test(flatText(f))]).toEqual([f, true]);
  }
});

test('init outside a git repository is refused (the commands it installs start runs of the repository): exit 2, nothing written', () => {
  const plain = mkdtempSync(path.join(os.tmpdir(), 'sdlc-nogit-'));
  try {
    const r = runCliSync(['init'], { cwd: plain });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
    expect(r.stderr.trim()).toMatch(/is not in a git repository: the commands init installs start runs of the repository's origin\. Fix: run 'sdlc-runner init' inside your repository \(after 'git init' for a new one\), or pass --dir <repository>$/);
    expect(readdirSync(plain)).toEqual([]);
  } finally {
    rmSync(plain, { recursive: true, force: true });
  }
});

test('a write that fails half-way (a file where a folder must be) writes nothing and claims nothing: exit 2, one line', () => {
  // .opencode is a file: the commands cannot go under it, while .specify/extensions.yml could be written.
  writeFileSync(path.join(repo.dir, '.opencode'), 'not a folder\n');
  const before = readFileSync(path.join(repo.dir, '.specify/init-options.json'), 'utf8');
  const r = init();
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/cannot write in .*: (ENOTDIR|EEXIST) \(.*\.opencode.*\)\. Fix: .* Nothing was written\.$/m);
  expect(existsSync(path.join(repo.dir, '.specify/extensions.yml'))).toBe(false);
  expect(readdirSync(path.join(repo.dir, '.specify')).filter((f) => f.includes('sdlc-runner-tmp'))).toEqual([]);
  expect(readFileSync(path.join(repo.dir, '.specify/init-options.json'), 'utf8')).toBe(before);
});
