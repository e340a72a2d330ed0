/**
 * Property test: the rendered ruleset decides exactly as the compiler's verdict() does, on
 * random clusters with NetworkPolicies and ClusterNetworkPolicies of both tiers (all actions,
 * priority ties, pods / namespaces / networks / nodes peers, port numbers, ranges, named
 * ports, domainNames), traced packet by packet through FakeKernel state.
 *
 * The compiler (pure) compiles each cluster for node-1, as the agent does; every connection
 * with a local pod at one end (or both) is traced through FORWARD and compared with verdict()
 * over the same compiled view. Traffic between a pod and its own node never crosses FORWARD
 * and is not traced (verdict() allows it, and the dataplane does not hook INPUT/OUTPUT).
 */
import fc from 'fast-check';
import { compileSnapshot } from '../../compiler/incremental';
import type { ClusterSnapshot, Protocol } from '../../compiler/model';
import { verdict } from '../../compiler/verdict';
import type { Endpoint } from '../../compiler/verdict-types';
import { createDataplane } from '../api';
import { FakeKernel } from './fake-kernel';
import { fullDelta } from '../testutil/fixtures';
import { clusterArb, EXTERNAL, NODE_ADDRESSES, PROBES, replay } from '../testutil/tier-clusters';
import { trace, type Packet } from './tracer';

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

test('the kernel rules decide every connection as verdict() does, tiers included', async () => {
  await fc.assert(
    fc.asyncProperty(clusterArb, async (cluster) => {
      const view = compileSnapshot(cluster, { nodeName: 'node-1' });
      const kernel = new FakeKernel();
      await createDataplane({ kernel, families: [4] }).sync(view.state(), fullDelta(view.state()));
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
            const traced = trace(kernel, 4, 'FORWARD', packet(from.ip, to.ip, probe)).verdict === 'ACCEPT';
            if (traced !== expected) {
              throw new Error(
                `${from.ip} -> ${to.ip} ${probe.port}/${probe.protocol}: kernel ${traced ? 'allows' : 'denies'}, verdict() ${expected ? 'allows' : 'denies'}`,
              );
            }
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
      // After each cluster, the same cluster with every policy's audit mode flipped: a change
      // that moves no pod between policies but changes what their chains enforce.
      const clusters = generated.flatMap((c) => [c, flipAudit(c)]);
      const compiler = compileSnapshot(clusters[0], { nodeName: 'node-1' });
      const kernel = new FakeKernel();
      const dp = createDataplane({ kernel, families: [4] });
      await dp.sync(compiler.state(), fullDelta(compiler.state()));
      for (let i = 1; i < clusters.length; i++) {
        replay(compiler, clusters[i - 1], clusters[i]);
        await dp.sync(compiler.state(), compiler.flush());
      }
      const fresh = new FakeKernel();
      const last = compileSnapshot(clusters[clusters.length - 1], { nodeName: 'node-1' });
      await createDataplane({ kernel: fresh, families: [4] }).sync(last.state(), fullDelta(last.state()));
      expect(kernel.snapshot()).toBe(fresh.snapshot());
    }),
    { seed: SEED, numRuns: Math.ceil(RUNS / 4) },
  );
});
