/**
 * Which log points the rules of a compiled state carry (verdict-log.ts says what a log point is).
 * Pure, backend-neutral: the points are read from the same evaluation steps the renderers turn
 * into rules (evaluations.ts), so the agent's table and the kernel cannot disagree.
 *
 * Per pod and direction, the points of each of its evaluations: the enforced one (`denied` at the
 * NetworkPolicy tier's drop; with allowed connections logged, `allowed` per admitting policy and
 * by default), and for a pod an audit-mode policy holds, the shadow evaluations (`would-deny`,
 * and with allowed connections logged `would-allow`). Per ClusterNetworkPolicy and direction (its
 * chains are shared by the pods it holds): an enforced one's `denied` at each Deny rule and
 * `allowed` at each Accept rule (allowed connections logged); an audited one's `would-deny` at
 * each Deny rule and `would-allow` at each Accept rule. Per direction, once: `denied` at the
 * iptables dispatch chain's final drop (an isolated address whose pod chain is not written yet;
 * nftables has no such window), and `denied` at the forward chain's fail-closed drop (a new pod
 * not programmed yet; with --new-pods fail-open no rule carries it, which costs nothing: an
 * identifier no rule writes is never looked up).
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
import {
  clusterChainVariants,
  clusterRuleEnd,
  defaultAllowPoint,
  failClosedDrops,
  isolationPoint,
  type LogPointOptions,
  podEvaluations,
  podSteps,
  policyAllowPoint,
} from './evaluations';
import type { Direction } from './names';
import { clusterPolicyHasDirection, type PolicyLookup } from './tiers';
import { logPoint, type LogPoint, type LogPointId } from './verdict-log';

export { type LogPointOptions, podHasAudit } from './evaluations';

const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/** The log points of one pod's chains (both directions, every evaluation). */
export function podLogPoints(pod: PodRules, lookup: PolicyLookup, opts: LogPointOptions): LogPoint[] {
  const out: LogPoint[] = [];
  for (const direction of DIRECTIONS) {
    for (const evaluation of podEvaluations(pod, direction, lookup, opts)) {
      for (const s of podSteps(pod, direction, lookup, evaluation, opts)) {
        if (s.kind === 'decide' && s.log) out.push(s.log.point);
      }
    }
  }
  return out;
}

/** The log points of one ClusterNetworkPolicy's chains, every variant it can have. */
export function clusterPolicyLogPoints(cp: CompiledClusterPolicy, opts: LogPointOptions): LogPoint[] {
  const out: LogPoint[] = [];
  for (const direction of DIRECTIONS) {
    if (!clusterPolicyHasDirection(cp, direction)) continue;
    const rules = (direction === 'ingress' ? cp.ingress : cp.egress) ?? [];
    for (const variant of clusterChainVariants(cp, opts)) {
      for (const rule of rules) {
        const end = clusterRuleEnd(cp, direction, rule, variant, opts);
        if (end.log) out.push(end.log.point);
      }
    }
  }
  return out;
}

/** The dispatch chain's final drop in a direction: an isolated address without its pod chain yet. */
export function pendingLogPoint(direction: Direction): LogPoint {
  return logPoint({ verdict: 'denied', direction, tier: 'default', cause: 'pending' });
}

