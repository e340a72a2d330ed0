/**
 * The diff engine against FakeKernel: what a change costs, in which order it reaches the kernel,
 * how it recovers from failures and restarts, and that any batching converges.
 */
import fc from 'fast-check';
import type { CompileDelta, CompiledState } from '../../compiler/ir';
import { type Dataplane, createDataplane } from '../api';
import { FakeKernel } from './fake-kernel';
import { ApplyError } from '../kernel';
import { CHAIN_FORWARD, CHAIN_INGRESS, isOwnName, podChainName, policyChainName } from './names';
import {
  EMPTY_STATE,
  cidrSet,
  deltaBetween,
  fullDelta,
  mergeDeltas,
  named,
  namedPortSet,
  pod,
  podsSet,
  policy,
  rule,
  state,
  tcp,
  withMembers,
} from '../testutil/fixtures';
import { stateArb, syntheticCluster } from '../testutil/generate';

const base = state({
  pods: [
    pod('a/web', { ips: ['10.1.0.5', 'fd01::5'], ingress: ['a/allow-db'], egress: ['a/egress'] }),
    pod('a/free', { ips: ['10.1.0.6'] }),
    pod('b/db', { ips: ['10.1.0.7'], ingress: ['b/deny'] }),
  ],
  policies: [
    policy('a/allow-db', { ingress: [rule(0, ['pods:db'], [tcp(80), named('http', 'np:http')])] }),
    policy('a/egress', { egress: [rule(0, ['cidr:out'], 'any')] }),
    policy('b/deny', { ingress: [] }),
  ],
  peerSets: [
    podsSet('pods:db', ['10.2.0.1', 'fd02::1'], {
      namespace: 'a',
      podSelector: { matchLabels: { app: 'db' } },
    }),
    cidrSet('cidr:out', '192.0.2.0/24', ['192.0.2.128/25']),
    namedPortSet('np:http', 'http', 'TCP', ['10.1.0.5,tcp:8080', 'fd01::5,tcp:8080'], true),
  ],
});

async function started(
  s: CompiledState = base,
  kernel = new FakeKernel(),
): Promise<{ k: FakeKernel; dp: Dataplane }> {
  const dp = createDataplane({ kernel });
  await dp.sync(s, fullDelta(s));
  return { k: kernel, dp };
}

/** What a fresh dataplane renders for `s`, as a FakeKernel snapshot. */
async function reference(s: CompiledState): Promise<string> {
  const { k } = await started(s);
  return k.snapshot();
}

function iptablesInputs(k: FakeKernel, from: number): string {
  return k
    .opsSince(from)
    .filter((o) => o.tool === 'iptables-restore')
    .map((o) => o.input)
    .join('');
}

describe('membership change', () => {
  test('is ipset add/del lines only: one restore, no iptables, no chain touched', async () => {
    const { k, dp } = await started();
    const next = withMembers(base, 'pods:db', ['10.2.0.2', 'fd02::1']);
    const from = k.ops.length;
    const stats = await dp.sync(next, deltaBetween(base, next));
    const ops = k.opsSince(from);
    expect(ops.map((o) => o.argv.join(' '))).toEqual(['ipset restore -exist']);
    expect(ops[0].input).toMatch(
      /^del PALISADE-P4-db-\S+ 10\.2\.0\.1\nadd PALISADE-P4-db-\S+ 10\.2\.0\.2\n$/,
    );
    expect(stats).toMatchObject({ iptablesLines: 0, ipsetLines: 2, spawns: 1, fullDiff: false });
    expect(k.snapshot()).toBe(await reference(next));
  });

  test('costs the same bytes in a cluster ten times larger', async () => {
    const cost = async (clusterPods: number): Promise<number> => {
      const { state: s, podIPs } = syntheticCluster({ clusterPods, localPods: 11, policies: 100, seed: 7 });
      const { dp } = await started(s);
      // A label change: one remote pod leaves one set and joins another.
      const [from, to] = [...s.peerSets.values()].filter((p) => p.def.kind === 'pods' && p.def.namespace);
      const mover = [...from.members].find((m) => !to.members.has(m)) ?? podIPs[0];
      let next = withMembers(
        s,
        from.key,
        [...from.members].filter((m) => m !== mover),
      );
      next = withMembers(next, to.key, [...to.members, mover]);
      const stats = await dp.sync(next, deltaBetween(s, next));
      expect(stats.iptablesLines).toBe(0);
      return stats.restoreBytes;
    };
    const small = await cost(1000);
    const large = await cost(10000);
    expect(small).toBeGreaterThan(0);
    // Same number of lines; only the address text may be a few characters longer.
    expect(large).toBeLessThanOrEqual(small + 8);
  });
});

