/**
 * DriftReport for `palisade diff`: the agent's own list of differences between its desired state
 * and the kernel (/v1/drift, read in one step under the agent's kernel lock, so it is the
 * authority on whether they agree), each enriched from the inventory (desired and kernel views
 * read just after) with where the object came from and exactly what differs.
 */
import type { IPFamily } from '../../../dataplane/api';
import type { ChainRow, HookRow, Inventory, SetRow } from './inventory';

export interface DifferenceReport {
  /** The agent's words: "chain PALISADE-WI-a-XXXX (IPv4) missing", "set NAME: 2 members differ". */
  readonly text: string;
  readonly object?: {
    readonly type: 'chain' | 'set' | 'hook';
    readonly name: string;
    readonly family?: IPFamily;
  };
  /** Where the object comes from: "policy x/deny, ingress", "pod x/a, egress", "peer set of x/allow: ...". */
  readonly origin?: string;
  /** Desired rules the kernel lacks (a missing chain: all of them). */
  readonly missingRules: ReadonlyArray<{ readonly spec: string; readonly note: string }>;
  /** Kernel rules not desired (a chain not desired: all of them). */
  readonly extraRules: ReadonlyArray<{ readonly spec: string; readonly note: string }>;
  readonly missingMembers: readonly string[];
  readonly extraMembers: readonly string[];
  /** Set when the details read after the check no longer show the difference (an apply in between). */
  readonly settled?: boolean;
}

export interface DriftReport {
  readonly node: string;
  readonly inSync: boolean;
  readonly differences: readonly DifferenceReport[];
}

function chainOrigin(c: ChainRow): string {
  const dir = c.direction ? `, ${c.direction}` : '';
  if (c.kind === 'policy') return `policy ${c.owner ?? '?'}${dir}`;
  if (c.kind === 'pod') return `pod ${c.owner ?? '?'}${dir}`;
  return `Palisade's ${c.kind} chain${dir}`;
}

function setOrigin(s: SetRow): string {
  if (s.role === 'isolation') return `local pods isolated for ${s.direction ?? '?'}`;
  const users = s.policies.length > 0 ? ` of ${s.policies.join(', ')}` : '';
  return `peer set${users}${s.selects ? `: ${s.selects}` : ''}`;
}

const EMPTY = { missingRules: [], extraRules: [], missingMembers: [], extraMembers: [] } as const;

function chainDifference(
  text: string,
  c: ChainRow | undefined,
  family: IPFamily,
  name: string,
): DifferenceReport {
  const object = { type: 'chain' as const, name, family };
  if (!c) return { text, object, ...EMPTY, settled: true };
  const rules = c.rules.map((r) => ({ spec: r.spec, note: r.note }));
  return {
    text,
    object,
    origin: chainOrigin(c),
    ...EMPTY,
    missingRules: c.state === 'missing' ? rules : c.missingRules,
    extraRules:
      c.state === 'not desired'
        ? rules
        : c.rules.filter((r) => r.extra).map((r) => ({ spec: r.spec, note: r.note })),
    ...(c.state === 'in sync' ? { settled: true } : {}),
  };
}

function setDifference(text: string, s: SetRow | undefined, name: string): DifferenceReport {
  const object = { type: 'set' as const, name };
  if (!s) return { text, object, ...EMPTY, settled: true };
  return {
    text,
    object: { ...object, family: s.family },
    origin: setOrigin(s),
    ...EMPTY,
    missingMembers: s.state === 'missing' ? s.members : s.missingMembers,
    extraMembers: s.state === 'not desired' ? s.members : s.extraMembers,
    ...(s.state === 'in sync' ? { settled: true } : {}),
  };
}

function hookDifference(
  text: string,
  h: HookRow | undefined,
  family: IPFamily,
  builtin: string,
): DifferenceReport {
  return {
    text,
    object: { type: 'hook', name: builtin, family },
    origin: `the jump from ${builtin} into Palisade's chains${h?.position ? ` (now at position ${h.position})` : ''}`,
    ...EMPTY,
    ...(h && h.state === 'in sync' ? { settled: true } : {}),
  };
}

/** One difference line of the agent, explained from the inventory. */
export function explainDifference(text: string, inv: Inventory): DifferenceReport {
  let m = /^chain (\S+) \(IPv([46])\) /.exec(text);
  if (m) {
    const family = Number(m[2]) as IPFamily;
    return chainDifference(
      text,
      inv.chains.find((c) => c.family === family && c.name === m![1]),
      family,
      m[1],
    );
  }
  m = /^hook (\S+) -> \S+ \(IPv([46])\) /.exec(text);
  if (m) {
    const family = Number(m[2]) as IPFamily;
    return hookDifference(
      text,
      inv.hooks.find((h) => h.family === family && h.builtin === m![1]),
      family,
      m[1],
    );
  }
  m = /^set ([^\s:]+)/.exec(text);
  if (m)
    return setDifference(
      text,
      inv.ipsets.find((s) => s.name === m![1]),
      m[1],
    );
  return { text, ...EMPTY };
}

export function driftReport(
  node: string,
  differences: readonly string[],
  inv: Inventory | undefined,
): DriftReport {
  return {
    node,
    inSync: differences.length === 0,
    differences: differences.map((d) => (inv ? explainDifference(d, inv) : { text: d, ...EMPTY })),
  };
}
