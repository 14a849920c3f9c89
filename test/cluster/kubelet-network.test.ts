/**
 * The test kubelet's pod networks (isolateNetwork), against the real apiserver with real processes and
 * real sockets: a pod reaches a host server on 0.0.0.0 at POD_NETWORK_HOST_IP (the stand-in for a
 * Service, e.g. the egress proxy) and nothing else — not a server on a host loopback address (127.0.0.2
 * stands for the internet), not the host's own addresses, no name resolution. Containers of one pod
 * share its namespace (one reaches the other over loopback); the namespace and its veth pair are gone
 * with the pod.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { CoreV1Api } from '@kubernetes/client-node';
import { POD_NETWORK_HOST_IP } from '../support/kubelet';
import { bashPod, phaseIs, startKubeletTestEnv, waitForPod, type KubeletTestEnv } from './helpers';

const NS = 'kubelet-network';
let env: KubeletTestEnv;
let api: CoreV1Api;
let service: http.Server;
let internet: http.Server;
const seen: { server: string; from: string }[] = [];

function serve(name: string, host: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    seen.push({ server: name, from: req.socket.remoteAddress ?? '' });
    res.end(`${name} ok\n`);
  });
  return new Promise((resolve) => server.listen(0, host, () => resolve(server)));
}
const portOf = (s: http.Server) => (s.address() as AddressInfo).port;

beforeAll(async () => {
  env = await startKubeletTestEnv(NS, { isolateNetwork: true });
  api = env.api;
  service = await serve('service', '0.0.0.0');
  internet = await serve('internet', '127.0.0.2');
}, 180_000);

afterAll(async () => {
  service?.close();
  internet?.close();
  await env?.stop();
});

const netnsList = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

test('a pod reaches the host only at POD_NETWORK_HOST_IP; loopback is its own, other addresses and names are unreachable', async () => {
  // The host's own non-loopback IPv4 addresses: reachable from the host, never from the pod.
  const hostIps = Object.values(os.networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4' && !a.internal).map((a) => a!.address);
  const curl = (label: string, url: string) => `echo "${label} $(curl -sS --noproxy '*' -m 5 ${url} 2>&1 | tr -d '\\n')"`;
  const script = [
    curl('service', `http://${POD_NETWORK_HOST_IP}:${portOf(service)}/`),
    curl('internet', `http://127.0.0.2:${portOf(internet)}/`),
    ...hostIps.map((ip, i) => curl(`host${i}`, `http://${ip}:${portOf(service)}/`)),
    curl('dns', 'http://example.com/'),
    'ip -4 -o addr show | awk \'{print "addr", $2, $4}\'',
  ].join('; ');
  await api.createNamespacedPod({ namespace: NS, body: bashPod('isolated', script) });
  await waitForPod(api, NS, 'isolated', phaseIs('Succeeded', 'Failed'), 60_000);
  const log = await api.readNamespacedPodLog({ namespace: NS, name: 'isolated' });
  expect(log).toContain('service service ok');
  expect(log).toMatch(/internet curl: \(7\) Failed to connect to 127\.0\.0\.2/);
  hostIps.forEach((ip, i) => expect(log).toMatch(new RegExp(`host${i} curl: \\(7\\) Failed to connect to ${ip.replace(/\./g, '\\.')}`)));
  expect(log).toMatch(/dns curl: \(6\) Could not resolve host: example\.com/);
  // Its addresses: loopback and one /32 on its veth, nothing of the host's.
  const addrs = log.split('\n').filter((l) => l.startsWith('addr '));
  expect(addrs).toEqual([expect.stringMatching(/^addr lo 127\.0\.0\.1\/8$/), expect.stringMatching(/^addr sdlp\d+ 10\.231\.\d+\.\d+\/32$/)]);
  const podIp = addrs[1]!.split(' ')[2]!.replace('/32', '');
  expect(seen).toEqual([{ server: 'service', from: podIp }]);
}, 90_000);

test('the containers of a pod share its namespace; it is removed with the pod', async () => {
  const port = 18080;
  await api.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'shared' },
      spec: {
        restartPolicy: 'Never',
        containers: [
          { name: 'server', image: 'bash', command: ['bash', '-c', `exec python3 -m http.server ${port} --bind 127.0.0.1 >/dev/null 2>&1 & pid=$!; while [ ! -e "$PWD/done" ]; do sleep 0.05; done; kill $pid`] },
          { name: 'client', image: 'bash', command: ['bash', '-c', `for i in $(seq 100); do curl -sS -o /dev/null -w 'client %{http_code}\\n' http://127.0.0.1:${port}/ && break; sleep 0.1; done; touch "$PWD/done"`] },
        ],
      },
    },
  });
  await waitForPod(api, NS, 'shared', phaseIs('Succeeded', 'Failed'), 60_000);
  expect(await api.readNamespacedPodLog({ namespace: NS, name: 'shared', container: 'client' })).toContain('client 200');
  const namespaces = env.kubelet.pods().filter((p) => p.namespace === NS).map((p) => p.network?.namespace);
  expect(namespaces).toEqual([expect.stringMatching(/^sdlc-test-pod-\d+$/), expect.stringMatching(/^sdlc-test-pod-\d+$/)]);
  expect(netnsList()).toContain(namespaces[0]!);
  // Deleting the pods removes their namespaces (and with them the veth pairs).
  for (const name of ['isolated', 'shared']) await api.deleteNamespacedPod({ namespace: NS, name, gracePeriodSeconds: 0 });
  for (const name of ['isolated', 'shared']) await waitForPod(api, NS, name, (p) => !p, 30_000);
  const present = () => netnsList().split('\n').map((l) => l.split(' ')[0]).filter((n) => namespaces.includes(n));
  const deadline = Date.now() + 10_000;
  while (present().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(present()).toEqual([]);
}, 90_000);
