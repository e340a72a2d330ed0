/**
 * Property test: the nftables ruleset decides exactly as the compiler's verdict() does, on
 * random clusters with NetworkPolicies and ClusterNetworkPolicies of both tiers (all actions,
 * priority ties, pods / namespaces / networks / nodes peers, port numbers, ranges, named
 * ports, domainNames), traced packet by packet through FakeNft state. The same property holds
 * for the iptables backend (../iptables/tiers.property.test.ts): both decide as verdict().
 */
import fc from 'fast-check';
import { compileSnapshot } from '../../compiler/incremental';
import type { ClusterSnapshot, Protocol } from '../../compiler/model';
import { verdict } from '../../compiler/verdict';
import type { Endpoint } from '../../compiler/verdict-types';
import { createDataplane } from '../api';
import { fullDelta } from '../testutil/fixtures';
import { clusterArb, EXTERNAL, NODE_ADDRESSES, PROBES, replay } from '../testutil/tier-clusters';
import { FakeNft } from './fake-nft';
import { type Packet, trace } from './tracer';

const SEED = Number(process.env.PALISADE_PROPERTY_SEED ?? 20261202);
const RUNS = Number(process.env.PALISADE_PROPERTY_RUNS ?? 600);

function packet(src: string, dst: string, probe: { port: number; protocol: Protocol }): Packet {
  return {
    src,
    dst,
    proto: probe.protocol.toLowerCase() as Packet['proto'],
    dport: probe.port,
    ctstate: 'NEW',
  };
}

async function synced(kernel: FakeNft, view: ReturnType<typeof compileSnapshot>): Promise<void> {
  const dp = createDataplane({ kernel, backend: 'nftables', families: [4] });
  await dp.sync(view.state(), fullDelta(view.state()));
  await dp.close();
}

test('the nftables rules decide every connection as verdict() does, tiers included', async () => {
  await fc.assert(
    fc.asyncProperty(clusterArb, async (cluster) => {
      const view = compileSnapshot(cluster, { nodeName: 'node-1' });
      const kernel = new FakeNft();
      await synced(kernel, view);
      const ends: { endpoint: Endpoint; ip: string; local: boolean }[] = [
        ...cluster.pods.map((p) => ({
          endpoint: { kind: 'pod' as const, key: `${p.namespace}/${p.name}` },
          ip: p.ips[0],
          local: p.nodeName === 'node-1',
        })),
        { endpoint: { kind: 'ip', ip: EXTERNAL }, ip: EXTERNAL, local: false },
        {
          endpoint: { kind: 'ip', ip: NODE_ADDRESSES['node-2'] },
          ip: NODE_ADDRESSES['node-2'],
          local: false,
        },
      ];
      for (const from of ends) {
        for (const to of ends) {
          if (from === to || (!from.local && !to.local)) continue;
          for (const probe of PROBES) {
            const expected = verdict(view, from.endpoint, to.endpoint, probe).allowed;
            const traced = trace(kernel, packet(from.ip, to.ip, probe));
            if ((traced.verdict === 'ACCEPT') !== expected) {
              throw new Error(
                `${from.ip} -> ${to.ip} ${probe.port}/${probe.protocol}: kernel ${traced.verdict}, verdict() ${expected ? 'allows' : 'denies'}`,
              );
            }
            // An allowed packet leaves Palisade's chains with the mark it came with.
            if (traced.verdict === 'ACCEPT') expect(traced.mark).toBe(0);
          }
        }
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

function flipAudit(c: ClusterSnapshot): ClusterSnapshot {
  return {
    ...c,
    policies: c.policies.map((p) => ({ ...p, audit: !p.audit })),
    clusterPolicies: (c.clusterPolicies ?? []).map((p) => ({ ...p, audit: !p.audit })),
  };
}

test('incremental syncs through cluster-policy changes end where a fresh render of the last state does', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(clusterArb, { minLength: 2, maxLength: 4 }), async (generated) => {
      const clusters = generated.flatMap((c) => [c, flipAudit(c)]);
      const compiler = compileSnapshot(clusters[0], { nodeName: 'node-1' });
      const kernel = new FakeNft();
      const dp = createDataplane({ kernel, backend: 'nftables', families: [4] });
      await dp.sync(compiler.state(), fullDelta(compiler.state()));
      for (let i = 1; i < clusters.length; i++) {
        replay(compiler, clusters[i - 1], clusters[i]);
        await dp.sync(compiler.state(), compiler.flush());
      }
      await dp.collectGarbage();
      await dp.close();
      const fresh = new FakeNft();
      await synced(fresh, compileSnapshot(clusters[clusters.length - 1], { nodeName: 'node-1' }));
      expect(kernel.snapshot()).toBe(fresh.snapshot());
    }),
    { seed: SEED, numRuns: Math.ceil(RUNS / 4) },
  );
});
