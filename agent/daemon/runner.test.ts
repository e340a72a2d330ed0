import { silentLogger } from './logger';
import { AgentMetrics } from './metrics';
import { deltaIsEmpty, SyncRunner } from './runner';
import { FakeClock, settle } from './testutil/fake-clock';
import { FakeCompiler, FakeDataplane } from './testutil/fake-sync';

/** A runner over fakes; retry backoff without jitter: 500, 1000, 2000, 4000 ms (cap 4000). */
function setup(
  opts: {
    minIntervalMs?: number;
    wedgeTimeoutMs?: number;
    afterApply?: (state: unknown, delta: { full: boolean }, full: boolean) => Promise<void>;
  } = {},
) {
  const clock = new FakeClock();
  const compiler = new FakeCompiler();
  const dataplane = new FakeDataplane(clock);
  const metrics = new AgentMetrics({ processMetrics: false });
  const runner = new SyncRunner({
    compiler,
    dataplane,
    clock,
    log: silentLogger(),
    metrics,
    minIntervalMs: opts.minIntervalMs ?? 0,
    retry: { initialMs: 500, maxMs: 4000, jitter: 0 },
    wedgeTimeoutMs: opts.wedgeTimeoutMs,
    ...(opts.afterApply ? { afterApply: opts.afterApply } : {}),
  });
  /** A model change as a watch handler makes it: update the compiler, then notify. */
  const event = (key: string) => {
    compiler.change(key);
    runner.notify(clock.now());
  };
  return { clock, compiler, dataplane, metrics, runner, event };
}

async function metricValue(
  metrics: AgentMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const all = await metrics.registry.getMetricsAsJSON();
  for (const m of all) {
    for (const v of m.values as Array<{
      metricName?: string;
      labels: Record<string, string | number>;
      value: number;
    }>) {
      const metricName = v.metricName ?? m.name;
      if (metricName === name && Object.entries(labels).every(([k, x]) => v.labels[k] === x)) return v.value;
    }
  }
  return 0;
}

