import { isAllowed, parseEntries, parseEntry } from '../../src/egress/allowlist';
import { deniedRanges } from '../../src/egress/ranges';

describe('egress allowlist', () => {
  const list = parseEntries('GitHub.com, *.example.com, api.openai.com:8443, registry.npmjs.org., 10.0.0.5:8080, [fd00::1], bücher.example');

  test('exact host, case-insensitive, trailing dot normalised on both sides', () => {
    expect(isAllowed(list, 'github.com', 443, 'connect')).toBe(true);
    expect(isAllowed(list, 'GITHUB.COM.', 443, 'connect')).toBe(true);
    expect(isAllowed(list, 'registry.npmjs.org', 443, 'connect')).toBe(true);
    expect(isAllowed(list, 'api.github.com', 443, 'connect')).toBe(false);
    expect(isAllowed(list, 'github.com.evil.test', 443, 'connect')).toBe(false);
  });

  test('default ports: 443 for CONNECT, 80 for plain http; an explicit port only that port', () => {
    expect(isAllowed(list, 'github.com', 80, 'http')).toBe(true);
    expect(isAllowed(list, 'github.com', 80, 'connect')).toBe(false);
    expect(isAllowed(list, 'github.com', 443, 'http')).toBe(false);
    expect(isAllowed(list, 'github.com', 22, 'connect')).toBe(false);
    expect(isAllowed(list, 'api.openai.com', 8443, 'connect')).toBe(true);
    expect(isAllowed(list, 'api.openai.com', 443, 'connect')).toBe(false);
  });

  test('*.domain covers subdomains only, not the apex nor look-alikes', () => {
    expect(isAllowed(list, 'a.example.com', 443, 'connect')).toBe(true);
    expect(isAllowed(list, 'a.b.example.com', 443, 'connect')).toBe(true);
    expect(isAllowed(list, 'example.com', 443, 'connect')).toBe(false);
    expect(isAllowed(list, 'evil-example.com', 443, 'connect')).toBe(false);
    expect(isAllowed(list, 'example.com.evil.test', 443, 'connect')).toBe(false);
  });

  test('IDN: entries and requests compared in punycode', () => {
    expect(parseEntry('bücher.example').host).toBe('xn--bcher-kva.example');
    expect(isAllowed(list, 'xn--bcher-kva.example', 443, 'connect')).toBe(true);
    expect(isAllowed(list, 'BÜCHER.example', 443, 'connect')).toBe(true);
  });

  test('IP literals only as explicit entries, in canonical form', () => {
    expect(isAllowed(list, '10.0.0.5', 8080, 'connect')).toBe(true);
    expect(isAllowed(list, '10.0.0.6', 8080, 'connect')).toBe(false);
    expect(isAllowed(list, 'fd00:0:0::1', 443, 'connect')).toBe(true);
    expect(isAllowed(list, '[fd00::1]', 443, 'connect')).toBe(true);
    // a wildcard never opens an address
    expect(() => parseEntry('*.10.0.0.1')).toThrow(/wildcard cannot cover/);
    expect(() => parseEntry('*.0.1')).toThrow(/wildcard cannot cover/);
    // numeric spellings of an address are that address
    expect(isAllowed(list, '167772165', 8080, 'connect')).toBe(true);
  });

  test('bad entries fail loudly', () => {
    for (const bad of ['*', '*.com', 'exa mple.com', 'host:0', 'host:70000', 'host:abc', 'a..b', '[fd00::1']) {
      expect(() => parseEntry(bad)).toThrow();
    }
  });

  test('a bad requested host matches nothing', () => {
    expect(isAllowed(list, 'github.com/../', 443, 'connect')).toBe(false);
    expect(isAllowed(list, '', 443, 'connect')).toBe(false);
    expect(isAllowed(list, 'user@github.com', 443, 'connect')).toBe(false);
  });
});

describe('egress denied ranges', () => {
  test('metadata, link-local, this-network always; loopback unless opted in; configured CIDRs', () => {
    const strict = deniedRanges({ extra: ['10.96.0.0/12', 'fd10::/64'] });
    expect(strict.match('169.254.169.254')).toBe('169.254.0.0/16');
    expect(strict.match('::ffff:169.254.169.254')).toBe('169.254.0.0/16');
    expect(strict.match('fe80::1')).toBe('fe80::/10');
    expect(strict.match('0.0.0.0')).toBe('0.0.0.0/8');
    expect(strict.match('127.0.0.2')).toBe('127.0.0.0/8');
    expect(strict.match('::1')).toBe('::1/128');
    expect(strict.match('10.100.1.1')).toBe('10.96.0.0/12');
    expect(strict.match('fd10::5')).toBe('fd10::/64');
    expect(strict.match('140.82.112.3')).toBeUndefined();
    const dev = deniedRanges({ allowLoopback: true });
    expect(dev.match('127.0.0.2')).toBeUndefined();
    expect(dev.match('169.254.169.254')).toBe('169.254.0.0/16');
    expect(() => deniedRanges({ extra: ['10.0.0.0/33'] })).toThrow();
  });
});
