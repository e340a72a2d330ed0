/**
 * IpsetSession against the real ipset in a network namespace of its own: batches apply line by
 * line, a refused line is named with the lines around it, the sentinel creates nothing, a killed
 * child is replaced.
 */
import { ApplyError } from '../kernel';
import { SpawnStarter } from '../process';
import { addNetns, deleteNetns, describeKernel, inNs, must, uniqueId } from '../testutil/netns';
import { IpsetSession } from './ipset-session';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describeKernel('IpsetSession (real ipset)', () => {
  const ns = `${uniqueId()}i`;
  let session: IpsetSession;

  beforeAll(async () => {
    await addNetns(ns);
    session = new IpsetSession({ starter: new SpawnStarter({ netns: ns }), binary: 'ipset', logger: silent });
  });
  afterAll(async () => {
    await session?.close();
    await deleteNetns(ns);
  });

  const members = async (set: string): Promise<string[]> =>
    (await must(inNs(ns, ['ipset', 'list', set])))
      .split('Members:\n')[1]
      .split('\n')
      .filter((l) => l)
      .sort();

  test('applies restore-format lines, with -exist semantics', async () => {
    await session.run([
      'create PALISADE-T4 hash:ip family inet hashsize 1024 maxelem 1048576',
      'add PALISADE-T4 10.0.0.1',
      'add PALISADE-T4 10.0.0.2',
      'create PALISADE-N4 hash:net family inet hashsize 1024 maxelem 1048576',
      'add PALISADE-N4 10.0.0.0/8',
      'add PALISADE-N4 10.1.0.0/16 nomatch',
    ]);
    // Re-adding, deleting what is not there: no error, as with `ipset restore -exist`.
    await session.run(['add PALISADE-T4 10.0.0.2', 'del PALISADE-T4 10.0.0.9', 'del PALISADE-T4 10.0.0.1']);
    expect(await members('PALISADE-T4')).toEqual(['10.0.0.2']);
    expect(await members('PALISADE-N4')).toEqual(['10.0.0.0/8', '10.1.0.0/16 nomatch']);
    const sets = (await must(inNs(ns, ['ipset', 'list', '-n']))).split('\n').filter((l) => l);
    expect(sets.sort()).toEqual(['PALISADE-N4', 'PALISADE-T4']);
    expect(session.stats).toMatchObject({ batches: 2, lines: 9, starts: 1, deaths: 0 });
  });

  test('a refused line is named, with the lines around it; the session goes on', async () => {
    const err = (await session
      .run(['add PALISADE-T4 10.0.0.3', 'add PALISADE-NOSUCH 10.0.0.4', 'add PALISADE-T4 10.0.0.5'])
      .catch((e: unknown) => e)) as ApplyError;
    expect(err).toBeInstanceOf(ApplyError);
    expect(err.lineNumber).toBe(2);
    expect(err.lines.find((l) => l.startsWith('>'))).toContain('PALISADE-NOSUCH');
    expect(err.stderr).toMatch(/does not exist/);
    await session.run(['add PALISADE-T4 10.0.0.6']);
    expect(await members('PALISADE-T4')).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.5', '10.0.0.6']);
  });

  test('a child killed between batches is replaced', async () => {
    // Only the session's own child, by its pid.
    expect(session.pid).toBeGreaterThan(0);
    process.kill(session.pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
    await session.run(['add PALISADE-T4 10.0.0.7']);
    expect(await members('PALISADE-T4')).toContain('10.0.0.7');
    expect(session.stats.starts).toBe(2);
  });
});
