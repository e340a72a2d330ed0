/**
 * Fail closed for new pods, traced through both backends' fake kernels: a local address in the
 * node's pod ranges that no programmed pod holds is dropped in both directions, in both families,
 * until the sync that programs its pod; addresses outside the ranges and programmed pods are not
 * affected; fail open (the dataplane's default) changes nothing. For iptables, whose apply is
 * several restores, every intermediate kernel state is traced too: a new pod is never reachable
 * before its rules are in place. A pod of another node at an address of the ranges is known (not
 * new) as soon as the compiled state names it.
 * Address plan: the node's pod ranges 10.1.0.0/24 and fd01::/64; remote pods 10.2.0.0/16, and
 * one remote pod inside the ranges.
 */
import type { CompiledState } from '../compiler/ir';
import { type BackendKind, type NewPodsPolicy, createDataplane } from './api';
import { failClosedPoint } from './evaluations';
import { LogPointIndex } from './log-points';
import { DEFAULT_VERDICT_LOG, type VerdictLogOptions, formatPrefix } from './verdict-log';
import { FakeKernel } from './iptables/fake-kernel';
import { trace as traceIptables } from './iptables/tracer';
import { FakeNft } from './nftables/fake-nft';
import { trace as traceNft } from './nftables/tracer';
import { deltaBetween, fullDelta, pod, podsSet, policy, rule, state, tcp } from './testutil/fixtures';

const RANGES = ['10.1.0.0/24', 'fd01::/64'];
const WEB = ['10.1.0.5', 'fd01::5'];
const CACHE = ['10.1.0.6', 'fd01::6'];
const NEW = ['10.1.0.20', 'fd01::20'];
const OTHER_NEW = ['10.1.0.21', 'fd01::21'];
const FRIEND = ['10.2.0.1', 'fd02::1'];
const STRANGER = ['10.2.0.2', 'fd02::2'];
const OUTSIDE_RANGE = ['10.1.1.9', 'fd01:0:0:1::9'];

/** A pod of another node at addresses of this node's ranges (a known pod, not a new one). */
const ELSEWHERE = ['10.1.0.30', 'fd01::30'];

/** web (ingress from friends only) and cache (no policy); `extra` pods are added as given. */
function cluster(
  extra: ReturnType<typeof pod>[] = [],
  ranges: string[] = RANGES,
  remote: string[] = [],
): CompiledState {
  return state({
    pods: [
      pod('shop/web', { ips: WEB, ingress: ['shop/friends-only'] }),
      pod('shop/cache', { ips: CACHE }),
      ...extra,
    ],
    policies: [policy('shop/friends-only', { ingress: [rule(0, ['pods:friends'], [tcp(80)])] })],
    peerSets: [
      podsSet('pods:friends', FRIEND, {
        namespace: 'shop',
        podSelector: { matchLabels: { role: 'friend' } },
      }),
    ],
    localPodCIDRs: ranges,
    remotePodAddresses: remote,
  });
}

type Verdict = 'ACCEPT' | 'DROP';

interface Harness {
  sync(next: CompiledState): Promise<void>;
  /** The forward verdict of a new TCP connection src → dst:80. */
  verdict(src: string, dst: string): Verdict;
  /** Its verdict and the NFLOG prefixes it was logged with (`tokens`: the rate limit lets it through). */
  traced(src: string, dst: string, tokens?: boolean): { verdict: Verdict; logged: string[] };
}

async function harness(
  backend: BackendKind,
  newPods: NewPodsPolicy,
  first: CompiledState,
  verdictLog?: VerdictLogOptions,
): Promise<Harness> {
  const kernel = backend === 'iptables' ? new FakeKernel() : new FakeNft();
  const dp = createDataplane({
    kernel,
    backend,
    newPods,
    gcDelayMs: 3_600_000,
    ...(verdictLog ? { verdictLog } : {}),
  });
  let prev = first;
  await dp.sync(first, fullDelta(first));
  const traced = (src: string, dst: string, tokens = true): { verdict: Verdict; logged: string[] } => {
    const p = { src, dst, proto: 'tcp' as const, dport: 80 };
    const limit = { limit: () => tokens };
    const t =
      kernel instanceof FakeKernel
        ? traceIptables(kernel, src.includes(':') ? 6 : 4, 'FORWARD', p, limit)
        : traceNft(kernel, p, 'forward', limit);
    return { verdict: t.verdict as Verdict, logged: t.logged.map((l) => l.prefix) };
  };
  return {
    async sync(next) {
      await dp.sync(next, deltaBetween(prev, next));
      prev = next;
    },
    verdict: (src, dst) => traced(src, dst).verdict,
    traced,
  };
}

