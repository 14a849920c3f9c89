import { errorForStatus, toKubernetesError } from '../../src/k8s/errors';
import { KubernetesError } from '../../src/k8s/gateway';

const create = { verb: 'create', resource: 'pods', namespace: 'agents', name: 'p1' } as const;
const get = { verb: 'get', resource: 'pods', namespace: 'agents', name: 'p1' } as const;

describe('Kubernetes API errors → retryable / not retryable, with what to fix', () => {
  it.each([
    [500, true],
    [503, true],
    [429, true],
    [410, true],
    [400, false],
    [422, false],
    [403, false],
    [404, false],
    [401, false],
  ])('HTTP %i → retryable=%s', (code, retryable) => {
    const err = errorForStatus(code, undefined, create);
    expect(err).toBeInstanceOf(KubernetesError);
    expect(err.retryable).toBe(retryable);
    expect(err.statusCode).toBe(code);
  });

  it('403 names the verb, the resource and the Role', () => {
    const body = JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'pods is forbidden: User "system:serviceaccount:agents:runner" cannot create resource "pods"' });
    const err = errorForStatus(403, body, create);
    expect(err.message).toMatch(/may not create pods "p1" in namespace "agents"/);
    expect(err.message).toMatch(/Role .* must allow verb "create" on resource "pods" in namespace "agents"/);
    expect(err.message).toContain('cannot create resource "pods"');
  });

  it('404 of the namespace says to create it; 404 of a pod does not', () => {
    const ns = errorForStatus(404, { message: 'namespaces "agents" not found' }, create);
    expect(ns.message).toMatch(/Namespace "agents" does not exist.*kubectl create namespace agents/);
    const pod = errorForStatus(404, { message: 'pods "p1" not found' }, get);
    expect(pod.message).not.toMatch(/Namespace/);
  });

  it('422 carries the API server\'s validation message and says retrying will not help', () => {
    const err = errorForStatus(422, { message: 'Pod "p1" is invalid: spec.containers[0].image: Required value' }, create);
    expect(err.message).toMatch(/invalid \(422\): Pod "p1" is invalid: spec.containers\[0\].image: Required value/);
    expect(err.message).toMatch(/retrying will not help/);
  });

  it('network failures are retryable', () => {
    const refused = Object.assign(new Error('request to https://127.0.0.1:1/api failed, reason: connect ECONNREFUSED'), { code: 'ECONNREFUSED', type: 'system' });
    expect(toKubernetesError(refused, get)).toMatchObject({ retryable: true, statusCode: undefined });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(toKubernetesError(reset, get).retryable).toBe(true);
  });

  it('client-node ApiException (numeric code + body) is mapped by its code', () => {
    const apiException = Object.assign(new Error('HTTP-Code: 409'), { code: 409, body: '{"message":"pods \\"p1\\" already exists"}' });
    expect(toKubernetesError(apiException, create)).toMatchObject({ statusCode: 409, retryable: false });
  });
});
