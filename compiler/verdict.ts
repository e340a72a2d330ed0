/**
 * The verdict evaluator: decides one connection against the compiled state, exactly as the
 * dataplane will (peer sets by membership, named ports through their ip,port sets), and
 * says why. Used by `analyze`, `explain`, the agent's debug endpoint and the tests that
 * compare the IR with a literal reading of the policies.
 */
import type {
  ClusterPolicyKey,
  CompiledRule,
  CompiledState,
  CompiledTierRule,
  PeerSet,
  PortMatch,
} from './ir';
import { cidrContainsIP, parseCIDR, parseIP } from './validate/ip';
import type { PodInfo } from './model';
import { objectKey, podIsLive, podIsPolicyTarget } from './model';
import type { CompiledView } from './incremental';
import type { DirectionVerdict, Endpoint, Probe, RuleRef, TierRuleRef, Verdict } from './verdict-types';

interface ResolvedEndpoint {
  /** The pod at this end, if the endpoint is (or has the address of) a pod. */
  readonly pod: PodInfo | undefined;
  readonly ips: readonly string[];
}

function resolve(view: CompiledView, e: Endpoint): ResolvedEndpoint {
  if (e.kind === 'pod') {
    const pod = view.pod(e.key);
    return { pod, ips: pod && podIsLive(pod) ? pod.ips : [] };
  }
  return { pod: view.podByIP(e.ip), ips: [e.ip] };
}

/** The address pair a connection uses: IPv4 when both ends have one, else IPv6. */
function addressPair(src: ResolvedEndpoint, dst: ResolvedEndpoint): [string, string] | null {
  for (const family of [4, 6] as const) {
    const s = src.ips.find((ip) => parseIP(ip)?.family === family);
    const d = dst.ips.find((ip) => parseIP(ip)?.family === family);
    if (s !== undefined && d !== undefined) return [s, d];
  }
  return null;
}

/** Is `ip` in the peer set? cidr sets test containment with exceptions; others test membership. */
export function peerSetAdmits(set: PeerSet, ip: string): boolean {
  if (set.def.kind !== 'cidr') return set.members.has(ip);
  const addr = parseIP(ip);
  const block = parseCIDR(set.def.cidr);
  if (!addr || !block || !cidrContainsIP(block, addr)) return false;
  return !set.def.except.some((e) => {
    const ex = parseCIDR(e);
    return ex !== undefined && cidrContainsIP(ex, addr);
  });
}

function portAdmits(state: CompiledState, m: PortMatch, dstIP: string, probe: Probe): boolean {
  if (m.protocol !== probe.protocol) return false;
  if (m.kind === 'named') {
    return (
      state.peerSets.get(m.set)?.members.has(`${dstIP},${probe.protocol.toLowerCase()}:${probe.port}`) ??
      false
    );
  }
  if (m.port === undefined) return true;
  return probe.port >= m.port && probe.port <= (m.endPort ?? m.port);
}

/** Does the rule admit a connection whose remote end is `remoteIP` and whose destination is `dstIP`? */
export function ruleAdmits(
  state: CompiledState,
  rule: CompiledRule | CompiledTierRule,
  remoteIP: string,
  dstIP: string,
  probe: Probe,
): boolean {
  const peerOk =
    rule.peers === 'any' ||
    rule.peers.some((k) => {
      const set = state.peerSets.get(k);
      return set !== undefined && peerSetAdmits(set, remoteIP);
    });
  if (!peerOk) return false;
  return rule.ports === 'any' || rule.ports.some((m) => portAdmits(state, m, dstIP, probe));
}

