/**
 * Which log points a compiled state carries, kept current from deltas; and, on random tiered
 * clusters, that every decision verdict() takes on a local pod has the log point the kernel will
 * report it at (the sandbox's attribution check rests on this).
 */
import fc from 'fast-check';
import type { CompiledClusterPolicy, CompiledTierRule } from '../compiler/ir';
import { compileSnapshot } from '../compiler/incremental';
import type { ClusterSnapshot } from '../compiler/model';
import { verdict } from '../compiler/verdict';
import type { DirectionVerdict, Endpoint } from '../compiler/verdict-types';
import {
  clusterPolicyLogPoints,
  expectedAuditLogPoint,
  expectedLogPoint,
  fixedLogPoints,
  LogPointIndex,
  podLogPoints,
  type LogPointOptions,
} from './log-points';
import { deltaBetween, fullDelta, pod, policy, rule, state } from './testutil/fixtures';
import { clusterArb, EXTERNAL, PROBES, replay } from './testutil/tier-clusters';
import type { LogPoint } from './verdict-log';

const DENIED: LogPointOptions = { allowed: false };
const ALL: LogPointOptions = { allowed: true };

const strip = (points: readonly LogPoint[]): Omit<LogPoint, 'id'>[] =>
  points.map(({ id: _id, ...rest }) => rest);

function tierRule(index: number, action: CompiledTierRule['action'], name = ''): CompiledTierRule {
  return { index, name, action, peers: 'any', ports: 'any' };
}

function cnp(
  key: string,
  opts: Partial<Pick<CompiledClusterPolicy, 'tier' | 'ingress' | 'egress' | 'audit'>> = {},
): CompiledClusterPolicy {
  return {
    key,
    name: key,
    tier: opts.tier ?? 'admin',
    priority: 10,
    ingress: opts.ingress ?? null,
    egress: opts.egress ?? null,
    ...(opts.audit ? { audit: true as const } : {}),
  };
}

describe('the points of a pod', () => {
  const np1 = policy('shop/allow-web', { ingress: [rule(0)] });
  const np2 = policy('shop/deny-all', { ingress: [] });

  test('isolated for ingress: the NetworkPolicy tier drop names the isolating policies, sorted', () => {
    const s = state({
      pods: [pod('shop/db', { ips: ['10.1.0.5'], ingress: ['shop/deny-all', 'shop/allow-web'] })],
      policies: [np1, np2],
    });
    expect(strip(podLogPoints(s.pods.get('shop/db')!, s, DENIED))).toEqual([
      {
        verdict: 'denied',
        direction: 'ingress',
        tier: 'networkpolicy',
        cause: 'isolation',
        policies: ['shop/allow-web', 'shop/deny-all'],
        pod: 'shop/db',
      },
    ]);
  });

  test('with allowed connections logged: one point per admitting policy, and the default where no NetworkPolicy isolates', () => {
    const s = state({
      pods: [pod('shop/db', { ingress: ['shop/allow-web'], adminEgress: ['guard'] })],
      policies: [np1],
      clusterPolicies: [cnp('guard', { egress: [tierRule(0, 'Pass')] })],
    });
    expect(
      strip(podLogPoints(s.pods.get('shop/db')!, s, ALL)).map(
        (p) => `${p.verdict} ${p.direction} ${p.tier} ${p.cause} ${p.policy?.key ?? ''}`,
      ),
    ).toEqual([
      'allowed ingress networkpolicy policy shop/allow-web',
      'denied ingress networkpolicy isolation ',
      'allowed egress default default ',
    ]);
  });

  test('a pod no enforced policy holds has no points; an audited one adds the shadow evaluation', () => {
    const audited = { ...np2, audit: true as const };
    const s = state({ pods: [pod('shop/db', { ingress: ['shop/deny-all'] })], policies: [audited] });
    expect(strip(podLogPoints(s.pods.get('shop/db')!, s, DENIED))).toEqual([
      {
        verdict: 'would-deny',
        direction: 'ingress',
        tier: 'networkpolicy',
        cause: 'isolation',
        policies: ['shop/deny-all'],
        pod: 'shop/db',
      },
    ]);
    const mixed = state({
      pods: [pod('shop/db', { ingress: ['shop/allow-web', 'shop/deny-all'] })],
      policies: [np1, audited],
    });
    expect(
      strip(podLogPoints(mixed.pods.get('shop/db')!, mixed, DENIED)).map((p) => [p.verdict, p.policies]),
    ).toEqual([
      ['denied', ['shop/allow-web']],
      ['would-deny', ['shop/allow-web', 'shop/deny-all']],
    ]);
  });
});

