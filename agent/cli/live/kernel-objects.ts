/**
 * Reading the dataplane's views (DataplaneView: chains, hooks, ipsets, desired or as the kernel
 * holds them) for people: a rule's text without its comment, the note and hash the comment
 * carries, the policy rule a policy-chain rule implements, the sets a rule matches, where a rule
 * sits in its chain, and how the kernel's copy of an object compares with the desired one.
 *
 * Every rule Palisade writes carries `-m comment --comment "pl:<hash> <note>"` (dataplane/
 * render.ts); policy-chain rules have the note "<namespace>/<policy> <direction> rule <index>",
 * and rules of a ClusterNetworkPolicy's chain "cnp <name> <direction> rule <index> <action>" (its
 * key is its name). A chain's kind is whatever the dataplane says; the CLI shows kinds it does
 * not know as they come, and treats any chain with an owner that is not a pod chain as a policy's.
 * The hash is the identity of a rule's content: the desired and the kernel copy of a rule have
 * the same hash, whatever iptables-save prints.
 */
import type { ChainView, DataplaneView, IPFamily, IpSetView, RuleView } from '../../../dataplane/api';

export interface RuleParts {
  /** The rule as written after `-A CHAIN`, without the comment match. */
  readonly spec: string;
  /** The comment's human part ("pod x/a: traffic to itself"); '' without a Palisade comment. */
  readonly note: string;
}

const COMMENT = /(?:^|\s)-m comment --comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/;

export function ruleParts(text: string): RuleParts {
  const m = COMMENT.exec(text);
  if (!m) return { spec: text.trim(), note: '' };
  const comment = (m[1] ?? m[2]).replace(/\\(.)/g, '$1');
  const note = comment.replace(/^pl:\S+\s?/, '');
  const spec = `${text.slice(0, m.index)} ${text.slice(m.index + m[0].length)}`.replace(/\s+/g, ' ').trim();
  return { spec, note };
}

export interface PolicyRuleRef {
  readonly policy: string;
  readonly direction: 'ingress' | 'egress';
  readonly index: number;
}

/** The policy rule (NetworkPolicy or ClusterNetworkPolicy) a policy-chain rule implements, read from its note. */
export function policyRuleOfNote(note: string): PolicyRuleRef | undefined {
  const m = /^(?:cnp )?(\S+) (ingress|egress) rule (\d+)(?:$| (?:Accept|Deny|Pass)$)/.exec(note);
  if (!m) return undefined;
  return { policy: m[1], direction: m[2] as 'ingress' | 'egress', index: Number(m[3]) };
}

export function policyRuleOf(rule: RuleView): PolicyRuleRef | undefined {
  return policyRuleOfNote(ruleParts(rule.text).note);
}

/** The ipsets a rule matches against (`-m set --match-set NAME src|dst[,dst]`). */
export function setsMatchedBy(text: string): Array<{ name: string; flags: string }> {
  const out: Array<{ name: string; flags: string }> = [];
  const re = /--match-set (\S+) (\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push({ name: m[1], flags: m[2] });
  return out;
}

/** Where a rule jumps or goes (`-j X`, `-g X`), if anywhere. */
export function ruleTarget(text: string): { how: 'jump' | 'goto'; target: string } | undefined {
  const m = /(?:^|\s)-(j|g) (\S+)/.exec(text);
  return m ? { how: m[1] === 'g' ? 'goto' : 'jump', target: m[2] } : undefined;
}

/** Lookups over one view. */
export class ViewIndex {
  private readonly chains = new Map<string, ChainView>();
  private readonly sets = new Map<string, IpSetView>();

  constructor(readonly view: DataplaneView) {
    for (const c of view.chains) this.chains.set(`${c.family}/${c.name}`, c);
    for (const s of view.ipsets) this.sets.set(s.name, s);
  }

  chain(family: IPFamily, name: string): ChainView | undefined {
    return this.chains.get(`${family}/${name}`);
  }

  set(name: string): IpSetView | undefined {
    return this.sets.get(name);
  }

  /** 1-based position of the rule with this hash in a chain (as `iptables -L --line-numbers` counts). */
  position(family: IPFamily, chain: string, hash: string): number | undefined {
    const i = this.chain(family, chain)?.rules.findIndex((r) => r.hash === hash) ?? -1;
    return i < 0 ? undefined : i + 1;
  }

  /**
   * Chains rendered from a policy (a NetworkPolicy key or a ClusterNetworkPolicy name), per
   * direction: every chain it owns but a pod's, whatever kind the dataplane gives it.
   */
  policyChains(policy: string, direction?: 'ingress' | 'egress'): ChainView[] {
    return this.view.chains.filter(
      (c) => isPolicyChain(c) && c.owner === policy && (!direction || c.direction === direction),
    );
  }
}

/** A chain rendered from a policy of either API (not a pod's, not a fixed or dispatch chain). */
export function isPolicyChain(c: { readonly kind: string; readonly owner?: string }): boolean {
  return c.owner !== undefined && c.kind !== 'pod' && c.kind !== 'fixed' && c.kind !== 'dispatch';
}

export type ObjectState = 'in sync' | 'missing' | 'differs' | 'not desired';

/** How the kernel's copy of a chain compares with the desired one (rules compared by hash, in order). */
export function chainState(desired: ChainView | undefined, actual: ChainView | undefined): ObjectState {
  if (desired && !actual) return 'missing';
  if (!desired && actual) return 'not desired';
  if (!desired || !actual) return 'in sync';
  const a = actual.rules.map((r) => r.hash);
  const d = desired.rules.map((r) => r.hash);
  return a.length === d.length && a.every((h, i) => h === d[i]) ? 'in sync' : 'differs';
}

export function setState(desired: IpSetView | undefined, actual: IpSetView | undefined): ObjectState {
  if (desired && !actual) return 'missing';
  if (!desired && actual) return 'not desired';
  if (!desired || !actual) return 'in sync';
  if (desired.type !== actual.type || desired.family !== actual.family) return 'differs';
  const have = new Set(actual.members);
  return desired.members.length === actual.members.length && desired.members.every((m) => have.has(m))
    ? 'in sync'
    : 'differs';
}

/**
 * Who uses each ipset, from the desired view (which knows every rule's origin): the policies
 * whose policy-chain rules match it, and the chains with a rule that matches it.
 */
export function setUsers(
  desired: DataplaneView,
): Map<string, { policies: Set<string>; chains: Set<string> }> {
  const users = new Map<string, { policies: Set<string>; chains: Set<string> }>();
  for (const c of desired.chains) {
    for (const r of c.rules) {
      for (const { name } of setsMatchedBy(r.text)) {
        let u = users.get(name);
        if (!u) users.set(name, (u = { policies: new Set(), chains: new Set() }));
        u.chains.add(c.name);
        if (isPolicyChain(c)) u.policies.add(c.owner!);
      }
    }
  }
  return users;
}

/** Family word as operators read it. */
export function familyText(f: IPFamily): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}
