/**
 * The diff engine: desired state vs applied state → a Plan of restore text, in dependency order.
 *
 * What it models: one batch of kernel changes as three inputs — an `ipset restore` before, one
 * `iptables-restore --noflush` per family, an `ipset restore` after — plus the record of what
 * the kernel holds once they succeed (so the applied state is updated without re-reading).
 *
 * Ordering (every intermediate state is at most as permissive as the old or the new one):
 *   ipset pre:  create new sets and fill them; delete members leaving peer sets (tightens);
 *               add addresses to isolation sets (an isolated address without pod chain is dropped)
 *   iptables:   declare new and changed chains (`:C - [0:0]` flushes one chain), append their rules,
 *               edit dispatch chains rule by rule, fix hooks, delete stale chains (-X) last
 *   ipset post: add members to peer sets; remove addresses from isolation sets; destroy sets that
 *               the iptables step stopped referencing
 * When no chain changes, pre and post are joined into a single ipset restore.
 *
 * Scope: `all` compares everything (start, after a failure, drift repair); `dirty` compares only
 * what DesiredState marked — chains by name, sets by name, single set elements.
 */
import type { IPFamily } from './api';
import type { Dirty } from './desired';
import {
  type Chain,
  type FamilyTables,
  type HookRule,
  type IpSet,
  type Rule,
  type TablesState,
  memberElement,
  sameRules,
} from './model';
import { HOOKS, tempSetName } from './names';

/** ipset creation parameters: sets grow on demand up to maxelem; cluster-sized peer sets fit. */
export const SET_HASHSIZE = 1024;
export const SET_MAXELEM = 1048576;

export interface ChainUpdate {
  readonly family: IPFamily;
  readonly name: string;
  /** The chain as it will be, or null when it is deleted. */
  readonly chain: Chain | null;
}

export interface Plan {
  readonly ipsetPre: string[];
  readonly iptables: Map<IPFamily, string[]>;
  readonly ipsetPost: string[];
  /** Human-readable differences found (drift reports). */
  readonly differences: string[];
  // What the kernel holds once all of the above succeeded:
  readonly chainUpdates: ChainUpdate[];
  readonly hookUpdates: Map<IPFamily, HookRule[]>;
  readonly setCreates: IpSet[];
  readonly setDestroys: string[];
  readonly memberAdds: Map<string, string[]>;
  readonly memberDels: Map<string, string[]>;
  /** Full mode: the applied state becomes a copy of the desired one. */
  readonly replaceAll: boolean;
}

export function emptyPlan(): Plan {
  return {
    ipsetPre: [],
    iptables: new Map(),
    ipsetPost: [],
    differences: [],
    chainUpdates: [],
    hookUpdates: new Map(),
    setCreates: [],
    setDestroys: [],
    memberAdds: new Map(),
    memberDels: new Map(),
    replaceAll: false,
  };
}

export function planIsEmpty(p: Plan): boolean {
  return (
    p.ipsetPre.length === 0 &&
    p.ipsetPost.length === 0 &&
    [...p.iptables.values()].every((l) => l.length === 0)
  );
}

export type Scope = { readonly kind: 'all' } | { readonly kind: 'dirty'; readonly dirty: Dirty };

const familyWord = (f: IPFamily): string => (f === 4 ? 'inet' : 'inet6');

export function createSetLine(name: string, type: string, family: IPFamily): string {
  return `create ${name} ${type} family ${familyWord(family)} hashsize ${SET_HASHSIZE} maxelem ${SET_MAXELEM}`;
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  list.push(value);
}

// ---------------------------------------------------------------------------------------------
// Chains

interface FamilyLines {
  declares: string[];
  appends: string[];
  edits: string[];
  hooks: string[];
  removes: string[];
}

function lowerBound(list: readonly Rule[], hash: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].hash < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Rule-by-rule edit of a dispatch chain (-D the rules that go, -I the new ones at their sorted
 * place), when the applied chain has the expected shape and this is cheaper than a rewrite.
 * Keeps the kernel's order identical to a full render's.
 */