describe('the points of a ClusterNetworkPolicy', () => {
  const guard = cnp('guard', {
    ingress: [tierRule(0, 'Accept', 'ops'), tierRule(1, 'Pass'), tierRule(2, 'Deny', 'rest')],
  });

  test('Deny rules log, Accept rules only with allowed connections, Pass never', () => {
    expect(strip(clusterPolicyLogPoints(guard, DENIED))).toEqual([
      {
        verdict: 'denied',
        direction: 'ingress',
        tier: 'admin',
        cause: 'rule',
        policy: { kind: 'ClusterNetworkPolicy', key: 'guard' },
        rule: { index: 2, name: 'rest' },
      },
    ]);
    expect(strip(clusterPolicyLogPoints(guard, ALL)).map((p) => `${p.verdict} ${p.rule?.index}`)).toEqual([
      'allowed 0',
      'denied 2',
    ]);
  });

  test('an audited policy has the shadow points only: would-deny, and would-allow with allowed connections', () => {
    const audited = { ...guard, audit: true as const, tier: 'baseline' as const };
    expect(strip(clusterPolicyLogPoints(audited, DENIED)).map((p) => `${p.verdict} ${p.tier}`)).toEqual([
      'would-deny baseline',
    ]);
    expect(strip(clusterPolicyLogPoints(audited, ALL)).map((p) => `${p.verdict} ${p.rule?.index}`)).toEqual([
      'would-deny 2',
      'would-allow 0',
    ]);
  });
});

describe('LogPointIndex', () => {
  const np = policy('shop/deny-all', { ingress: [] });
  const s1 = state({
    pods: [pod('shop/a', { ingress: ['shop/deny-all'] }), pod('shop/b', { ingress: ['shop/deny-all'] })],
    policies: [np],
  });

  test('a full update holds the fixed points and every owner’s; later deltas add and remove only what they name', () => {
    const index = new LogPointIndex(DENIED);
    const first = index.update(s1, fullDelta(s1));
    expect(first.removed).toEqual([]);
    expect(first.added.map((p) => p.cause).sort()).toEqual([
      'fail-closed',
      'fail-closed',
      'isolation',
      'isolation',
      'pending',
      'pending',
    ]);
    expect(index.size).toBe(6);
    for (const p of fixedLogPoints(DENIED)) expect(index.get(p.id)).toEqual(p);

    const s2 = state({ pods: [pod('shop/a', { ingress: ['shop/deny-all'] })], policies: [np] });
    const second = index.update(s2, deltaBetween(s1, s2));
    expect(second.added).toEqual([]);
    expect(second.removed.map((p) => p.pod)).toEqual(['shop/b']);
    expect([...index.points()].map((p) => p.pod ?? '-').sort()).toEqual(['-', '-', '-', '-', 'shop/a']);
  });

  test('a full delta drops owners the state no longer has', () => {
    const index = new LogPointIndex(DENIED);
    index.update(s1, fullDelta(s1));
    const empty = state({});
    const changes = index.update(empty, fullDelta(empty));
    expect(changes.removed.map((p) => p.pod).sort()).toEqual(['shop/a', 'shop/b']);
    expect(index.size).toBe(fixedLogPoints(DENIED).length);
  });
});

// ---- properties on random tiered clusters, compiled for node-1 as the agent does ---------------

const SEED = Number(process.env.PALISADE_PROPERTY_SEED ?? 20261202);
const RUNS = Number(process.env.PALISADE_PROPERTY_RUNS ?? 300);

function flipAudit(c: ClusterSnapshot): ClusterSnapshot {
  return {
    ...c,
    policies: c.policies.map((p) => ({ ...p, audit: !p.audit })),
    clusterPolicies: (c.clusterPolicies ?? []).map((p) => ({ ...p, audit: !p.audit })),
  };
}

const ids = (index: LogPointIndex): string[] => [...index.points()].map((p) => p.id).sort();