describe('policy change', () => {
  test('rewrites only that policy chain, in both families', async () => {
    const { k, dp } = await started();
    const next = state({
      pods: [...base.pods.values()],
      policies: [...base.policies.values()].map((p) =>
        p.key === 'a/allow-db' ? policy('a/allow-db', { ingress: [rule(0, ['pods:db'], [tcp(81)])] }) : p,
      ),
      peerSets: [...base.peerSets.values()],
    });
    const from = k.ops.length;
    const stats = await dp.sync(next, deltaBetween(base, next));
    const text = iptablesInputs(k, from);
    const chain = policyChainName('a/allow-db', 'allow-db', 'ingress');
    const declared = [...text.matchAll(/^:(\S+)/gm)].map((m) => m[1]);
    expect(declared).toEqual([chain, chain]);
    expect([...text.matchAll(/^-A (\S+)/gm)].every((m) => m[1] === chain)).toBe(true);
    expect(text).toContain('--dport 81');
    expect(stats.ipsetLines).toBe(0);
    expect(k.snapshot()).toBe(await reference(next));
  });
});

describe('ordering', () => {
  test('new sets exist before a chain references them; old ones go after the last reference', async () => {
    const { k, dp } = await started();
    const added = state({
      pods: [...base.pods.values()].map((p) =>
        p.key === 'a/free' ? pod('a/free', { ips: ['10.1.0.6'], ingress: ['a/new'] }) : p,
      ),
      policies: [...base.policies.values(), policy('a/new', { ingress: [rule(0, ['pods:new'], 'any')] })],
      peerSets: [...base.peerSets.values(), podsSet('pods:new', ['10.2.0.9'], { namespace: 'a' })],
    });
    let from = k.ops.length;
    await dp.sync(added, deltaBetween(base, added));
    let ops = k.opsSince(from).map((o) => `${o.tool}${o.family ?? ''}`);
    // Nothing loosens here, so there is nothing to do after the iptables restore. The new
    // policy's only user is an IPv4-only pod: no IPv6 chain, so no ip6tables-restore at all.
    expect(ops).toEqual(['ipset', 'iptables-restore4']);
    const pre = k.opsSince(from)[0].input;
    expect(pre).toMatch(/^create PALISADE-P4-\S+ hash:ip family inet /m);
    expect(pre).toMatch(/^add PALISADE-ISO-IN-4 10\.1\.0\.6$/m);
    expect(k.snapshot()).toBe(await reference(added));

    // Removing it again: the set is destroyed after the iptables restore that dropped its use
    // (FakeKernel refuses to destroy a referenced set, as the kernel does).
    from = k.ops.length;
    await dp.sync(base, deltaBetween(added, base));
    ops = k.opsSince(from).map((o) => `${o.tool}${o.family ?? ''}`);
    expect(ops).toEqual(['iptables-restore4', 'ipset']);
    const post = k.opsSince(from)[1].input;
    expect(post).toMatch(/^destroy PALISADE-P4-/m);
    expect(post).toMatch(/^del PALISADE-ISO-IN-4 10\.1\.0\.6$/m);
    expect(iptablesInputs(k, from)).toMatch(/^-X PALISADE-PI-new-/m);
    expect(k.snapshot()).toBe(await reference(base));
  });

  test('a new pod edits the dispatch chains rule by rule, a removed one likewise', async () => {
    const { k, dp } = await started();
    const more = state({
      pods: [...base.pods.values(), pod('b/db2', { ips: ['10.1.0.8'], ingress: ['b/deny'] })],
      policies: [...base.policies.values()],
      peerSets: [...base.peerSets.values()],
    });
    let from = k.ops.length;
    await dp.sync(more, deltaBetween(base, more));
    let text = iptablesInputs(k, from);
    expect(text).toMatch(new RegExp(`^-I ${CHAIN_INGRESS} \\d+ -d 10\\.1\\.0\\.8/32 `, 'm'));
    expect(text).not.toMatch(new RegExp(`^:${CHAIN_INGRESS} `, 'm'));
    expect(k.ops.slice(from).filter((o) => o.tool === 'iptables-restore')).toHaveLength(1);
    expect(k.snapshot()).toBe(await reference(more));
    from = k.ops.length;
    await dp.sync(base, deltaBetween(more, base));
    text = iptablesInputs(k, from);
    expect(text).toMatch(new RegExp(`^-D ${CHAIN_INGRESS} -d 10\\.1\\.0\\.8/32 `, 'm'));
    expect(k.snapshot()).toBe(await reference(base));
  });

  test('an address reused by another pod in the same batch stays isolated', async () => {
    const { k, dp } = await started();
    const reused = state({
      pods: [...base.pods.values()]
        .filter((p) => p.key !== 'b/db')
        .concat(pod('b/db-new', { ips: ['10.1.0.7'], ingress: ['b/deny'] })),
      policies: [...base.policies.values()],
      peerSets: [...base.peerSets.values()],
    });
    await dp.sync(reused, deltaBetween(base, reused));
    expect(k.ipsets.get('PALISADE-ISO-IN-4')!.members.has('10.1.0.7')).toBe(true);
    expect(k.snapshot()).toBe(await reference(reused));
  });
});

