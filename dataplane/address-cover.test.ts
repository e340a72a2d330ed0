import { coveringPrefixes } from './address-cover';
import { netEntry } from './ip';

const cover = (addresses: string[], max: number): string[] => coveringPrefixes(addresses, max).map(netEntry);

test('the exact cover: the fewest prefixes holding the addresses and no other', () => {
  expect(cover(['10.0.1.5'], 2)).toEqual(['10.0.1.5']);
  // .4-.7 are an aligned run; .8 is not part of it.
  expect(cover(['10.0.1.4', '10.0.1.5', '10.0.1.6', '10.0.1.7', '10.0.1.8'], 2)).toEqual([
    '10.0.1.4/30',
    '10.0.1.8',
  ]);
  expect(cover(['fd00::1:4', 'fd00::1:5', 'fd00::1:5'], 2)).toEqual(['fd00::1:4/127']);
});

test('past `max` prefixes a family, neighbours merge into the smallest prefixes that hold them', () => {
  const local = ['10.0.1.3', '10.0.1.9', '10.0.1.40'];
  const remote = ['10.0.200.7', '10.0.201.1'];
  // Two groups, each as tight as it can be: no prefix spans the two.
  expect(cover([...local, ...remote], 2)).toEqual(['10.0.1.0/26', '10.0.200.0/23']);
  expect(cover([...local, ...remote], 1)).toEqual(['10.0.0.0/16']);
  expect(cover([...local, ...remote], 5)).toEqual([...local, ...remote]);
});

test('each family has its own prefixes, IPv4 first', () => {
  expect(cover(['fd00::9', '10.0.0.1', 'fd00::1:0:9', '10.0.0.3'], 1)).toEqual(['10.0.0.0/30', 'fd00::/95']);
});

test('no addresses, no prefixes', () => {
  expect(cover([], 2)).toEqual([]);
});
