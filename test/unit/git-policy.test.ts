/** The worker's git policy: which repository URLs and branches a run may use. */
import { branchPatternPrefixProblem, branchPrefixProblem, parseAllowedGitHosts, repoUrlProblem } from '../../src/security/git-policy';

const rules = parseAllowedGitHosts('github.com, *.corp.example git.corp.example:8443 http://127.0.0.1:*');

test('https and ssh URLs on allowed hosts pass, in every form git takes', () => {
  for (const url of [
    'https://github.com/acme/app.git',
    'ssh://git@github.com/acme/app.git',
    'git@github.com:acme/app.git',
    'https://code.corp.example/team/app.git',
    'https://git.corp.example:8443/team/app.git',
    'http://127.0.0.1:3000/app.git',
    'HTTPS://GitHub.com/acme/app.git',
  ]) {
    expect({ url, problem: repoUrlProblem(url, rules) }).toEqual({ url, problem: undefined });
  }
});

test('another host, clear text, the worker\'s own disk, a lookalike or another port: refused with why and the fix', () => {
  expect(repoUrlProblem('https://gitlab.com/acme/app.git', rules)).toMatch(/^repository https:\/\/gitlab\.com is not in the worker's allowlist \(SDLC_ALLOWED_GIT_HOSTS: github\.com, \*\.corp\.example, git\.corp\.example:8443, http:\/\/127\.0\.0\.1:\*\)\. Fix: use an https:\/\/ or ssh:\/\/ URL on an allowed host/);
  expect(repoUrlProblem('http://github.com/acme/app.git', rules)).toMatch(/^repository http:\/\/github\.com uses http, which sends the worker's git token in clear text/);
  expect(repoUrlProblem('file:///srv/git/app.git', rules)).toMatch(/^repository file:\/\/ uses file, which reads the worker's own disk, and is not allowed explicitly/);
  expect(repoUrlProblem('https://github.com.evil.example/acme/app.git', rules)).toMatch(/not in the worker's allowlist/);
  expect(repoUrlProblem('https://corp.example/app.git', rules)).toMatch(/not in the worker's allowlist/);
  expect(repoUrlProblem('https://git.corp.example:9999/app.git', rules)).toMatch(/not in the worker's allowlist/);
  expect(repoUrlProblem('https://github.com:8443/app.git', rules)).toMatch(/not in the worker's allowlist/);
  expect(repoUrlProblem('not a url', rules)).toBe("'not a url' is not a git URL (https://host/owner/repo.git or ssh://git@host/owner/repo.git)");
  // file:// only when allowed by name (tests, local stacks).
  expect(repoUrlProblem('file:///srv/git/app.git', parseAllowedGitHosts('file://'))).toBeUndefined();
});

test('bad allowlist entries are named, with the forms that work', () => {
  expect(() => parseAllowedGitHosts('')).toThrow('no host given');
  expect(() => parseAllowedGitHosts('github.com/acme')).toThrow("'github.com/acme' is not a git host");
  expect(() => parseAllowedGitHosts('ftp://files.example')).toThrow('scheme ftp is not a git transport');
  expect(() => parseAllowedGitHosts('file://host')).toThrow("'file://host' is not a git host");
});

test('branches outside the required prefix are refused, naming the fix', () => {
  expect(branchPrefixProblem('specs/001-login/T001-async', 'specs/')).toBeUndefined();
  expect(branchPrefixProblem('main', '')).toBeUndefined();
  expect(branchPrefixProblem('release/1.0', 'specs/')).toBe(
    "branch 'release/1.0' is outside 'specs/', the only branches this worker lets agents push. Fix: use a --branch-pattern that starts with 'specs/' (the default specs/{feature}/{taskId}-async does), or ask the operator to change SDLC_TASK_BRANCH_PREFIX",
  );
});

test('a branch pattern is checked where the prefix lives: before the task ID', () => {
  expect(branchPatternPrefixProblem('specs/{feature}/{taskId}-async', '001-login', 'specs/')).toBeUndefined();
  expect(branchPatternPrefixProblem('{feature}/{taskId}', 'specs', 'specs/')).toBeUndefined();
  expect(branchPatternPrefixProblem('agents/{taskIdLower}', '001', 'specs/')).toMatch(/^task branches 'agents\/\{taskIdLower\}' \(--branch-pattern 'agents\/\{taskIdLower\}'\) are outside 'specs\/'/);
  expect(branchPatternPrefixProblem('anything/{taskId}', 'f', '')).toBeUndefined();
});