describe('SyncRunner', () => {
  test('the after-apply step runs after each kernel-changing apply, full the first time; its failure fails nothing', async () => {
    const calls: boolean[] = [];
    let fail = false;
    const { clock, runner, event, metrics } = setup({
      afterApply: async (_state, _delta, full) => {
        calls.push(full);
        if (fail) throw new Error('conntrack missing');
      },
    });
    runner.markSynced();
    await clock.advance(0);
    event('a/1');
    await clock.advance(0);
    expect(calls).toEqual([true, false]);
    fail = true;
    event('a/2');
    await clock.advance(0);
    expect(calls).toEqual([true, false, false]);
    expect(runner.status()).toMatchObject({ ready: true, pendingEvents: 0 });
    expect(await metricValue(metrics, 'palisade_after_apply_errors_total')).toBe(1);
    expect(await metricValue(metrics, 'palisade_apply_errors_total')).toBe(0);
  });

  test('programs nothing until every cache has synced, then applies once with everything', async () => {
    const { clock, dataplane, runner, event, metrics } = setup();
    event('a/1');
    event('a/2');
    await clock.advance(60_000);
    expect(dataplane.syncs).toHaveLength(0);
    expect(runner.status().ready).toBe(false);

    runner.markSynced();
    await clock.advance(0);
    expect(dataplane.syncs).toHaveLength(1);
    expect(dataplane.syncs[0]).toMatchObject({ full: true, state: ['a/1@1', 'a/2@1'] });
    expect(runner.status()).toMatchObject({ synced: true, ready: true, pendingEvents: 0 });
    // Both events enforced 60 s after receipt.
    expect(await metricValue(metrics, 'palisade_event_to_enforcement_seconds_count')).toBe(2);
    expect(await metricValue(metrics, 'palisade_event_to_enforcement_seconds_sum')).toBeCloseTo(120, 6);
  });

  test('applies once after sync even when nothing happened (adopts the kernel)', async () => {
    const { clock, dataplane, runner } = setup();
    runner.markSynced();
    await clock.advance(0);
    expect(dataplane.syncs).toHaveLength(1);
    await expect(runner.whenReady()).resolves.toBeUndefined();
    await clock.advance(10_000);
    expect(dataplane.syncs).toHaveLength(1);
  });

  test('a burst during an apply goes out together in the next apply', async () => {
    const { clock, dataplane, runner, event, metrics } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = ['hold'];
    event('ns/first');
    await clock.advance(0);
    expect(dataplane.syncs).toHaveLength(2);
    expect(runner.status().running).toBe('apply');
    for (let i = 0; i < 50; i++) {
      event(`ns/p${i}`);
      await clock.advance(1);
    }
    expect(dataplane.syncs).toHaveLength(2);
    expect(runner.status().pendingEvents).toBe(50);
    dataplane.release();
    await clock.advance(0);
    expect(dataplane.syncs).toHaveLength(3);
    expect(dataplane.syncs[2].changed).toHaveLength(50);
    expect(dataplane.maxInFlight).toBe(1);
    expect(runner.status().lastApply?.events).toBe(50);
    expect(await metricValue(metrics, 'palisade_event_to_enforcement_seconds_count')).toBe(51);
  });

  test('events in one tick coalesce into one apply', async () => {
    const { clock, dataplane, runner, event } = setup();
    runner.markSynced();
    await clock.advance(0);
    for (let i = 0; i < 20; i++) event(`ns/p${i}`);
    await clock.advance(0);
    expect(dataplane.syncs).toHaveLength(2);
    expect(dataplane.syncs[1].changed).toHaveLength(20);
  });

  test('applies start no closer than the minimum interval', async () => {
    const { clock, dataplane, runner, event } = setup({ minIntervalMs: 100 });
    runner.markSynced();
    await clock.advance(0);
    event('ns/a');
    await clock.advance(99);
    expect(dataplane.syncs).toHaveLength(1);
    await clock.advance(1);
    expect(dataplane.syncs.map((s) => s.at)).toEqual([0, 100]);
    event('ns/b');
    await clock.advance(150);
    expect(dataplane.syncs.map((s) => s.at)).toEqual([0, 100, 200]);
  });

  test('a failed apply is retried with capped exponential backoff; new events do not hurry it', async () => {
    const { clock, dataplane, runner, event, metrics } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = [
      new Error('xtables lock held'),
      new Error('x'),
      new Error('x'),
      new Error('x'),
      new Error('x'),
    ];
    event('ns/a');
    await clock.advance(0);
    expect(dataplane.syncs).toHaveLength(2);
    expect(runner.status()).toMatchObject({ consecutiveFailures: 1, retryInMs: 500, pendingEvents: 1 });
    event('ns/b');
    await clock.advance(499);
    expect(dataplane.syncs).toHaveLength(2);
    await clock.advance(20_000);
    // Retries at +500, +1000, +2000, +4000, then (success) +4000 (capped).
    expect(dataplane.syncs.map((s) => s.at)).toEqual([0, 0, 500, 1500, 3500, 7500, 11500]);
    expect(runner.status()).toMatchObject({ consecutiveFailures: 0, retryInMs: null, pendingEvents: 0 });
    expect(await metricValue(metrics, 'palisade_apply_errors_total')).toBe(5);
    expect(await metricValue(metrics, 'palisade_applies_total', { result: 'success' })).toBe(2);

    // After a success the backoff starts over.
    dataplane.script = [new Error('again')];
    const failedAt = clock.now();
    event('ns/c');
    await clock.advance(0);
    await clock.advance(500);
    expect(dataplane.syncs.map((s) => s.at).slice(-2)).toEqual([failedAt, failedAt + 500]);
  });

  test('a failure keeps the desired state: the retry carries every change, and latency counts to it', async () => {
    const { clock, dataplane, runner, event, metrics } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = [new Error('iptables-restore: line 3 failed')];
    event('ns/a');
    await clock.advance(0);
    expect(await metricValue(metrics, 'palisade_event_to_enforcement_seconds_count')).toBe(0);
    expect(runner.status().lastError?.error).toContain('line 3 failed');
    await clock.advance(200);
    event('ns/b');
    await clock.advance(300);
    expect(dataplane.syncs).toHaveLength(3);
    expect(dataplane.syncs[2].state).toEqual(['ns/a@1', 'ns/b@1']);
    expect(await metricValue(metrics, 'palisade_event_to_enforcement_seconds_count')).toBe(2);
    // a waited 500 ms, b 300 ms.
    expect(await metricValue(metrics, 'palisade_event_to_enforcement_seconds_sum')).toBeCloseTo(0.8, 6);
    expect(runner.status().lastApply?.events).toBe(2);
  });

  test('the first apply failing keeps the agent unready and retries', async () => {
    const { clock, dataplane, runner } = setup();
    dataplane.script = [new Error('iptables-restore: not found')];
    runner.markSynced();
    await clock.advance(0);
    expect(runner.status().ready).toBe(false);
    await clock.advance(500);
    expect(dataplane.syncs).toHaveLength(2);
    expect(runner.status().ready).toBe(true);
  });

  test('drift repair waits for the apply in flight and never runs beside it', async () => {
    const { clock, dataplane, runner, event, metrics } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = ['hold'];
    event('ns/a');
    await clock.advance(0);
    dataplane.repairScript = [{ differences: ['chain PALISADE-P-x missing'] }];
    runner.requestRepair();
    await clock.advance(100);
    expect(dataplane.repairs).toHaveLength(0);
    dataplane.release();
    await clock.advance(0);
    expect(dataplane.repairs).toEqual([100]);
    expect(dataplane.maxInFlight).toBe(1);
    expect(runner.status().repairs).toBe(1);
    expect(runner.status().lastRepair?.differences).toEqual(['chain PALISADE-P-x missing']);
    expect(await metricValue(metrics, 'palisade_drift_repairs_total')).toBe(1);
    runner.requestRepair();
    await clock.advance(0);
    expect(dataplane.repairs).toHaveLength(2);
    expect(runner.status().repairs).toBe(1);
    // A clean check replaces the last check, but the last repair stays on record.
    expect(runner.status().lastRepair?.differences).toEqual([]);
    expect(runner.status().lastRepaired?.differences).toEqual(['chain PALISADE-P-x missing']);
  });

  test('no drift repair while the last apply failed: the retry goes first', async () => {
    const { clock, dataplane, runner, event } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = [new Error('boom')];
    event('ns/a');
    await clock.advance(0);
    runner.requestRepair();
    await clock.advance(100);
    expect(dataplane.repairs).toHaveLength(0);
    await clock.advance(400);
    expect(dataplane.syncs).toHaveLength(3);
    expect(dataplane.repairs).toEqual([500]);
  });

  test('a foreign kernel change brings a failing retry forward to the first delay; the backoff keeps its count', async () => {
    const { clock, dataplane, runner, event } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = [
      new Error('refused'),
      new Error('refused'),
      new Error('refused'),
      new Error('refused'),
    ];
    event('ns/a');
    await clock.advance(0); // fails; retry at +500
    await clock.advance(500); // fails; retry at +1000
    await clock.advance(1000); // fails; retry at +2000
    expect(runner.status()).toMatchObject({ consecutiveFailures: 3, retryInMs: 2000 });
    const changedAt = clock.now() + 100;
    await clock.advance(100);
    runner.kernelChanged();
    expect(runner.status().retryInMs).toBe(500);
    await clock.advance(499);
    expect(dataplane.syncs).toHaveLength(4);
    await clock.advance(1); // fails a fourth time: the next delay is the fourth, 4000
    expect(dataplane.syncs.map((s) => s.at).slice(-1)).toEqual([changedAt + 500]);
    expect(runner.status()).toMatchObject({ consecutiveFailures: 4, retryInMs: 4000 });
    // A change seen when the retry is already nearer than the first delay does not postpone it.
    await clock.advance(3800);
    runner.kernelChanged();
    expect(runner.status().retryInMs).toBe(200);
    await clock.advance(200);
    expect(runner.status()).toMatchObject({ consecutiveFailures: 0, pendingEvents: 0 });
    // The repairs the changes asked for run once the retry has succeeded.
    await clock.advance(0);
    expect(dataplane.repairs).toEqual([clock.now()]);
    // With nothing failing, a foreign change is a repair, at once.
    await clock.advance(1000);
    runner.kernelChanged();
    await clock.advance(0);
    expect(dataplane.repairs).toEqual([clock.now() - 1000, clock.now()]);
  });

  test('exclusive() work waits for the apply in flight', async () => {
    const { clock, dataplane, runner, event } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = ['hold'];
    event('ns/a');
    await clock.advance(0);
    let ran = false;
    const p = runner.exclusive(async () => {
      ran = true;
      return dataplane.inFlight;
    });
    await settle();
    expect(ran).toBe(false);
    dataplane.release();
    await expect(p).resolves.toBe(0);
  });

  test('stop() lets the apply in flight finish, then schedules nothing', async () => {
    const { clock, dataplane, runner, event } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = ['hold'];
    event('ns/a');
    await clock.advance(0);
    const stopped = runner.stop(5000);
    event('ns/b');
    dataplane.release();
    await expect(stopped).resolves.toBe(true);
    await clock.advance(10_000);
    expect(dataplane.syncs).toHaveLength(2);
  });

  test('stop() abandons an apply that outlives the grace period', async () => {
    const { clock, dataplane, runner, event } = setup();
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = ['hold'];
    event('ns/a');
    await clock.advance(0);
    const stopped = runner.stop(1000);
    await clock.advance(1000);
    await expect(stopped).resolves.toBe(false);
  });

  test('health: wedged when an apply runs past the wedge timeout', async () => {
    const { clock, dataplane, runner, event } = setup({ wedgeTimeoutMs: 60_000 });
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = ['hold'];
    event('ns/a');
    await clock.advance(60_000);
    expect(runner.healthy()).toBe(true);
    await clock.advance(1);
    expect(runner.healthy()).toBe(false);
    dataplane.release();
    await clock.advance(0);
    expect(runner.healthy()).toBe(true);
  });

  test('a failing agent is retrying, not wedged', async () => {
    const { clock, dataplane, runner, event } = setup({ wedgeTimeoutMs: 1000 });
    runner.markSynced();
    await clock.advance(0);
    dataplane.script = Array.from({ length: 20 }, () => new Error('lock'));
    event('ns/a');
    await clock.advance(30_000);
    expect(runner.status().consecutiveFailures).toBeGreaterThan(5);
    expect(runner.healthy()).toBe(true);
  });

  test('a compile that changes nothing does not touch the kernel but counts as enforced', async () => {
    const { clock, dataplane, runner, metrics } = setup();
    runner.markSynced();
    await clock.advance(0);
    runner.notify(clock.now());
    await clock.advance(5);
    expect(dataplane.syncs).toHaveLength(1);
    expect(runner.status().lastApply?.stats).toBeNull();
    expect(await metricValue(metrics, 'palisade_event_to_enforcement_seconds_count')).toBe(1);
  });
});

describe('deltaIsEmpty', () => {
  const none = {
    full: false,
    pods: new Set<string>(),
    policies: new Set<string>(),
    clusterPolicies: new Set<string>(),
    peerSets: new Set<string>(),
    members: new Map(),
  };

  test('a change of a ClusterNetworkPolicy alone, or of the local pod ranges alone, is not empty', () => {
    // Found by the soak: a CNP rule's action flipped (Deny <-> Pass, same peers) was skipped as
    // "did not concern this node", and the kernel kept the old action.
    expect(deltaIsEmpty(none)).toBe(true);
    expect(deltaIsEmpty({ ...none, clusterPolicies: new Set(['guard']) })).toBe(false);
    expect(deltaIsEmpty({ ...none, localPodCIDRs: true })).toBe(false);
    expect(deltaIsEmpty({ ...none, policies: new Set(['a/p']) })).toBe(false);
  });
});
