/**
 * VerdictLog end to end without a kernel: the recorded capture's bytes come from a fake tcpdump
 * child, the log point table comes from a compiled state whose rules carry exactly those
 * prefixes, and the events, the metrics, the status and a watcher are checked.
 */
import type { CompiledClusterPolicy } from '../../../compiler';
import type { LogCounterSample } from '../../../dataplane/api';
import { fullDelta, pod, policy, state } from '../../../dataplane/testutil/fixtures';
import { silentLogger } from '../logger';
import { AgentMetrics } from '../metrics';
import { FakeClock, settle } from '../testutil/fake-clock';
import type { CaptureChild, ChildExit } from './capture';
import { VerdictLog, verdictLabels } from './service';
import { readFixture } from './testutil/fixture';
import type { LineSink } from './watch';

/** The cluster whose rules wrote the recorded prefixes (see capture.kernel.test.ts). */
const ops: CompiledClusterPolicy = {
  key: 'ops',
  name: 'ops',
  tier: 'admin',
  priority: 5,
  ingress: null,
  egress: [{ index: 0, name: 'dns', action: 'Accept', peers: 'any', ports: 'any' }],
};
const defaultDeny: CompiledClusterPolicy = {
  key: 'default-deny',
  name: 'default-deny',
  tier: 'baseline',
  priority: 100,
  ingress: null,
  egress: [
    { index: 0, name: '', action: 'Pass', peers: [], ports: 'any' },
    { index: 1, name: '', action: 'Deny', peers: 'any', ports: 'any' },
  ],
  audit: true,
};
const cluster = state({
  pods: [pod('shop/db', { ips: ['10.1.0.6'], ingress: ['shop/deny-all'] })],
  policies: [policy('shop/deny-all', { ingress: [] })],
  clusterPolicies: [ops, defaultDeny],
});
const PODS: Record<string, string> = { '10.1.0.5': 'shop/web', '10.1.0.6': 'shop/db' };

class Child implements CaptureChild {
  pid = 7;
  out: ((c: Buffer) => void)[] = [];
  err: ((t: string) => void)[] = [];
  exits: ((e: ChildExit) => void)[] = [];
  onStdout(l: (c: Buffer) => void): void {
    this.out.push(l);
  }
  onStderr(l: (t: string) => void): void {
    this.err.push(l);
  }
  onExit(l: (e: ChildExit) => void): void {
    this.exits.push(l);
  }
  kill(): void {
    for (const l of this.exits) l({ code: null, signal: 'SIGTERM' });
  }
}

function setup() {
  const clock = new FakeClock();
  const metrics = new AgentMetrics({ processMetrics: false });
  const children: Child[] = [];
  const vlog = new VerdictLog(
    { nodeName: 'node-1', group: 20556, allowed: true, bufferSize: 100 },
    {
      clock,
      wallClock: () => Date.parse('2026-12-02T10:00:00Z'),
      log: silentLogger(),
      metrics,
      podOf: (ip) => PODS[ip],
      start: () => {
        const c = new Child();
        children.push(c);
        return c;
      },
    },
  );
  return { clock, metrics, children, vlog };
}

const syncs: string[] = [];
const dataplane = {
  sync: async () => {
    syncs.push('sync');
    return {} as never;
  },
  repairDrift: async () => ({ differences: [] }),
  counts: () => ({ rules: 0, chains: 0, ipsets: 0, members: 0 }),
};

