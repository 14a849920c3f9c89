/**
 * API calls reuse their TLS connection (src/k8s/shared-agents.ts): against a real local HTTPS server
 * that counts handshakes, client-node's own client opens one connection per call; the pooled client one
 * for all of them, each call still carrying the kubeconfig's credentials.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createCertificateAuthority } from '../support/cluster/pki';
import { kubeconfigYaml } from '../support/cluster/kubeconfig';
import { makePooledApiClient, applyPooledHTTPSOptions } from '../../src/k8s/shared-agents';

let server: https.Server;
let kc: KubeConfig;
let handshakes = 0;
const authorizations: string[] = [];

beforeAll(async () => {
  const ca = await createCertificateAuthority('shared-agents-test-ca');
  const cert = await ca.issue({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], usage: 'server' });
  server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    authorizations.push(String(req.headers.authorization));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } }));
  });
  server.on('secureConnection', () => handshakes++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml({ server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caPem: ca.certPem, userName: 'runner', token: 'token-of-the-runner' }));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  handshakes = 0;
  authorizations.length = 0;
});

it("client-node's own client: a TLS handshake per call (why the pool exists)", async () => {
  const core = kc.makeApiClient(CoreV1Api);
  for (let i = 0; i < 3; i++) await core.readNamespacedPod({ name: 'p', namespace: 'ns' });
  expect(handshakes).toBe(3);
});

it('the pooled client: one connection for every call, each with the credentials, and streams opened with https share it', async () => {
  const core = makePooledApiClient(kc, CoreV1Api);
  for (let i = 0; i < 5; i++) expect((await core.readNamespacedPod({ name: 'p', namespace: 'ns' })).metadata?.name).toBe('p');
  // A request opened with node's https (as watches and log streams are) gets the same pool.
  const opts: https.RequestOptions = {};
  await applyPooledHTTPSOptions(kc, opts);
  const body = await new Promise<string>((resolve, reject) => {
    https.get(`${kc.getCurrentCluster()!.server}/api/v1/namespaces/ns/pods/p`, opts, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  expect(JSON.parse(body).metadata.name).toBe('p');
  expect(handshakes).toBe(1);
  expect(authorizations).toEqual(Array(6).fill('Bearer token-of-the-runner'));
});
