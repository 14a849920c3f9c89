import { GrantMemory } from '../../src/k8s/grant-memory';

/**
 * A restarted kube-apiserver answers 403 for a moment before its RBAC cache is filled (issue 11's fault
 * suite: every task of a run failed once, when the worker's first direct GET of a pod came right after a
 * restart). A right the worker's start check proved is waited out from the first call; any other denial is final.
 */
const denied = () => Object.assign(new Error('forbidden'), { code: 403 });
const ctx = (verb: 'get' | 'delete', resource = 'pods') => ({ verb, resource, namespace: 'agents', name: 'p' });

/** A call denied `times` times, then answered. */
function flaky(times: number) {
  let calls = 0;
  const fn = async () => {
    calls++;
    if (calls <= times) throw denied();
    return 'pod';
  };
  return { fn, calls: () => calls };
}

test('a right never used nor proven: the first 403 is final', async () => {
  const call = flaky(2);
  await expect(new GrantMemory(5_000).call(ctx('get'), call.fn)).rejects.toThrow('forbidden');
  expect(call.calls()).toBe(1);
});

test('a right the start check proved: a 403 burst is waited out from the very first call', async () => {
  const call = flaky(2);
  await expect(new GrantMemory(5_000, ['get pods', 'get pods/log']).call(ctx('get'), call.fn)).resolves.toBe('pod');
  expect(call.calls()).toBe(3);
  const logs = flaky(1);
  await expect(new GrantMemory(5_000, ['get pods/log']).call(ctx('get', 'pods/log'), logs.fn)).resolves.toBe('pod');
});

test('proof of one right is not proof of another, and a denial outlasting the window is final', async () => {
  const del = flaky(1);
  await expect(new GrantMemory(5_000, ['get pods']).call(ctx('delete'), del.fn)).rejects.toThrow('forbidden');
  expect(del.calls()).toBe(1);
  const forever = flaky(Infinity);
  const t0 = Date.now();
  await expect(new GrantMemory(600, ['get pods']).call(ctx('get'), forever.fn)).rejects.toThrow('forbidden');
  expect(Date.now() - t0).toBeLessThan(3_000);
});
