/**
 * The worker's half of the egress proxy: the env every container of an attempt's pod gets (a ticket the
 * proxy's own verifier accepts, for exactly the run's grants), the worker's SDLC_EGRESS_* settings, and
 * the run input's allowEgress, checked as the proxy reads it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadWorkerConfig } from '../../src/config/worker-config';
import { runInputProblems } from '../../src/contract/run-input';
import { ticketFromHeader } from '../../src/egress/auth';
import { egressEnv, NO_PROXY, parseProxyAddress } from '../../src/egress/pod-env';
import { verifyTicket } from '../../src/egress/ticket';

const KEY = 'pod-env-test-key-0123456789abcdef0123456789';
let dir: string;
let keyFile: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sdlc-pod-env-'));
  keyFile = path.join(dir, 'ticket-keys');
  writeFileSync(keyFile, `# newest first\n${KEY}\n${'old-key-'.padEnd(40, 'x')}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('egressEnv', () => {
  const signer = () => ({ proxy: { host: 'sdlc-egress.sdlc.svc.cluster.local', port: 3128 }, keyFiles: [keyFile] });

  test('every proxy variable in both spellings, loopback direct, the ticket signed with the first key for this attempt and its grants', () => {
    const now = 1_800_000_000;
    const env = egressEnv(signer(), { run: 'sdlc-feat-1', task: 'T003', attempt: 2, hosts: 'registry.npmjs.org, *.pypi.org', activeDeadlineSeconds: 3600 }, now);
    expect(Object.keys(env).sort()).toEqual(['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy']);
    expect(env.NO_PROXY).toBe(NO_PROXY);
    expect(NO_PROXY.split(',')).toEqual(['localhost', '127.0.0.1', '::1']);
    const url = new URL(env.HTTPS_PROXY!);
    expect(`${url.protocol}//${url.host}`).toBe('http://sdlc-egress.sdlc.svc.cluster.local:3128');
    expect(env.http_proxy).toBe(env.HTTPS_PROXY);
    // What git/curl send for this URL is what the proxy verifies.
    const header = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    const claims = verifyTicket(ticketFromHeader(header)!, [Buffer.from(KEY)], now);
    expect(claims).toEqual({ run: 'sdlc-feat-1', task: 'T003', attempt: 2, hosts: ['registry.npmjs.org', '*.pypi.org'], exp: now + 3600 + 24 * 3600 });
  });

  test('no grants: a ticket for the always-allowed hosts only; a key file rotated on disk is used at the next signing', () => {
    const env = egressEnv(signer(), { run: 'r', task: 'T1', attempt: 0, hosts: undefined, activeDeadlineSeconds: 60 }, 100);
    const ticket = decodeURIComponent(new URL(env.HTTPS_PROXY!).password);
    expect(verifyTicket(ticket, [Buffer.from(KEY)], 100).hosts).toEqual([]);
    const rotated = path.join(dir, 'rotated');
    const next = 'rotated-key-0123456789abcdef0123456789abcd';
    writeFileSync(rotated, `${next}\n${KEY}\n`);
    const after = decodeURIComponent(new URL(egressEnv({ ...signer(), keyFiles: [rotated] }, { run: 'r', task: 'T1', attempt: 0, hosts: '', activeDeadlineSeconds: 60 }, 100).HTTPS_PROXY!).password);
    expect(() => verifyTicket(after, [Buffer.from(KEY)], 100)).toThrow(/signature/);
    expect(verifyTicket(after, [Buffer.from(next)], 100).run).toBe('r');
  });

  test('a grant the proxy could not read is refused at signing, naming it', () => {
    expect(() => egressEnv(signer(), { run: 'r', task: 'T1', attempt: 0, hosts: '*.com', activeDeadlineSeconds: 60 })).toThrow(/wildcard too broad: "\*\.com"/);
  });
});

describe('worker settings SDLC_EGRESS_PROXY / SDLC_EGRESS_TICKET_KEY_FILE', () => {
  const base = { SDLC_K8S_NAMESPACE: 'agents', SDLC_POD_TEMPLATE_FILE: '/etc/sdlc/pod-template.yaml', SDLC_ALLOWED_GIT_HOSTS: 'github.com' };

  test('both: the proxy address parsed; neither: no proxy', () => {
    expect(loadWorkerConfig({ ...base, SDLC_EGRESS_PROXY: 'sdlc-egress.sdlc.svc.cluster.local:3128', SDLC_EGRESS_TICKET_KEY_FILE: keyFile }).SDLC_EGRESS_PROXY).toEqual({ host: 'sdlc-egress.sdlc.svc.cluster.local', port: 3128 });
    expect(loadWorkerConfig(base).SDLC_EGRESS_PROXY).toBeUndefined();
    expect(parseProxyAddress('[fd00::1]:3128')).toEqual({ host: 'fd00::1', port: 3128 });
  });

  test.each([
    [{ SDLC_EGRESS_PROXY: 'sdlc-egress:3128' }, /SDLC_EGRESS_PROXY="sdlc-egress:3128": needs SDLC_EGRESS_TICKET_KEY_FILE too/],
    [{ SDLC_EGRESS_TICKET_KEY_FILE: '/keys' }, /SDLC_EGRESS_TICKET_KEY_FILE="\/keys": needs SDLC_EGRESS_PROXY too/],
    [{ SDLC_EGRESS_PROXY: 'sdlc-egress', SDLC_EGRESS_TICKET_KEY_FILE: '/keys' }, /SDLC_EGRESS_PROXY="sdlc-egress": must be host:port of the egress proxy Service/],
    [{ SDLC_EGRESS_PROXY: 'sdlc-egress:99999', SDLC_EGRESS_TICKET_KEY_FILE: '/keys' }, /SDLC_EGRESS_PROXY="sdlc-egress:99999": must be host:port/],
  ])('%j is refused, naming the variable and the fix', (env, message) => {
    expect(() => loadWorkerConfig({ ...base, ...env })).toThrow(message);
  });
});

describe('run input allowEgress', () => {
  const input = (allowEgress: unknown) => ({
    repository: { url: 'https://github.com/o/r.git', baseBranch: 'main' },
    feature: { name: '001-x', dir: 'specs/001-x' },
    tasksFile: 'specs/001-x/tasks.md',
    tasksMarkdownLength: 10,
    options: { allowEgress },
  });

  test('entries as the proxy reads them pass; anything else is named by its index', () => {
    expect(runInputProblems(input(['registry.npmjs.org', '*.pypi.org', 'docs.example.com:8443']))).toBeUndefined();
    expect(runInputProblems(input(['ok.example', '*.com']))).toMatch(/^options\.allowEgress\.1: wildcard too broad: "\*\.com" \(use host, \*\.domain or host:port\)$/);
    expect(runInputProblems(input('registry.npmjs.org'))).toMatch(/^options\.allowEgress: /);
    expect(runInputProblems(input(Array.from({ length: 101 }, (_, i) => `h${i}.example`)))).toMatch(/options\.allowEgress: at most 100 hosts per run/);
  });
});
