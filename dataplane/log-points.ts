/**
 * Which log points the rules of a compiled state carry (verdict-log.ts says what a log point is).
 * Pure, backend-neutral: both renderers take each point's prefix from here, and the agent's table
 * of identifiers comes from the same functions, so the two cannot disagree.
 *
 * Per pod and direction whose pod chain exists (an enforced policy decides the direction):
 *   - NetworkPolicies isolate it: `denied` at the tier's final drop, naming the isolating policies;
 *     with allowed connections logged, `allowed` per policy after its chain admitted.
 *   - none isolates it: with allowed connections logged, `allowed` by default at the chain's end.
 *   - an audit-mode policy holds the pod for the direction: the shadow evaluation (enforced and
 *     audited policies together, as `verdict()`'s `audited` outcome) has the same points with
 *     `would-deny` / `would-allow`; it changes no packet's fate.
 * Per ClusterNetworkPolicy and direction (its chain is shared by the pods it holds): `denied` at
 * each Deny rule, `allowed` at each Accept rule when allowed connections are logged, and the same
 * for the shadow evaluation (`would-deny`, `would-allow`) whether the policy is enforced or audited.
 * Per direction, once: `denied` at the dispatch chain's final drop (an isolated address whose pod
 * chain is not written yet).
 *
 * `LogPointIndex` keeps the points of a state up to date from compile deltas, redoing only the
 * pods and cluster policies a delta names, as DesiredState does for chains.
 */
import type {
  CompileDelta,
  CompiledClusterPolicy,
  CompiledState,
  CompiledTierRule,
  PodRules,
} from '../compiler/ir';
import type { ObjectKey } from '../compiler/model';
import type { DirectionVerdict } from '../compiler/verdict-types';
import type { Direction } from './names';
import { clusterPolicyHasDirection, enforcedPolicies, policyHasDirection, type PolicyLookup } from './tiers';
import { logPoint, type LogPoint, type LogPointId, type LogTier, type LogVerdict } from './verdict-log';

export interface LogPointOptions {
  /** Log the first packet of allowed connections (and audit mode's "would allow"). */
  readonly allowed: boolean;
}

const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/** Every policy of a pod in a direction, audited ones included, per tier. */
function allPolicies(
  pod: PodRules,
  direction: Direction,
): { policyKeys: readonly string[]; admin: readonly string[]; baseline: readonly string[] } {
  return direction === 'ingress'
    ? { policyKeys: pod.ingress, admin: pod.adminIngress, baseline: pod.baselineIngress }
    : { policyKeys: pod.egress, admin: pod.adminEgress, baseline: pod.baselineEgress };
}

/** Does an audit-mode policy hold the pod for the direction (so its chain runs a shadow evaluation)? */
export function podHasAudit(pod: PodRules, direction: Direction, lookup: PolicyLookup): boolean {
  const { policyKeys, admin, baseline } = allPolicies(pod, direction);
  return (
    policyKeys.some((k) => lookup.policies.get(k)?.audit) ||
    [...admin, ...baseline].some((k) => lookup.clusterPolicies.get(k)?.audit)
  );
}

/**
 * The points of one evaluation (enforced or shadow) of a pod chain: the NetworkPolicy tier's drop
 * and, when asked, its per-policy and default allows. Cluster policy rules log in their own chains.
 */
function evaluationPoints(
  pod: PodRules,
  direction: Direction,
  npKeys: readonly string[],
  lookup: PolicyLookup,
  shadow: boolean,
  opts: LogPointOptions,
): LogPoint[] {
  const deny: LogVerdict = shadow ? 'would-deny' : 'denied';
  const allow: LogVerdict = shadow ? 'would-allow' : 'allowed';
  const isolating = npKeys.filter((k) => policyHasDirection(lookup.policies.get(k), direction));
  const out: LogPoint[] = [];
  if (isolating.length > 0) {
    out.push(
      logPoint({
        verdict: deny,
        direction,
        tier: 'networkpolicy',
        cause: 'isolation',
        policies: [...isolating].sort(),
        pod: pod.key,
      }),
    );
    if (opts.allowed) {
      for (const key of isolating) {
        out.push(
          logPoint({
            verdict: allow,
            direction,
            tier: 'networkpolicy',
            cause: 'policy',
            policy: { kind: 'NetworkPolicy', key },
            pod: pod.key,
          }),
        );
      }
    }
  } else if (opts.allowed) {
    out.push(logPoint({ verdict: allow, direction, tier: 'default', cause: 'default', pod: pod.key }));
  }
  return out;
}

