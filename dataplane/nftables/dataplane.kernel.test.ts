/**
 * The nftables backend against the real kernel, inside a network namespace this test creates:
 * read-back equals the render after any sequence of diffs (NetworkPolicies and the cluster policy
 * tiers), other tools' tables survive byte for byte, a label change costs the same whatever the
 * cluster size, full and incremental modes agree, a restart adopts, deletions collected later
 * leave the same kernel, and nft's real error output yields the failing line.
 */
import fc from 'fast-check';
import type { CompiledState } from '../../compiler/ir';
import { compileSnapshot } from '../../compiler/incremental';
import { type DataplaneView, createDataplane } from '../api';
import { DesiredState } from '../desired';
import { tablesView } from '../engine';
import { ProcessKernel } from '../kernel';
import { EMPTY_STATE, deltaBetween, fullDelta, withMembers } from '../testutil/fixtures';
import { stateArb, syntheticCluster } from '../testutil/generate';
import { GOLDEN_STATES } from '../testutil/golden-states';
import { addNetns, deleteNetns, describeKernel, inNs, must, uniqueId } from '../testutil/netns';
import { clusterArb, replay } from '../testutil/tier-clusters';
import { DEFAULT_MARK_BIT } from '../tiers';
import { FakeNft } from './fake-nft';
import { nftablesRenderer } from './render';
import { NftError } from './session';

jest.setTimeout(300_000);

/** A view reduced to what must match: names, rule hashes in order, base chains, set types and members. */
function essence(v: DataplaneView): string[] {
  return [
    ...v.chains.map(
      (c) =>
        `chain ${c.family} ${c.name}${c.base ? ` ${JSON.stringify(c.base)}` : ''}: ${c.rules.map((r) => r.hash).join(' ')}`,
    ),
    ...v.ipsets.map((s) => `set ${s.name} ${s.type} ${s.family}: ${s.members.join(', ')}`),
  ].sort();
}

/** The desired view a fresh render of `s` has (no kernel involved). */
function rendered(s: CompiledState): string[] {
  const d = DesiredState.build(s, nftablesRenderer([4, 6], { markBit: DEFAULT_MARK_BIT }));
  return essence(tablesView('nftables', d.tables, undefined));
}

const FOREIGN = `table inet foreign {
  set blocked { type ipv4_addr; elements = { 10.77.0.9 } }
  chain input { type filter hook input priority 0; policy accept; tcp dport 22 counter packets 11 bytes 660 accept; }
  chain forward { type filter hook forward priority -1; policy accept; ip saddr 10.77.0.0/16 counter packets 7 bytes 420 accept comment "someone else"; ip saddr @blocked drop; }
}
table ip nat-foreign {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; ip saddr 10.77.0.0/16 counter packets 9 bytes 540 masquerade; }
}
`;

