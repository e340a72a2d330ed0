/**
 * Cost of typical changes in a node-sized state of a large cluster, against the real kernel in a
 * network namespace: 110 local pods, peer sets drawn from 10,000 cluster pods, 1,000 policies in
 * the cluster (those selecting a local pod are compiled). Prints restore bytes, lines and wall
 * time for one label change, one pod added and one policy added, next to a full render of the
 * same state (first sync on an empty kernel, and a full-mode resync). Asserts only outcomes:
 * the kernel equals the render after each step, and each change costs a small fraction of a
 * full render. Times are printed, never asserted.
 *
 *   cd /work/main && NODE_OPTIONS=--experimental-vm-modules npx jest dataplane/measure.kernel.test.ts
 */
import type { CompiledPolicy, CompiledState, PodRules } from '../../compiler/ir';
import { type ApplyStats, type DataplaneView, createDataplane } from '../api';
import { FakeKernel } from './fake-kernel';
import { type Kernel, ProcessKernel } from '../kernel';
import { deltaBetween, fullDelta, podsSet, withMembers } from '../testutil/fixtures';
import { podIP, syntheticCluster } from '../testutil/generate';
import { addNetns, deleteNetns, describeKernel, uniqueId } from '../testutil/netns';

jest.setTimeout(600_000);

const SIZE = { clusterPods: 10_000, localPods: 110, policies: 1_000, seed: 11 };

function essence(v: DataplaneView): string[] {
  return [
    ...v.chains.map((c) => `chain ${c.family} ${c.name}: ${c.rules.map((r) => r.hash).join(' ')}`),
    ...v.hooks.map((h) => `hook ${h.family} ${h.builtin} -> ${h.target}`),
    ...v.ipsets.map((s) => `set ${s.name} ${s.type} ${s.family}: ${s.members.join(' ')}`),
  ].sort();
}

async function rendered(s: CompiledState): Promise<string[]> {
  const dp = createDataplane({ kernel: new FakeKernel() });
  await dp.sync(s, fullDelta(s));
  return essence(dp.desiredView());
}

function withPod(s: CompiledState, p: PodRules, joins: string[]): CompiledState {
  let next: CompiledState = { ...s, pods: new Map([...s.pods, [p.key, p]]) };
  for (const key of joins) next = withMembers(next, key, [...next.peerSets.get(key)!.members, ...p.ips]);
  return next;
}

