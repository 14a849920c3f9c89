import { labelValue, podName } from '../../src/k8s/names';

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

describe('agent pod names', () => {
  test('are deterministic, readable DNS-1123 names', () => {
    const a = podName('sdlc-shop-011-checkout', 'T012', 2, 0, 'run-uid-1');
    expect(a).toBe(podName('sdlc-shop-011-checkout', 'T012', 2, 0, 'run-uid-1'));
    expect(a).toMatch(/^sdlc-shop-011-checkout-t012-a2-[0-9a-z]{7}$/);
    expect(a).toMatch(DNS1123);
  });

  test('differ by attempt, infrastructure retry and run', () => {
    const names = new Set([
      podName('sdlc-x', 'T001', 1, 0, 'u1'),
      podName('sdlc-x', 'T001', 2, 0, 'u1'),
      podName('sdlc-x', 'T001', 1, 1, 'u1'),
      podName('sdlc-x', 'T001', 1, 0, 'u2'),
    ]);
    expect(names.size).toBe(4);
    expect(podName('sdlc-x', 'T001', 1, 1, 'u1')).toContain('-t001-a1r1-');
  });

  test('stay within 63 characters for long runs and odd task IDs', () => {
    const long = podName('sdlc-' + 'very-long-repository-name-'.repeat(5) + '042-feature', 'T-001.2a', 12, 3, 'u');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(DNS1123);
    expect(long).toContain('-t-001-2a-a12r3-');
  });

  test('label values are valid Kubernetes label values', () => {
    expect(labelValue('sdlc-shop/011 checkout!')).toBe('sdlc-shop-011-checkout');
    expect(labelValue('x'.repeat(80))).toHaveLength(63);
  });
});
