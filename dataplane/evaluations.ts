/**
 * The evaluations Palisade's chains run, as backend-neutral steps: what a pod chain does, in which
 * order, where it logs and with which log point. Both renderers (iptables/render.ts,
 * nftables/render.ts) turn these steps into their own rules, and the log point table
 * (log-points.ts) reads the points from the same steps, so the kernel and the agent agree by
 * construction.
 *
 * ## Four evaluations of a pod and direction
 *
 * - `enforced` (the pod chain, always there when an enforced policy decides the direction): the
 *   tiers of tiers.ts over the enforced policies. It decides the packet's fate and, with verdict
 *   logs on, logs at its decisions: `denied` at the NetworkPolicy tier's drop, `allowed` (first
 *   packets only) at a NetworkPolicy that admits and at the default. ClusterNetworkPolicy rules
 *   log in their own chains (below).
 * - `audit` (only with verdict logs on, for a pod an audit-mode policy holds in the direction):
 *   the pod chain jumps here for NEW packets before its own evaluation. It runs the enforced
 *   evaluation again without logging, to learn its outcome, and goes on to one of:
 * - `wouldDeny` (after an enforced allow): every policy, audited ones included, silently except
 *   where the outcome differs: a deny logs `would-deny` (an audited ClusterNetworkPolicy's Deny
 *   rule in its chain, or the NetworkPolicy tier's drop here);
 * - `wouldAllow` (after an enforced deny; only when allowed connections are logged): likewise,
 *   an allow logs `would-allow`.
 *   Both end in `return`: back in the pod chain, the enforced evaluation decides the packet's
 *   fate. A pod that only audited policies hold has a pod chain too (it is dispatched), whose
 *   enforced evaluation allows at once, unlogged.
 *
 * Why two passes: the shadow evaluation must know the enforced outcome at the rule where it
 * decides (an audited rule in a chain that many pods share), and the two mark bits are all the
 * state a packet carries between chains; so the enforced outcome is computed first and chosen by
 * chain. An enforced ClusterNetworkPolicy rule can never decide differently in the shadow
 * evaluation (the shadow reaches it only when no enforced rule before it decided, which is also
 * what the enforced evaluation does), so enforced policies take part in the shadow silently.
 *
 * ## ClusterNetworkPolicy chain variants
 *
 * - `enforced`: Accept sets the allow bit and returns, Pass sets the pass bit and returns, Deny
 *   drops; with logs, Deny logs `denied` and Accept (allowed connections logged) `allowed`.
 * - `signal`: as enforced, except that Deny sets both bits and returns (the caller decides), and
 *   nothing logs: enforced policies in the audit and shadow evaluations.
 * - `wouldDeny` / `wouldAllow`: as signal, with Deny logging `would-deny` / Accept logging
 *   `would-allow`: audited policies in the matching shadow evaluation.
 * A rule that logs goes to a small chain of its own (the log point's), which logs and then does
 * what the rule does, so the rule's matches are evaluated once.
 *
 * ## The mark bits (tiers.ts)
 *
 * allow = "some rule admitted", pass = "a ClusterNetworkPolicy Pass rule matched", both = "a
 * ClusterNetworkPolicy Deny rule matched" (signal variants only). A step's `when` tests them:
 * `allow` also holds for both (a caller that must tell deny from allow tests `deny` first).
 */
import type { CompiledClusterPolicy, CompiledTierRule, PodRules } from '../compiler/ir';
import type { ObjectKey } from '../compiler/model';
import type { Direction } from './names';
import { clusterPolicyHasDirection, enforcedPolicies, policyHasDirection, type PolicyLookup } from './tiers';
import { logPoint, type LogPoint, type LogVerdict } from './verdict-log';

/** Verdict logs are on; `allowed`: the first packet of allowed connections is logged too. */
export interface LogPointOptions {
  readonly allowed: boolean;
}

export type PodEvaluation = 'enforced' | 'audit' | 'wouldDeny' | 'wouldAllow';
export const POD_EVALUATIONS: readonly PodEvaluation[] = ['enforced', 'audit', 'wouldDeny', 'wouldAllow'];

