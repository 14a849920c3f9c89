/**
 * Pod networks on the test kubelet (option `isolateNetwork`): each pod gets a network namespace of its
 * own — its own loopback, and one veth pair to the host whose only route leads to POD_NETWORK_HOST_IP.
 * That address sits on the host side of every pod's veth (the same /32 on each, as Calico does with
 * 169.254.1.1), so a server the test runs on the host, listening on 0.0.0.0, is reachable from every pod
 * at POD_NETWORK_HOST_IP:<port> (the egress proxy, standing for its Service). Nothing else is: no default
 * route, no DNS server (the host's resolv.conf names one the pod cannot reach), and 127.0.0.0/8 is the
 * pod's own loopback — a host server bound to a loopback address stands for "the internet" and can be
 * reached only through the proxy. This is what a NetworkPolicy "egress to the proxy and DNS only" does.
 *
 * Only this pod's namespace and its veth pair are created, and both are removed with the pod (a pair of
 * a test process that died is removed when its slot is taken again). Needs root and iproute2.
 */
import { execFile, execFileSync } from 'node:child_process';
import { lookPath } from './identity';
import { MachineLocks } from './machine-locks';

/** The host's address as every pod sees it (a test server on 0.0.0.0 is there). */
export const POD_NETWORK_HOST_IP = '10.231.255.1';

const SLOTS = 254 * 255;
const locks = new MachineLocks('/tmp/sdlc-test-kubelet-netns');

export interface PodNetwork {
  /** The `ip netns` name. */
  namespace: string;
  /** The pod's address. */
  podIp: string;
  /** argv prefix that runs a command inside the pod's network namespace (nsenter execs: the pid stays). */
  enter: string[];
  release(): void;
}

function names(slot: number): { ns: string; host: string; peer: string; podIp: string } {
  // 10.231.0.1 … 10.231.254.254: never the host address (10.231.255.1).
  const podIp = `10.231.${Math.floor(slot / 254)}.${(slot % 254) + 1}`;
  return { ns: `sdlc-test-pod-${slot}`, host: `sdlh${slot}`, peer: `sdlp${slot}`, podIp };
}

/** Removes a slot's namespace and host-side veth, whatever is left of them; never throws. */
function removeSlot(slot: number): void {
  const n = names(slot);
  for (const args of [['netns', 'delete', n.ns], ['link', 'delete', n.host]]) {
    try {
      execFileSync('ip', args, { stdio: 'ignore' });
    } catch {
      // not there
    }
  }
}

/** Runs `ip [args] -batch -` with these commands; rejects with ip's own message. */
function ipBatch(args: string[], lines: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = execFile('ip', [...args, '-batch', '-'], { timeout: 10_000 }, (err, _out, stderr) => (err ? reject(new Error(`ip ${[...args, '-batch'].join(' ')}: ${String(stderr).trim() || err.message}`)) : resolve()));
    child.stdin!.end(lines.join('\n') + '\n');
  });
}

/** Creates the network of one pod; throws (the pod cannot start) when the host cannot make it. */
export async function createPodNetwork(): Promise<PodNetwork> {
  let slot = -1;
  for (let s = 0; s < SLOTS; s++) {
    if (locks.take(s)) {
      slot = s;
      break;
    }
  }
  if (slot < 0) throw new Error('no free pod network slot (locks in /tmp/sdlc-test-kubelet-netns)');
  const nsenter = lookPath('nsenter', '/usr/bin:/bin:/usr/sbin:/sbin');
  if (!nsenter) {
    locks.release([slot]);
    throw new Error('nsenter (util-linux) not found: it puts containers into their pod network');
  }
  const n = names(slot);
  removeSlot(slot); // left over by a test process that died
  try {
    await ipBatch([], [
      `netns add ${n.ns}`,
      `link add ${n.host} type veth peer name ${n.peer} netns ${n.ns}`,
      `address add ${POD_NETWORK_HOST_IP}/32 dev ${n.host}`,
      `link set ${n.host} up`,
      `route add ${n.podIp}/32 dev ${n.host}`,
    ]);
    await ipBatch(['-n', n.ns], [
      'link set lo up',
      `address add ${n.podIp}/32 dev ${n.peer}`,
      `link set ${n.peer} up`,
      `route add ${POD_NETWORK_HOST_IP}/32 dev ${n.peer}`,
    ]);
  } catch (err) {
    removeSlot(slot);
    locks.release([slot]);
    throw err;
  }
  let released = false;
  return {
    namespace: n.ns,
    podIp: n.podIp,
    enter: [nsenter, `--net=/run/netns/${n.ns}`, '--'],
    release() {
      if (released) return;
      released = true;
      removeSlot(slot);
      locks.release([slot]);
    },
  };
}