function dispatchEdits(name: string, applied: Chain, desired: Chain): string[] | undefined {
  const a = applied.rules;
  const d = desired.rules;
  if (a.length === 0 || d.length === 0 || a[a.length - 1].hash !== d[d.length - 1].hash) return undefined;
  const aHead = a.slice(0, -1);
  for (let i = 1; i < aHead.length; i++) if (aHead[i - 1].hash >= aHead[i].hash) return undefined;
  const dHashes = new Set(d.slice(0, -1).map((r) => r.hash));
  const aHashes = new Set(aHead.map((r) => r.hash));
  const removals = aHead.filter((r) => !dHashes.has(r.hash));
  const inserts = d.slice(0, -1).filter((r) => !aHashes.has(r.hash));
  if (removals.length + inserts.length >= d.length) return undefined;
  const lines = removals.map((r) => `-D ${name} ${r.body}`);
  const kept = aHead.filter((r) => dHashes.has(r.hash));
  for (const r of inserts) {
    const at = lowerBound(kept, r.hash);
    kept.splice(at, 0, r);
    lines.push(`-I ${name} ${at + 1} ${r.body}`);
  }
  return lines;
}

function diffChain(
  family: IPFamily,
  name: string,
  desired: Chain | undefined,
  applied: Chain | undefined,
  out: FamilyLines,
  plan: Plan,
): void {
  const v = `(IPv${family})`;
  if (desired && !applied) {
    plan.differences.push(`chain ${name} ${v} missing`);
  } else if (!desired && applied) {
    plan.differences.push(`chain ${name} ${v} not desired`);
    out.declares.push(`:${name} - [0:0]`);
    out.removes.push(`-X ${name}`);
    plan.chainUpdates.push({ family, name, chain: null });
    return;
  } else if (desired && applied) {
    if (sameRules(desired.rules, applied.rules)) return;
    plan.differences.push(`chain ${name} ${v} differs`);
    if (desired.kind === 'dispatch') {
      const edits = dispatchEdits(name, applied, desired);
      if (edits) {
        for (const e of edits) out.edits.push(e);
        plan.chainUpdates.push({ family, name, chain: desired });
        return;
      }
    }
  } else {
    return;
  }
  out.declares.push(`:${name} - [0:0]`);
  for (const r of desired.rules) out.appends.push(`-A ${name} ${r.body}`);
  plan.chainUpdates.push({ family, name, chain: desired });
}

/** Hooks must be there once each, first in their built-in chain, with the current text. */
function diffHooks(
  family: IPFamily,
  desired: readonly HookRule[],
  applied: readonly HookRule[],
  out: FamilyLines,
  plan: Plan,
): void {
  let changed = false;
  for (const want of desired) {
    const have = applied.filter((h) => h.builtin === want.builtin);
    if (have.length === 1 && have[0].position === 1 && have[0].hash === want.hash) continue;
    changed = true;
    plan.differences.push(
      have.length === 0
        ? `hook ${want.builtin} -> ${want.target} (IPv${family}) missing`
        : `hook ${want.builtin} -> ${want.target} (IPv${family}) not alone at position 1`,
    );
    for (const h of have) out.hooks.push(`-D ${h.builtin} ${h.body}`);
    out.hooks.push(`-I ${want.builtin} 1 ${want.body}`);
  }
  for (const h of applied) {
    if (desired.some((d) => d.builtin === h.builtin)) continue;
    changed = true;
    plan.differences.push(`hook ${h.builtin} -> ${h.target} (IPv${family}) not desired`);
    out.hooks.push(`-D ${h.builtin} ${h.body}`);
  }
  if (changed)
    plan.hookUpdates.set(
      family,
      desired.map((h) => ({ ...h, position: 1 })),
    );
}

function familyLines(l: FamilyLines): string[] {
  return [...l.declares, ...l.appends, ...l.edits, ...l.hooks, ...l.removes];
}

// ---------------------------------------------------------------------------------------------
// Sets

interface SetLines {
  creates: string[];
  tighten: string[];
  loosen: string[];
  destroys: string[];
}

function memberChange(plan: Plan, lines: SetLines, set: IpSet, member: string, add: boolean): void {
  const line = add ? `add ${set.name} ${member}` : `del ${set.name} ${memberElement(member)}`;
  // Removing a peer or adding an isolated address only ever denies more: do it before iptables.
  const tightens = set.role === 'isolation' ? add : !add;
  (tightens ? lines.tighten : lines.loosen).push(line);
  push(add ? plan.memberAdds : plan.memberDels, set.name, member);
}