describeKernel('nftables dataplane against the kernel', () => {
  let ns: string;
  let kernel: ProcessKernel;
  const open: { close(): Promise<void> }[] = [];
  const nftables = (mode: 'full' | 'incremental' = 'incremental') => {
    const dp = createDataplane({ kernel, backend: 'nftables', mode });
    open.push(dp);
    return dp;
  };

  beforeAll(async () => {
    ns = `${uniqueId()}k`;
    await addNetns(ns);
    kernel = new ProcessKernel({ netns: ns });
  });

  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });

  afterAll(async () => {
    if (ns) await deleteNetns(ns);
  });

  /** Every table but ours, as `nft list` prints it, with handles and counters. */
  async function foreignState(): Promise<string> {
    const tables = (await must(inNs(ns, ['nft', 'list', 'tables'])))
      .split('\n')
      .filter((l) => l && l !== 'table inet palisade');
    const out: string[] = [];
    for (const t of tables) out.push(await must(inNs(ns, ['nft', '-a', 'list', ...t.split(' ')])));
    // iptables-nft's own view of the same kernel, with counters.
    out.push(await must(inNs(ns, ['iptables-save', '-c'])));
    return out.join('\n').replace(/^# .*$/gm, '');
  }

  test("other tools' tables, rules, counters and sets are byte-identical after many applies", async () => {
    await must(inNs(ns, ['nft', '-f', '-']), FOREIGN);
    await must(
      inNs(ns, ['iptables-restore', '--noflush', '--counters']),
      '*filter\n[7:420] -A FORWARD -s 10.78.0.0/16 -j ACCEPT\nCOMMIT\n',
    );
    const before = await foreignState();
    expect(before).toContain('packets 7 bytes 420');

    const states = fc.sample(stateArb, { numRuns: 12, seed: 42 });
    const incremental = nftables();
    let prev: CompiledState = EMPTY_STATE;
    await incremental.sync(prev, fullDelta(prev));
    for (const s of states) {
      await incremental.sync(s, deltaBetween(prev, s));
      prev = s;
    }
    await incremental.collectGarbage();
    await incremental.repairDrift();
    const full = nftables('full');
    for (const s of states.slice(0, 4)) await full.sync(s, fullDelta(s));
    await nftables().sync(prev, fullDelta(prev));
    expect(await foreignState()).toBe(before);

    const report = await incremental.cleanup();
    expect(report.chains).toBeGreaterThan(0);
    expect(await foreignState()).toBe(before);
    expect(await must(inNs(ns, ['nft', 'list', 'tables']))).not.toContain('palisade');
  });

  test('property: after any sequence of diffs the kernel reads back exactly as the last state renders', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stateArb, { minLength: 1, maxLength: 5 }), async (states) => {
        // Each run starts from whatever the previous one left: the first sync adopts it.
        const dp = nftables();
        let prev = states[0];
        await dp.sync(prev, fullDelta(prev));
        for (const s of states.slice(1)) {
          await dp.sync(s, deltaBetween(prev, s));
          prev = s;
        }
        const beforeGc = (await dp.checkDrift()).differences;
        // Only unused objects may remain before collection, and collection removes exactly those.
        expect(beforeGc.every((d) => d.endsWith('not desired'))).toBe(true);
        await dp.collectGarbage();
        expect(essence(await dp.kernelView())).toEqual(rendered(prev));
        expect((await dp.checkDrift()).differences).toEqual([]);
        await dp.close();
      }),
      { numRuns: Number(process.env.PALISADE_PROPERTY_RUNS ?? 15) },
    );
  });

  test('property: ClusterNetworkPolicy tiers, through compiler events, read back as the last state renders', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(clusterArb, { minLength: 2, maxLength: 4 }), async (clusters) => {
        const compiler = compileSnapshot(clusters[0], { nodeName: 'node-1' });
        const dp = nftables();
        await dp.sync(compiler.state(), fullDelta(compiler.state()));
        for (let i = 1; i < clusters.length; i++) {
          replay(compiler, clusters[i - 1], clusters[i]);
          await dp.sync(compiler.state(), compiler.flush());
        }
        await dp.collectGarbage();
        expect(essence(await dp.kernelView())).toEqual(rendered(compiler.state()));
        expect((await dp.checkDrift()).differences).toEqual([]);
        await dp.close();
      }),
      { numRuns: Number(process.env.PALISADE_PROPERTY_RUNS ?? 10) },
    );
  });

  test('full and incremental modes leave the same kernel state', async () => {
    const states = fc.sample(stateArb, { numRuns: 5, seed: 99 });
    const viewAfter = async (mode: 'full' | 'incremental'): Promise<string[]> => {
      const dp = nftables(mode);
      await dp.cleanup();
      let prev: CompiledState = EMPTY_STATE;
      await dp.sync(prev, fullDelta(prev));
      for (const s of states) {
        await dp.sync(s, deltaBetween(prev, s));
        prev = s;
      }
      await dp.collectGarbage();
      return essence(await dp.kernelView());
    };
    const full = await viewAfter('full');
    const incremental = await viewAfter('incremental');
    expect(full).toEqual(incremental);
    expect(incremental).toEqual(rendered(states[states.length - 1]));
  });

  test('a restart adopts the kernel: no transaction at all when it already matches', async () => {
    const s = fc.sample(stateArb, { numRuns: 1, seed: 5 })[0];
    await nftables().sync(s, fullDelta(s));
    const stats = await nftables().sync(s, fullDelta(s));
    expect(stats).toMatchObject({ restoreBytes: 0, transactions: 0, readBack: true });
  });

  test('a one-pod label change costs the same bytes in a ten times larger cluster', async () => {
    const cost = async (clusterPods: number): Promise<{ bytes: number; lines: number }> => {
      const { state: s } = syntheticCluster({ clusterPods, localPods: 11, policies: 100, seed: 3 });
      const dp = nftables();
      await dp.cleanup();
      await dp.sync(s, fullDelta(s));
      const [from, to] = [...s.peerSets.values()].filter((p) => p.def.kind === 'pods' && p.def.namespace);
      const mover = [...from.members].find((m) => !to.members.has(m))!;
      let next = withMembers(
        s,
        from.key,
        [...from.members].filter((m) => m !== mover),
      );
      next = withMembers(next, to.key, [...to.members, mover]);
      const stats = await dp.sync(next, deltaBetween(s, next));
      expect(essence(await dp.kernelView())).toEqual(rendered(next));
      expect(stats.transactions).toBe(1);
      return { bytes: stats.restoreBytes, lines: stats.nftLines };
    };
    const small = await cost(1000);
    const large = await cost(10000);
    expect(small.lines).toBe(2);
    expect(large.lines).toBe(2);
    expect(large.bytes).toBeLessThanOrEqual(small.bytes + 8);
  });

  test('FakeNft reads back exactly as the real kernel after each of the same syncs', async () => {
    const states = [...GOLDEN_STATES.map(([, g]) => g), ...fc.sample(stateArb, { numRuns: 6, seed: 77 })];
    const fake = new FakeNft();
    const onFake = createDataplane({ kernel: fake, backend: 'nftables' });
    const onKernel = nftables();
    await onKernel.cleanup();
    // Rule texts too: the real kernel's JSON and FakeNft's print the same canonical rules.
    const full = (v: DataplaneView): string[] => [
      ...v.chains.map(
        (c) =>
          `${c.name} ${JSON.stringify(c.base)}: ${c.rules.map((r) => `${r.hash} ${r.text}`).join(' | ')}`,
      ),
      ...v.ipsets.map((x) => `${x.name} ${x.type}: ${x.members.join(', ')}`),
    ];
    let prev: CompiledState = EMPTY_STATE;
    for (const dp of [onFake, onKernel]) await dp.sync(prev, fullDelta(prev));
    for (const s of states) {
      for (const dp of [onFake, onKernel]) {
        await dp.sync(s, deltaBetween(prev, s));
        await dp.collectGarbage();
      }
      prev = s;
      const realView = await onKernel.kernelView();
      expect(full(await onFake.kernelView())).toEqual(full(realView));
      expect(realView.chains.flatMap((c) => c.rules).every((r) => !r.hash.startsWith('altered:'))).toBe(true);
      expect(essence(realView)).toEqual(rendered(s));
    }
    await onFake.close();
  });

  test("nft's own error output names the failing line of a refused transaction", async () => {
    const dp = nftables();
    const s = fc.sample(stateArb, { numRuns: 1, seed: 8 })[0];
    await dp.sync(s, fullDelta(s));
    // Someone deletes our table between two syncs: the next incremental transaction is refused.
    await must(inNs(ns, ['nft', 'delete', 'table', 'inet', 'palisade']));
    const next = fc.sample(stateArb, { numRuns: 1, seed: 9 })[0];
    const err = (await dp.sync(next, deltaBetween(s, next)).catch((e: unknown) => e)) as NftError;
    expect(err).toBeInstanceOf(NftError);
    expect(err.lineNumber).toBeGreaterThan(0);
    expect(err.lines.some((l) => l.startsWith('>'))).toBe(true);
    expect(err.missing).toBe(true);
    // The failure makes the next sync re-read the kernel and converge.
    const stats = await dp.sync(next, deltaBetween(s, next));
    expect(stats.readBack).toBe(true);
    await dp.collectGarbage();
    expect(essence(await dp.kernelView())).toEqual(rendered(next));
  });
});