export type ClusterChainVariant = 'enforced' | 'signal' | 'wouldDeny' | 'wouldAllow';
export const CLUSTER_CHAIN_VARIANTS: readonly ClusterChainVariant[] = [
  'enforced',
  'signal',
  'wouldDeny',
  'wouldAllow',
];

/** A chain a pod chain jumps to: a NetworkPolicy's, or one variant of a ClusterNetworkPolicy's. */
export type CallTarget =
  | { readonly kind: 'policy'; readonly key: ObjectKey }
  | { readonly kind: 'clusterPolicy'; readonly key: string; readonly variant: ClusterChainVariant };

/** allow: the allow bit (set alone or with pass); pass: the pass bit; deny: both bits. */
export type MarkTest = 'allow' | 'pass' | 'deny';

export type Outcome =
  /** Allowed: leave Palisade's chains (the accepted chain clears the bits). */
  | { readonly kind: 'accepted' }
  | { readonly kind: 'drop' }
  /** The end of an audit or shadow evaluation: back to the pod chain, which clears the bits. */
  | { readonly kind: 'return' }
  /** Go on with another evaluation of the same pod and direction (a goto). */
  | { readonly kind: 'evaluation'; readonly evaluation: PodEvaluation };

export interface LogAction {
  readonly point: LogPoint;
  /** Only the first packet of a connection (conntrack state NEW): every allowed verdict. */
  readonly newOnly: boolean;
}

/** Where a rule comes from, for the rule's metadata. */
export interface StepOrigin {
  readonly pod: ObjectKey;
  readonly policy?: ObjectKey;
  readonly clusterPolicy?: string;
}

export type Step =
  /** The pod's own addresses → return (a pod reaching itself through a Service). */
  | { readonly kind: 'self'; readonly human: string; readonly origin: StepOrigin }
  /** NEW packets: jump to this evaluation of the same pod and direction (the audit). */
  | {
      readonly kind: 'audit';
      readonly evaluation: PodEvaluation;
      readonly human: string;
      readonly origin: StepOrigin;
    }
  | { readonly kind: 'clearMarks'; readonly human: string; readonly origin: StepOrigin }
  | { readonly kind: 'clearPass'; readonly human: string; readonly origin: StepOrigin }
  /** Jump to a policy chain; `unlessPass`: skipped once the pass bit is set. */
  | {
      readonly kind: 'call';
      readonly target: CallTarget;
      readonly unlessPass: boolean;
      readonly human: string;
      readonly origin: StepOrigin;
    }
  /**
   * A decision: when the bits say so (always, without `when`), log (rate-limited) and take the
   * outcome. A logged decision is never `when: 'deny'`, and one with `when: 'pass'` comes after
   * the `allow` test of the same call (so the allow bit is clear there): renderers rely on both.
   */
  | {
      readonly kind: 'decide';
      readonly when?: MarkTest;
      readonly log?: LogAction;
      readonly outcome: Outcome;
      readonly human: string;
      readonly origin: StepOrigin;
    };

// ---- log points -----------------------------------------------------------------------------

/** The NetworkPolicy tier's drop (or its shadow): the isolating policies, sorted. */
export function isolationPoint(
  verdict: LogVerdict,
  pod: ObjectKey,
  direction: Direction,
  isolating: readonly ObjectKey[],
): LogPoint {
  return logPoint({
    verdict,
    direction,
    tier: 'networkpolicy',
    cause: 'isolation',
    policies: [...isolating].sort(),
    pod,
  });
}

/** A NetworkPolicy of the pod admitted the packet (the first in key order that does). */
export function policyAllowPoint(
  verdict: LogVerdict,
  pod: ObjectKey,
  direction: Direction,
  policy: ObjectKey,
): LogPoint {
  return logPoint({
    verdict,
    direction,
    tier: 'networkpolicy',
    cause: 'policy',
    policy: { kind: 'NetworkPolicy', key: policy },
    pod,
  });
}

/** No tier decided: allowed by default (a baseline Pass included). */
export function defaultAllowPoint(verdict: LogVerdict, pod: ObjectKey, direction: Direction): LogPoint {
  return logPoint({ verdict, direction, tier: 'default', cause: 'default', pod });
}