test('incremental updates through cluster changes hold what a fresh index of the last state holds', () => {
  fc.assert(
    fc.property(fc.array(clusterArb, { minLength: 2, maxLength: 4 }), fc.boolean(), (generated, allowed) => {
      const clusters = generated.flatMap((c) => [c, flipAudit(c)]);
      const compiler = compileSnapshot(clusters[0], { nodeName: 'node-1' });
      const index = new LogPointIndex({ allowed });
      index.update(compiler.state(), fullDelta(compiler.state()));
      for (let i = 1; i < clusters.length; i++) {
        replay(compiler, clusters[i - 1], clusters[i]);
        index.update(compiler.state(), compiler.flush());
      }
      const fresh = new LogPointIndex({ allowed });
      fresh.update(compiler.state(), fullDelta(compiler.state()));
      expect(ids(index)).toEqual(ids(fresh));
    }),
    { seed: SEED, numRuns: Math.ceil(RUNS / 3) },
  );
});

test('every decision on a local pod that logs has its point in the index: denied, allowed, would-deny, would-allow', () => {
  const seen = { denied: 0, allowed: 0, wouldDeny: 0, wouldAllow: 0 };
  fc.assert(
    fc.property(clusterArb, fc.boolean(), (cluster, allowed) => {
      const view = compileSnapshot(cluster, { nodeName: 'node-1' });
      const state = view.state();
      const opts = { allowed };
      const index = new LogPointIndex(opts);
      index.update(state, fullDelta(state));
      const ends: Endpoint[] = [
        ...cluster.pods.map((p) => ({ kind: 'pod' as const, key: `${p.namespace}/${p.name}` })),
        { kind: 'ip', ip: EXTERNAL },
      ];
      const enforcedHolds = (dv: DirectionVerdict): boolean => {
        const pod = state.pods.get(dv.subject!)!;
        const lists =
          dv.direction === 'ingress'
            ? [pod.ingress, pod.adminIngress, pod.baselineIngress]
            : [pod.egress, pod.adminEgress, pod.baselineEgress];
        return lists
          .flat()
          .some((k) => !(state.policies.get(k)?.audit || state.clusterPolicies.get(k)?.audit));
      };
      for (const from of ends) {
        for (const to of ends) {
          if (from === to) continue;
          for (const probe of PROBES) {
            const v = verdict(view, from, to, probe);
            if (v.self || v.node) continue;
            for (const dir of ['egress', 'ingress'] as const) {
              const dv = v[dir];
              const local = dv.evaluated && dv.subject !== null && state.pods.has(dv.subject);
              const point = expectedLogPoint(state, dv, opts);
              // A denial on a local pod always logs, and says what explain says.
              if (local && !dv.allowed) expect(point).toBeDefined();
              // Allowed and unlogged only where no enforced policy gives the pod a chain.
              if (local && allowed && dv.allowed && point === undefined)
                expect(enforcedHolds(dv)).toBe(false);
              if (point) {
                if (point.verdict === 'allowed') seen.allowed++;
                else seen.denied++;
                expect(index.get(point.id)).toEqual(point);
                expect(point.verdict).toBe(dv.allowed ? 'allowed' : 'denied');
                expect(point.tier).toBe(dv.decidedBy);
                if (dv.clusterRule)
                  expect(point.rule).toEqual({ index: dv.clusterRule.rule, name: dv.clusterRule.ruleName });
              }
              if (!v.audited) continue;
              const av = v.audited[dir];
              const shadow = expectedAuditLogPoint(state, dv, av, opts);
              // Reported exactly where the audited outcome differs (would-allow: when allowed connections log).
              const differs = local && av.allowed !== dv.allowed && (!av.allowed || allowed);
              expect(shadow !== undefined).toBe(differs);
              if (!shadow) continue;
              if (shadow.verdict === 'would-deny') seen.wouldDeny++;
              else seen.wouldAllow++;
              expect(index.get(shadow.id)).toEqual(shadow);
              expect(shadow.verdict).toBe(av.allowed ? 'would-allow' : 'would-deny');
              expect(shadow.tier).toBe(av.decidedBy);
              if (av.clusterRule) {
                expect(shadow.rule).toEqual({ index: av.clusterRule.rule, name: av.clusterRule.ruleName });
                // Only an audited cluster policy decides otherwise than the enforced evaluation.
                expect(state.clusterPolicies.get(av.clusterRule.policy)?.audit).toBe(true);
              }
            }
          }
        }
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
  // The generator reaches every kind of decision (a property over nothing proves nothing).
  expect(seen.denied).toBeGreaterThan(100);
  expect(seen.allowed).toBeGreaterThan(100);
  expect(seen.wouldDeny).toBeGreaterThan(10);
  expect(seen.wouldAllow).toBeGreaterThan(10);
});
