/**
 * Semantics of the rendered ruleset, checked by tracing packets through FakeKernel state.
 * Address plan: local pods 10.1.0.0/16 and fd01::/64, remote pods 10.2.0.0/16 and fd02::/64,
 * the node 10.0.0.1, outside hosts 192.0.2.0/24 and 8.8.8.8.
 */
import type { CompiledState } from '../../compiler/ir';
import { createDataplane } from '../api';
import { FakeKernel } from './fake-kernel';
import { DEFAULT_MARK_BIT } from '../tiers';
import { type Packet, trace } from './tracer';
import {
  cidrSet,
  deltaBetween,
  fullDelta,
  named,
  namedPortSet,
  pod,
  podsSet,
  policy,
  port,
  rule,
  state,
  tcp,
  withMembers,
} from '../testutil/fixtures';

const WEB = '10.1.0.5';
const FREE = '10.1.0.6';
const DB_LOCAL = '10.1.0.7';
const CLIENT = '10.1.0.8';
const EXT = '10.1.0.9';
const REMOTE_DB = '10.2.0.1';
const REMOTE_OTHER = '10.2.0.2';
const NODE = '10.0.0.1';

function cluster(extraIsolated = 0): CompiledState {
  const extra = Array.from({ length: extraIsolated }, (_, i) =>
    pod(`x/p${i}`, { ips: [`10.1.1.${i}`], ingress: ['b/deny'], egress: ['c/ext'] }),
  );
  return state({
    pods: [
      pod('a/web', { ips: [WEB, 'fd01::5'], ingress: ['a/allow-db'] }),
      pod('a/free', { ips: [FREE] }),
      pod('b/db', { ips: [DB_LOCAL], ingress: ['b/deny'] }),
      pod('a/client', { ips: [CLIENT], egress: ['a/client-eg'] }),
      pod('c/ext', { ips: [EXT], egress: ['c/ext'], ingress: ['c/sctp'] }),
      ...extra,
    ],
    policies: [
      policy('a/allow-db', { ingress: [rule(0, ['pods:db'], [tcp(80), named('http', 'np:http')])] }),
      policy('b/deny', { ingress: [] }),
      policy('a/client-eg', { egress: [rule(0, ['pods:web'], [tcp(80)])] }),
      policy('c/ext', { egress: [rule(0, ['cidr:world'], 'any')] }),
      policy('c/sctp', { ingress: [rule(0, 'any', [port('SCTP', 9000, 9010)])] }),
    ],
    peerSets: [
      podsSet('pods:db', [REMOTE_DB, 'fd02::1'], {
        namespace: 'a',
        podSelector: { matchLabels: { app: 'db' } },
      }),
      podsSet('pods:web', [WEB], { namespace: 'a', podSelector: { matchLabels: { app: 'web' } } }),
      cidrSet('cidr:world', '0.0.0.0/0', ['10.0.0.0/8']),
      namedPortSet('np:http', 'http', 'TCP', [`${WEB},tcp:8080`, 'fd01::5,tcp:8080'], true),
    ],
  });
}

async function kernelFor(s: CompiledState): Promise<FakeKernel> {
  const k = new FakeKernel();
  await createDataplane({ kernel: k }).sync(s, fullDelta(s));
  return k;
}

const tcpTo = (src: string, dst: string, dport: number, extra: Partial<Packet> = {}): Packet => ({
  src,
  dst,
  proto: 'tcp',
  dport,
  ...extra,
});

let k: FakeKernel;
beforeAll(async () => {
  k = await kernelFor(cluster());
});
const fwd = (p: Packet): string => trace(k, p.src.includes(':') ? 6 : 4, 'FORWARD', p).verdict;

describe('ingress', () => {
  test.each([
    ['allowed peer, allowed port', tcpTo(REMOTE_DB, WEB, 80), 'ACCEPT'],
    ['allowed peer, other port', tcpTo(REMOTE_DB, WEB, 81), 'DROP'],
    ['other peer, allowed port', tcpTo(REMOTE_OTHER, WEB, 80), 'DROP'],
    ['named port resolved on the destination', tcpTo(REMOTE_DB, WEB, 8080), 'ACCEPT'],
    ['named port, other number', tcpTo(REMOTE_DB, WEB, 8081), 'DROP'],
    ['default deny', tcpTo(REMOTE_DB, DB_LOCAL, 5432), 'DROP'],
    [
      'reply of an established connection',
      tcpTo(REMOTE_OTHER, WEB, 80, { ctstate: 'ESTABLISHED' }),
      'ACCEPT',
    ],
    ['not isolated', tcpTo(REMOTE_OTHER, FREE, 80), 'ACCEPT'],
    ['IPv6 allowed peer', tcpTo('fd02::1', 'fd01::5', 80), 'ACCEPT'],
    ['IPv6 other peer', tcpTo('fd02::2', 'fd01::5', 80), 'DROP'],
    ['IPv6 named port', tcpTo('fd02::1', 'fd01::5', 8080), 'ACCEPT'],
  ])('%s', (_name, p, verdict) => {
    expect(fwd(p)).toBe(verdict);
  });

  test('SCTP port ranges include both ends', () => {
    const sctp = (dport: number): Packet => ({ src: REMOTE_OTHER, dst: EXT, proto: 'sctp', dport });
    expect([8999, 9000, 9005, 9010, 9011].map((p) => fwd(sctp(p)))).toEqual([
      'DROP',
      'ACCEPT',
      'ACCEPT',
      'ACCEPT',
      'DROP',
    ]);
    expect(fwd(tcpTo(REMOTE_OTHER, EXT, 9000))).toBe('DROP');
  });
});