describe('failures', () => {
  test('a refused iptables restore throws ApplyError with the lines around the failing one', async () => {
    const { k, dp } = await started(EMPTY_STATE);
    k.failNextRestore({ tool: 'iptables', family: 4, message: 'injected' });
    const err = await dp.sync(base, deltaBetween(EMPTY_STATE, base)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyError);
    const e = err as ApplyError;
    expect(e.lineNumber).toBeGreaterThan(0);
    expect(e.lines.length).toBeLessThanOrEqual(7);
    expect(e.lines.some((l) => l.startsWith('>') && l.includes('COMMIT'))).toBe(true);
    expect(e.message.length).toBeLessThan(2000);
  });

  test('after a failure the next sync reads the kernel back and converges', async () => {
    const { k, dp } = await started(EMPTY_STATE);
    // The ipset restore half-applies, then fails.
    k.failNextRestore({ tool: 'ipset', afterLines: 3 });
    await expect(dp.sync(base, deltaBetween(EMPTY_STATE, base))).rejects.toBeInstanceOf(ApplyError);
    // The next delta names nothing; the engine must still finish the job.
    const nothing: CompileDelta = {
      full: false,
      pods: new Set(),
      policies: new Set(),
      clusterPolicies: new Set(),
      peerSets: new Set(),
      members: new Map(),
    };
    const from = k.ops.length;
    const stats = await dp.sync(base, nothing);
    expect(stats.fullDiff).toBe(true);
    expect(k.opsSince(from)[0].tool).toBe('iptables-save');
    expect(k.snapshot()).toBe(await reference(base));
    // And then it is back to incremental.
    const next = withMembers(base, 'pods:db', ['10.2.0.3']);
    expect((await dp.sync(next, deltaBetween(base, next))).fullDiff).toBe(false);
    expect(k.snapshot()).toBe(await reference(next));
  });

  test('a failed iptables restore changes nothing in that table; recovery completes it', async () => {
    const { k, dp } = await started(EMPTY_STATE);
    k.failNextRestore({ tool: 'iptables', family: 6 });
    await expect(dp.sync(base, deltaBetween(EMPTY_STATE, base))).rejects.toThrow(ApplyError);
    expect(k.chain(6, podChainName('a/web', 'web', 'ingress'))).toBeUndefined();
    expect(k.chain(4, podChainName('a/web', 'web', 'ingress'))).toBeDefined();
    await dp.sync(base, deltaBetween(base, base));
    expect(k.snapshot()).toBe(await reference(base));
  });
});

