/**
 * The rule language: printing, parsing our own text back, and reading nft's JSON. The JSON
 * samples are what nft 1.0.6 printed for these rules (`nft -j list table`), so read-back is
 * tested against the real shapes, not FakeNft's idea of them.
 */
import { readRule } from './readback';
import { makeRule } from './render';
import { fromJson, parseRule, printRule, toJson } from './rules';

/** Rules as written, and nft 1.0.6's JSON for each (expr only). */
const REAL: [string, unknown[]][] = [
  [
    'ct state established,related accept',
    [
      { match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } },
      { accept: null },
    ],
  ],
  [
    'ip saddr vmap @ingress-4',
    [{ vmap: { key: { payload: { protocol: 'ip', field: 'saddr' } }, data: '@ingress-4' } }],
  ],
  [
    'icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept',
    [
      {
        match: {
          op: '==',
          left: { payload: { protocol: 'icmpv6', field: 'type' } },
          right: {
            set: ['nd-router-solicit', 'nd-router-advert', 'nd-neighbor-solicit', 'nd-neighbor-advert'],
          },
        },
      },
      { accept: null },
    ],
  ],
  [
    'meta mark set meta mark & 0xffcfffff',
    [{ mangle: { key: { meta: { key: 'mark' } }, value: { '&': [{ meta: { key: 'mark' } }, 4291821567] } } }],
  ],
  [
    'ip saddr 10.0.0.5 return',
    [
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '10.0.0.5' } },
      { return: null },
    ],
  ],
  [
    'meta mark & 0x00200000 == 0x00000000 jump np-in4-x-ABCDEFGH',
    [
      { match: { op: '==', left: { '&': [{ meta: { key: 'mark' } }, 2097152] }, right: 0 } },
      { jump: { target: 'np-in4-x-ABCDEFGH' } },
    ],
  ],
  ['drop', [{ drop: null }]],
  [
    'ip saddr @cidr4-x-ABCDEFGH tcp dport 80-90 meta mark set meta mark | 0x00100000 return',
    [
      {
        match: {
          op: '==',
          left: { payload: { protocol: 'ip', field: 'saddr' } },
          right: '@cidr4-x-ABCDEFGH',
        },
      },
      {
        match: {
          op: '==',
          left: { payload: { protocol: 'tcp', field: 'dport' } },
          right: { range: [80, 90] },
        },
      },
      { mangle: { key: { meta: { key: 'mark' } }, value: { '|': [{ meta: { key: 'mark' } }, 1048576] } } },
      { return: null },
    ],
  ],
  [
    'ip daddr . tcp dport @port4-http-ABCDEFGH meta mark set meta mark | 0x00100000 return',
    [
      {
        match: {
          op: '==',
          left: {
            concat: [
              { payload: { protocol: 'ip', field: 'daddr' } },
              { payload: { protocol: 'tcp', field: 'dport' } },
            ],
          },
          right: '@port4-http-ABCDEFGH',
        },
      },
      { mangle: { key: { meta: { key: 'mark' } }, value: { '|': [{ meta: { key: 'mark' } }, 1048576] } } },
      { return: null },
    ],
  ],
  [
    'meta l4proto sctp meta mark set meta mark | 0x00100000 return',
    [
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'sctp' } },
      { mangle: { key: { meta: { key: 'mark' } }, value: { '|': [{ meta: { key: 'mark' } }, 1048576] } } },
      { return: null },
    ],
  ],
  [
    'sctp dport 5000 drop',
    [
      { match: { op: '==', left: { payload: { protocol: 'sctp', field: 'dport' } }, right: 5000 } },
      { drop: null },
    ],
  ],
  [
    'ip saddr 10.1.0.0/16 return',
    [
      {
        match: {
          op: '==',
          left: { payload: { protocol: 'ip', field: 'saddr' } },
          right: { prefix: { addr: '10.1.0.0', len: 16 } },
        },
      },
      { return: null },
    ],
  ],
];

// The verdict log's rules (nft 1.0.6 printed these for rules written as here; the second as an
// earlier Palisade wrote it, without queue-threshold, which must still read back).
REAL.push(
  [
    'counter name "palisade-log-seen" limit name "palisade-log-100-200" counter name "palisade-log-logged" log prefix "pl1:DNI:K2M7QX4ZAB" group 20556 snaplen 128 queue-threshold 1',
    [
      { counter: 'palisade-log-seen' },
      { limit: 'palisade-log-100-200' },
      { counter: 'palisade-log-logged' },
      { log: { prefix: 'pl1:DNI:K2M7QX4ZAB', group: 20556, snaplen: 128, 'queue-threshold': 1 } },
    ],
  ],
  [
    'meta mark & 0x00100000 == 0x00100000 ct state new counter name "s" limit name "l" counter name "g" log prefix "pl1:ANI:K2M7QX4ZAB" group 20556 snaplen 128',
    [
      { match: { op: '==', left: { '&': [{ meta: { key: 'mark' } }, 1048576] }, right: 1048576 } },
      { match: { op: 'in', left: { ct: { key: 'state' } }, right: 'new' } },
      { counter: 's' },
      { limit: 'l' },
      { counter: 'g' },
      { log: { prefix: 'pl1:ANI:K2M7QX4ZAB', group: 20556, snaplen: 128 } },
    ],
  ],
);

describe('the rule language', () => {
  test.each(REAL)('%s: printed, parsed back and read from nft JSON alike', (text, json) => {
    const parsed = parseRule(text);
    expect(printRule(parsed)).toBe(text);
    expect(printRule(fromJson(json, undefined))).toBe(text);
    expect(printRule(fromJson(toJson(parsed), undefined))).toBe(text);
  });

  test('parsing normalises addresses and refuses what Palisade never writes', () => {
    expect(printRule(parseRule('ip6 daddr FD00:0:0::5 return'))).toBe('ip6 daddr fd00::5 return');
    expect(printRule(parseRule('ip saddr 10.1.2.3/16 drop'))).toBe('ip saddr 10.1.0.0/16 drop');
    // Only named counters and limits: an anonymous one is not Palisade's.
    expect(() => parseRule('ip saddr 10.0.0.1 counter accept')).toThrow(/expected "name"/);
    expect(() => parseRule('ip saddr 10.0.0.1 notrack accept')).toThrow(/unsupported "notrack"/);
    expect(() => parseRule('ip saddr fd00::1 accept')).toThrow(/not IPv4/);
    expect(() => parseRule('tcp dport 70000 accept')).toThrow(/bad port/);
    expect(() => parseRule('drop ip saddr 10.0.0.1')).toThrow(/after the verdict/);
  });

  test('read-back keeps a rule whose content matches its hash, and flags one that does not', () => {
    const rendered = makeRule(
      { matches: [{ kind: 'port', proto: 'tcp', from: 80, to: 80 }], verdict: { kind: 'drop' } },
      'x',
    );
    const back = parseRule(rendered.body);
    expect(readRule(toJson(back), back.comment)).toEqual({ body: rendered.body, hash: rendered.hash });
    // The same comment over other content: what a hand edit leaves.
    const edited = parseRule(rendered.body.replace('dport 80', 'dport 22'));
    expect(readRule(toJson(edited), edited.comment).hash).toMatch(/^altered:/);
    // Something Palisade never writes (a counter), or no hash at all.
    expect(readRule([{ counter: { packets: 0, bytes: 0 } }, ...toJson(back)], back.comment).hash).toMatch(
      /^altered:/,
    );
    expect(readRule(toJson(back), 'no hash here').hash).toMatch(/^altered:/);
  });
});