test('each logged packet becomes an event in cluster terms; another tool’s record is left out', async () => {
  const { vlog, children } = setup();
  vlog.start();
  await vlog.tracking(dataplane).sync(cluster, fullDelta(cluster));
  children[0].err.forEach((l) => l('tcpdump: listening on nflog:20556\n'));
  children[0].out.forEach((l) => l(readFixture()));
  const events = vlog.ring.read(1).events;
  expect(events.map(({ time: _t, srcPort: _p, ...e }) => e)).toEqual([
    {
      seq: 1,
      node: 'node-1',
      direction: 'ingress',
      verdict: 'denied',
      tier: 'networkpolicy',
      cause: 'isolation',
      src: { ip: '10.1.0.5', pod: 'shop/web' },
      dst: { ip: '10.1.0.6', pod: 'shop/db' },
      protocol: 'UDP',
      dstPort: 9001,
      subject: 'shop/db',
      policies: ['shop/deny-all'],
      point: 'AZFO3G2ZXL',
      known: true,
    },
    {
      seq: 2,
      node: 'node-1',
      direction: 'egress',
      verdict: 'allowed',
      tier: 'admin',
      cause: 'rule',
      src: { ip: '10.1.0.5', pod: 'shop/web' },
      dst: { ip: '10.1.0.6', pod: 'shop/db' },
      protocol: 'TCP',
      dstPort: 9002,
      subject: 'shop/web',
      policy: { kind: 'ClusterNetworkPolicy', key: 'ops' },
      rule: { index: 0, name: 'dns' },
      point: 'I666RWDV3W',
      known: true,
    },
    {
      seq: 3,
      node: 'node-1',
      direction: 'egress',
      verdict: 'denied',
      tier: 'default',
      cause: 'pending',
      src: { ip: 'fd01::5' },
      dst: { ip: 'fd01::6' },
      protocol: 'TCP',
      dstPort: 9004,
      point: 'JEU3GYXLDM',
      known: true,
    },
    {
      seq: 4,
      node: 'node-1',
      direction: 'egress',
      verdict: 'would-deny',
      tier: 'baseline',
      cause: 'rule',
      src: { ip: '10.1.0.5', pod: 'shop/web' },
      dst: { ip: '10.1.0.6', pod: 'shop/db' },
      protocol: 'SCTP',
      dstPort: 9003,
      subject: 'shop/web',
      policy: { kind: 'ClusterNetworkPolicy', key: 'default-deny' },
      rule: { index: 1, name: '' },
      point: 'BVADLPK5KM',
      known: true,
    },
  ]);
  expect(events[0].time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(vlog.status()).toMatchObject({
    events: 4,
    buffered: 4,
    foreignRecords: 1,
    malformedRecords: 0,
    unknownLogPoints: 0,
  });
});

test('palisade_verdicts_total counts per policy and tier, never per pod; losses by reason', async () => {
  const { vlog, children, metrics } = setup();
  vlog.start();
  await vlog.tracking(dataplane).sync(cluster, fullDelta(cluster));
  children[0].out.forEach((l) => l(readFixture()));
  children[0].out.forEach((l) => l(readFixture().subarray(24))); // the same records again, same stream
  const text = await metrics.registry.getSingleMetricAsString('palisade_verdicts_total');
  expect(text).toContain(
    'palisade_verdicts_total{direction="ingress",verdict="denied",policy_namespace="shop",policy="deny-all",tier="networkpolicy"} 2',
  );
  expect(text).toContain(
    'palisade_verdicts_total{direction="egress",verdict="allowed",policy_namespace="",policy="ops",tier="admin"} 2',
  );
  expect(text).toContain(
    'palisade_verdicts_total{direction="egress",verdict="would-deny",policy_namespace="",policy="default-deny",tier="baseline"} 2',
  );
  const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  expect(samples).toHaveLength(4);
  for (const line of samples) expect(line).not.toMatch(/shop\/(db|web)|10\.1\.|fd01/);
  vlog.countLost('rate_limit', 40);
  children[0].err.forEach((l) =>
    l('tcpdump: 9 packets captured, 9 packets received by filter, 3 packets dropped by kernel\n'),
  );
  const lost = await metrics.registry.getSingleMetricAsString('palisade_verdict_events_lost_total');
  expect(lost).toContain('palisade_verdict_events_lost_total{reason="rate_limit"} 40');
  expect(lost).toContain('palisade_verdict_events_lost_total{reason="queue_overflow"} 3');
  expect(lost).toContain('palisade_verdict_events_lost_total{reason="slow_reader"} 0');
  expect(vlog.status().lost).toEqual({ rate_limit: 40, queue_overflow: 3, slow_reader: 0 });
});

test('the rate limit: the kernel counters are read every period, their increase counted as lost', async () => {
  const { vlog, metrics, clock } = setup();
  vlog.start();
  // What the kernel's counters say at each read (an earlier agent left 1000 / 400).
  const readings = [
    [1000, 400],
    [1700, 450],
    [1700, 450],
    [30, 30], // the chain was written anew
  ];
  let reads = 0;
  const read = async (): Promise<LogCounterSample[]> => {
    const [seen, logged] = readings[Math.min(reads++, readings.length - 1)];
    return [
      { key: 'ipv4:S', role: 'seen', packets: seen },
      { key: 'ipv4:L', role: 'logged', packets: logged },
    ];
  };
  vlog.countRateLimit(read, 5000);
  await clock.advance(0);
  expect(reads).toBe(1);
  expect(vlog.status().lost).toMatchObject({ rate_limit: 0 });
  await clock.advance(5000);
  expect(vlog.status().lost).toMatchObject({ rate_limit: 650 });
  await clock.advance(10_000);
  expect(reads).toBe(4);
  expect(vlog.status()).toMatchObject({
    lost: { rate_limit: 650 },
    rateLimit: { seen: 730, logged: 80, lost: 650, reads: 4, failures: 0 },
  });
  expect(await metrics.registry.getSingleMetricAsString('palisade_verdict_events_lost_total')).toContain(
    'palisade_verdict_events_lost_total{reason="rate_limit"} 650',
  );
  // A failed read is counted and retried at the next period; stop() ends the reads.
  const failing = setup();
  failing.vlog.countRateLimit(() => Promise.reject(new Error('nft session lost')), 5000);
  await failing.clock.advance(5000);
  expect(failing.vlog.status()).toMatchObject({ rateLimit: { reads: 0, failures: 2 } });
  await vlog.stop();
  await clock.advance(60_000);
  expect(reads).toBe(4);
  expect(clock.pendingTimers).toBe(0);
});

test('the isolating policies name the label when several isolate the pod', () => {
  expect(
    verdictLabels({
      seq: 1,
      time: '',
      node: 'n',
      direction: 'ingress',
      verdict: 'denied',
      tier: 'networkpolicy',
      src: { ip: '1.1.1.1' },
      dst: { ip: '1.1.1.2' },
      protocol: 'TCP',
      policies: ['shop/a', 'shop/b'],
      point: 'X',
      known: true,
    }),
  ).toEqual({
    direction: 'ingress',
    verdict: 'denied',
    policy_namespace: 'shop',
    policy: 'a,b',
    tier: 'networkpolicy',
  });
});

test('a record that races an update is attributed to what its rule meant; unknown points keep the prefix’s facts', async () => {
  const { vlog, children, clock } = setup();
  vlog.start();
  const tracked = vlog.tracking(dataplane);
  await tracked.sync(cluster, fullDelta(cluster));
  // The pod and its policy go away: the rule that logged the first record is gone from the kernel.
  const empty = state({});
  await tracked.sync(empty, fullDelta(empty));
  await clock.advance(60_000);
  children[0].out.forEach((l) => l(readFixture()));
  const first = vlog.ring.read(1).events[0];
  expect(first).toMatchObject({ known: true, cause: 'isolation', policies: ['shop/deny-all'] });
  // Ten minutes later the retired points are forgotten: a late record keeps verdict, tier, direction.
  await clock.advance(10 * 60_000);
  await tracked.sync(empty, fullDelta(empty));
  children[0].out.forEach((l) => l(readFixture().subarray(24)));
  const late = vlog.ring.read(5).events[0];
  expect(late).toMatchObject({
    known: false,
    verdict: 'denied',
    tier: 'networkpolicy',
    direction: 'ingress',
    point: 'AZFO3G2ZXL',
  });
  expect(late.cause).toBeUndefined();
  expect(late.subject).toBe('shop/db'); // from the destination address (ingress)
  expect(vlog.status().unknownLogPoints).toBe(3); // the three points that belonged to the gone objects
  expect(syncs.length).toBeGreaterThan(0);
});

test('watchers get the stream; stop() ends them and the capture', async () => {
  const { vlog, children } = setup();
  vlog.start();
  await vlog.tracking(dataplane).sync(cluster, fullDelta(cluster));
  const lines: string[] = [];
  let ended = false;
  const sink: LineSink = {
    write: (l) => (lines.push(l), true),
    onDrain: () => undefined,
    end: () => (ended = true),
  };
  vlog.watch(sink, { verdicts: new Set(['denied']) }, true);
  expect(vlog.status().watchers).toBe(1);
  children[0].out.forEach((l) => l(readFixture()));
  await settle();
  expect(lines.map((l) => JSON.parse(l).type)).toEqual(['hello', 'verdict', 'verdict']);
  expect(JSON.parse(lines[0])).toMatchObject({
    type: 'hello',
    node: 'node-1',
    capture: { state: 'starting', group: 20556 },
  });
  await vlog.stop();
  expect(ended).toBe(true);
  expect(vlog.status()).toMatchObject({ watchers: 0, capture: { state: 'stopped' } });
});