/** The point of one ClusterNetworkPolicy rule. */
export function clusterRulePoint(
  verdict: LogVerdict,
  cp: CompiledClusterPolicy,
  direction: Direction,
  rule: CompiledTierRule,
): LogPoint {
  return logPoint({
    verdict,
    direction,
    tier: cp.tier,
    cause: 'rule',
    policy: { kind: 'ClusterNetworkPolicy', key: cp.key },
    rule: { index: rule.index, name: rule.name },
  });
}

/** Fail closed for new pods: a packet from (egress) or to (ingress) a pod not programmed yet. */
export function failClosedPoint(direction: Direction): LogPoint {
  return logPoint({ verdict: 'denied', direction, tier: 'default', cause: 'fail-closed' });
}

const isAllowVerdict = (v: LogVerdict): boolean => v === 'allowed' || v === 'would-allow';

function logAction(point: LogPoint): LogAction {
  return { point, newOnly: isAllowVerdict(point.verdict) };
}

// ---- fail closed for new pods -----------------------------------------------------------------

/**
 * One of the forward chain's drops for new pods (before dispatch, with the backend's node pod
 * ranges and known addresses: desired.ts NewPodSets): a packet whose `end` address lies in the
 * node's pod ranges and no known pod holds is dropped, logging `denied` first when verdict logs
 * are on. The source end is the new pod's egress, the destination end its ingress; a packet
 * between two new pods meets the source test first.
 */
export interface FailClosedDrop {
  readonly direction: Direction;
  readonly end: 'source' | 'destination';
  readonly log?: LogAction;
  readonly outcome: { readonly kind: 'drop' };
  readonly human: string;
}

/** The fail-closed drops in the order the forward chain tests them (`log` undefined: logs off). */
export function failClosedDrops(log: LogPointOptions | undefined): FailClosedDrop[] {
  return (['egress', 'ingress'] as const).map((direction) => ({
    direction,
    end: direction === 'egress' ? 'source' : 'destination',
    ...(log ? { log: logAction(failClosedPoint(direction)) } : {}),
    outcome: { kind: 'drop' },
    human: `palisade: ${direction === 'egress' ? 'from' : 'to'} a new local pod not programmed yet`,
  }));
}

// ---- which evaluations a pod has ------------------------------------------------------------

interface TierPolicies {
  readonly policyKeys: readonly ObjectKey[];
  readonly admin: readonly string[];
  readonly baseline: readonly string[];
}

/** Every policy of a pod in a direction, audited ones included, per tier. */
export function allPolicies(pod: PodRules, direction: Direction): TierPolicies {
  return direction === 'ingress'
    ? { policyKeys: pod.ingress, admin: pod.adminIngress, baseline: pod.baselineIngress }
    : { policyKeys: pod.egress, admin: pod.adminEgress, baseline: pod.baselineEgress };
}

/** Does an audit-mode policy hold the pod for the direction? */
export function podHasAudit(pod: PodRules, direction: Direction, lookup: PolicyLookup): boolean {
  const { policyKeys, admin, baseline } = allPolicies(pod, direction);
  return (
    policyKeys.some((k) => lookup.policies.get(k)?.audit) ||
    [...admin, ...baseline].some((k) => lookup.clusterPolicies.get(k)?.audit)
  );
}

function hasEnforced(pod: PodRules, direction: Direction, lookup: PolicyLookup): boolean {
  const e = enforcedPolicies(pod, direction, lookup);
  return e.policyKeys.length + e.admin.length + e.baseline.length > 0;
}

/**
 * The evaluations a pod has in a direction, its pod chain's (`enforced`) first; [] when the pod
 * is not dispatched for the direction. `log` undefined: verdict logs are off (audit-mode policies
 * then need no chain at all).
 */
export function podEvaluations(
  pod: PodRules,
  direction: Direction,
  lookup: PolicyLookup,
  log: LogPointOptions | undefined,
): PodEvaluation[] {
  const enforced = hasEnforced(pod, direction, lookup);
  const audited = log !== undefined && podHasAudit(pod, direction, lookup);
  if (!audited) return enforced ? ['enforced'] : [];
  // Without enforced policies the enforced outcome is known (allowed): no audit pass, and no
  // shadow evaluation after a deny.
  return enforced
    ? ['enforced', 'audit', 'wouldDeny', ...(log.allowed ? (['wouldAllow'] as const) : [])]
    : ['enforced', 'wouldDeny'];
}

