/**
 * NftSession against the real nft in a network namespace of its own: transactions commit or
 * fail as a whole with the failing line reported, lists come back as JSON, a killed child is
 * replaced, recycling swaps children without losing anything.
 */
import { SpawnStarter } from '../process';
import { addNetns, deleteNetns, describeKernel, must, uniqueId } from '../testutil/netns';
import { NftError, NftSession } from './session';

describeKernel('NftSession (real nft)', () => {
  const ns = `${uniqueId()}s`;
  let session: NftSession;

  beforeAll(async () => {
    await addNetns(ns);
  });
  afterAll(async () => {
    await session?.close();
    await deleteNetns(ns);
  });

  const tables = async (): Promise<string> => must(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables']);

  test('commits a transaction, lists it back as JSON, refuses a bad one as a whole', async () => {
    session = new NftSession({ starter: new SpawnStarter({ netns: ns }) });
    await session.transact(
      [
        'add table inet sessiontest',
        'add set inet sessiontest s { type ipv4_addr; }',
        'add element inet sessiontest s { 192.0.2.1, 192.0.2.2 }',
      ].join('\n'),
    );
    const json = JSON.parse(await session.list('list table inet sessiontest')) as {
      nftables: Record<string, { name?: string; elem?: unknown[] }>[];
    };
    const set = json.nftables.find((o) => o.set)?.set;
    expect(set?.name).toBe('s');
    expect(set?.elem).toEqual(['192.0.2.1', '192.0.2.2']);

    const bad = [
      'add element inet sessiontest s { 192.0.2.3 }',
      'add chain inet sessiontest c',
      'add rule inet sessiontest nochain counter',
      'add element inet sessiontest s { 192.0.2.4 }',
    ].join('\n');
    const err = await session.transact(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftError);
    expect((err as NftError).lineNumber).toBe(3);
    expect((err as NftError).lines.find((l) => l.startsWith('>'))).toContain('nochain');
    expect((err as NftError).lost).toBe(false);
    // Nothing of the refused batch reached the kernel, not even the lines before the failing one.
    const after = JSON.parse(await session.list('list table inet sessiontest')) as {
      nftables: Record<string, { name?: string; elem?: unknown[] }>[];
    };
    expect(after.nftables.find((o) => o.set)?.set.elem).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(after.nftables.some((o) => o.chain)).toBe(false);
    expect(session.stats).toMatchObject({ transactions: 1, refused: 1, lists: 2, starts: 1, deaths: 0 });
  });

  test('a missing table is an error that says so', async () => {
    const err = await session.list('list table inet nosuchtable').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftError);
    expect((err as NftError).missing).toBe(true);
  });

  test('a killed child is replaced on the next request', async () => {
    const [pid] = session.pids();
    process.kill(pid, 'SIGKILL');
    // Wait until the session has seen the death (a request handed to the dying child fails, and
    // the engine's retry would redo it): on a busy machine the exit is reported later than 50 ms.
    for (let i = 0; i < 500 && session.stats.deaths === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await session.transact('add element inet sessiontest s { 192.0.2.5 }');
    expect(session.pids()[0]).not.toBe(pid);
    expect(session.stats.deaths).toBe(1);
    expect(await tables()).toContain('sessiontest');
  });

  test('recycles its child after recycleAfter transactions, serving every request', async () => {
    await session.close();
    session = new NftSession({ starter: new SpawnStarter({ netns: ns }), recycleAfter: 3 });
    const seen = new Set<number>();
    // A spare is swapped in only once it has answered its first sentinel, which on a busy
    // machine can take longer than a few requests: keep serving until two recycles happened.
    let served = 0;
    for (; served < 200 && (served < 10 || session.stats.recycles < 2); served++) {
      await session.transact(`add element inet sessiontest s { 198.51.100.${served} }`);
      for (const p of session.pids()) seen.add(p);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(session.stats.recycles).toBeGreaterThanOrEqual(2);
    expect(seen.size).toBeGreaterThanOrEqual(3);
    const json = JSON.parse(await session.list('list set inet sessiontest s')) as {
      nftables: Record<string, { elem?: string[] }>[];
    };
    const elems = json.nftables.find((o) => o.set)?.set.elem ?? [];
    for (let i = 0; i < served; i++) expect(elems).toContain(`198.51.100.${i}`);
  });

  test('a transaction of 20,000 elements is one include, not a long stdin line', async () => {
    const elements: string[] = [];
    for (let i = 0; i < 20000; i++) elements.push(`10.${(i >> 8) & 255}.${i & 255}.1`);
    await session.transact(
      `add set inet sessiontest big { type ipv4_addr; }\nadd element inet sessiontest big { ${elements.join(', ')} }`,
    );
    const json = JSON.parse(await session.list('list set inet sessiontest big')) as {
      nftables: Record<string, { elem?: string[] }>[];
    };
    expect(json.nftables.find((o) => o.set)?.set.elem).toHaveLength(20000);
  });

  test('only single list commands are accepted as lists', async () => {
    await expect(session.list('list table inet x; flush ruleset')).rejects.toThrow(/single list/);
    await expect(session.list('flush ruleset')).rejects.toThrow(/single list/);
  });
});
