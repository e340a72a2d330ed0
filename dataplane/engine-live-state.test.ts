/**
 * The compiler's state is live (each event updates it at once) while a delta names only what
 * changed up to its compile, and a change undone before the next compile is in no delta. So a
 * sync must render its delta when it is called, even when it has to wait for the engine (behind
 * a garbage collection or a drift check): rendered later, a peer set picked up a pod that joined
 * and left it in between, and kept it for good. Found by the bench's churn at 5,000 events/s on
 * the nftables backend (its garbage collection runs between syncs); the engine is shared, so
 * both backends are checked.
 */
import { IncrementalCompiler } from '../compiler';
import { ns, pod, policy } from '../compiler/testutil/factories';
import { type BackendKind, type Dataplane, FakeKernel, createDataplane } from './api';
import { FakeNft } from './nftables/fake-nft';

const NODE = 'node-1';
const TRANSIENT = '10.0.9.9';

function dataplaneOf(backend: BackendKind): Dataplane {
  return backend === 'nftables'
    ? createDataplane({ kernel: new FakeNft(), backend, gcDelayMs: 3_600_000 })
    : createDataplane({ kernel: new FakeKernel(), backend });
}

/** Every member of every set, as the kernel holds them. */
async function kernelMembers(dp: Dataplane): Promise<string[]> {
  return (await dp.kernelView()).ipsets.flatMap((s) => s.members.map((m) => `${s.name} ${m}`)).sort();
}

describe.each(['iptables', 'nftables'] as const)('%s: a sync waiting for the engine', (backend) => {
  test('renders its delta as of its compile: a pod that joined and left meanwhile is in no set', async () => {
    const compiler = new IncrementalCompiler({ nodeName: NODE });
    compiler.upsertNamespace(ns('x'));
    compiler.upsertPod(pod('x/web', { labels: { app: 'web' }, ip: '10.0.1.1', node: NODE }));
    compiler.upsertPod(pod('x/client', { labels: { app: 'client' }, ip: '10.0.2.1', node: 'node-2' }));
    const dp = dataplaneOf(backend);
    try {
      await dp.sync(compiler.state(), compiler.flush());

      // A policy whose peer set is new in this delta.
      compiler.upsertPolicy(
        policy('x/allow-client', {
          podSelector: { matchLabels: { app: 'web' } },
          policyTypes: ['Ingress'],
          ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }],
        }),
      );
      const busy = dp.checkDrift();
      const first = dp.sync(compiler.state(), compiler.flush());
      // While the sync waits, a client pod starts...
      compiler.upsertPod(pod('x/brief', { labels: { app: 'client' }, ip: TRANSIENT, node: 'node-2' }));
      await busy;
      // ...and is gone again before the next compile (after the waiting sync had its turn).
      await new Promise((resolve) => setImmediate(resolve));
      compiler.deletePod('x/brief');
      await first;
      await dp.sync(compiler.state(), compiler.flush());

      const members = await kernelMembers(dp);
      expect(members.some((m) => m.endsWith(' 10.0.2.1'))).toBe(true);
      expect(members.filter((m) => m.includes(TRANSIENT))).toEqual([]);
      expect(await dp.checkDrift()).toEqual({ differences: [] });
    } finally {
      await dp.close();
    }
  });
});