/** The log points of one pod's chains (both directions). */
export function podLogPoints(pod: PodRules, lookup: PolicyLookup, opts: LogPointOptions): LogPoint[] {
  const out: LogPoint[] = [];
  for (const direction of DIRECTIONS) {
    const enforced = enforcedPolicies(pod, direction, lookup);
    if (enforced.policyKeys.length + enforced.admin.length + enforced.baseline.length > 0)
      out.push(...evaluationPoints(pod, direction, enforced.policyKeys, lookup, false, opts));
    if (podHasAudit(pod, direction, lookup))
      out.push(
        ...evaluationPoints(pod, direction, allPolicies(pod, direction).policyKeys, lookup, true, opts),
      );
  }
  return out;
}

/** The point of one ClusterNetworkPolicy rule in the enforced or the shadow evaluation, if it logs. */
export function clusterRuleLogPoint(
  cp: CompiledClusterPolicy,
  direction: Direction,
  rule: CompiledTierRule,
  shadow: boolean,
  opts: LogPointOptions,
): LogPoint | undefined {
  if (rule.action === 'Pass') return undefined;
  if (rule.action === 'Accept' && !opts.allowed) return undefined;
  const verdict: LogVerdict =
    rule.action === 'Deny' ? (shadow ? 'would-deny' : 'denied') : shadow ? 'would-allow' : 'allowed';
  const tier: LogTier = cp.tier;
  return logPoint({
    verdict,
    direction,
    tier,
    cause: 'rule',
    policy: { kind: 'ClusterNetworkPolicy', key: cp.key },
    rule: { index: rule.index, name: rule.name },
  });
}

/** The log points of one ClusterNetworkPolicy's chains: enforced (unless audited) and shadow. */
export function clusterPolicyLogPoints(cp: CompiledClusterPolicy, opts: LogPointOptions): LogPoint[] {
  const out: LogPoint[] = [];
  for (const direction of DIRECTIONS) {
    if (!clusterPolicyHasDirection(cp, direction)) continue;
    const rules = (direction === 'ingress' ? cp.ingress : cp.egress) ?? [];
    for (const shadow of cp.audit ? [true] : [false, true]) {
      for (const rule of rules) {
        const p = clusterRuleLogPoint(cp, direction, rule, shadow, opts);
        if (p) out.push(p);
      }
    }
  }
  return out;
}

/** The dispatch chain's final drop in a direction: an isolated address without its pod chain yet. */
export function pendingLogPoint(direction: Direction): LogPoint {
  return logPoint({ verdict: 'denied', direction, tier: 'default', cause: 'pending' });
}

export function fixedLogPoints(): LogPoint[] {
  return DIRECTIONS.map(pendingLogPoint);
}

/** What one update changed: points that appeared and points that went away. */
export interface LogPointChanges {
  readonly added: readonly LogPoint[];
  readonly removed: readonly LogPoint[];
}

/**
 * The log points of a compiled state, kept current from deltas. Owners are pods, cluster
 * policies and the fixed chains; an update re-derives only the owners the delta names.
 */
export class LogPointIndex {
  private readonly byOwner = new Map<string, readonly LogPoint[]>();
  private readonly byId = new Map<LogPointId, LogPoint>();
  /** How many owners hold each identifier (two owners never should; kept exact anyway). */
  private readonly refs = new Map<LogPointId, number>();