// ---- the steps of one evaluation -------------------------------------------------------------

const TAG: Record<PodEvaluation, string> = {
  enforced: '',
  audit: ' (audit)',
  wouldDeny: ' (would deny)',
  wouldAllow: ' (would allow)',
};

/** What ends an evaluation at each kind of decision. */
interface Terminals {
  /** After a ClusterNetworkPolicy call: the decisions on its bits (allow; deny in signal variants). */
  afterCall(key: string, tier: 'admin' | 'baseline'): Step[];
  /** After a NetworkPolicy call: the allow bit. */
  npAllow(key: ObjectKey): Step;
  /** The NetworkPolicy tier's end: no policy admitted. */
  npDeny(isolating: readonly ObjectKey[]): Step;
  /** Nothing decided (or a baseline Pass, `passedBy` set): the default allows. */
  defaultAllow(passedBy?: string): Step;
}

/**
 * The steps of one evaluation of a pod chain. `evaluation` must be one `podEvaluations` lists for
 * the pod (others return []).
 */
export function podSteps(
  pod: PodRules,
  direction: Direction,
  lookup: PolicyLookup,
  evaluation: PodEvaluation,
  log: LogPointOptions | undefined,
): Step[] {
  const evaluations = podEvaluations(pod, direction, lookup, log);
  if (!evaluations.includes(evaluation)) return [];
  const who = `pod ${pod.key}`;
  const say = (text: string): string => `${who}${TAG[evaluation]}: ${text}`;
  const origin: StepOrigin = { pod: pod.key };
  const cnpOrigin = (key: string): StepOrigin => ({ pod: pod.key, clusterPolicy: key });
  const npOrigin = (key: ObjectKey): StepOrigin => ({ pod: pod.key, policy: key });
  const enforcedPolicyKeys = enforcedPolicies(pod, direction, lookup);
  const enforcedCount =
    enforcedPolicyKeys.policyKeys.length +
    enforcedPolicyKeys.admin.length +
    enforcedPolicyKeys.baseline.length;
  const steps: Step[] = [];

  let policies: TierPolicies;
  let variantOf: (key: string) => ClusterChainVariant;
  let t: Terminals;
  const decide = (
    when: MarkTest | undefined,
    outcome: Outcome,
    human: string,
    o: StepOrigin,
    point?: LogPoint,
  ): Step => ({
    kind: 'decide',
    ...(when ? { when } : {}),
    ...(point ? { log: logAction(point) } : {}),
    outcome,
    human,
    origin: o,
  });
  // The NetworkPolicy tier's and the default's decisions, alike in every evaluation but for
  // their outcome and log point.
  const npAllowStep = (key: ObjectKey, outcome: Outcome, point?: LogPoint): Step =>
    decide('allow', outcome, say(`allowed by ${key}`), npOrigin(key), point);
  const npDenyStep = (outcome: Outcome, point?: LogPoint): Step =>
    decide(undefined, outcome, say(`no policy allows ${direction}`), origin, point);
  const defaultAllowStep = (passedBy: string | undefined, outcome: Outcome, point?: LogPoint): Step =>
    decide(
      passedBy !== undefined ? 'pass' : undefined,
      outcome,
      say(
        passedBy !== undefined
          ? `passed by baseline cluster policy ${passedBy}`
          : 'no tier decided, allowed by default',
      ),
      passedBy !== undefined ? cnpOrigin(passedBy) : origin,
      point,
    );
  const ret: Outcome = { kind: 'return' };
  const to = (e: PodEvaluation): Outcome => ({ kind: 'evaluation', evaluation: e });

  switch (evaluation) {
    case 'enforced': {
      steps.push({ kind: 'self', human: `${who}: traffic to itself`, origin });
      if (evaluations.length > 1) {
        steps.push({
          kind: 'audit',
          evaluation: evaluations[1],
          human: `${who}: audit-mode policies, new connections`,
          origin,
        });
      }
      policies = enforcedPolicyKeys;
      variantOf = () => 'enforced';
      // Allowed connections are logged only where an enforced policy gives the pod its chain.
      const allowLog = log?.allowed === true && enforcedCount > 0;
      const accepted: Outcome = { kind: 'accepted' };
      t = {
        afterCall: (key, tier) => [
          decide('allow', accepted, say(`accepted by ${tier} cluster policy ${key}`), cnpOrigin(key)),
        ],
        npAllow: (key) =>
          npAllowStep(
            key,
            accepted,
            allowLog ? policyAllowPoint('allowed', pod.key, direction, key) : undefined,
          ),
        npDeny: (isolating) =>
          npDenyStep(
            { kind: 'drop' },
            log ? isolationPoint('denied', pod.key, direction, isolating) : undefined,
          ),
        defaultAllow: (passedBy) =>
          defaultAllowStep(
            passedBy,
            accepted,
            allowLog ? defaultAllowPoint('allowed', pod.key, direction) : undefined,
          ),
      };
      break;
    }
    case 'audit': {
      policies = enforcedPolicyKeys;
      variantOf = () => 'signal';
      const denied: Outcome = evaluations.includes('wouldAllow') ? to('wouldAllow') : ret;
      const allowed = to('wouldDeny');
      t = {
        afterCall: (key, tier) => [
          decide('deny', denied, say(`denied by ${tier} cluster policy ${key}`), cnpOrigin(key)),
          decide('allow', allowed, say(`accepted by ${tier} cluster policy ${key}`), cnpOrigin(key)),
        ],
        npAllow: (key) => npAllowStep(key, allowed),
        npDeny: () => npDenyStep(denied),
        defaultAllow: (passedBy) => defaultAllowStep(passedBy, allowed),
      };
      break;
    }
    case 'wouldDeny':
    case 'wouldAllow': {
      policies = allPolicies(pod, direction);
      const shadow = evaluation;
      variantOf = (key) => (lookup.clusterPolicies.get(key)?.audit ? shadow : 'signal');
      const reportAllow = shadow === 'wouldAllow';
      t = {
        // Whatever a cluster policy decided ends the evaluation: its chain logged if it had to.
        afterCall: (key, tier) => [
          decide('allow', ret, say(`decided by ${tier} cluster policy ${key}`), cnpOrigin(key)),
        ],
        npAllow: (key) =>
          npAllowStep(
            key,
            ret,
            reportAllow ? policyAllowPoint('would-allow', pod.key, direction, key) : undefined,
          ),
        npDeny: (isolating) =>
          npDenyStep(
            ret,
            reportAllow ? undefined : isolationPoint('would-deny', pod.key, direction, isolating),
          ),
        defaultAllow: (passedBy) =>
          defaultAllowStep(
            passedBy,
            ret,
            reportAllow ? defaultAllowPoint('would-allow', pod.key, direction) : undefined,
          ),
      };
      break;
    }
  }

  steps.push({ kind: 'clearMarks', human: say('clear the verdict marks'), origin });
  // 1. Admin tier, in (priority, name) order. Once a Pass rule matched, the rest of the tier is skipped.
  let first = true;
  for (const key of policies.admin) {
    if (!clusterPolicyHasDirection(lookup.clusterPolicies.get(key), direction)) continue;
    steps.push({
      kind: 'call',
      target: { kind: 'clusterPolicy', key, variant: variantOf(key) },
      unlessPass: !first,
      human: say(`admin cluster policy ${key}`),
      origin: cnpOrigin(key),
    });
    steps.push(...t.afterCall(key, 'admin'));
    first = false;
  }
  // 2. NetworkPolicy tier: when any policy isolates the pod, their union decides.
  if (policies.policyKeys.length > 0) {
    const isolating: ObjectKey[] = [];
    for (const key of policies.policyKeys) {
      const policy = lookup.policies.get(key);
      if (!policyHasDirection(policy, direction)) continue;
      isolating.push(key);
      steps.push({
        kind: 'call',
        target: { kind: 'policy', key },
        unlessPass: false,
        human: say(`policy ${key}`),
        origin: npOrigin(key),
      });
      steps.push(t.npAllow(key));
    }
    steps.push(t.npDeny(isolating));
    return steps;
  }
  // 3. Baseline tier; a Pass ends it like an Accept: the default allows.
  let clearedPass = first;
  for (const key of policies.baseline) {
    if (!clusterPolicyHasDirection(lookup.clusterPolicies.get(key), direction)) continue;
    if (!clearedPass) {
      steps.push({ kind: 'clearPass', human: say('end of the admin tier'), origin });
      clearedPass = true;
    }
    steps.push({
      kind: 'call',
      target: { kind: 'clusterPolicy', key, variant: variantOf(key) },
      unlessPass: false,
      human: say(`baseline cluster policy ${key}`),
      origin: cnpOrigin(key),
    });
    steps.push(...t.afterCall(key, 'baseline'));
    steps.push(t.defaultAllow(key));
  }
  // 4. No tier decided: allowed.
  steps.push(t.defaultAllow());
  return steps;
}

