/**
 * Scale smoke: 100 agent pods whose command exits at once, all observed as Succeeded by one gateway
 * through ONE pod watch. The gateway talks to the apiserver through a counting proxy, so the count
 * is of real watch requests on the wire, not of the gateway's own bookkeeping.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { ClientGateway } from '../../src/k8s/client-gateway';
import { LABELS, type PodStatus } from '../../src/k8s/gateway';
import { agentRequest, newRunId, startTestEnv, type TestEnv } from './support/env';
import { startCountingProxy, type CountingProxy } from './support/counting-proxy';

const PODS = 100;
let env: TestEnv;
let proxy: CountingProxy;
let gw: ClientGateway;

beforeAll(async () => {
  env = await startTestEnv('scale');
  proxy = await startCountingProxy(env.cluster.server, env.cluster.caPem);
  const kc = new KubeConfig();
  // http to the loopback proxy (client-node wants skipTLSVerify for http); the proxy speaks TLS upstream.
  kc.loadFromOptions({
    clusters: [{ name: 'proxy', server: proxy.url, skipTLSVerify: true }],
    users: [{ name: 'runner', token: env.access.token }],
    contexts: [{ name: 'proxy', cluster: 'proxy', user: 'runner', namespace: env.namespace }],
    currentContext: 'proxy',
  });
  gw = env.gateway({ kubeConfig: kc });
}, 240_000);

afterAll(async () => {
  await env?.stop();
  await proxy?.close();
});

it(`${PODS} pods that exit at once all end Succeeded, observed through one watch connection (never two at once)`, async () => {
  const runId = newRunId('scale');
  const requests = Array.from({ length: PODS }, (_, i) => agentRequest(runId, `T${String(i + 1).padStart(3, '0')}`, 'echo done'));
  const t0 = Date.now();
  // Like 100 task workflows: each creates its pod, then waits on it.
  const outcomes = await Promise.all(
    requests.map(async (req) => {
      await gw.createPod(req);
      return gw.waitForPod(req.name, (p) => p?.phase === 'Succeeded' || p?.phase === 'Failed', { timeoutMs: 170_000 });
    }),
  );
  const elapsed = Date.now() - t0;
  expect(outcomes.map((p: PodStatus | undefined) => p?.phase)).toEqual(requests.map(() => 'Succeeded'));
  expect(outcomes.every((p) => p?.exitCode === 0)).toBe(true);

  // One watch connection, never two at once. (A watch the apiserver ends early — "resource version too
  // large" while its watch cache lags on a loaded machine — is re-opened: requests may exceed one.)
  const watches = proxy.watchRequests();
  expect(watches.map((w) => w.path).filter((p) => p !== `/api/v1/namespaces/${env.namespace}/pods`)).toEqual([]);
  expect({ open: proxy.openWatches(), peak: proxy.peakOpenWatches() }).toEqual({ open: 1, peak: 1 });
  expect(gw.watchStats()).toMatchObject({ watches: watches.length, openWatches: 1, lists: 1 });

  const listed = await gw.listPods({ [LABELS.run]: runId });
  expect(listed).toHaveLength(PODS);
  // eslint-disable-next-line no-console
  console.log(
    `[timing] ${PODS} pods created and observed Succeeded in ${elapsed} ms; proxy saw ${proxy.requests.length} requests, ` +
      `${watches.length} watch; kubelet watch requests ${env.kubelet.watchRequests()}`,
  );
}, 180_000);

it('watch dropped, watches refused: pods are read from the API meanwhile (the cache would still say Running); then 410 Expired → the informer relists', async () => {
  const runId = newRunId('gone');
  const keep = agentRequest(runId, 'T900', 'sleep 60');
  const doomed = agentRequest(runId, 'T901', 'sleep 60');
  await Promise.all([gw.createPod(keep), gw.createPod(doomed)]);
  await Promise.all([keep, doomed].map((r) => gw.waitForPod(r.name, (p) => p?.phase === 'Running', { timeoutMs: 30_000 })));
  const before = gw.watchStats();

  proxy.blockWatches(true);
  proxy.cutWatches();
  // While the runner cannot watch, someone deletes a pod (the informer misses the DELETED event).
  const admin = env.gateway({ kubeConfig: adminKubeConfig() });
  await admin.deletePod(doomed.name, { gracePeriodSeconds: 0 });
  await admin.waitForPod(doomed.name, (p) => !p, { timeoutMs: 30_000 });
  // The runner has not heard of the deletion (no watch), but with the watch down it does not trust its
  // cache: a follow waiting for the pod to end or go sees it gone while watches are still refused.
  expect(gw.watchStats().openWatches).toBe(0);
  expect(await gw.waitForPod(doomed.name, (p) => !p, { timeoutMs: 30_000 })).toBeUndefined();
  expect(await gw.getPod(doomed.name)).toBeUndefined();
  expect(gw.watchStats().openWatches).toBe(0);
  // Twenty followers asking for the same pod at once (one poll round while the watch is down) cost the
  // apiserver one GET, not twenty.
  const getsOf = (name: string) => proxy.requests.filter((r) => r.method === 'GET' && !r.watch && r.path === `/api/v1/namespaces/${env.namespace}/pods/${name}`).length;
  const getsBefore = getsOf(keep.name);
  const answers = await Promise.all(Array.from({ length: 20 }, () => gw.getPod(keep.name)));
  expect(answers.map((p) => p?.phase)).toEqual(answers.map(() => 'Running'));
  expect(getsOf(keep.name) - getsBefore).toBe(1);

  // The apiserver comes back, but our resourceVersion has been compacted away.
  proxy.expireNextWatch();
  proxy.blockWatches(false);
  // The relist drops the deleted pod from the cache; the fresh watch opens right after it.
  for (let i = 0; i < 300 && (gw.watchStats().openWatches === 0 || gw.watchStats().relistsAfterGone === before.relistsAfterGone); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await gw.getPod(doomed.name)).toBeUndefined();
  const after = gw.watchStats();
  expect(after.relistsAfterGone).toBe(before.relistsAfterGone + 1);
  expect(after.lists).toBe(before.lists + 1);
  expect(after.openWatches).toBe(1);
  expect(proxy.openWatches()).toBe(1);
  // The pod that survived is still tracked, through the new watch.
  await gw.deletePod(keep.name, { gracePeriodSeconds: 0 });
  expect(await gw.waitForPod(keep.name, (p) => !p, { timeoutMs: 30_000 })).toBeUndefined();
}, 120_000);

function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(env.cluster.kubeconfigPath);
  return kc;
}