describe('egress', () => {
  test.each([
    ['destination not in the allowed set', tcpTo(CLIENT, REMOTE_OTHER, 80), 'DROP'],
    ['ipBlock with except: outside', tcpTo(EXT, '8.8.8.8', 53), 'ACCEPT'],
    ['ipBlock with except: excepted', tcpTo(EXT, REMOTE_OTHER, 53), 'DROP'],
    ['ipBlock 0.0.0.0/0 upper half', tcpTo(EXT, '192.0.2.1', 443), 'ACCEPT'],
  ])('%s', (_name, p, verdict) => {
    expect(fwd(p)).toBe(verdict);
  });

  test('to the node itself is never filtered (INPUT is not hooked): pod-to-own-node is always allowed', () => {
    expect(trace(k, 4, 'INPUT', tcpTo(CLIENT, NODE, 22)).verdict).toBe('ACCEPT');
    expect(trace(k, 4, 'INPUT', tcpTo(FREE, NODE, 22)).verdict).toBe('ACCEPT');
  });

  test('from the node to a pod is never filtered (OUTPUT is not hooked)', () => {
    expect(trace(k, 4, 'OUTPUT', tcpTo(NODE, DB_LOCAL, 8080)).verdict).toBe('ACCEPT');
  });
});

describe('between two local pods, in one FORWARD pass', () => {
  test('both the source egress and the destination ingress decide', async () => {
    // client may send to web:80, but web admits only db pods.
    expect(fwd(tcpTo(CLIENT, WEB, 80))).toBe('DROP');
    // client egress forbids anything but web:80, whatever the destination admits.
    expect(fwd(tcpTo(CLIENT, FREE, 80))).toBe('DROP');
    // Make client a db pod: now both sides allow.
    const s = cluster();
    const next = withMembers(s, 'pods:db', [REMOTE_DB, 'fd02::1', CLIENT]);
    const k2 = await kernelFor(s);
    const dp = createDataplane({ kernel: k2 });
    await dp.sync(s, fullDelta(s));
    await dp.sync(next, deltaBetween(s, next));
    expect(trace(k2, 4, 'FORWARD', tcpTo(CLIENT, WEB, 80)).verdict).toBe('ACCEPT');
    expect(trace(k2, 4, 'FORWARD', tcpTo(CLIENT, WEB, 81)).verdict).toBe('DROP');
  });

  test('a pod always reaches its own address', () => {
    expect(fwd(tcpTo(WEB, WEB, 9999))).toBe('ACCEPT');
    expect(fwd(tcpTo(DB_LOCAL, DB_LOCAL, 1))).toBe('ACCEPT');
  });
});

describe('the mark bit', () => {
  test('is cleared when we are done with an allowed packet, and other bits are kept', () => {
    const r = trace(k, 4, 'FORWARD', tcpTo(REMOTE_DB, WEB, 80, { mark: 0x4000 }));
    expect(r).toMatchObject({ verdict: 'ACCEPT', mark: 0x4000 });
  });

  test('cannot be forged: a packet arriving with it set is still judged', () => {
    expect(fwd(tcpTo(REMOTE_OTHER, WEB, 80, { mark: DEFAULT_MARK_BIT }))).toBe('DROP');
  });
});

describe('cost per packet', () => {
  test('for non-isolated pods does not grow with local pods or policies', async () => {
    const small = await kernelFor(cluster(0));
    const large = await kernelFor(cluster(60));
    const p = tcpTo(REMOTE_OTHER, FREE, 80);
    const a = trace(small, 4, 'FORWARD', p);
    const b = trace(large, 4, 'FORWARD', p);
    expect(a.verdict).toBe('ACCEPT');
    expect(b.evaluated).toEqual(a.evaluated);
    // Hook, established check, two isolation-set lookups.
    expect(a.evaluated).toEqual([
      'FORWARD#1',
      'PALISADE-FORWARD#1',
      'PALISADE-FORWARD#2',
      'PALISADE-FORWARD#3',
    ]);
  });

  test('IPv6 neighbour discovery of an isolated pod passes', () => {
    const ns: Packet = { src: 'fd01::5', dst: 'ff02::1:ff00:1', proto: 'ipv6-icmp', icmpv6Type: 135 };
    expect(trace(k, 6, 'FORWARD', ns).verdict).toBe('ACCEPT');
  });
});
