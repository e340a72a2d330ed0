/**
 * Drift is noticed as it happens and repaired, on each backend, in a network namespace this test
 * creates: the dataplane's drift watch (nftables: `nft monitor` of Palisade's table; iptables-nft:
 * `nft monitor` of Palisade's chains in the filter tables, and the ipset count check) reports a
 * pod chain flushed by hand and a peer set member deleted by hand, the repair it triggers puts
 * them back, and Palisade's own applies are never reported. The times from the hand change to
 * the finished repair are printed: the figures for the reliability notes.
 */
import { type BackendKind, type Dataplane, type ForeignChange, createDataplane } from './api';
import { ProcessKernel } from './kernel';
import { waitUntil } from './testutil/continuous-prober';
import { fullDelta } from './testutil/fixtures';
import { allowFromNamespace } from './testutil/golden-states';
import { addNetns, deleteNetns, describeKernel, inNs, must, uniqueId } from './testutil/netns';

jest.setTimeout(120_000);

/** Time given to the watch to notice a change (a loaded machine); the figure is printed. */
const NOTICE_LIMIT_MS = 15_000;

describeKernel('drift noticed and repaired as it happens', () => {
  describe.each<BackendKind>(['iptables', 'nftables'])('%s backend', (backend) => {
    let ns: string;
    let dp: Dataplane;
    const reports: ForeignChange[] = [];
    const repairs: { at: number; differences: readonly string[] }[] = [];

    beforeAll(async () => {
      ns = `${uniqueId()}d`;
      await addNetns(ns);
      dp = createDataplane({ kernel: new ProcessKernel({ netns: ns }), backend });
      // As the agent does: each report asks for the full check and repair.
      expect(
        dp.watchDrift((change) => {
          reports.push(change);
          void dp.repairDrift().then(
            (r) => repairs.push({ at: Date.now(), differences: r.differences }),
            () => undefined,
          );
        }),
      ).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      await dp.sync(allowFromNamespace, fullDelta(allowFromNamespace));
    });

    afterAll(async () => {
      await dp?.close();
      if (ns) await deleteNetns(ns);
    });

    /** Makes a change by hand; resolves with the time until a repair that found drift finished. */
    async function tamper(argv: string[]): Promise<number> {
      const before = repairs.length;
      const start = Date.now();
      await must(inNs(ns, argv));
      await waitUntil(
        () => repairs.slice(before).some((r) => r.differences.length > 0),
        NOTICE_LIMIT_MS,
        `repair after: ${argv.join(' ')}`,
      );
      const repaired = repairs.slice(before).find((r) => r.differences.length > 0)!;
      expect((await dp.checkDrift()).differences).toEqual([]);
      return repaired.at - start;
    }

    test("Palisade's own applies are not reported", async () => {
      await new Promise((r) => setTimeout(r, 2500));
      expect(reports).toEqual([]);
      expect((await dp.checkDrift()).differences).toEqual([]);
    });

    test('a flushed pod chain and a deleted set member are put back', async () => {
      const view = dp.desiredView();
      const chain = view.chains.find((c) => c.kind === 'pod' && c.owner === 'shop/web' && c.family === 4)!;
      const set = view.ipsets.find(
        (s) => s.role === 'peer' && s.family === 4 && s.members.includes('10.2.0.1'),
      )!;
      expect(chain).toBeDefined();
      expect(set).toBeDefined();
      const flush =
        backend === 'iptables'
          ? ['iptables', '-t', 'filter', '-F', chain.name]
          : ['nft', 'flush', 'chain', 'inet', 'palisade', chain.name];
      const unset =
        backend === 'iptables'
          ? ['ipset', 'del', set.name, '10.2.0.1']
          : ['nft', 'delete', 'element', 'inet', 'palisade', set.name, '{ 10.2.0.1 }'];
      const chainMs = await tamper(flush);
      const memberMs = await tamper(unset);
      console.log(
        `${backend}: a flushed chain repaired ${chainMs} ms after the flush, a deleted set member ${memberMs} ms after the deletion`,
      );
    });
  });
});
