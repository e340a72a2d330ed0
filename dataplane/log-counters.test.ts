/**
 * readLogCounters on both backends' fake kernels: the rate limit's seen and logged counters as
 * the kernel holds them, keyed by the object that holds them; nothing when verdict logs are off
 * or their objects are not written yet; one small read per family (iptables) or one list through
 * the session (nftables). The parsers on the tools' real output (iptables 1.8.9, nft 1.0.6).
 */
import { type BackendKind, type LogCounterSample, createDataplane } from './api';
import { FakeKernel } from './iptables/fake-kernel';
import { parseLogLimitChain } from './iptables/log-counters';
import { FakeNft } from './nftables/fake-nft';
import { parseLogCounters } from './nftables/log-counters';
import { fullDelta, pod, policy, state } from './testutil/fixtures';
import { DEFAULT_VERDICT_LOG, type VerdictLogOptions } from './verdict-log';

const CLUSTER = state({
  pods: [pod('shop/db', { ips: ['10.1.0.6', 'fd01::6'], ingress: ['shop/deny-all'] })],
  policies: [policy('shop/deny-all', { ingress: [] })],
});
const LOG: VerdictLogOptions = { ...DEFAULT_VERDICT_LOG, ratePerSecond: 20, burst: 50 };

/** The samples as `role=packets` by family or table, for comparisons that ignore the hashes. */
function summary(samples: readonly LogCounterSample[]): string[] {
  return samples.map((s) => `${s.key.split(/[:#]/)[0]} ${s.role}=${s.packets}`).sort();
}

function fakeIptables() {
  const kernel = new FakeKernel();
  const limitRules = (family: 4 | 6) =>
    kernel.tables.get(family)!.get('filter')!.get('PALISADE-LOG-LIMIT')!.rules;
  return {
    kernel,
    count(family: 4 | 6, seen: number, logged: number) {
      limitRules(family)[0].packets = seen;
      limitRules(family)[1].packets = logged;
    },
  };
}

function fakeNft() {
  const kernel = new FakeNft();
  return {
    kernel,
    count(seen: number, logged: number) {
      const objects = kernel.table()!.objects;
      objects.get('counter palisade-log-seen')!.packets = seen;
      objects.get('counter palisade-log-logged')!.packets = logged;
    },
  };
}

describe.each(['iptables', 'nftables'] as const)('readLogCounters (%s)', (backend: BackendKind) => {
  const kernelOf = () => (backend === 'iptables' ? new FakeKernel() : new FakeNft());

  test('nothing when verdict logs are off', async () => {
    const dp = createDataplane({ kernel: kernelOf(), backend });
    await dp.sync(CLUSTER, fullDelta(CLUSTER));
    expect(await dp.readLogCounters()).toEqual([]);
    await dp.close();
  });

  test('nothing before the first sync wrote the counters', async () => {
    const dp = createDataplane({ kernel: kernelOf(), backend, verdictLog: LOG });
    expect(await dp.readLogCounters()).toEqual([]);
    await dp.close();
  });
});

test('iptables: the packet counters of PALISADE-LOG-LIMIT, one iptables -S per family', async () => {
  const { kernel, count } = fakeIptables();
  const dp = createDataplane({ kernel, verdictLog: LOG });
  await dp.sync(CLUSTER, fullDelta(CLUSTER));
  expect(summary(await dp.readLogCounters())).toEqual([
    'ipv4 logged=0',
    'ipv4 seen=0',
    'ipv6 logged=0',
    'ipv6 seen=0',
  ]);
  count(4, 700, 250);
  count(6, 3, 3);
  const from = kernel.ops.length;
  expect(summary(await dp.readLogCounters())).toEqual([
    'ipv4 logged=250',
    'ipv4 seen=700',
    'ipv6 logged=3',
    'ipv6 seen=3',
  ]);
  expect(kernel.opsSince(from).map((o) => o.argv.join(' '))).toEqual([
    'iptables -w -S PALISADE-LOG-LIMIT -v',
    'ip6tables -w -S PALISADE-LOG-LIMIT -v',
  ]);
  await dp.close();
});

