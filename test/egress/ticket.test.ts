import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readKeyRing } from '../../src/egress/keys';
import { signTicket, verifyTicket, TicketError, type TicketClaims } from '../../src/egress/ticket';

const oldKey = Buffer.from('old-key-0123456789abcdef0123456789abcdef');
const newKey = Buffer.from('new-key-0123456789abcdef0123456789abcdef');
const now = 1_800_000_000;
const claims: TicketClaims = { run: 'run-1', task: 'T003', attempt: 2, hosts: ['registry.npmjs.org', '*.pythonhosted.org:443'], exp: now + 600 };

function refusal(fn: () => unknown): TicketError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TicketError) return err;
    throw err;
  }
  throw new Error('expected a TicketError');
}

describe('egress ticket', () => {
  test('sign and verify round trip, in the v1.<payload>.<mac> format', () => {
    const ticket = signTicket(claims, oldKey);
    expect(ticket).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(ticket.split('.')[1]!, 'base64url').toString())).toEqual(claims);
    expect(verifyTicket(ticket, oldKey, now)).toEqual(claims);
  });

  test('a tampered payload is refused for its signature', () => {
    const [v, , mac] = signTicket(claims, oldKey).split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, hosts: ['*.evil.example'] })).toString('base64url');
    const err = refusal(() => verifyTicket(`${v}.${forged}.${mac}`, oldKey, now));
    expect(err.code).toBe('signature');
  });

  test('a wrong key is refused for its signature', () => {
    expect(refusal(() => verifyTicket(signTicket(claims, newKey), oldKey, now)).code).toBe('signature');
  });

  test('expired at and after exp', () => {
    const ticket = signTicket(claims, oldKey);
    expect(refusal(() => verifyTicket(ticket, oldKey, claims.exp)).code).toBe('expired');
    expect(refusal(() => verifyTicket(ticket, oldKey, claims.exp + 1)).message).toContain('expired');
    expect(verifyTicket(ticket, oldKey, claims.exp - 1).run).toBe('run-1');
  });

  test('bad format', () => {
    for (const text of ['', 'v1.abc', 'v2.abc.def', 'v1..def', 'not a ticket', 'v1.a.b.c']) {
      expect(refusal(() => verifyTicket(text, oldKey, now)).code).toBe('format');
    }
  });

  test('rotation: the ring signs with its first key and verifies with any', () => {
    const ring = [newKey, oldKey];
    const before = signTicket(claims, [oldKey]);
    const after = signTicket(claims, ring);
    expect(verifyTicket(before, ring, now)).toEqual(claims);
    expect(verifyTicket(after, ring, now)).toEqual(claims);
    expect(verifyTicket(after, newKey, now)).toEqual(claims);
    expect(refusal(() => verifyTicket(after, oldKey, now)).code).toBe('signature');
  });

  test('keys come from files: one per line, comments skipped, files in order', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'egress-keys-'));
    writeFileSync(path.join(dir, 'a'), `# current\n${newKey.toString()}\n\n`);
    writeFileSync(path.join(dir, 'b'), `${oldKey.toString()}\n`);
    writeFileSync(path.join(dir, 'short'), 'too-short\n');
    writeFileSync(path.join(dir, 'empty'), '# nothing\n');
    expect(readKeyRing([path.join(dir, 'a'), path.join(dir, 'b')])).toEqual([newKey, oldKey]);
    expect(() => readKeyRing([path.join(dir, 'short')])).toThrow(/shorter than 32/);
    expect(() => readKeyRing([path.join(dir, 'empty')])).toThrow(/no ticket key/);
  });

  test('signing refuses claims the proxy could not use', () => {
    expect(() => signTicket({ ...claims, hosts: ['bad host!'] }, oldKey)).toThrow(/not a valid host/);
    expect(() => signTicket({ ...claims, hosts: ['*.com'] }, oldKey)).toThrow(/too broad/);
    expect(() => signTicket({ ...claims, attempt: -1 }, oldKey)).toThrow();
  });
});
