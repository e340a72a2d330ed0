/**
 * Helpers for kernel tests: the root/skip rule, network namespaces with unique names, the two
 * pod topologies (routed /32 veths with proxy ARP, and a Linux bridge with br_netfilter), and
 * TCP servers and clients run inside namespaces with the pinned Node binary.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ProcessKernel, type ProcessResult } from '../kernel';

export const REQUIRE_KERNEL_TESTS = process.env.PALISADE_REQUIRE_KERNEL_TESTS === '1';
export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * `describe` when kernel tests can run; otherwise a skipped block with a clear message, or a
 * failing test when PALISADE_REQUIRE_KERNEL_TESTS=1.
 */
export function describeKernel(name: string, fn: () => void): void {
  if (IS_ROOT) {
    describe(name, fn);
  } else if (REQUIRE_KERNEL_TESTS) {
    describe(name, () => {
      test('needs root and network namespaces', () => {
        throw new Error('kernel tests need root (PALISADE_REQUIRE_KERNEL_TESTS=1 is set)');
      });
    });
  } else {
    console.warn(
      `skipping kernel tests "${name}": not root (set PALISADE_REQUIRE_KERNEL_TESTS=1 to fail instead)`,
    );
    describe.skip(name, fn);
  }
}

/** "pl" + 5 random characters: a unique prefix for namespaces and interfaces (≤ 15 chars). */
export function uniqueId(): string {
  return `pl${randomBytes(4).toString('hex').slice(0, 5)}`;
}

export function run(argv: readonly string[], stdin?: string): Promise<ProcessResult> {
  return new ProcessKernel().run(argv, stdin);
}

/** Run and require success. */
export async function must(argv: readonly string[], stdin?: string): Promise<string> {
  const r = await run(argv, stdin);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export const inNs = (ns: string, argv: readonly string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];

export async function addNetns(name: string): Promise<void> {
  await must(['ip', 'netns', 'add', name]);
  await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

export async function deleteNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name]);
}

/** Set a sysctl inside a namespace (written under /proc/sys there: no procps needed). */
export async function sysctl(ns: string, key: string, value: string): Promise<void> {
  const file = `/proc/sys/${key.replace(/\./g, '/')}`;
  await must(
    inNs(ns, [
      process.execPath,
      '-e',
      'require("node:fs").writeFileSync(process.argv[1], process.argv[2])',
      file,
      value,
    ]),
  );
}

// --- topologies -------------------------------------------------------------------------------

export type TopologyKind = 'routed' | 'bridge';

export interface PodNs {
  readonly ns: string;
  readonly v4: string;
  readonly v6: string;
}

export interface Topology {
  readonly kind: TopologyKind;
  /** The node's namespace: where Palisade programs the kernel. */
  readonly node: string;
  /** An address of the node itself, reachable from the pods. */
  readonly nodeV4: string;
  readonly pods: Record<string, PodNs>;
  destroy(): Promise<void>;
}

/**
 * A node namespace and one namespace per pod.
 * routed: each pod has a veth whose node end has no IPv4 address; the node routes the pod's /32
 *   (and /128) to it and answers ARP by proxy, the pod's default route points at 169.254.1.1 /
 *   fe80::1 (Calico's layout). The node's default route leaves through an "outside" namespace.
 * bridge: pod veths are ports of a Linux bridge that holds the gateway address; bridged traffic
 *   goes through iptables because br_netfilter's bridge-nf-call-ip(6)tables is on.
 */
