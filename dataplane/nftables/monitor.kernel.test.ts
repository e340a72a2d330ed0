/**
 * The drift watch against the real kernel: `nft monitor` in the test's own network namespace
 * reports a foreign change to Palisade's table as it happens, never Palisade's own commits nor
 * another table's, and a repair driven by it restores the table (how fast is the bench's to say:
 * tests never assert on wall time, so the waits here are generous).
 */
import fc from 'fast-check';
import { type Dataplane, type ForeignChange, createDataplane } from '../api';
import { ProcessKernel } from '../kernel';
import { deltaBetween, fullDelta, withMembers } from '../testutil/fixtures';
import { stateArb } from '../testutil/generate';
import { addNetns, deleteNetns, describeKernel, inNs, must, uniqueId } from '../testutil/netns';

jest.setTimeout(120_000);

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  const t0 = performance.now();
  while (performance.now() - t0 < 20_000) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

describeKernel('nftables drift watch against the kernel', () => {
  let ns: string;
  let dp: Dataplane;
  const seen: ForeignChange[] = [];
  const repairs: Promise<unknown>[] = [];

  beforeAll(async () => {
    ns = `${uniqueId()}m`;
    await addNetns(ns);
    dp = createDataplane({ kernel: new ProcessKernel({ netns: ns }), backend: 'nftables' });
    expect(
      dp.watchDrift((c) => {
        seen.push(c);
        repairs.push(dp.repairDrift());
      }),
    ).toBe(true);
  });

  afterAll(async () => {
    await Promise.allSettled(repairs);
    await dp?.close();
    if (ns) await deleteNetns(ns);
  });

  test("Palisade's own commits and other tables' are not reported; a foreign edit is, and is repaired", async () => {
    const [s0, s1] = fc.sample(stateArb, { numRuns: 2, seed: 31 });
    await dp.sync(s0, fullDelta(s0));
    await dp.sync(s1, deltaBetween(s0, s1));
    const member = [...s1.peerSets.values()].find((p) => p.def.kind === 'pods');
    let prev = s1;
    if (member) {
      const next = withMembers(s1, member.key, ['10.2.99.1']);
      await dp.sync(next, deltaBetween(s1, next));
      prev = next;
    }
    await dp.collectGarbage();
    await must(
      inNs(ns, [
        'nft',
        'add table ip someone-else; add chain ip someone-else c; add rule ip someone-else c counter',
      ]),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
    expect(dp.driftWatch()).toMatchObject({ running: true, foreignChanges: 0 });

    // Someone flushes the base chain: every isolated pod loses its dispatch.
    await must(inNs(ns, ['nft', 'flush chain inet palisade forward-4']));
    await until(
      'the repair',
      async () => seen.length > 0 && (await dp.checkDrift()).differences.length === 0,
    );
    expect(seen[0]).toMatchObject({ certain: true, comm: 'nft' });
    expect(seen[0].events.join('\n')).toContain('inet palisade');
    expect(dp.driftWatch()?.foreignChanges).toBe(1);
    // And the state is what the last sync wanted.
    await dp.sync(prev, deltaBetween(prev, prev));
    expect((await dp.checkDrift()).differences).toEqual([]);
  });

  test('a deleted table is reported and recreated', async () => {
    const before = seen.length;
    await must(inNs(ns, ['nft', 'delete table inet palisade']));
    await until(
      'the table back',
      async () => seen.length > before && (await dp.checkDrift()).differences.length === 0,
    );
    expect(await must(inNs(ns, ['nft', 'list', 'tables']))).toContain('inet palisade');
  });
});