/**
 * The chains some steps jump to, each once, as `callTargetKey`s: per call of `add`, its
 * NetworkPolicies first, then its cluster policies, each in first-use order (an order stable from
 * one render to the next, which the order chains are written in follows).
 */
export class CallTargets {
  private readonly keys = new Set<string>();

  add(steps: readonly Step[]): void {
    for (const kind of ['policy', 'clusterPolicy'] as const) {
      for (const s of steps)
        if (s.kind === 'call' && s.target.kind === kind) this.keys.add(callTargetKey(s.target));
    }
  }

  list(): string[] {
    return [...this.keys];
  }
}

/**
 * A call target as text: a NetworkPolicy's key (it holds a "/"), or `cnp:<variant>:<name>` (a
 * cluster policy's name never holds ":" or "/").
 */
export function callTargetKey(t: CallTarget): string {
  return t.kind === 'policy' ? t.key : `cnp:${t.variant}:${t.key}`;
}

export function parseCallTargetKey(text: string): CallTarget {
  const m = /^cnp:(enforced|signal|wouldDeny|wouldAllow):(.*)$/.exec(text);
  return m
    ? { kind: 'clusterPolicy', key: m[2], variant: m[1] as ClusterChainVariant }
    : { kind: 'policy', key: text };
}

// ---- cluster policy rules ---------------------------------------------------------------------

