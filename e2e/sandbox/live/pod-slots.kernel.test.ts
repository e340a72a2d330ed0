/**
 * A kept pod namespace (live/pod-slots.ts) is indistinguishable from a new one: a pod given a
 * slot another pod used (and exchanged packets from) finds the same links, addresses, routes
 * and neighbour entries as the same pod given a new slot, and the node holds nothing of the
 * pod that left. Real namespaces and the real pod endpoint host (which names the slots).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../control-client';
import { addNamespaces, deleteNamespaces, ipBatch, listNamespaces, setSysctls } from '../netns';
import { livePodSlotHostIf, livePodSlotNetns, newSandboxId } from '../names';
import type { Topology } from '../plan';
import { runChecked } from '../run';
import { sourceFile } from '../source-file';
import { describeKernel, leftovers } from '../testutil/kernel';
import { findPython } from '../tools';
import type { NodeWiring } from './pod-network';
import { PodSlots } from './pod-slots';
import { slotActions } from './slot-actions';

jest.setTimeout(60_000);

type Json = Record<string, unknown>;

/** What a pod could see of its namespace, without what differs between any two veths (MACs, indexes, counters). */
async function podView(ns: string): Promise<Json> {
  const j = async (args: string[]): Promise<Json[]> =>
    JSON.parse((await runChecked(['ip', '-n', ns, '-j', ...args])).stdout || '[]') as Json[];
  const links = (await j(['link', 'show'])).map((l) => [l.ifname, l.flags, l.mtu, l.operstate, l.link_type]);
  const addrs = (await j(['addr', 'show'])).flatMap((l) =>
    (l.addr_info as Json[]).map((a) =>
      [l.ifname, a.family, a.scope === 'link' ? 'link-local' : a.local, a.prefixlen, a.scope].join(' '),
    ),
  );
  const routes: string[] = [];
  for (const family of ['-4', '-6']) {
    for (const r of await j([family, 'route', 'show', 'table', 'all'])) {
      const dst = String(r.dst);
      // A route to the veth's own link-local address follows its MAC.
      if (r.type === 'local' && dst.startsWith('fe80::')) continue;
      routes.push(
        [family, r.table ?? 'main', r.type ?? 'unicast', dst, r.gateway ?? '-', r.dev, r.scope ?? '-'].join(
          ' ',
        ),
      );
    }
  }
  const neighbours = (await j(['neigh', 'show'])).map(
    (n) => `${n.dst} ${n.dev} ${(n.state as string[]).join(',')}`,
  );
  return { links, addrs: addrs.sort(), routes: routes.sort(), neighbours: neighbours.sort() };
}

async function nodeView(ns: string, ips: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const args of [['-4', 'route'], ['-6', 'route'], ['neigh']]) {
    const r = await runChecked(['ip', '-n', ns, ...args, 'show']);
    out.push(
      ...r.stdout
        .split('\n')
        .filter((l) => ips.some((ip) => l.startsWith(`${ip} `) || l.startsWith(`${ip}/`))),
    );
  }
  return out;
}

