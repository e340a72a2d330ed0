/**
 * The engine against the real kernel, inside a network namespace this test creates: read-back
 * equals the render after any sequence of diffs, other tools' objects survive byte for byte,
 * a label change costs the same whatever the cluster size, full and incremental modes agree,
 * a restart adopts, and the tools' real error output yields the failing lines.
 */
import fc from 'fast-check';
import type { CompiledState } from '../../compiler/ir';
import { type DataplaneView, createDataplane } from '../api';
import { ApplyError, ProcessKernel, failingLineNumber } from '../kernel';
import { EMPTY_STATE, deltaBetween, fullDelta, withMembers } from '../testutil/fixtures';
import { stateArb, syntheticCluster } from '../testutil/generate';
import { clusterArb, replay } from '../testutil/tier-clusters';
import { compileSnapshot } from '../../compiler/incremental';
import { FakeKernel } from './fake-kernel';
import { addNetns, deleteNetns, describeKernel, inNs, must, run, uniqueId } from '../testutil/netns';

jest.setTimeout(300_000);

/** A view reduced to what must match: names, rule hashes in order, hooks, set types and members. */
function essence(v: DataplaneView): string[] {
  return [
    ...v.chains.map((c) => `chain ${c.family} ${c.name}: ${c.rules.map((r) => r.hash).join(' ')}`),
    ...v.hooks.map((h) => `hook ${h.family} ${h.builtin}@${h.position} -> ${h.target}`),
    ...v.ipsets.map((s) => `set ${s.name} ${s.type} ${s.family}: ${s.members.join(' ')}`),
  ].sort();
}

/** The desired view a fresh render of `s` has (no kernel involved). */
async function rendered(s: CompiledState): Promise<string[]> {
  const dp = createDataplane({ kernel: new FakeKernel() });
  await dp.sync(s, fullDelta(s));
  return essence(dp.desiredView());
}

const FOREIGN_FILTER = `*filter
:FOREIGN-FW - [0:0]
[11:660] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
[7:420] -A FORWARD -s 10.77.0.0/16 -m comment --comment "someone else" -j ACCEPT
[5:300] -A FORWARD -j FOREIGN-FW
[2:120] -A OUTPUT -d 10.77.7.7/32 -j DROP
[3:180] -A FOREIGN-FW -m set --match-set foreign-set src -j DROP
COMMIT
*nat
:FOREIGN-NAT - [0:0]
[9:540] -A POSTROUTING -s 10.77.0.0/16 -j MASQUERADE
[1:60] -A PREROUTING -j FOREIGN-NAT
COMMIT
`;

