import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCliGitGateway } from '../../src/git/cli-gateway';
import { addKnownSecret, addKnownSecretFile, redactText } from '../../src/security/redact';
import { repoRoot } from '../../src/tools';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const agentRedact = require(path.join(repoRoot, 'docker', 'agent', 'redact.js'));

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');

/** The worker's pass over what it stores (heartbeats, workflow history, CLI output): the agent's redactor, with the worker's own secrets. */
describe("worker redaction (src/security/redact.ts)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-redact-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('is the agent image\'s implementation: the same text gives the same result', () => {
    const line = 'push https://bot:s3cr3tpass@git.example.test/x.git with Authorization: Bearer abcdefgh12345678 and ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    expect(redactText(line)).toBe(new agentRedact.Redactor().redact(line));
    expect(redactText(line)).not.toMatch(/s3cr3tpass|abcdefgh12345678|ghp_/);
  });

  test('a secret the worker registers is masked as is and encoded (base64 at any offset, base64url, hex, percent-encoding)', () => {
    const secret = 'worker-known-secret/+value?9';
    const text = (encoded: string) => `leaked ${encoded} here`;
    const forms = [
      secret,
      b64(secret),
      Buffer.from(secret).toString('base64url'),
      hex(secret),
      hex(secret).toUpperCase(),
      encodeURIComponent(secret),
      hex(secret).replace(/../g, '%$&').toUpperCase(),
    ];
    for (const form of forms) expect(redactText(text(form))).toBe(text(form));
    addKnownSecret(secret);
    for (const form of forms) expect(redactText(text(form))).toBe(text(agentRedact.MASK));
    for (const prefix of ['Authorization: Bearer ', 'Authorization: Bearer x', 'Authorization: Bearer xy']) {
      const out = redactText(b64(`${prefix}${secret}`));
      expect(out).toContain(agentRedact.MASK);
      expect(Buffer.from(out.split(agentRedact.MASK)[0]!, 'base64').toString('latin1')).not.toContain(secret.slice(0, 4));
    }
  });

  test('a short registered value is masked, its encodings are not expanded', () => {
    addKnownSecret('k9x2w7');
    expect(redactText('value k9x2w7')).toBe(`value ${agentRedact.MASK}`);
    expect(redactText(`hex ${hex('k9x2w7')}`)).toBe(`hex ${hex('k9x2w7')}`);
  });

  test("the worker's git token file is registered when the git gateway is created; an unreadable file is skipped", () => {
    const token = 'gtok-worker-7c1e9a2f4b6d';
    const tokenFile = path.join(dir, 'git-token');
    writeFileSync(tokenFile, `${token}\n`);
    chmodSync(tokenFile, 0o400);
    expect(redactText(b64(token))).toBe(b64(token));
    createCliGitGateway({ tokenFile });
    expect(redactText(`echo ${b64(token)} | base64 -d`)).toBe(`echo ${agentRedact.MASK} | base64 -d`);
    expect(redactText(`x ${hex(token)} ${token}`)).toBe(`x ${agentRedact.MASK} ${agentRedact.MASK}`);
    expect(() => addKnownSecretFile(path.join(dir, 'no-such-file'))).not.toThrow();
  });
});
