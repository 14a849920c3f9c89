/**
 * The proxy's env contract (src/egress/config.ts): EGRESS_GIT_HOSTS takes the worker's
 * SDLC_ALLOWED_GIT_HOSTS text as it is, through the worker's own parser, and EGRESS_PROVIDER_URLS the
 * model providers' base URLs; both become always-allowed entries. The chart passes both (test/chart).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAllowed } from '../../src/egress/allowlist';
import { gitHostEntries, loadConfig, providerUrlEntries } from '../../src/egress/config';
import { parseAllowedGitHosts } from '../../src/security/git-policy';

const texts = (entries: { text: string }[]) => entries.map((e) => e.text);

describe('EGRESS_GIT_HOSTS: the worker\'s SDLC_ALLOWED_GIT_HOSTS as allowlist entries', () => {
  test('a bare host or *.domain is https and ssh (443 and 22); host:port keeps its port', () => {
    expect(texts(gitHostEntries('github.com, *.corp.example git.example.org:8443'))).toEqual([
      'github.com:443',
      'github.com:22',
      '*.corp.example:443',
      '*.corp.example:22',
      'git.example.org:8443',
    ]);
  });

  test('a scheme gives its port unless one is named; file:// needs no network; duplicates collapse', () => {
    expect(texts(gitHostEntries('https://a.example,ssh://b.example,http://c.example,http://d.example:8080,https://e.example:8443,file://,a.example:443'))).toEqual([
      'a.example:443',
      'b.example:22',
      'c.example:80',
      'd.example:8080',
      'e.example:8443',
    ]);
    expect(gitHostEntries('file://')).toEqual([]);
  });

  test('the entries allow what the worker allows, and nothing next to it', () => {
    const entries = gitHostEntries('github.com,*.corp.example,http://10.0.0.5:3000');
    expect(isAllowed(entries, 'github.com', 443, 'connect')).toBe(true);
    expect(isAllowed(entries, 'github.com', 22, 'connect')).toBe(true);
    expect(isAllowed(entries, 'github.com', 80, 'http')).toBe(false);
    expect(isAllowed(entries, 'api.github.com', 443, 'connect')).toBe(false);
    expect(isAllowed(entries, 'git.corp.example', 22, 'connect')).toBe(true);
    expect(isAllowed(entries, 'corp.example', 443, 'connect')).toBe(false);
    expect(isAllowed(entries, '10.0.0.5', 3000, 'http')).toBe(true);
    expect(isAllowed(entries, '10.0.0.5', 80, 'http')).toBe(false);
  });

  test('one parser: what parseAllowedGitHosts refuses is refused with its message', () => {
    for (const bad of ['', 'ftp://x.example', 'https://host/path/more', 'exa_mple.com', 'file://x']) {
      let workerMessage = '';
      try {
        parseAllowedGitHosts(bad);
      } catch (err) {
        workerMessage = (err as Error).message;
      }
      expect(workerMessage).not.toBe('');
      expect(() => gitHostEntries(bad)).toThrow(workerMessage);
    }
  });

  test('any port (:*) has no allowlist form: refused, naming the entry and the fix', () => {
    expect(() => gitHostEntries('github.com,http://127.0.0.1:*')).toThrow("'http://127.0.0.1:*' allows any port, which the egress proxy cannot grant: name the port (e.g. 127.0.0.1:8443)");
    expect(() => gitHostEntries('git.example:*')).toThrow("'git.example:*' allows any port");
  });
});

describe('EGRESS_PROVIDER_URLS: the providers\' base URLs as host:port entries', () => {
  test('https → 443, http → 80, a named port kept, the path ignored, duplicates collapse', () => {
    expect(texts(providerUrlEntries('https://api.anthropic.com/v1, https://api.openai.com/v1,http://llm.internal.example:8000/v1 https://api.anthropic.com/v1/'))).toEqual([
      'api.anthropic.com:443',
      'api.openai.com:443',
      'llm.internal.example:8000',
    ]);
    expect(texts(providerUrlEntries('http://[fd00::1]/v1'))).toEqual(['[fd00::1]:80']);
    expect(providerUrlEntries('')).toEqual([]);
  });

  test('not a URL, another scheme, or credentials in it: refused', () => {
    expect(() => providerUrlEntries('api.anthropic.com')).toThrow("'api.anthropic.com' is not a URL");
    expect(() => providerUrlEntries('ftp://files.example/v1')).toThrow('only http:// and https:// provider URLs');
    expect(() => providerUrlEntries('https://user:pw@llm.example/v1')).toThrow("'https://llm.example': credentials do not belong in a provider URL");
    // The message never repeats the credential.
    try {
      providerUrlEntries('https://user:pw@llm.example/v1');
    } catch (err) {
      expect((err as Error).message).not.toContain('pw');
    }
  });
});

describe('loadConfig: the derived entries join EGRESS_ALWAYS_ALLOW', () => {
  let dir: string;
  let keyFile: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'egress-config-'));
    keyFile = path.join(dir, 'ticket-keys');
    writeFileSync(keyFile, `${'k'.repeat(40)}\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('always allowed = EGRESS_ALWAYS_ALLOW, then the git hosts, then the providers', () => {
    const config = loadConfig({
      EGRESS_TICKET_KEY_FILES: keyFile,
      EGRESS_ALWAYS_ALLOW: 'registry.npmjs.org',
      EGRESS_GIT_HOSTS: 'github.com',
      EGRESS_PROVIDER_URLS: 'https://api.anthropic.com/v1',
    });
    expect(texts(config.alwaysAllow)).toEqual(['registry.npmjs.org', 'github.com:443', 'github.com:22', 'api.anthropic.com:443']);
  });

  test('both optional; a bad value names its variable', () => {
    expect(loadConfig({ EGRESS_TICKET_KEY_FILES: keyFile }).alwaysAllow).toEqual([]);
    expect(() => loadConfig({ EGRESS_TICKET_KEY_FILES: keyFile, EGRESS_GIT_HOSTS: 'http://127.0.0.1:*' })).toThrow(/^EGRESS_GIT_HOSTS: 'http:\/\/127\.0\.0\.1:\*' allows any port/);
    expect(() => loadConfig({ EGRESS_TICKET_KEY_FILES: keyFile, EGRESS_PROVIDER_URLS: 'api.openai.com' })).toThrow(/^EGRESS_PROVIDER_URLS: 'api\.openai\.com' is not a URL/);
  });
});