/** The points of the fixed chains: the pending drops, the fail-closed drops. */
export function fixedLogPoints(opts: LogPointOptions): LogPoint[] {
  return [...DIRECTIONS.map(pendingLogPoint), ...failClosedDrops(opts).map((d) => d.log!.point)];
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
      set('fixed', fixedLogPoints(this.opts));
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
      if (!this.byOwner.has('fixed')) set('fixed', fixedLogPoints(this.opts));
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

type Lookup = PolicyLookup & Pick<CompiledState, 'pods'>;

/** The subject's rules when the direction was decided on this node, else undefined. */
function localSubject(lookup: Lookup, dv: DirectionVerdict): PodRules | undefined {
  if (!dv.evaluated || dv.subject === null) return undefined;
  return lookup.pods.get(dv.subject);
}

/** The cluster policy rule that decided, as the compiled state holds it. */
function decidingRule(
  lookup: PolicyLookup,
  dv: DirectionVerdict,
): { cp: CompiledClusterPolicy; rule: CompiledTierRule } | undefined {
  const r = dv.clusterRule;
  const cp = r && lookup.clusterPolicies.get(r.policy);
  const rule = cp && (dv.direction === 'ingress' ? cp.ingress : cp.egress)?.find((x) => x.index === r.rule);
  return cp && rule ? { cp, rule } : undefined;
}

/**
 * The log point at which the kernel reports a direction's enforced decision, as `verdict()` took
 * it. Undefined when that decision logs nothing: allowed connections unlogged, a direction decided
 * on another node, a pod no enforced policy holds for the direction. (An ingress decision is
 * reached only when the source's egress let the packet through: a caller comparing with the
 * kernel skips ingress where a local source's egress denied.)
 */
export function expectedLogPoint(
  lookup: Lookup,
  dv: DirectionVerdict,
  opts: LogPointOptions,
): LogPoint | undefined {
  const pod = localSubject(lookup, dv);
  if (!pod || !podEvaluations(pod, dv.direction, lookup, opts).includes('enforced')) return undefined;
  const direction = dv.direction;
  switch (dv.decidedBy) {
    case 'admin':
    case 'baseline': {
      const d = decidingRule(lookup, dv);
      if (!d || d.cp.audit) return undefined;
      return clusterRuleEnd(d.cp, direction, d.rule, 'enforced', opts).log?.point;
    }
    case 'networkpolicy':
      if (!dv.allowed) return isolationPoint('denied', pod.key, direction, dv.isolatingPolicies);
      if (!opts.allowed || dv.allowedBy.length === 0) return undefined;
      // The pod chain consults its policies in key order; the first that admits is reported.
      return policyAllowPoint('allowed', pod.key, direction, firstAdmitting(dv));
    case 'default':
      if (!opts.allowed || podEvaluations(pod, direction, lookup, undefined).length === 0) return undefined;
      return defaultAllowPoint('allowed', pod.key, direction);
  }
}

function firstAdmitting(dv: DirectionVerdict): ObjectKey {
  return [...dv.allowedBy.map((a) => a.policy)].sort()[0];
}

/**
 * The log point at which the kernel's shadow evaluation reports a direction of an audited outcome
 * (`Verdict.audited`): only where it differs from the enforced one (`enforced`, the same direction
 * of the enforced verdict) — `would-deny` where the enforced evaluation allows, `would-allow`
 * (allowed connections logged) where it denies. Undefined where nothing is reported.
 */
export function expectedAuditLogPoint(
  lookup: Lookup,
  enforced: DirectionVerdict,
  audited: DirectionVerdict,
  opts: LogPointOptions,
): LogPoint | undefined {
  const pod = localSubject(lookup, audited);
  if (!pod || enforced.allowed === audited.allowed) return undefined;
  const direction = audited.direction;
  const evaluation = audited.allowed ? 'wouldAllow' : 'wouldDeny';
  if (!podEvaluations(pod, direction, lookup, opts).includes(evaluation)) return undefined;
  const verdict = audited.allowed ? 'would-allow' : 'would-deny';
  switch (audited.decidedBy) {
    case 'admin':
    case 'baseline': {
      // Only an audited rule can decide otherwise than the enforced evaluation did.
      const d = decidingRule(lookup, audited);
      if (!d || !d.cp.audit) return undefined;
      return clusterRuleEnd(d.cp, direction, d.rule, evaluation, opts).log?.point;
    }
    case 'networkpolicy':
      return audited.allowed
        ? policyAllowPoint(verdict, pod.key, direction, firstAdmitting(audited))
        : isolationPoint(verdict, pod.key, direction, audited.isolatingPolicies);
    case 'default':
      return defaultAllowPoint(verdict, pod.key, direction);
  }
}