function matchingTierRule(
  state: CompiledState,
  key: ClusterPolicyKey,
  direction: 'ingress' | 'egress',
  remoteIP: string,
  dstIP: string,
  probe: Probe,
): TierRuleRef | undefined {
  const c = state.clusterPolicies.get(key);
  if (!c) return undefined;
  for (const rule of c[direction] ?? []) {
    if (ruleAdmits(state, rule, remoteIP, dstIP, probe)) {
      return {
        tier: c.tier,
        policy: c.key,
        priority: c.priority,
        direction,
        rule: rule.index,
        ruleName: rule.name,
        action: rule.action,
      };
    }
  }
  return undefined;
}

/**
 * One tier, as the API defines it: policies in (priority, name) order, rules in written
 * order, the first match wins. Returns the matching rule (or none) and the other policies of
 * the same priority that also match (the tie the name order broke).
 */
function evaluateTier(
  state: CompiledState,
  keys: readonly ClusterPolicyKey[],
  direction: 'ingress' | 'egress',
  remoteIP: string,
  dstIP: string,
  probe: Probe,
): { match?: TierRuleRef; tiedWith: TierRuleRef[] } {
  for (let i = 0; i < keys.length; i++) {
    const match = matchingTierRule(state, keys[i], direction, remoteIP, dstIP, probe);
    if (!match) continue;
    const tiedWith: TierRuleRef[] = [];
    for (let j = 0; j < keys.length; j++) {
      if (j === i) continue;
      const other = state.clusterPolicies.get(keys[j]);
      if (other?.priority !== match.priority) continue;
      const m = matchingTierRule(state, keys[j], direction, remoteIP, dstIP, probe);
      if (m) tiedWith.push(m);
    }
    return { match, tiedWith };
  }
  return { tiedWith: [] };
}

/**
 * enforced: audit-mode policies take no part (what the kernel enforces); audited: they take part
 * as if enforced (what the kernel reports they would do).
 */
type Mode = 'enforced' | 'audited';

function decide(
  view: CompiledView,
  direction: 'ingress' | 'egress',
  subject: PodInfo | undefined,
  remoteIP: string | undefined,
  dstIP: string | undefined,
  probe: Probe,
  mode: Mode = 'enforced',
): DirectionVerdict {
  const notDecided = (subjectKey: string | null, evaluated: boolean): DirectionVerdict => ({
    direction,
    subject: subjectKey,
    evaluated,
    isolatingPolicies: [],
    allowedBy: [],
    allowed: true,
    decidedBy: 'default',
    passedBy: [],
    tiedWith: [],
  });
  if (!subject) return notDecided(null, true);
  const key = objectKey(subject);
  if (!podIsPolicyTarget(subject)) return notDecided(key, true);
  const state = view.state();
  const rules = state.pods.get(key);
  if (!rules) return notDecided(key, false);
  const npTakesPart = (k: string): boolean => mode === 'audited' || !state.policies.get(k)?.audit;
  const cnpTakesPart = (k: string): boolean => mode === 'audited' || !state.clusterPolicies.get(k)?.audit;
  const isolating = (direction === 'ingress' ? rules.ingress : rules.egress).filter(npTakesPart);
  const admin = (direction === 'ingress' ? rules.adminIngress : rules.adminEgress).filter(cnpTakesPart);
  const baseline = (direction === 'ingress' ? rules.baselineIngress : rules.baselineEgress).filter(
    cnpTakesPart,
  );
  const base = { direction, subject: key, evaluated: true, isolatingPolicies: isolating } as const;
  const passedBy: TierRuleRef[] = [];
  if (remoteIP === undefined || dstIP === undefined) {
    // No common address family: no packet can flow; report what would isolate the pod.
    const isolated = isolating.length > 0;
    return {
      ...base,
      allowedBy: [],
      allowed: !isolated,
      decidedBy: isolated ? 'networkpolicy' : 'default',
      passedBy,
      tiedWith: [],
    };
  }
  // 1. Admin tier: Accept and Deny are final; Pass skips the rest of the tier.
  const a = evaluateTier(state, admin, direction, remoteIP, dstIP, probe);
  if (a.match && a.match.action !== 'Pass') {
    return {
      ...base,
      allowedBy: [],
      allowed: a.match.action === 'Accept',
      decidedBy: 'admin',
      clusterRule: a.match,
      passedBy,
      tiedWith: a.tiedWith,
    };
  }
  if (a.match) passedBy.push(a.match);
  // 2. NetworkPolicy tier: for a pod some policy isolates, the union of their rules decides.
  if (isolating.length > 0) {
    const allowedBy: RuleRef[] = [];
    for (const pk of isolating) {
      const policy = state.policies.get(pk);
      for (const rule of (direction === 'ingress' ? policy?.ingress : policy?.egress) ?? []) {
        if (ruleAdmits(state, rule, remoteIP, dstIP, probe))
          allowedBy.push({ policy: pk, direction, rule: rule.index });
      }
    }
    return {
      ...base,
      allowedBy,
      allowed: allowedBy.length > 0,
      decidedBy: 'networkpolicy',
      passedBy,
      tiedWith: a.match ? a.tiedWith : [],
    };
  }
  // 3. Baseline tier: Accept and Deny are final; Pass ends the tier (the default allows).
  const b = evaluateTier(state, baseline, direction, remoteIP, dstIP, probe);
  if (b.match && b.match.action !== 'Pass') {
    return {
      ...base,
      allowedBy: [],
      allowed: b.match.action === 'Accept',
      decidedBy: 'baseline',
      clusterRule: b.match,
      passedBy,
      tiedWith: b.tiedWith,
    };
  }
  if (b.match) passedBy.push(b.match);
  // 4. Nothing decided: allowed.
  return {
    ...base,
    allowedBy: [],
    allowed: true,
    decidedBy: 'default',
    passedBy,
    tiedWith: b.match ? b.tiedWith : a.match ? a.tiedWith : [],
  };
}