  constructor(private readonly opts: LogPointOptions) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: LogPointId): LogPoint | undefined {
    return this.byId.get(id);
  }

  points(): IterableIterator<LogPoint> {
    return this.byId.values();
  }

  update(state: CompiledState, delta: CompileDelta): LogPointChanges {
    const added: LogPoint[] = [];
    const removed: LogPoint[] = [];
    const set = (owner: string, points: readonly LogPoint[]): void => {
      const before = this.byOwner.get(owner) ?? [];
      if (points.length === 0) this.byOwner.delete(owner);
      else this.byOwner.set(owner, points);
      for (const p of points) {
        const n = this.refs.get(p.id) ?? 0;
        this.refs.set(p.id, n + 1);
        if (n === 0) {
          this.byId.set(p.id, p);
          added.push(p);
        }
      }
      for (const p of before) {
        const n = this.refs.get(p.id)! - 1;
        if (n > 0) {
          this.refs.set(p.id, n);
          continue;
        }
        this.refs.delete(p.id);
        this.byId.delete(p.id);
        removed.push(p);
      }
    };
    const podOwner = (key: ObjectKey): string => `pod\0${key}`;
    const cnpOwner = (key: string): string => `cnp\0${key}`;
    if (delta.full) {
      const owners = new Set(this.byOwner.keys());
      set('fixed', fixedLogPoints());
      owners.delete('fixed');
      for (const pod of state.pods.values()) {
        set(podOwner(pod.key), podLogPoints(pod, state, this.opts));
        owners.delete(podOwner(pod.key));
      }
      for (const cp of state.clusterPolicies.values()) {
        set(cnpOwner(cp.key), clusterPolicyLogPoints(cp, this.opts));
        owners.delete(cnpOwner(cp.key));
      }
      for (const owner of owners) set(owner, []);
    } else {
      if (!this.byOwner.has('fixed')) set('fixed', fixedLogPoints());
      for (const key of delta.pods) {
        const pod = state.pods.get(key);
        set(podOwner(key), pod ? podLogPoints(pod, state, this.opts) : []);
      }
      for (const key of delta.clusterPolicies) {
        const cp = state.clusterPolicies.get(key);
        set(cnpOwner(key), cp ? clusterPolicyLogPoints(cp, this.opts) : []);
      }
    }
    // A point both added and removed in one update (it moved between owners) is neither.
    const addedIds = new Set(added.map((p) => p.id));
    const removedIds = new Set(removed.map((p) => p.id));
    return {
      added: added.filter((p) => !removedIds.has(p.id)),
      removed: removed.filter((p) => !addedIds.has(p.id)),
    };
  }
}

/**
 * The log point at which the kernel reports a direction's decision, as `verdict()` took it:
 * `mode` enforced reads the enforced outcome (denied / allowed), audited the shadow evaluation's
 * (would-deny / would-allow; only for a pod an audit-mode policy holds). Undefined when that
 * decision logs nothing: allowed connections unlogged, a direction decided on another node, a pod
 * without a chain for the direction. The sandbox compares what the kernel reported with this.
 */
export function expectedLogPoint(
  lookup: PolicyLookup & Pick<CompiledState, 'pods'>,
  dv: DirectionVerdict,
  mode: 'enforced' | 'audited',
  opts: LogPointOptions,
): LogPoint | undefined {
  if (!dv.evaluated || dv.subject === null) return undefined;
  const pod = lookup.pods.get(dv.subject);
  if (!pod) return undefined;
  const shadow = mode === 'audited';
  if (shadow && !podHasAudit(pod, dv.direction, lookup)) return undefined;
  if (!shadow) {
    const e = enforcedPolicies(pod, dv.direction, lookup);
    if (e.policyKeys.length + e.admin.length + e.baseline.length === 0) return undefined;
  }
  const deny: LogVerdict = shadow ? 'would-deny' : 'denied';
  const allow: LogVerdict = shadow ? 'would-allow' : 'allowed';
  const direction = dv.direction;
  switch (dv.decidedBy) {
    case 'admin':
    case 'baseline': {
      const r = dv.clusterRule;
      const cp = r && lookup.clusterPolicies.get(r.policy);
      const rules = cp && (direction === 'ingress' ? cp.ingress : cp.egress);
      const rule = rules?.find((x) => x.index === r!.rule);
      return cp && rule ? clusterRuleLogPoint(cp, direction, rule, shadow, opts) : undefined;
    }
    case 'networkpolicy':
      if (!dv.allowed) {
        return logPoint({
          verdict: deny,
          direction,
          tier: 'networkpolicy',
          cause: 'isolation',
          policies: [...dv.isolatingPolicies].sort(),
          pod: pod.key,
        });
      }
      if (!opts.allowed || dv.allowedBy.length === 0) return undefined;
      // The pod chain consults its policies in key order; the first that admits is reported.
      return logPoint({
        verdict: allow,
        direction,
        tier: 'networkpolicy',
        cause: 'policy',
        policy: { kind: 'NetworkPolicy', key: [...dv.allowedBy.map((a) => a.policy)].sort()[0] },
        pod: pod.key,
      });
    case 'default':
      return opts.allowed
        ? logPoint({ verdict: allow, direction, tier: 'default', cause: 'default', pod: pod.key })
        : undefined;
  }
}