describe.each<BackendKind>(['iptables', 'nftables'])('fail closed for new pods, %s', (backend) => {
  test.each([0, 1])(
    'an address no pod is programmed for is dropped both ways (family index %i)',
    async (f) => {
      const h = await harness(backend, 'fail-closed', cluster());
      expect(h.verdict(STRANGER[f], NEW[f])).toBe('DROP');
      expect(h.verdict(NEW[f], STRANGER[f])).toBe('DROP');
      expect(h.verdict(CACHE[f], NEW[f])).toBe('DROP');
      expect(h.verdict(NEW[f], CACHE[f])).toBe('DROP');
      // Programmed pods keep their policy's verdicts; addresses outside the ranges are not ours.
      expect(h.verdict(STRANGER[f], CACHE[f])).toBe('ACCEPT');
      expect(h.verdict(CACHE[f], STRANGER[f])).toBe('ACCEPT');
      expect(h.verdict(FRIEND[f], WEB[f])).toBe('ACCEPT');
      expect(h.verdict(STRANGER[f], WEB[f])).toBe('DROP');
      expect(h.verdict(STRANGER[f], OUTSIDE_RANGE[f])).toBe('ACCEPT');
      expect(h.verdict(OUTSIDE_RANGE[f], STRANGER[f])).toBe('ACCEPT');
    },
  );

  test('the sync that programs the pod opens it as its policy says; its deletion closes it again', async () => {
    const h = await harness(backend, 'fail-closed', cluster());
    await h.sync(cluster([pod('shop/new', { ips: NEW })]));
    for (const f of [0, 1]) {
      expect(h.verdict(STRANGER[f], NEW[f])).toBe('ACCEPT');
      expect(h.verdict(NEW[f], CACHE[f])).toBe('ACCEPT');
    }
    await h.sync(cluster([pod('shop/new', { ips: NEW, ingress: ['shop/friends-only'] })]));
    expect(h.verdict(FRIEND[0], NEW[0])).toBe('ACCEPT');
    expect(h.verdict(STRANGER[1], NEW[1])).toBe('DROP');
    await h.sync(cluster());
    expect(h.verdict(FRIEND[0], NEW[0])).toBe('DROP');
    expect(h.verdict(NEW[1], STRANGER[1])).toBe('DROP');
  });

  test('a change of the pod ranges moves the closed area', async () => {
    const h = await harness(backend, 'fail-closed', cluster());
    expect(h.verdict(STRANGER[0], OUTSIDE_RANGE[0])).toBe('ACCEPT');
    await h.sync(cluster([], ['10.1.0.0/23', 'fd01::/56']));
    expect(h.verdict(STRANGER[0], OUTSIDE_RANGE[0])).toBe('DROP');
    expect(h.verdict(OUTSIDE_RANGE[1], STRANGER[1])).toBe('DROP');
    await h.sync(cluster([], []));
    expect(h.verdict(STRANGER[0], NEW[0])).toBe('ACCEPT');
    expect(h.verdict(NEW[1], STRANGER[1])).toBe('ACCEPT');
  });

  test("another node's pod at an address of the ranges is known as soon as the model has it", async () => {
    const h = await harness(backend, 'fail-closed', cluster());
    for (const f of [0, 1]) expect(h.verdict(ELSEWHERE[f], CACHE[f])).toBe('DROP');
    await h.sync(cluster([], RANGES, ELSEWHERE));
    for (const f of [0, 1]) {
      expect(h.verdict(ELSEWHERE[f], CACHE[f])).toBe('ACCEPT');
      expect(h.verdict(STRANGER[f], ELSEWHERE[f])).toBe('ACCEPT');
      expect(h.verdict(ELSEWHERE[f], WEB[f])).toBe('DROP');
    }
    // A local pod takes the same address (a reuse the model sees both sides of): its going keeps it known.
    await h.sync(cluster([pod('shop/reuse', { ips: ELSEWHERE })], RANGES, ELSEWHERE));
    await h.sync(cluster([], RANGES, ELSEWHERE));
    expect(h.verdict(ELSEWHERE[0], CACHE[0])).toBe('ACCEPT');
    await h.sync(cluster([], RANGES, [ELSEWHERE[1]]));
    expect(h.verdict(ELSEWHERE[0], CACHE[0])).toBe('DROP');
    expect(h.verdict(CACHE[1], ELSEWHERE[1])).toBe('ACCEPT');
    // A first sync (a full render) knows them too.
    const fresh = await harness(backend, 'fail-closed', cluster([], RANGES, ELSEWHERE));
    expect(fresh.verdict(ELSEWHERE[0], CACHE[0])).toBe('ACCEPT');
  });

  test("with verdict logs, the drop logs its own point, which the agent's table maps back", async () => {
    const s = cluster();
    const h = await harness(backend, 'fail-closed', s, DEFAULT_VERDICT_LOG);
    const ingress = failClosedPoint('ingress');
    const egress = failClosedPoint('egress');
    const table = new LogPointIndex(DEFAULT_VERDICT_LOG);
    table.update(s, fullDelta(s));
    expect(table.get(ingress.id)).toMatchObject({ verdict: 'denied', tier: 'default', cause: 'fail-closed' });
    expect(table.get(egress.id)).toMatchObject({ direction: 'egress', cause: 'fail-closed' });
    for (const f of [0, 1]) {
      expect(h.traced(STRANGER[f], NEW[f])).toEqual({ verdict: 'DROP', logged: [formatPrefix(ingress)] });
      expect(h.traced(NEW[f], CACHE[f])).toEqual({ verdict: 'DROP', logged: [formatPrefix(egress)] });
      // The source is tested first: between two new pods, the sender's egress is reported.
      expect(h.traced(NEW[f], OTHER_NEW[f])).toEqual({
        verdict: 'DROP',
        logged: [formatPrefix(egress)],
      });
      // Out of tokens: dropped all the same, unlogged.
      expect(h.traced(STRANGER[f], NEW[f], false)).toEqual({ verdict: 'DROP', logged: [] });
      // Known pods are untouched by it.
      expect(h.traced(STRANGER[f], CACHE[f])).toEqual({ verdict: 'ACCEPT', logged: [] });
    }
  });

  test('fail open lets an unprogrammed address through', async () => {
    const h = await harness(backend, 'fail-open', cluster());
    expect(h.verdict(STRANGER[0], NEW[0])).toBe('ACCEPT');
    expect(h.verdict(NEW[1], STRANGER[1])).toBe('ACCEPT');
  });
});