/** What a ClusterNetworkPolicy rule does in a chain variant: the bits it sets (or drop), its log. */
export interface ClusterRuleEnd {
  /** allow / pass: set that bit and return; deny: set both and return; drop: drop. */
  readonly action: 'allow' | 'pass' | 'deny' | 'drop';
  readonly log?: LogAction;
}

export function clusterRuleEnd(
  cp: CompiledClusterPolicy,
  direction: Direction,
  rule: CompiledTierRule,
  variant: ClusterChainVariant,
  log: LogPointOptions | undefined,
): ClusterRuleEnd {
  const point = (v: LogVerdict): { log?: LogAction } =>
    log ? { log: logAction(clusterRulePoint(v, cp, direction, rule)) } : {};
  switch (rule.action) {
    case 'Pass':
      return { action: 'pass' };
    case 'Accept':
      if (variant === 'enforced' && log?.allowed) return { action: 'allow', ...point('allowed') };
      if (variant === 'wouldAllow') return { action: 'allow', ...point('would-allow') };
      return { action: 'allow' };
    case 'Deny':
      if (variant === 'enforced') return { action: 'drop', ...point('denied') };
      if (variant === 'wouldDeny') return { action: 'deny', ...point('would-deny') };
      return { action: 'deny' };
  }
}

/** The variants of a cluster policy's chain that can exist: enforced and signal, or the two shadows. */
export function clusterChainVariants(
  cp: CompiledClusterPolicy,
  log: LogPointOptions | undefined,
): ClusterChainVariant[] {
  if (cp.audit) return log ? ['wouldDeny', ...(log.allowed ? (['wouldAllow'] as const) : [])] : [];
  return log ? ['enforced', 'signal'] : ['enforced'];
}