function diffSetMembers(
  plan: Plan,
  lines: SetLines,
  desired: IpSet,
  applied: IpSet,
  members?: Iterable<string>,
): number {
  let n = 0;
  if (members) {
    for (const m of members) {
      const want = desired.members.has(m);
      if (want === applied.members.has(m)) continue;
      memberChange(plan, lines, desired, m, want);
      n++;
    }
    return n;
  }
  // Elements whose nomatch flag differs are deleted first, then added with the right flag.
  for (const m of applied.members) {
    if (!desired.members.has(m)) {
      memberChange(plan, lines, desired, m, false);
      n++;
    }
  }
  for (const m of desired.members) {
    if (!applied.members.has(m)) {
      memberChange(plan, lines, desired, m, true);
      n++;
    }
  }
  return n;
}

function diffSet(
  plan: Plan,
  lines: SetLines,
  name: string,
  desired: IpSet | undefined,
  applied: IpSet | undefined,
): void {
  if (desired && !applied) {
    plan.differences.push(`set ${name} missing`);
    lines.creates.push(createSetLine(name, desired.type, desired.family));
    for (const m of desired.members) lines.creates.push(`add ${name} ${m}`);
    plan.setCreates.push(desired);
  } else if (!desired && applied) {
    plan.differences.push(`set ${name} not desired`);
    lines.destroys.push(`destroy ${name}`);
    plan.setDestroys.push(name);
  } else if (desired && applied) {
    if (desired.type !== applied.type || desired.family !== applied.family) {
      // Cannot be replaced while rules reference it; `palisade cleanup` then a restart fixes it.
      plan.differences.push(
        `set ${name} is ${applied.type} family ${familyWord(applied.family)}, want ${desired.type} family ${familyWord(desired.family)}`,
      );
      return;
    }
    const n = diffSetMembers(plan, lines, desired, applied);
    if (n) plan.differences.push(`set ${name}: ${n} members differ`);
  }
}

function assembleSets(plan: Plan, lines: SetLines, haveChainChanges: boolean): void {
  if (haveChainChanges) {
    appendAll(plan.ipsetPre, lines.creates, lines.tighten);
    appendAll(plan.ipsetPost, lines.loosen, lines.destroys);
  } else {
    appendAll(plan.ipsetPre, lines.creates, lines.tighten, lines.loosen, lines.destroys);
  }
}

// ---------------------------------------------------------------------------------------------

/** The minimal plan taking the kernel from `applied` to `desired` within `scope`. */
export function diffTables(desired: TablesState, applied: TablesState, scope: Scope): Plan {
  const plan = emptyPlan();
  let haveChainChanges = false;
  for (const [family, want] of desired.families) {
    const have: FamilyTables = applied.families.get(family) ?? { chains: new Map(), hooks: [] };
    const out: FamilyLines = { declares: [], appends: [], edits: [], hooks: [], removes: [] };
    const names =
      scope.kind === 'all'
        ? new Set([...want.chains.keys(), ...have.chains.keys()])
        : (scope.dirty.chains.get(family) ?? new Set<string>());
    for (const name of names)
      diffChain(family, name, want.chains.get(name), have.chains.get(name), out, plan);
    if (scope.kind === 'all') diffHooks(family, want.hooks, have.hooks, out, plan);
    const lines = familyLines(out);
    if (lines.length) haveChainChanges = true;
    plan.iptables.set(family, lines);
  }
  const lines: SetLines = { creates: [], tighten: [], loosen: [], destroys: [] };
  const setNames =
    scope.kind === 'all' ? new Set([...desired.sets.keys(), ...applied.sets.keys()]) : scope.dirty.sets;
  for (const name of setNames) diffSet(plan, lines, name, desired.sets.get(name), applied.sets.get(name));
  if (scope.kind === 'dirty') {
    for (const [name, members] of scope.dirty.members) {
      if (scope.dirty.sets.has(name)) continue;
      const d = desired.sets.get(name);
      const a = applied.sets.get(name);
      if (d && a) diffSetMembers(plan, lines, d, a, members);
      else diffSet(plan, lines, name, d, a);
    }
  }
  assembleSets(plan, lines, haveChainChanges);
  return plan;
}

/**
 * The full mode's plan, kube-router style: every own chain flushed and rewritten, hooks deleted
 * and re-inserted, every own set refilled (through a scratch set swapped in, so no set is ever
 * seen empty), stale objects removed. Produces the same kernel state as the minimal plan.
 */
