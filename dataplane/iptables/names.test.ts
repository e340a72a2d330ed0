import { canonicalIP, canonicalIPPort, netEntries, netEntry, parseCIDR } from '../ip';
import {
  FIXED_CHAINS,
  MAX_CHAIN_NAME,
  MAX_IPSET_NAME,
  isOwnName,
  isolationSetName,
  peerSetName,
  podChainName,
  policyChainName,
  shortHash,
  tempSetName,
} from './names';

describe('names', () => {
  const long = 'a-very-long-policy-name-that-goes-on-and-on-well-past-any-kernel-limit';

  test('generated chain names fit the kernel limit and keep a readable tail', () => {
    for (const d of ['ingress', 'egress'] as const) {
      const p = policyChainName(`ns/${long}`, long, d);
      const w = podChainName(`ns/${long}`, long, d);
      expect(p.length).toBeLessThanOrEqual(MAX_CHAIN_NAME);
      expect(w.length).toBeLessThanOrEqual(MAX_CHAIN_NAME);
      expect(p).toMatch(/^PALISADE-P[IE]-a-very-[A-Z2-7]{8}$/);
    }
    expect(policyChainName('ns/db', 'db', 'ingress')).toMatch(/^PALISADE-PI-db-[A-Z2-7]{8}$/);
  });

  test('generated set names fit the kernel limit', () => {
    for (const kind of ['pods', 'cidr', 'namedPort'] as const) {
      for (const f of [4, 6] as const)
        expect(peerSetName(kind, f, long, `key-${long}`).length).toBeLessThanOrEqual(MAX_IPSET_NAME);
    }
    for (const t of ['hash:ip', 'hash:net', 'hash:ip,port'])
      expect(tempSetName(t, 6).length).toBeLessThanOrEqual(MAX_IPSET_NAME);
  });

  test('are deterministic, and differ when keys differ even with equal tails', () => {
    expect(policyChainName('a/x', 'x', 'ingress')).toBe(policyChainName('a/x', 'x', 'ingress'));
    expect(policyChainName('a/x', 'x', 'ingress')).not.toBe(policyChainName('b/x', 'x', 'ingress'));
    expect(peerSetName('pods', 4, 'web', 'k1')).not.toBe(peerSetName('pods', 6, 'web', 'k1'));
    expect(shortHash('abc', 10)).toBe(shortHash('abc', 10));
    expect(shortHash('abc', 10)).toMatch(/^[A-Z2-7]{10}$/);
  });

  test('one predicate says what is ours', () => {
    for (const n of [...FIXED_CHAINS, isolationSetName('ingress', 4), podChainName('a/b', 'b', 'egress')])
      expect(isOwnName(n)).toBe(true);
    for (const n of ['FORWARD', 'KUBE-SERVICES', 'cali-FORWARD', 'palisade-lower'])
      expect(isOwnName(n)).toBe(false);
  });
});

describe('address text as ipset prints it', () => {
  test.each([
    ['10.0.0.1', '10.0.0.1'],
    ['FD00:0:0:0::0001', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['1:0:1:1:1:1:1:1', '1:0:1:1:1:1:1:1'],
    ['::', '::'],
    ['::ffff:10.1.2.3', '::ffff:10.1.2.3'],
  ])('%s → %s', (input, out) => {
    expect(canonicalIP(input)).toBe(out);
  });

  test('networks are masked, host prefixes bare, /0 split in halves', () => {
    expect(netEntry(parseCIDR('10.9.9.9/8'))).toBe('10.0.0.0/8');
    expect(netEntry(parseCIDR('10.0.0.1/32'))).toBe('10.0.0.1');
    expect(netEntry(parseCIDR('fd00::1:0/112'))).toBe('fd00::1:0/112');
    expect(netEntry(parseCIDR('fd00::1/128'))).toBe('fd00::1');
    expect(netEntries(parseCIDR('0.0.0.0/0'))).toEqual(['0.0.0.0/1', '128.0.0.0/1']);
    expect(netEntries(parseCIDR('::/0'))).toEqual(['::/1', '8000::/1']);
    expect(canonicalIPPort('FD00::0001,TCP:80')).toEqual({ family: 6, entry: 'fd00::1,tcp:80' });
  });

  test('rejects garbage', () => {
    expect(() => canonicalIP('10.0.0.256')).toThrow();
    expect(() => canonicalIP('fd00:::1')).toThrow();
    expect(() => parseCIDR('10.0.0.0/33')).toThrow();
  });
});