describe('restart', () => {
  test('adopts what a previous run left: zero changes when the kernel matches', async () => {
    const { k } = await started();
    const before = k.snapshot();
    const from = k.ops.length;
    const again = createDataplane({ kernel: k });
    const stats = await again.sync(base, fullDelta(base));
    expect(stats.restoreBytes).toBe(0);
    expect(k.opsSince(from).every((o) => o.tool === 'iptables-save' || o.argv[1] === 'save')).toBe(true);
    expect(k.snapshot()).toBe(before);
  });

  test('removes what the previous run had and this one does not want, and nothing else', async () => {
    const { k } = await started();
    const smaller = state({
      pods: [pod('b/db', { ips: ['10.1.0.7'], ingress: ['b/deny'] })],
      policies: [policy('b/deny', { ingress: [] })],
    });
    const again = createDataplane({ kernel: k });
    await again.sync(smaller, fullDelta(smaller));
    expect(k.snapshot()).toBe(await reference(smaller));
  });
});

describe('foreign objects', () => {
  const FOREIGN = [
    '*filter',
    ':FOREIGN-CHAIN - [0:0]',
    '[7:420] -A FORWARD -s 10.9.0.0/16 -j ACCEPT',
    '[3:180] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT',
    '[1:60] -A OUTPUT -j FOREIGN-CHAIN',
    '[5:300] -A FOREIGN-CHAIN -d 10.9.9.9/32 -j DROP',
    'COMMIT',
    '',
  ].join('\n');

  function foreignLines(k: FakeKernel): string {
    const snap = k.snapshot();
    return snap
      .split('\n')
      .filter((l) => !l.includes('PALISADE-'))
      .join('\n');
  }

  test('survive every apply untouched, counters included', async () => {
    const k = new FakeKernel();
    await k.run(['iptables-restore', '--noflush', '--counters'], FOREIGN);
    await k.run(
      ['ip6tables-restore', '--noflush', '--counters'],
      FOREIGN.replace('10.9.0.0/16', 'fd09::/64').replace('10.9.9.9/32', 'fd09::9/128'),
    );
    await k.run(['ipset', 'restore'], 'create other-set hash:ip family inet\nadd other-set 10.9.0.1\n');
    const before = foreignLines(k);
    const dp = createDataplane({ kernel: k });
    let prev = EMPTY_STATE;
    for (const s of [base, withMembers(base, 'pods:db', ['10.2.0.7']), EMPTY_STATE, base]) {
      await dp.sync(s, prev === EMPTY_STATE && s === base ? fullDelta(s) : deltaBetween(prev, s));
      prev = s;
    }
    await dp.repairDrift();
    expect(foreignLines(k)).toBe(before);
    expect(k.wholeTableRestores).toBe(0);
    await dp.cleanup();
    expect(
      k
        .snapshot()
        .split('\n')
        .filter((l) => l.includes('PALISADE-')),
    ).toEqual([]);
    expect(foreignLines(k)).toBe(before);
  });

  test('hooks are re-asserted at position 1 when another tool inserts above them', async () => {
    const { k, dp } = await started();
    await k.run(
      ['iptables-restore', '--noflush'],
      '*filter\n-I FORWARD 1 -s 10.9.0.0/16 -j ACCEPT\nCOMMIT\n',
    );
    const drift = await dp.checkDrift();
    expect(drift.differences).toEqual([
      expect.stringMatching(/^hook FORWARD -> PALISADE-FORWARD \(IPv4\) not alone at position 1/),
    ]);
    await dp.repairDrift();
    const forward = k.chain(4, 'FORWARD')!.rules.map((r) => r.spec);
    expect(forward[0]).toContain(`-j ${CHAIN_FORWARD}`);
    expect(forward[1]).toBe('-s 10.9.0.0/16 -j ACCEPT');
    expect((await dp.checkDrift()).differences).toEqual([]);
  });
});