export function rewriteAll(desired: TablesState, applied: TablesState): Plan {
  const plan = emptyPlan();
  const pre = plan.ipsetPre;
  const temps = new Map<string, string>();
  for (const s of desired.sets.values()) {
    if (!applied.sets.has(s.name)) pre.push(createSetLine(s.name, s.type, s.family));
    const key = `${s.type}/${s.family}`;
    if (!temps.has(key)) {
      const temp = tempSetName(s.type, s.family);
      temps.set(key, temp);
      pre.push(createSetLine(temp, s.type, s.family));
    }
    const temp = temps.get(key)!;
    pre.push(`flush ${temp}`);
    for (const m of s.members) pre.push(`add ${temp} ${m}`);
    pre.push(`swap ${temp} ${s.name}`);
  }
  for (const temp of temps.values()) pre.push(`destroy ${temp}`);
  for (const name of applied.sets.keys()) {
    if (!desired.sets.has(name) && ![...temps.values()].includes(name))
      plan.ipsetPost.push(`destroy ${name}`);
  }
  for (const [family, want] of desired.families) {
    const have = applied.families.get(family) ?? { chains: new Map(), hooks: [] };
    const lines: string[] = [];
    const stale = [...have.chains.keys()].filter((n) => !want.chains.has(n));
    for (const name of [...want.chains.keys(), ...stale]) lines.push(`:${name} - [0:0]`);
    for (const c of want.chains.values()) for (const r of c.rules) lines.push(`-A ${c.name} ${r.body}`);
    for (const h of have.hooks) lines.push(`-D ${h.builtin} ${h.body}`);
    for (const h of want.hooks) lines.push(`-I ${h.builtin} 1 ${h.body}`);
    for (const name of stale) lines.push(`-X ${name}`);
    plan.iptables.set(family, lines);
  }
  return { ...plan, replaceAll: true };
}

/** Everything own removed: hooks first, then chains, then (after) sets. */
export function removeAll(applied: TablesState): Plan {
  const plan = emptyPlan();
  for (const [family, have] of applied.families) {
    const lines: string[] = [];
    for (const name of have.chains.keys()) lines.push(`:${name} - [0:0]`);
    for (const h of have.hooks) lines.push(`-D ${h.builtin} ${h.body}`);
    for (const name of have.chains.keys()) lines.push(`-X ${name}`);
    plan.iptables.set(family, lines);
  }
  for (const name of applied.sets.keys()) plan.ipsetPost.push(`destroy ${name}`);
  return plan;
}

/** Record a successful plan in the applied state. */
export function commitPlan(applied: TablesState, desired: TablesState, plan: Plan): void {
  if (plan.replaceAll) {
    copyInto(applied, desired);
    return;
  }
  for (const u of plan.chainUpdates) {
    const t = applied.families.get(u.family);
    if (!t) continue;
    if (u.chain) t.chains.set(u.name, u.chain);
    else t.chains.delete(u.name);
  }
  for (const [family, hooks] of plan.hookUpdates) {
    const t = applied.families.get(family);
    if (t) t.hooks.splice(0, t.hooks.length, ...hooks);
  }
  for (const s of plan.setCreates) applied.sets.set(s.name, { ...s, members: new Set(s.members) });
  for (const name of plan.setDestroys) applied.sets.delete(name);
  for (const [name, members] of plan.memberDels) {
    const s = applied.sets.get(name);
    if (s) for (const m of members) s.members.delete(m);
  }
  for (const [name, members] of plan.memberAdds) {
    const s = applied.sets.get(name);
    if (s) for (const m of members) s.members.add(m);
  }
}

/** Make `target` an independent copy of `source` (chains shared, set members copied). */
export function copyInto(target: TablesState, source: TablesState): void {
  target.families.clear();
  for (const [f, t] of source.families) {
    target.families.set(f, { chains: new Map(t.chains), hooks: t.hooks.map((h) => ({ ...h, position: 1 })) });
  }
  target.sets.clear();
  for (const [name, s] of source.sets) target.sets.set(name, { ...s, members: new Set(s.members) });
}

export const HOOK_BUILTINS: readonly string[] = HOOKS.map((h) => h.builtin);

/**
 * Appends without spreading: `push(...xs)` passes every element as an argument and overflows
 * the call stack past ~100k lines (a first sync of a large cluster fills sets that big).
 */
function appendAll<T>(target: T[], ...sources: readonly (readonly T[])[]): void {
  for (const source of sources) for (const x of source) target.push(x);
}
