import {
  DEFAULT_VERDICT_LOG,
  formatPrefix,
  LOG_TIERS,
  LOG_VERDICTS,
  logPoint,
  logPointId,
  MAX_IPTABLES_PREFIX,
  parsePrefix,
  validateVerdictLogOptions,
  type LogPointContent,
} from './verdict-log';

const denyRule: LogPointContent = {
  verdict: 'denied',
  direction: 'ingress',
  tier: 'admin',
  cause: 'rule',
  policy: { kind: 'ClusterNetworkPolicy', key: 'deny-db' },
  rule: { index: 2, name: 'no-db' },
};

describe('prefix', () => {
  test('round-trips every verdict, tier and direction, within iptables’ limit, in a fixed alphabet', () => {
    for (const verdict of LOG_VERDICTS) {
      for (const tier of LOG_TIERS) {
        for (const direction of ['ingress', 'egress'] as const) {
          const p = logPoint({ ...denyRule, verdict, tier, direction });
          const text = formatPrefix(p);
          expect(text).toMatch(/^pl1:[DAda][ANBX][IE]:[A-Z2-7]{10}$/);
          expect(text.length).toBeLessThanOrEqual(MAX_IPTABLES_PREFIX);
          expect(parsePrefix(text)).toEqual({ id: p.id, verdict, tier, direction });
        }
      }
    }
  });

  test('names the known codes', () => {
    expect(
      formatPrefix({ id: 'K2M7QX4ZAB', verdict: 'would-deny', tier: 'networkpolicy', direction: 'egress' }),
    ).toBe('pl1:dNE:K2M7QX4ZAB');
    expect(parsePrefix('pl1:AXI:AAAAAAAAAA')).toEqual({
      id: 'AAAAAAAAAA',
      verdict: 'allowed',
      tier: 'default',
      direction: 'ingress',
    });
  });

  test('refuses what Palisade did not write', () => {
    for (const text of [
      '',
      'pl1:DNI:K2M7QX4ZA', // short id
      'pl1:DNI:K2M7QX4ZAB ', // trailing space
      'pl2:DNI:K2M7QX4ZAB', // another format version
      'pl1:QNI:K2M7QX4ZAB', // unknown verdict
      'pl1:DNI:k2m7qx4zab', // lower case is not base32 here
      'pl1:DNI:K2M7QX4ZA1', // 1 is not in the alphabet
      'kube-router drop',
    ]) {
      expect(parsePrefix(text)).toBeUndefined();
    }
  });
});

describe('logPointId', () => {
  test('is stable across processes and versions (a restarted agent maps its predecessor’s rules)', () => {
    // Pinned (sha256 of the fields joined by NUL, base32, as computed by hand): changing the derivation would misattribute records from rules already in the kernel.
    expect(logPointId(denyRule)).toBe(logPointId({ ...denyRule }));
    expect(logPointId(denyRule)).toBe('Q7YMZJVQRW');
  });

  test('changes with every field that changes what the point means', () => {
    const variants: LogPointContent[] = [
      { ...denyRule, verdict: 'would-deny' },
      { ...denyRule, direction: 'egress' },
      { ...denyRule, tier: 'baseline' },
      { ...denyRule, policy: { kind: 'ClusterNetworkPolicy', key: 'deny-db2' } },
      { ...denyRule, policy: { kind: 'NetworkPolicy', key: 'deny-db' } },
      { ...denyRule, rule: { index: 3, name: 'no-db' } },
      { ...denyRule, rule: { index: 2, name: 'renamed' } },
      { ...denyRule, pod: 'shop/db-0' },
      {
        verdict: 'denied',
        direction: 'ingress',
        tier: 'networkpolicy',
        cause: 'isolation',
        policies: ['a/x'],
        pod: 'a/p',
      },
      {
        verdict: 'denied',
        direction: 'ingress',
        tier: 'networkpolicy',
        cause: 'isolation',
        policies: ['a/x', 'a/y'],
        pod: 'a/p',
      },
      {
        verdict: 'denied',
        direction: 'ingress',
        tier: 'networkpolicy',
        cause: 'isolation',
        policies: ['a/x'],
        pod: 'a/q',
      },
    ];
    const ids = new Set([logPointId(denyRule), ...variants.map(logPointId)]);
    expect(ids.size).toBe(variants.length + 1);
  });

  test('does not depend on the order an object’s keys were written in', () => {
    const reordered: LogPointContent = {
      rule: { name: 'no-db', index: 2 },
      policy: { key: 'deny-db', kind: 'ClusterNetworkPolicy' },
      cause: 'rule',
      tier: 'admin',
      direction: 'ingress',
      verdict: 'denied',
    };
    expect(logPointId(reordered)).toBe(logPointId(denyRule));
  });
});

describe('options', () => {
  test('the defaults are valid', () => {
    expect(validateVerdictLogOptions(DEFAULT_VERDICT_LOG)).toEqual([]);
  });

  test('every problem is reported at once', () => {
    expect(validateVerdictLogOptions({ group: 70000, ratePerSecond: 0, burst: 1.5, allowed: false })).toEqual(
      [
        'NFLOG group 70000 is not an integer 0-65535',
        'verdict log rate 0/s is not an integer 1-10000',
        'verdict log burst 1.5 is not an integer 1-100000',
      ],
    );
  });
});