describeKernel('pod slots: a kept namespace is indistinguishable from a new one', () => {
  describe.each(['routed', 'bridge'] as Topology[])('%s topology', (topology) => {
    let id: string;
    let nodeNs: string;
    let dir: string;
    let host: ChildProcess;
    let client: ControlClient;

    beforeAll(async () => {
      id = newSandboxId();
      nodeNs = `ps${id}-node-t`;
      dir = mkdtempSync(join(tmpdir(), 'palisade-slots-'));
      await addNamespaces([nodeNs]);
      await setSysctls(nodeNs, [
        ['net.ipv4.ip_forward', '1'],
        ['net.ipv6.conf.all.forwarding', '1'],
        ['net.ipv6.conf.default.accept_dad', '0'],
        ['net.ipv4.conf.default.proxy_arp', topology === 'routed' ? '1' : '0'],
      ]);
      await ipBatch(nodeNs, [
        'link set lo up',
        'link add uplink type veth peer name uplink-peer',
        'link set uplink-peer up',
        'link set uplink up',
        'addr add 172.18.0.2/32 dev uplink',
        'addr add fd00:18::2/128 dev uplink nodad',
        'route add default dev uplink',
        'route add ::/0 dev uplink',
        ...(topology === 'bridge'
          ? [
              'link add br0 address 02:00:00:00:00:01 type bridge',
              'link set br0 up',
              'addr add 169.254.1.1/32 dev br0',
              'addr add fe80::1/64 dev br0 nodad',
            ]
          : []),
      ]);
      const socket = join(dir, 'pods.sock');
      host = spawn(
        findPython()!,
        [sourceFile(join('e2e', 'sandbox', 'live'), 'pod-endpoints.py'), '--socket', socket],
        {
          stdio: 'ignore',
          env: { ...process.env, PALISADE_SANDBOX_ID: id },
        },
      );
      client = await ControlClient.connect(socket, 'pod endpoints', 10_000);
    });

    afterAll(async () => {
      client?.close();
      if (host && host.exitCode === null && host.signalCode === null)
        await new Promise((r) => {
          host.once('exit', r);
          host.kill('SIGKILL');
        });
      await deleteNamespaces((await listNamespaces()).filter((n) => n.startsWith(`ps${id}-`)));
      rmSync(dir, { recursive: true, force: true });
      expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
    });

    /** A node's slots on the test's node namespace, as the kubelet makes them. */
    const newSlots = (): PodSlots => {
      const node: NodeWiring = {
        ns: nodeNs,
        ipv4: '172.18.0.2',
        ipv6: 'fd00:18::2',
        ipv6Pods: true,
        onLink: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
        offLink: [],
      };
      return new PodSlots(
        node,
        topology,
        { netns: (n) => livePodSlotNetns(id, 1, n), hostIf: (n) => livePodSlotHostIf(id, 1, n) },
        slotActions(nodeNs, client),
        () => undefined,
        { maxIdle: 8, idleMs: 3000 },
      );
    };

    test('the second pod on a slot sees what it sees on a new slot; the first leaves nothing behind', async () => {
      const slots = newSlots();
      const a = { ipv4: '10.244.1.10', ipv6: 'fd00:10:244:1::10' };
      const b = { ipv4: '10.244.1.11', ipv6: 'fd00:10:244:1::11' };
      const podA = await slots.attach(`ps${id}-pod-x.a-1`, a);
      // Traffic (probes from the pod, as the sandbox sends them), so the pod and the node learn neighbours.
      await client.send({ op: 'add', pod: 'a', netns: podA.netns, ports: [] });
      await client.send({
        op: 'probe',
        pod: 'a',
        targets: ['172.18.0.2', 'fd00:18::2'].map((ip, i) => ({ id: i, ip, port: 9, protocol: 'TCP' })),
        settings: { tcpTimeoutMs: 300, udpTimeoutMs: 300, udpAttempts: 1, concurrency: 2 },
      });
      await client.send({ op: 'remove', pod: 'a' });
      expect((await podView(podA.netns)).neighbours).not.toEqual([]);
      // B on a new slot (A still has the first).
      const podB = await slots.attach(`ps${id}-pod-x.b-2`, b);
      expect(podB.slot).not.toEqual(podA.slot);
      const fresh = await podView(podB.netns);
      await slots.detach(podB, () => false);
      await slots.detach(podA, () => true);
      expect(await nodeView(nodeNs, [a.ipv4, a.ipv6])).toEqual([]);
      expect((await listNamespaces()).filter((n) => n.startsWith(`ps${id}-pod-`))).toEqual([]);
      // B again, on A's old slot.
      const again = await slots.attach(`ps${id}-pod-x.b-3`, b);
      expect(again.slot).toEqual(podA.slot);
      expect(await podView(again.netns)).toEqual(fresh);
      expect(await nodeView(nodeNs, [b.ipv4])).toEqual([expect.stringMatching(/^10\.244\.1\.11 dev /)]);
      await slots.detach(again, () => true);
      // Unused slots are destroyed once idle for idleMs.
      for (let i = 0; i < 200 && slots.slotCount > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(slots.slotCount).toBe(0);
      expect((await listNamespaces()).filter((n) => n.startsWith(`ps${id}-`))).toEqual([nodeNs]);
    });

    // Bridged pods reach each other on-link: a neighbour's cache can still map an address to the
    // MAC of the pod that had it before, which a kept slot now gives another pod.
    (topology === 'bridge' ? test : test.skip)(
      "a pod added with announce corrects its neighbours' entries for its addresses",
      async () => {
        const slots = newSlots();
        const neighbour = await slots.attach(`ps${id}-pod-x.n-1`, {
          ipv4: '10.244.1.20',
          ipv6: 'fd00:10:244:1::20',
        });
        const b = { ipv4: '10.244.1.21', ipv6: 'fd00:10:244:1::21' };
        const stale = '02:00:00:00:00:99';
        for (const ip of [b.ipv4, b.ipv6])
          await runChecked([
            'ip',
            '-n',
            neighbour.netns,
            'neigh',
            'replace',
            ip,
            'lladdr',
            stale,
            'dev',
            'eth0',
            'nud',
            'reachable',
          ]);
        const podB = await slots.attach(`ps${id}-pod-x.b-2`, b);
        const link = JSON.parse(
          (await runChecked(['ip', '-n', podB.netns, '-j', 'link', 'show', 'eth0'])).stdout,
        ) as Json[];
        const mac = String(link[0].address);
        // The kernel ignores an update within locktime (1 s) of the entry's last one.
        await new Promise((r) => setTimeout(r, 1100));
        await client.send({
          op: 'add',
          pod: 'b',
          netns: podB.netns,
          ports: [],
          announce: { ifname: 'eth0', ips: [b.ipv4, b.ipv6] },
        });
        const entries = async (): Promise<string[]> => {
          const n = JSON.parse(
            (await runChecked(['ip', '-n', neighbour.netns, '-j', 'neigh', 'show'])).stdout,
          ) as Json[];
          return n
            .filter((e) => e.dst === b.ipv4 || e.dst === b.ipv6)
            .map((e) => `${String(e.dst)} ${String(e.lladdr)}`);
        };
        let seen: string[] = [];
        for (let i = 0; i < 20; i++) {
          seen = (await entries()).sort();
          if (seen.every((e) => e.endsWith(mac))) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(seen).toEqual([`${b.ipv4} ${mac}`, `${b.ipv6} ${mac}`].sort());
        await client.send({ op: 'remove', pod: 'b' });
        await slots.detach(podB, () => true);
        await slots.detach(neighbour, () => true);
        for (let i = 0; i < 200 && slots.slotCount > 0; i++) await new Promise((r) => setTimeout(r, 100));
        expect(slots.slotCount).toBe(0);
      },
    );
  });
});
