/** Interval set elements: a cidr minus its excepts, and the canonical text nft prints. */
import {
  addressText,
  addressValue,
  cidrMinus,
  intervalHas,
  intervalText,
  parseIntervalText,
} from './intervals';

const texts = (cidr: string, except: string[]): string[] => {
  const { family, intervals } = cidrMinus(cidr, except);
  return intervals.map((iv) => intervalText(iv, family));
};

describe('interval set elements', () => {
  test('a cidr minus its excepts, as nft prints the intervals', () => {
    expect(texts('10.0.0.0/8', [])).toEqual(['10.0.0.0/8']);
    expect(texts('10.0.0.0/8', ['10.1.0.0/16'])).toEqual(['10.0.0.0/16', '10.2.0.0-10.255.255.255']);
    expect(texts('0.0.0.0/0', ['10.0.0.0/8', '192.168.0.0/16'])).toEqual([
      '0.0.0.0-9.255.255.255',
      '11.0.0.0-192.167.255.255',
      '192.169.0.0-255.255.255.255',
    ]);
    expect(texts('192.0.2.0/24', ['192.0.2.0/24'])).toEqual([]);
    expect(texts('192.0.2.7/32', [])).toEqual(['192.0.2.7']);
    expect(texts('2001:db8::/32', ['2001:db8:dead::/48'])).toEqual([
      '2001:db8::-2001:db8:deac:ffff:ffff:ffff:ffff:ffff',
      '2001:db8:deae::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff',
    ]);
    expect(texts('10.0.0.0/8', ['10.0.0.0/9'])).toEqual(['10.128.0.0/9']);
    expect(texts('::/0', [])).toEqual(['::/0']);
  });

  test('excepts of another family or outside the cidr change nothing', () => {
    expect(texts('10.0.0.0/8', ['fd00::/8', '11.0.0.0/8'])).toEqual(['10.0.0.0/8']);
  });

  test('element texts parse back to the same interval, and hold what they cover', () => {
    for (const t of [
      '10.0.0.0/16',
      '10.2.0.0-10.255.255.255',
      '192.0.2.7',
      '2001:db8::/32',
      '::ffff:0.0.0.0/96',
    ]) {
      const { family, interval } = parseIntervalText(t);
      expect(intervalText(interval, family)).toBe(t);
    }
    expect(intervalHas('10.2.0.0-10.255.255.255', '10.3.4.5')).toBe(true);
    expect(intervalHas('10.2.0.0-10.255.255.255', '10.1.4.5')).toBe(false);
    expect(intervalHas('10.0.0.0/16', 'fd00::1')).toBe(false);
    expect(addressText(addressValue('fd01::5'), 6)).toBe('fd01::5');
  });
});