/**
 * Is a connection from `from` to `to` on `probe` allowed? Both the source's egress and the
 * destination's ingress must allow it; traffic from a pod to itself, and between a pod and
 * its own node, always is.
 */
export function verdict(view: CompiledView, from: Endpoint, to: Endpoint, probe: Probe): Verdict {
  const src = resolve(view, from);
  const dst = resolve(view, to);
  const pair = addressPair(src, dst);
  const self = src.pod !== undefined && src.pod === dst.pod;
  const node =
    !self &&
    src.pod !== undefined &&
    dst.pod !== undefined &&
    src.pod.nodeName !== '' &&
    src.pod.nodeName === dst.pod.nodeName &&
    (src.pod.hostNetwork || dst.pod.hostNetwork);
  const evaluate = (mode: Mode) => {
    const egress = decide(view, 'egress', src.pod, pair?.[1], pair?.[1], probe, mode);
    const ingress = decide(view, 'ingress', dst.pod, pair?.[0], pair?.[1], probe, mode);
    return {
      allowed: self || node || (pair !== null && egress.allowed && ingress.allowed),
      self,
      node,
      egress,
      ingress,
    };
  };
  const enforced = evaluate('enforced');
  if (!auditPoliciesApply(view, src.pod, dst.pod)) return enforced;
  return { ...enforced, audited: evaluate('audited') };
}

/** Does an audit-mode policy select either end (so the audited outcome may differ)? */
function auditPoliciesApply(view: CompiledView, ...pods: (PodInfo | undefined)[]): boolean {
  const state = view.state();
  for (const pod of pods) {
    const rules = pod && state.pods.get(objectKey(pod));
    if (!rules) continue;
    for (const k of [...rules.ingress, ...rules.egress]) if (state.policies.get(k)?.audit) return true;
    for (const k of [
      ...rules.adminIngress,
      ...rules.adminEgress,
      ...rules.baselineIngress,
      ...rules.baselineEgress,
    ]) {
      if (state.clusterPolicies.get(k)?.audit) return true;
    }
  }
  return false;
}