describe('drift', () => {
  test('is detected and repaired: flushed chain, missing member, extra member, deleted set', async () => {
    const { k, dp } = await started();
    const policyChain = policyChainName('a/allow-db', 'allow-db', 'ingress');
    await k.run(['iptables-restore', '--noflush'], `*filter\n-F ${policyChain}\nCOMMIT\n`);
    const db4 = [...k.ipsets.keys()].find((n) => n.startsWith('PALISADE-P4-db'))!;
    await k.run(['ipset', 'restore'], `del ${db4} 10.2.0.1\nadd PALISADE-ISO-IN-4 10.1.0.99\n`);
    const drift = await dp.checkDrift();
    expect(drift.differences).toEqual(
      expect.arrayContaining([
        `chain ${policyChain} (IPv4) differs`,
        `set ${db4}: 1 members differ`,
        'set PALISADE-ISO-IN-4: 1 members differ',
      ]),
    );
    expect((await dp.repairDrift()).differences.length).toBe(drift.differences.length);
    expect((await dp.checkDrift()).differences).toEqual([]);
    expect(k.snapshot()).toBe(await reference(base));
  });
});

describe('cleanup', () => {
  test('removes hooks, chains and sets, and a new sync starts from scratch', async () => {
    const { k, dp } = await started();
    const report = await dp.cleanup();
    expect(report.hooks).toBe(2); // FORWARD, per family
    expect(report.chains).toBeGreaterThan(10);
    expect([...k.ipsets.keys()].filter(isOwnName)).toEqual([]);
    await dp.sync(base, deltaBetween(base, base));
    expect(k.snapshot()).toBe(await reference(base));
  });
});

describe('modes', () => {
  test('full mode leaves exactly the kernel state incremental mode does', async () => {
    const states = [base, withMembers(base, 'pods:db', ['10.2.0.4']), EMPTY_STATE, base];
    const run = async (mode: 'incremental' | 'full'): Promise<string[]> => {
      const k = new FakeKernel();
      const dp = createDataplane({ kernel: k, mode });
      const snaps: string[] = [];
      let prev: CompiledState | undefined;
      for (const s of states) {
        await dp.sync(s, prev ? deltaBetween(prev, s) : fullDelta(s));
        snaps.push(k.snapshot());
        prev = s;
      }
      return snaps;
    };
    expect(await run('full')).toEqual(await run('incremental'));
  });

  test('full mode rewrites everything on every sync', async () => {
    const k = new FakeKernel();
    const dp = createDataplane({ kernel: k, mode: 'full' });
    await dp.sync(base, fullDelta(base));
    const next = withMembers(base, 'pods:db', ['10.2.0.4']);
    const stats = await dp.sync(next, deltaBetween(base, next));
    expect(stats.iptablesLines).toBeGreaterThan(50);
    expect(stats.readBack).toBe(true);
  });
});

describe('convergence', () => {
  test('any sequence, applied one by one, merged, or from scratch, ends in the same kernel state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stateArb, { minLength: 1, maxLength: 6 }), fc.nat(5), async (states, cut) => {
        const last = states[states.length - 1];
        const expected = await reference(last);
        // One by one.
        const one = new FakeKernel();
        const dp1 = createDataplane({ kernel: one });
        let prev: CompiledState = EMPTY_STATE;
        await dp1.sync(prev, fullDelta(prev));
        for (const s of states) {
          await dp1.sync(s, deltaBetween(prev, s));
          prev = s;
        }
        expect(one.snapshot()).toBe(expected);
        expect((await dp1.checkDrift()).differences).toEqual([]);
        // Batched: deltas merged over a window, as a coalescing runner would.
        const two = new FakeKernel();
        const dp2 = createDataplane({ kernel: two });
        await dp2.sync(EMPTY_STATE, fullDelta(EMPTY_STATE));
        prev = EMPTY_STATE;
        let pending: CompileDelta | undefined;
        let stepPrev = EMPTY_STATE;
        for (let i = 0; i < states.length; i++) {
          const d = deltaBetween(stepPrev, states[i]);
          pending = pending ? mergeDeltas(pending, d) : d;
          stepPrev = states[i];
          if (i % (cut + 1) === cut || i === states.length - 1) {
            await dp2.sync(states[i], pending);
            pending = undefined;
          }
        }
        expect(two.snapshot()).toBe(expected);
      }),
      { numRuns: Number(process.env.PALISADE_PROPERTY_RUNS ?? 60) },
    );
  });
});