test('iptables: a new rate rewrites the chain: the bucket rule gets a new key, both counts restart', async () => {
  const { kernel, count } = fakeIptables();
  const first = createDataplane({ kernel, families: [4], verdictLog: LOG });
  await first.sync(CLUSTER, fullDelta(CLUSTER));
  count(4, 10, 5);
  const before = await first.readLogCounters();
  await first.close();
  // A restarted agent with another rate adopts the chain and rewrites it (flushed and refilled).
  const second = createDataplane({ kernel, families: [4], verdictLog: { ...LOG, ratePerSecond: 40 } });
  await second.sync(CLUSTER, fullDelta(CLUSTER));
  const after = await second.readLogCounters();
  const key = (s: readonly LogCounterSample[], role: string) => s.find((x) => x.role === role)!.key;
  expect(key(after, 'seen')).toBe(key(before, 'seen'));
  expect(key(after, 'logged')).not.toBe(key(before, 'logged'));
  expect(summary(after)).toEqual(['ipv4 logged=0', 'ipv4 seen=0']);
  await second.close();
});

test('nftables: the two named counters of the table, through the session', async () => {
  const { kernel, count } = fakeNft();
  const dp = createDataplane({ kernel, backend: 'nftables', verdictLog: LOG });
  await dp.sync(CLUSTER, fullDelta(CLUSTER));
  count(700, 250);
  const samples = await dp.readLogCounters();
  expect(summary(samples)).toEqual(['palisade-log-logged logged=250', 'palisade-log-seen seen=700']);
  // Keys carry the handle: the same counter keeps its key from one read to the next.
  expect(await dp.readLogCounters()).toEqual(samples);
  await dp.close();
});

describe('parsers, on the tools’ own output', () => {
  test('iptables -S PALISADE-LOG-LIMIT -v (iptables 1.8.9, nft and legacy print alike)', () => {
    const text = [
      '-N PALISADE-LOG-LIMIT',
      '-A PALISADE-LOG-LIMIT -m comment --comment "pl:ABCDEFGH23 palisade: verdict log, a log point reached" -c 412 24720 -j MARK --set-xmark 0x0/0x200000',
      '-A PALISADE-LOG-LIMIT -m comment --comment "pl:ABCDEFGH45 palisade: verdict log, within the rate limit" -m hashlimit --hashlimit-upto 20/sec --hashlimit-burst 50 --hashlimit-name pl-20-50 -c 58 3480 -j MARK --set-xmark 0x200000/0x200000',
      // Someone else's rule in our chain is not a counter of ours.
      '-A PALISADE-LOG-LIMIT -m comment --comment "added by hand" -c 9 9 -j RETURN',
      '',
    ].join('\n');
    expect(parseLogLimitChain(text, 6)).toEqual([
      { key: 'ipv6:ABCDEFGH23', role: 'seen', packets: 412 },
      { key: 'ipv6:ABCDEFGH45', role: 'logged', packets: 58 },
    ]);
  });

  test('nft -j list counters table inet palisade (nft 1.0.6)', () => {
    const json =
      '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, ' +
      '{"counter": {"family": "inet", "name": "palisade-log-seen", "table": "palisade", "handle": 1, "packets": 412, "bytes": 24720}}, ' +
      '{"counter": {"family": "inet", "name": "palisade-log-logged", "table": "palisade", "handle": 2, "packets": 58, "bytes": 3480}}, ' +
      '{"counter": {"family": "inet", "name": "other", "table": "palisade", "handle": 3, "packets": 9, "bytes": 9}}]}';
    expect(parseLogCounters(json)).toEqual([
      { key: 'palisade-log-seen#1', role: 'seen', packets: 412 },
      { key: 'palisade-log-logged#2', role: 'logged', packets: 58 },
    ]);
    expect(parseLogCounters('')).toEqual([]);
  });
});
