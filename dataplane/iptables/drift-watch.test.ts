/**
 * The iptables drift watch's pure parts: which `nft monitor` events concern Palisade's
 * iptables-nft rules, and the ipset count comparison (events and `ipset list -t` text as the
 * tools print them).
 */
import type { KernelSet } from '../model';
import { iptablesEventClass, parseIpsetTerse, setCountDifferences } from './drift-watch';

describe('iptablesEventClass', () => {
  test.each([
    ['delete rule ip filter PALISADE-WI-web-KLT4KAV5 handle 2', 'ours'],
    ['add rule ip6 filter PALISADE-FORWARD ip6 saddr fd00::1 counter packets 0 bytes 0 accept', 'ours'],
    ['delete chain ip filter PALISADE-PI-allow-f-DK6BVQBR', 'ours'],
    ['delete rule ip filter FORWARD handle 4', 'maybe'],
    ['delete table ip filter', 'maybe'],
    ['flush table ip6 filter', 'maybe'],
    [
      'add rule ip filter KUBE-SERVICES ip daddr 10.96.0.1 counter packets 0 bytes 0 jump KUBE-SVC-X',
      undefined,
    ],
    ['add rule ip nat PALISADE-LOOKALIKE counter packets 0 bytes 0 accept', undefined],
    ['delete rule inet palisade pod-in4-web-KLT4KAV5 handle 9', undefined],
  ])('%s', (event, cls) => expect(iptablesEventClass(event)).toBe(cls));
});

const TERSE = `Name: PALISADE-ISO-IN-4
Type: hash:ip
Revision: 6
Header: family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x5e4f1c3a
Size in memory: 216
References: 1
Number of entries: 1
Name: PALISADE-P4-ui-5VIYJ4R4
Type: hash:ip
Revision: 6
Header: family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x1b2c3d4e
Size in memory: 232
References: 2
Number of entries: 1
Name: someone-else
Type: hash:net
Revision: 7
Header: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x00c0ffee
Size in memory: 504
References: 0
Number of entries: 7
`;

const set = (name: string, members: string[]): KernelSet => ({
  name,
  family: 4,
  type: 'hash:ip',
  role: 'peer',
  members: new Set(members),
});

describe('ipset counts', () => {
  test('parseIpsetTerse reads every set, ours or not', () => {
    expect([...parseIpsetTerse(TERSE)]).toEqual([
      ['PALISADE-ISO-IN-4', 1],
      ['PALISADE-P4-ui-5VIYJ4R4', 1],
      ['someone-else', 7],
    ]);
  });

  test('a desired set off its count or missing is a difference; matching sets and others are not', () => {
    const counts = parseIpsetTerse(TERSE);
    expect(
      setCountDifferences(
        [
          set('PALISADE-ISO-IN-4', ['10.1.0.5']),
          set('PALISADE-P4-ui-5VIYJ4R4', ['10.2.0.1', '10.2.0.2']),
          set('PALISADE-P6-ui-5VIYJ4R4', []),
        ],
        counts,
      ),
    ).toEqual([
      'ipset PALISADE-P4-ui-5VIYJ4R4 holds 1 entries, 2 expected',
      'ipset PALISADE-P6-ui-5VIYJ4R4 is missing',
    ]);
  });
});
