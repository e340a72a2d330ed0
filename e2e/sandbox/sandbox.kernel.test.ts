/**
 * The sandbox with real packets, no agents: in each topology, IPv4 and dual-stack, everything
 * is reachable on TCP, UDP and SCTP; a DROP rule put by hand in one node's FORWARD chain flips
 * exactly the pairs it should (so every probe, SCTP included, can fail); teardown leaves no
 * namespace, link or process behind.
 */
import type { ReachabilityMatrix } from './matrix';
import { inNetns } from './netns';
import type { SandboxPlan, Topology } from './plan';
import { runChecked } from './run';
import { Sandbox } from './sandbox';
import { describeKernel, endpointScript, leftovers } from './testutil/kernel';
import { smallPlan } from './testutil/plans';

jest.setTimeout(90_000);

/** Every cell of the matrix, as "80/TCP x/a -> x/b" → allowed. */
function cells(m: ReachabilityMatrix): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const p of m.probes) {
    for (const [src, row] of Object.entries(p.allowed)) {
      for (const [dst, v] of Object.entries(row)) out.set(`${p.port}/${p.protocol} ${src} -> ${dst}`, v);
    }
  }
  return out;
}

/** The cells `expected` says are denied, and the cells the matrix denies: equal when correct. */
function denied(m: ReachabilityMatrix): string[] {
  return [...cells(m)].filter(([, v]) => !v).map(([k]) => k);
}

function expectedCellCount(plan: SandboxPlan): number {
  const e = plan.pods.length + plan.externals.length;
  const x = plan.externals.length;
  return (e * (e - 1) - x * (x - 1)) * plan.probes.length;
}

function cellsWhere(m: ReachabilityMatrix, pred: (src: string, dst: string) => boolean): string[] {
  return [...cells(m).keys()].filter((k) => {
    const [, src, , dst] = k.split(' ');
    return pred(src, dst);
  });
}

async function iptablesBoth(ns: string, args: readonly string[], dualStack: boolean): Promise<void> {
  await runChecked(inNetns(ns, ['iptables', ...args]));
  if (dualStack) await runChecked(inNetns(ns, ['ip6tables', ...args]));
}

const CASES: { topology: Topology; dualStack: boolean }[] = [
  { topology: 'routed', dualStack: false },
  { topology: 'routed', dualStack: true },
  { topology: 'bridge', dualStack: false },
  { topology: 'bridge', dualStack: true },
];

describeKernel('sandbox without agents: real packets between every pair', () => {
  let script: string;
  beforeAll(() => {
    script = endpointScript();
  });

  describe.each(CASES)('$topology topology, dual-stack: $dualStack', ({ topology, dualStack }) => {
    const plan = smallPlan({ dualStack });
    const podA = plan.pods.find((p) => p.key === 'x/a')!;
    let sandbox: Sandbox | undefined;
    let id = '';

    beforeAll(async () => {
      sandbox = await Sandbox.create(plan, { topology, endpointScript: script });
      id = sandbox.id;
    });
    afterAll(async () => {
      await sandbox?.teardown();
    });

    test('every pair is reachable on TCP, UDP and SCTP', async () => {
      const report = await sandbox!.probe(plan.probes);
      expect(report.matrix.pods).toEqual(['x/a', 'x/b', 'y/c', 'y/host', ...plan.externals]);
      expect(cells(report.matrix).size).toBe(expectedCellCount(plan));
      expect(denied(report.matrix)).toEqual([]);
      expect(report.disagreements).toEqual([]);
    });

    test('a DROP of new connections to x/a in its node flips exactly the pairs into x/a', async () => {
      const nodeNs = sandbox!.names.nodeNs(podA.node);
      const newConnections = ['-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP'];
      await runChecked(inNetns(nodeNs, ['iptables', '-I', 'FORWARD', '-d', podA.ipv4!, ...newConnections]));
      if (dualStack)
        await runChecked(
          inNetns(nodeNs, ['ip6tables', '-I', 'FORWARD', '-d', podA.ipv6!, ...newConnections]),
        );
      try {
        const report = await sandbox!.probe(plan.probes);
        const intoA = cellsWhere(report.matrix, (_src, dst) => dst === 'x/a');
        expect(intoA.length).toBe((plan.pods.length - 1 + plan.externals.length) * plan.probes.length);
        expect(denied(report.matrix).sort()).toEqual(intoA.sort());
        for (const p of plan.probes)
          expect(intoA.some((k) => k.startsWith(`${p.port}/${p.protocol} `))).toBe(true);
      } finally {
        await iptablesBoth(nodeNs, ['-F', 'FORWARD'], dualStack);
      }
    });

    if (topology === 'bridge') {
      test('same-node pod traffic is bridged, and br_netfilter shows it to the node iptables', async () => {
        const nodeNs = sandbox!.names.nodeNs(podA.node);
        const bridged = [
          '-m',
          'physdev',
          '--physdev-is-bridged',
          '-m',
          'conntrack',
          '--ctstate',
          'NEW',
          '-j',
          'DROP',
        ];
        await runChecked(inNetns(nodeNs, ['iptables', '-I', 'FORWARD', '-d', podA.ipv4!, ...bridged]));
        if (dualStack)
          await runChecked(inNetns(nodeNs, ['ip6tables', '-I', 'FORWARD', '-d', podA.ipv6!, ...bridged]));
        try {
          const report = await sandbox!.probe(plan.probes);
          // x/b is the only other pod on node-a: only its traffic to x/a is bridged.
          expect(denied(report.matrix).sort()).toEqual(
            cellsWhere(report.matrix, (s, d) => s === 'x/b' && d === 'x/a').sort(),
          );
        } finally {
          await iptablesBoth(nodeNs, ['-F', 'FORWARD'], dualStack);
        }
      });
    }

    test('teardown leaves no namespace, link or process', async () => {
      const before = await leftovers(id);
      // A pod's namespace is a kept slot (live/pod-slots.ts) that carries the pod's name as a
      // second name: two entries per pod in /run/netns; one per node and external, the fabric.
      const pods = plan.pods.filter((p) => !p.hostNetwork).length;
      expect(before.namespaces.length).toBe(plan.nodes.length + 2 * pods + plan.externals.length + 1);
      expect(before.processes.length).toBeGreaterThan(0);
      await sandbox!.teardown();
      sandbox = undefined;
      expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
    });
  });
});