describe('counts and views', () => {
  test('desired view carries origins; kernel view matches it', async () => {
    const { dp } = await started();
    const view = dp.desiredView();
    const pchain = view.chains.find(
      (c) => c.kind === 'policy' && c.owner === 'a/allow-db' && c.family === 4,
    )!;
    expect(pchain.rules.every((r) => r.policy === 'a/allow-db')).toBe(true);
    const set = view.ipsets.find((s) => s.peerSet?.key === 'pods:db' && s.family === 4)!;
    expect(set).toMatchObject({ type: 'hash:ip', members: ['10.2.0.1'] });
    const kernel = await dp.kernelView();
    expect(kernel.counts).toEqual(dp.counts());
    expect(kernel.ipsets.find((s) => s.name === set.name)?.peerSet?.key).toBe('pods:db');
    expect(dp.counts()).toMatchObject({ ipsets: view.ipsets.length, chains: view.chains.length });
  });
});

describe('options', () => {
  test('the mark bit is configurable and must be a single bit', async () => {
    const k = new FakeKernel();
    await createDataplane({ kernel: k, markBit: 0x4000000 }).sync(base, fullDelta(base));
    expect(k.snapshot()).toContain('--set-xmark 0x4000000/0x4000000');
    expect(k.snapshot()).not.toContain('0x100000');
    expect(() => createDataplane({ kernel: k, markBit: 0x3 })).toThrow(/single bit/);
  });

  test('an IPv4-only dataplane never runs ip6tables', async () => {
    const k = new FakeKernel();
    await createDataplane({ kernel: k, families: [4] }).sync(base, fullDelta(base));
    expect(k.ops.some((o) => o.argv[0].startsWith('ip6tables'))).toBe(false);
    expect([...k.ipsets.values()].every((s) => s.family === 4)).toBe(true);
  });

  test('a failure is logged with the lines around the failing one', async () => {
    const logged: { message: string; meta?: Record<string, unknown> }[] = [];
    const log = (message: string, meta?: Record<string, unknown>): void => {
      logged.push({ message, meta });
    };
    const k = new FakeKernel();
    const dp = createDataplane({ kernel: k, logger: { debug: log, info: log, warn: log, error: log } });
    k.failNextRestore({ tool: 'iptables', family: 4 });
    await expect(dp.sync(base, fullDelta(base))).rejects.toThrow(ApplyError);
    const failed = logged.find((l) => l.message === 'dataplane: kernel tool failed');
    expect((failed?.meta?.lines as string[]).some((l) => l.startsWith('>'))).toBe(true);
  });
});

describe('scale', () => {
  test('a first sync with a peer set of 200,000 members succeeds (no argument-spread overflow)', async () => {
    const members: string[] = [];
    for (let i = 0; i < 200_000; i++) members.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const big = state({
      pods: [pod('a/web', { ips: ['10.200.0.5'], ingress: ['a/allow'] })],
      policies: [policy('a/allow', { ingress: [rule(0, ['pods:all'], 'any')] })],
      peerSets: [podsSet('pods:all', members, { namespaceSelector: {}, podSelector: {} })],
    });
    const kernel = new FakeKernel();
    const dp = createDataplane({ kernel, families: [4] });
    const stats = await dp.sync(big, fullDelta(big));
    expect(stats.ipsetLines).toBeGreaterThanOrEqual(200_000);
    expect(dp.counts().members).toBeGreaterThanOrEqual(200_000);
  });
});