describe('iptables: every intermediate state of an apply', () => {
  /** Replays the restores of one sync one by one into a copy of the kernel, tracing after each. */
  async function intermediateVerdicts(
    from: CompiledState,
    to: CompiledState,
    probes: readonly [string, string][],
  ): Promise<Verdict[][]> {
    const live = new FakeKernel();
    const replica = new FakeKernel();
    const dp = createDataplane({ kernel: live, newPods: 'fail-closed' });
    await dp.sync(from, fullDelta(from));
    for (const op of live.ops) await replica.run(op.argv, op.input);
    const start = live.ops.length;
    await dp.sync(to, deltaBetween(from, to));
    const seen: Verdict[][] = [];
    const look = (): void => {
      seen.push(
        probes.map(
          ([src, dst]) =>
            traceIptables(replica, src.includes(':') ? 6 : 4, 'FORWARD', {
              src,
              dst,
              proto: 'tcp',
              dport: 80,
            }).verdict as Verdict,
        ),
      );
    };
    look();
    for (const op of live.opsSince(start)) {
      if (op.tool === 'iptables-save' || op.argv.includes('save')) continue;
      await replica.run(op.argv, op.input);
      look();
    }
    return seen;
  }

  test('a new isolated pod is dropped until its chain is in place, then decided by its policy', async () => {
    const probes: [string, string][] = [
      [STRANGER[0], NEW[0]],
      [FRIEND[0], NEW[0]],
      [NEW[1], STRANGER[1]],
      [STRANGER[1], NEW[1]],
    ];
    const seen = await intermediateVerdicts(
      cluster(),
      cluster([pod('shop/new', { ips: NEW, ingress: ['shop/friends-only'] })]),
      probes,
    );
    expect(seen.length).toBeGreaterThanOrEqual(4);
    // Never reachable by a stranger; the friend only once everything is in place.
    for (const row of seen) expect([row[0], row[3]]).toEqual(['DROP', 'DROP']);
    for (const row of seen.slice(0, -1)) expect(row[1]).toBe('DROP');
    expect(seen[seen.length - 1]).toEqual(['DROP', 'ACCEPT', 'ACCEPT', 'DROP']);
  });

  test('a removed pod is closed before its chain goes', async () => {
    const probes: [string, string][] = [
      [FRIEND[0], NEW[0]],
      [NEW[0], STRANGER[0]],
    ];
    const seen = await intermediateVerdicts(
      cluster([pod('shop/new', { ips: NEW, ingress: ['shop/friends-only'] })]),
      cluster(),
      probes,
    );
    expect(seen[0]).toEqual(['ACCEPT', 'ACCEPT']);
    for (const row of seen.slice(1)) expect(row).toEqual(['DROP', 'DROP']);
  });
});