describeKernel('dataplane against the kernel', () => {
  let ns: string;
  let kernel: ProcessKernel;

  beforeAll(async () => {
    ns = `${uniqueId()}k`;
    await addNetns(ns);
    kernel = new ProcessKernel({ netns: ns });
  });

  afterAll(async () => {
    if (ns) await deleteNetns(ns);
  });

  /** Foreign objects as the kernel prints them, our lines and save timestamps left out. */
  async function foreignState(): Promise<string> {
    const out: string[] = [];
    for (const argv of [
      ['iptables-save', '-c'],
      ['ip6tables-save', '-c'],
      ['ipset', 'save'],
    ]) {
      const text = await must(inNs(ns, argv));
      out.push(...text.split('\n').filter((l) => !l.startsWith('#') && !l.includes('PALISADE-')));
    }
    return out.join('\n');
  }

  test("other tools' rules, counters and sets are byte-identical after many applies", async () => {
    await must(
      inNs(ns, ['ipset', 'restore']),
      'create foreign-set hash:ip family inet\nadd foreign-set 10.77.0.9\n',
    );
    await must(inNs(ns, ['iptables-restore', '--noflush', '--counters']), FOREIGN_FILTER);
    await must(
      inNs(ns, ['ip6tables-restore', '--noflush', '--counters']),
      '*filter\n[4:320] -A FORWARD -s fd77::/64 -j ACCEPT\n[6:480] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n',
    );
    const before = await foreignState();
    expect(before).toContain('[7:420] -A FORWARD -s 10.77.0.0/16');

    const states = fc.sample(stateArb, { numRuns: 12, seed: 42 });
    const incremental = createDataplane({ kernel });
    let prev: CompiledState = EMPTY_STATE;
    await incremental.sync(prev, fullDelta(prev));
    for (const s of states) {
      await incremental.sync(s, deltaBetween(prev, s));
      prev = s;
    }
    await incremental.repairDrift();
    const full = createDataplane({ kernel, mode: 'full' });
    for (const s of states.slice(0, 4)) await full.sync(s, fullDelta(s));
    await createDataplane({ kernel }).sync(prev, fullDelta(prev));
    expect(await foreignState()).toBe(before);

    // Our hooks came first all along; the foreign rules kept their order after them.
    const forward = (await must(inNs(ns, ['iptables-save', '-t', 'filter'])))
      .split('\n')
      .filter((l) => l.startsWith('-A FORWARD'));
    expect(forward[0]).toContain('-j PALISADE-FORWARD');

    const report = await incremental.cleanup();
    expect(report.hooks).toBe(2); // FORWARD, per family
    expect(await foreignState()).toBe(before);
    const after = [
      await must(inNs(ns, ['iptables-save'])),
      await must(inNs(ns, ['ip6tables-save'])),
      await must(inNs(ns, ['ipset', 'list', '-n'])),
    ].join('\n');
    expect(after).not.toContain('PALISADE');
  });

  test('property: after any sequence of diffs the kernel reads back exactly as the last state renders', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stateArb, { minLength: 1, maxLength: 5 }), async (states) => {
        // Each run starts from whatever the previous one left: the first sync adopts it.
        const dp = createDataplane({ kernel });
        let prev = states[0];
        await dp.sync(prev, fullDelta(prev));
        for (const s of states.slice(1)) {
          await dp.sync(s, deltaBetween(prev, s));
          prev = s;
        }
        const want = await rendered(prev);
        expect(essence(await dp.kernelView())).toEqual(want);
        expect((await dp.checkDrift()).differences).toEqual([]);
      }),
      { numRuns: Number(process.env.PALISADE_PROPERTY_RUNS ?? 15) },
    );
  });

  test('property: ClusterNetworkPolicy tiers, through compiler events, read back as the last state renders', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(clusterArb, { minLength: 2, maxLength: 4 }), async (clusters) => {
        const compiler = compileSnapshot(clusters[0], { nodeName: 'node-1' });
        const dp = createDataplane({ kernel });
        await dp.sync(compiler.state(), fullDelta(compiler.state()));
        for (let i = 1; i < clusters.length; i++) {
          replay(compiler, clusters[i - 1], clusters[i]);
          await dp.sync(compiler.state(), compiler.flush());
        }
        expect(essence(await dp.kernelView())).toEqual(await rendered(compiler.state()));
        expect((await dp.checkDrift()).differences).toEqual([]);
      }),
      { numRuns: Number(process.env.PALISADE_PROPERTY_RUNS ?? 10) },
    );
  });

  test('full and incremental modes leave the same kernel state', async () => {
    const states = fc.sample(stateArb, { numRuns: 5, seed: 99 });
    const viewAfter = async (mode: 'full' | 'incremental'): Promise<string[]> => {
      const dp = createDataplane({ kernel, mode });
      await dp.cleanup();
      let prev: CompiledState = EMPTY_STATE;
      await dp.sync(prev, fullDelta(prev));
      for (const s of states) {
        await dp.sync(s, deltaBetween(prev, s));
        prev = s;
      }
      return essence(await dp.kernelView());
    };
    const full = await viewAfter('full');
    const incremental = await viewAfter('incremental');
    expect(full).toEqual(incremental);
    expect(incremental).toEqual(await rendered(states[states.length - 1]));
  });

  test('a restart adopts the kernel: no restore at all when it already matches', async () => {
    const s = fc.sample(stateArb, { numRuns: 1, seed: 5 })[0];
    await createDataplane({ kernel }).sync(s, fullDelta(s));
    const stats = await createDataplane({ kernel }).sync(s, fullDelta(s));
    expect(stats).toMatchObject({ restoreBytes: 0, readBack: true, spawns: 3 });
  });

  test('a one-pod label change costs the same restore bytes in a ten times larger cluster', async () => {
    const cost = async (clusterPods: number): Promise<{ bytes: number; iptables: number }> => {
      const { state: s } = syntheticCluster({ clusterPods, localPods: 11, policies: 100, seed: 3 });
      const dp = createDataplane({ kernel });
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
      expect(essence(await dp.kernelView())).toEqual(await rendered(next));
      return { bytes: stats.restoreBytes, iptables: stats.iptablesLines };
    };
    const small = await cost(1000);
    const large = await cost(10000);
    expect(small.iptables).toBe(0);
    expect(large.iptables).toBe(0);
    expect(large.bytes).toBeLessThanOrEqual(small.bytes + 8);
  });

  test("the tools' own error output names the failing line, and ApplyError shows the lines around it", async () => {
    const bad =
      '*filter\n:PALISADE-T - [0:0]\n-A PALISADE-T -m set --match-set PALISADE-NOSET src -j RETURN\n-A PALISADE-T -j RETURN\nCOMMIT\n';
    const r = await kernel.run(['iptables-restore', '--noflush', '--wait'], bad);
    expect(r.code).not.toBe(0);
    expect(failingLineNumber(r.stderr)).toBe(3);
    const err = new ApplyError(['iptables-restore'], r, bad);
    expect(err.lines.find((l) => l.startsWith('>'))).toContain('PALISADE-NOSET');
    expect(err.lines).toHaveLength(5);

    const badSet =
      'create PALISADE-T hash:ip family inet\nadd PALISADE-T 10.0.0.1\nadd PALISADE-T not-an-ip\n';
    const s = await kernel.run(['ipset', 'restore', '-exist'], badSet);
    expect(failingLineNumber(s.stderr)).toBe(3);
    await run(inNs(ns, ['ipset', 'destroy', 'PALISADE-T']));
  });
});