export async function buildTopology(kind: TopologyKind, podNames: readonly string[]): Promise<Topology> {
  const id = uniqueId();
  const node = `${id}n`;
  const created: string[] = [node];
  const destroy = async (): Promise<void> => {
    for (const ns of created) await deleteNetns(ns);
  };
  try {
    await addNetns(node);
    await sysctl(node, 'net.ipv4.ip_forward', '1');
    await sysctl(node, 'net.ipv6.conf.all.forwarding', '1');
    const subnet = kind === 'routed' ? 0 : 1;
    let nodeV4: string;
    const bridge = `${id}br`;
    if (kind === 'routed') {
      nodeV4 = '10.99.255.1';
      // The node's own address (on lo: no dummy driver needed), used as source towards pods.
      await must(['ip', '-n', node, 'addr', 'add', `${nodeV4}/32`, 'dev', 'lo']);
      // An uplink to an "outside" namespace carries the node's default route: proxy ARP answers
      // for 169.254.1.1 only because that address routes out of another interface.
      const outside = `${id}x`;
      await addNetns(outside);
      created.push(outside);
      await must([
        'ip',
        '-n',
        node,
        'link',
        'add',
        `${id}up`,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        outside,
      ]);
      await must(['ip', '-n', node, 'addr', 'add', '10.99.254.1/30', 'dev', `${id}up`]);
      await must(['ip', '-n', node, 'link', 'set', `${id}up`, 'up']);
      await must(['ip', '-n', outside, 'addr', 'add', '10.99.254.2/30', 'dev', 'eth0']);
      await must(['ip', '-n', outside, 'link', 'set', 'eth0', 'up']);
      await must(['ip', '-n', node, 'route', 'add', 'default', 'via', '10.99.254.2']);
    } else {
      nodeV4 = '10.99.1.1';
      await must(['ip', '-n', node, 'link', 'add', bridge, 'type', 'bridge']);
      await must(['ip', '-n', node, 'addr', 'add', `${nodeV4}/24`, 'dev', bridge]);
      await must(['ip', '-n', node, 'addr', 'add', 'fd99:1::1/64', 'dev', bridge, 'nodad']);
      await must(['ip', '-n', node, 'link', 'set', bridge, 'up']);
      await sysctl(node, 'net.bridge.bridge-nf-call-iptables', '1');
      await sysctl(node, 'net.bridge.bridge-nf-call-ip6tables', '1');
    }
    const pods: Record<string, PodNs> = {};
    for (let i = 0; i < podNames.length; i++) {
      const ns = `${id}p${i}`;
      const host = `${id}h${i}`;
      await addNetns(ns);
      created.push(ns);
      const v4 = `10.99.${subnet}.${i + 10}`;
      const v6 = `fd99:${subnet}::${(i + 10).toString(16)}`;
      await must([
        'ip',
        '-n',
        node,
        'link',
        'add',
        host,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns,
      ]);
      await must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      await must(['ip', '-n', node, 'link', 'set', host, 'up']);
      if (kind === 'routed') {
        await must(['ip', '-n', ns, 'addr', 'add', `${v4}/32`, 'dev', 'eth0']);
        await must(['ip', '-n', ns, 'addr', 'add', `${v6}/128`, 'dev', 'eth0', 'nodad']);
        await must(['ip', '-n', ns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
        await must(['ip', '-n', ns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
        await must(['ip', '-n', node, 'addr', 'add', 'fe80::1/64', 'dev', host, 'nodad']);
        await must(['ip', '-n', ns, '-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0']);
        await must(['ip', '-n', node, 'route', 'add', `${v4}/32`, 'dev', host]);
        await must(['ip', '-n', node, '-6', 'route', 'add', `${v6}/128`, 'dev', host]);
        await sysctl(node, `net.ipv4.conf.${host}.proxy_arp`, '1');
        // Answer proxy ARP at once (the default waits up to 0.8 s), as Calico configures it.
        await sysctl(node, `net.ipv4.neigh.${host}.proxy_delay`, '0');
      } else {
        await must(['ip', '-n', node, 'link', 'set', host, 'master', bridge]);
        await must(['ip', '-n', ns, 'addr', 'add', `${v4}/24`, 'dev', 'eth0']);
        await must(['ip', '-n', ns, 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
        await must(['ip', '-n', ns, 'route', 'add', 'default', 'via', nodeV4]);
        await must(['ip', '-n', ns, '-6', 'route', 'add', 'default', 'via', 'fd99:1::1']);
      }
      pods[podNames[i]] = { ns, v4, v6 };
    }
    return { kind, node, nodeV4, pods, destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

// --- TCP probes -----------------------------------------------------------------------------

const SERVER_SCRIPT = `
const net = require('node:net');
const server = net.createServer((s) => { s.on('error', () => {}); s.end('ok'); });
server.listen({ port: Number(process.argv[1]), host: '::', ipv6Only: false }, () => process.stdout.write('listening\\n'));
`;

const CLIENT_SCRIPT = `
const net = require('node:net');
const [host, port, ms] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let data = '';
const done = (r) => { process.stdout.write(r); process.exit(0); };
const s = net.connect({ host, port });
s.setTimeout(ms, () => done('timeout'));
s.on('data', (d) => { data += d; });
s.on('end', () => done(data === 'ok' ? 'ok' : 'bad:' + data));
s.on('error', (e) => done('error:' + e.code));
`;

export interface Server {
  stop(): void;
}

/** A TCP server in a namespace that answers "ok" and closes; resolves once it listens. */
export function startServer(ns: string, port: number): Promise<Server> {
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '-e', SERVER_SCRIPT, String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('listening')) resolve({ stop: () => child.kill('SIGKILL') });
    });
    child.on('exit', (code) => reject(new Error(`server in ${ns} exited (${code}): ${err}`)));
  });
}

/** Connect from a namespace: "ok" when the server's answer came back, else why not. */
export async function connect(ns: string, host: string, port: number, timeoutMs = 3000): Promise<string> {
  const r = await run(
    inNs(ns, [process.execPath, '-e', CLIENT_SCRIPT, host, String(port), String(timeoutMs)]),
  );
  return r.stdout.trim() || `exit ${r.code}: ${r.stderr.trim()}`;
}
