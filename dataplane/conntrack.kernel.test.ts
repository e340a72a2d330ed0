/**
 * ConntrackTable against the real conntrack tool, in a namespace of its own: a listing by a
 * prefix in CIDR notation returns the entries whose original source or destination lies in it,
 * and only those (the flow cutter's covering prefixes rely on it), in both families.
 */
import { ConntrackTable, flowGroupKey } from './conntrack';
import { ProcessKernel } from './kernel';
import { addNetns, deleteNetns, describeKernel, inNs, must, uniqueId } from './testutil/netns';

describeKernel('conntrack listings by prefix', () => {
  const ns = `${uniqueId()}-ct`;
  const table = new ConntrackTable(new ProcessKernel({ netns: ns }));

  /** An established TCP entry, made without traffic. */
  const insert = (src: string, dst: string, dport: number) =>
    must(
      inNs(ns, [
        'conntrack',
        '-I',
        '-p',
        'tcp',
        '-s',
        src,
        '-d',
        dst,
        '--sport',
        '40000',
        '--dport',
        String(dport),
        '--state',
        'ESTABLISHED',
        '-t',
        '120',
      ]),
    );

  beforeAll(async () => {
    await addNetns(ns);
    await insert('10.0.1.5', '10.0.9.9', 80); // source in 10.0.1.4/30
    await insert('10.0.9.9', '10.0.1.7', 81); // destination in it
    await insert('10.0.1.8', '10.0.9.9', 82); // just outside
    await insert('fd00::1:5', 'fd00::9:9', 83);
    await insert('fd00::9:9', 'fd00::2:1', 84);
  });

  afterAll(() => deleteNetns(ns));

  test('IPv4: the prefix, on either side', async () => {
    const flows = await table.flowsIn('10.0.1.4/30');
    expect(flows.map(flowGroupKey).sort()).toEqual(['tcp 10.0.1.5 10.0.9.9 80', 'tcp 10.0.9.9 10.0.1.7 81']);
  });

  test('IPv6, and a single address', async () => {
    expect((await table.flowsIn('fd00::1:0/112')).map(flowGroupKey)).toEqual(['tcp fd00::1:5 fd00::9:9 83']);
    expect((await table.flowsIn('fd00::2:1')).map(flowGroupKey)).toEqual(['tcp fd00::9:9 fd00::2:1 84']);
  });
});