describeKernel('measurement: change cost in a 10,000-pod cluster', () => {
  let ns: string;
  const rows: string[] = [];

  beforeAll(async () => {
    ns = `${uniqueId()}m`;
    await addNetns(ns);
  });

  afterAll(async () => {
    if (ns) await deleteNetns(ns);
    console.log(rows.join('\n'));
  });

  test('one label change, one pod added, one policy added vs a full render', async () => {
    const { state: s0 } = syntheticCluster(SIZE);
    // Times each process, to show where a sync's kernel time goes.
    const real = new ProcessKernel({ netns: ns });
    let spawned: string[] = [];
    const kernel: Kernel = {
      run: async (argv, stdin) => {
        const t = performance.now();
        const r = await real.run(argv, stdin);
        spawned.push(
          `${argv[0]}${argv[1] === 'restore' || argv[1] === 'save' ? ` ${argv[1]}` : ''} ${(performance.now() - t).toFixed(0)}ms`,
        );
        return r;
      },
    };
    const dp = createDataplane({ kernel });
    const record = async (
      name: string,
      next: CompiledState,
      run: () => Promise<ApplyStats>,
    ): Promise<ApplyStats> => {
      spawned = [];
      const t = performance.now();
      const st = await run();
      const wall = performance.now() - t;
      const processes = spawned.join(', ');
      rows.push(
        `${name.padEnd(34)} ${String(st.restoreBytes).padStart(9)} B ${String(st.restoreLines).padStart(7)} lines` +
          `  (ipset ${String(st.ipsetLines).padStart(6)}, iptables ${String(st.iptablesLines).padStart(5)})` +
          `  sync ${wall.toFixed(1).padStart(7)} ms  (kernel ${st.applyMs.toFixed(1)} ms, diff ${st.diffMs.toFixed(1)} ms)` +
          `\n${''.padEnd(36)}processes: ${processes}`,
      );
      expect(essence(await dp.kernelView())).toEqual(await rendered(next));
      return st;
    };

    const pods = [...s0.pods.values()];
    const sets = [...s0.peerSets.values()];
    const members = sets.reduce((n, p) => n + p.members.size, 0);
    rows.push(
      `state: ${SIZE.clusterPods} cluster pods, ${SIZE.policies} cluster policies; compiled: ${pods.length} local pods, ` +
        `${s0.policies.size} policies, ${sets.length} peer sets, ${members} members`,
    );
    const initial = await record('full render (first sync, empty)', s0, () => dp.sync(s0, fullDelta(s0)));
    const c = dp.counts();
    rows.push(
      `kernel objects: ${c.chains} chains, ${c.rules} rules, ${c.ipsets} ipsets, ${c.members} members`,
    );

    // 1. Label change: a remote pod leaves its tier set for another tier of the same namespace.
    const tiers = sets.filter(
      (p) => p.key.includes(':tier-') && p.key.startsWith(`pods:${sets[0].key.split(':')[1]}`),
    );
    const [from, to] =
      tiers.length >= 2 ? tiers : sets.filter((p) => p.def.kind === 'pods' && p.def.namespace);
    const mover = [...from.members].find((m) => !to.members.has(m))!;
    let s1 = withMembers(
      s0,
      from.key,
      [...from.members].filter((m) => m !== mover),
    );
    s1 = withMembers(s1, to.key, [...to.members, mover]);
    const label = await record('one member change (label change)', s1, () =>
      dp.sync(s1, deltaBetween(s0, s1)),
    );

    // 2. A pod added on this node, selected by an existing policy, joining the sets its labels match.
    const existing = pods[0];
    const newPod: PodRules = {
      ...existing,
      key: `${existing.namespace}/new-pod`,
      name: 'new-pod',
      ips: [podIP(SIZE.clusterPods + 1)],
    };
    const joins = sets
      .filter((p) => p.members.has(existing.ips[0]) && p.def.kind === 'pods')
      .map((p) => p.key);
    const s2 = withPod(s1, newPod, joins);
    const podAdded = await record('one pod added', s2, () => dp.sync(s2, deltaBetween(s1, s2)));

    // 3. A policy added: selects one local pod, admits a new peer set (100 pods of a namespace).
    const target = pods[1];
    const newPolicy: CompiledPolicy = {
      key: `${target.namespace}/new-policy`,
      namespace: target.namespace,
      name: 'new-policy',
      ingress: [
        { index: 0, peers: ['pods:new-peers'], ports: [{ kind: 'port', protocol: 'TCP', port: 9443 }] },
      ],
      egress: null,
    };
    const peers = podsSet(
      'pods:new-peers',
      Array.from({ length: 100 }, (_, i) => podIP(i * 97)),
      {
        namespace: target.namespace,
        podSelector: { matchLabels: { role: 'new-peers' } },
      },
    );
    const s3: CompiledState = {
      pods: new Map([
        ...s2.pods,
        [target.key, { ...target, ingress: [...target.ingress, newPolicy.key].sort() }],
      ]),
      policies: new Map([...s2.policies, [newPolicy.key, newPolicy]]),
      clusterPolicies: s2.clusterPolicies,
      peerSets: new Map([...s2.peerSets, [peers.key, peers]]),
    };
    const policyAdded = await record('one policy added', s3, () => dp.sync(s3, deltaBetween(s2, s3)));

    // The same state rewritten whole, as kube-router does on every sync.
    const full = createDataplane({ kernel, mode: 'full' });
    const resync = await record('full-mode resync of the same state', s3, () => full.sync(s3, fullDelta(s3)));

    for (const st of [label, podAdded, policyAdded]) {
      expect(st.restoreBytes).toBeLessThan(initial.restoreBytes / 50);
      expect(st.restoreBytes).toBeLessThan(resync.restoreBytes / 50);
      expect(st.spawns).toBeLessThanOrEqual(4);
    }
    expect(label.iptablesLines).toBe(0);
  });
});
