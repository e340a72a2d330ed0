/**
 * The iptables plan: Changes (../diff.ts) → restore text, in dependency order.
 *
 * What it models: one batch of kernel changes as three inputs — an `ipset restore` before, one
 * `iptables-restore --noflush` per family, an `ipset restore` after.
 *
 * Ordering (every intermediate state is at most as permissive as the old or the new one):
 *   ipset pre:  create new sets and fill them; delete members leaving peer sets (tightens);
 *               add addresses to isolation sets (an isolated address without pod chain is dropped)
 *   iptables:   declare new and changed chains (`:C - [0:0]` flushes one chain), append their rules,
 *               edit dispatch chains rule by rule, fix hooks, delete stale chains (-X) last
 *   ipset post: add members to peer sets; remove addresses from isolation sets; destroy sets that
 *               the iptables step stopped referencing
 * When no chain changes, pre and post are joined into a single ipset restore.
 */
import type { IPFamily } from '../api';
import type { Changes } from '../diff';
import type { Chain, KernelSet, Rule, TablesState } from '../model';
import { tempSetName } from './names';

/** ipset creation parameters: sets grow on demand up to maxelem; cluster-sized peer sets fit. */
export const SET_HASHSIZE = 1024;
export const SET_MAXELEM = 1048576;

export interface Plan {
  readonly ipsetPre: string[];
  readonly iptables: Map<IPFamily, string[]>;
  readonly ipsetPost: string[];
}

export function emptyPlan(): Plan {
  return { ipsetPre: [], iptables: new Map(), ipsetPost: [] };
}

export function planIsEmpty(p: Plan): boolean {
  return (
    p.ipsetPre.length === 0 &&
    p.ipsetPost.length === 0 &&
    [...p.iptables.values()].every((l) => l.length === 0)
  );
}

const familyWord = (f: IPFamily): string => (f === 4 ? 'inet' : 'inet6');

export function createSetLine(name: string, type: string, family: IPFamily): string {
  return `create ${name} ${type} family ${familyWord(family)} hashsize ${SET_HASHSIZE} maxelem ${SET_MAXELEM}`;
}

/** The element part of a member ("10.1.0.0/16 nomatch" → "10.1.0.0/16"), as `ipset del` takes it. */
export function memberElement(member: string): string {
  return member.endsWith(' nomatch') ? member.slice(0, -' nomatch'.length) : member;
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

function chainLines(
  name: string,
  desired: Chain | undefined,
  applied: Chain | undefined,
  out: FamilyLines,
): void {
  if (!desired) {
    out.declares.push(`:${name} - [0:0]`);
    out.removes.push(`-X ${name}`);
    return;
  }
  if (applied && desired.kind === 'dispatch') {
    const edits = dispatchEdits(name, applied, desired);
    if (edits) {
      for (const e of edits) out.edits.push(e);
      return;
    }
  }
  out.declares.push(`:${name} - [0:0]`);
  for (const r of desired.rules) out.appends.push(`-A ${name} ${r.body}`);
}

// ---------------------------------------------------------------------------------------------
// Sets

interface SetLines {
  creates: string[];
  tighten: string[];
  loosen: string[];
  destroys: string[];
}

function memberLine(lines: SetLines, set: KernelSet, member: string, add: boolean): void {
  const line = add ? `add ${set.name} ${member}` : `del ${set.name} ${memberElement(member)}`;
  // Removing a peer or adding an isolated address only ever denies more: do it before iptables.
  const tightens = set.role === 'isolation' ? add : !add;
  (tightens ? lines.tighten : lines.loosen).push(line);
}

/** The restore inputs for `changes`. */
export function planChanges(changes: Changes, families: readonly IPFamily[]): Plan {
  const plan = emptyPlan();
  const byFamily = new Map<IPFamily, FamilyLines>(
    families.map((f) => [f, { declares: [], appends: [], edits: [], hooks: [], removes: [] }]),
  );
  for (const c of changes.chains) {
    const out = byFamily.get(c.table as IPFamily);
    if (out) chainLines(c.name, c.desired, c.applied, out);
  }
  for (const h of changes.hooks) {
    const out = byFamily.get(h.table as IPFamily);
    if (!out) continue;
    for (const want of h.desired) {
      for (const have of h.applied.filter((x) => x.builtin === want.builtin)) {
        out.hooks.push(`-D ${have.builtin} ${have.body}`);
      }
      out.hooks.push(`-I ${want.builtin} 1 ${want.body}`);
    }
    for (const have of h.applied) {
      if (!h.desired.some((d) => d.builtin === have.builtin))
        out.hooks.push(`-D ${have.builtin} ${have.body}`);
    }
  }
  let haveChainChanges = false;
  for (const [f, l] of byFamily) {
    const lines = [...l.declares, ...l.appends, ...l.edits, ...l.hooks, ...l.removes];
    if (lines.length) haveChainChanges = true;
    plan.iptables.set(f, lines);
  }
  const lines: SetLines = { creates: [], tighten: [], loosen: [], destroys: [] };
  for (const s of changes.sets) {
    if (s.desired && !s.applied) {
      lines.creates.push(createSetLine(s.name, s.desired.type, s.desired.family));
      for (const m of s.desired.members) lines.creates.push(`add ${s.name} ${m}`);
    } else if (!s.desired && s.applied) {
      lines.destroys.push(`destroy ${s.name}`);
    } else if (s.desired) {
      // Elements whose nomatch flag differs are deleted first, then added with the right flag.
      for (const m of s.dels) memberLine(lines, s.desired, m, false);
      for (const m of s.adds) memberLine(lines, s.desired, m, true);
    }
  }
  if (haveChainChanges) {
    appendAll(plan.ipsetPre, lines.creates, lines.tighten);
    appendAll(plan.ipsetPost, lines.loosen, lines.destroys);
  } else {
    appendAll(plan.ipsetPre, lines.creates, lines.tighten, lines.loosen, lines.destroys);
  }
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
  for (const [table, want] of desired.tables) {
    const have = applied.tables.get(table) ?? { chains: new Map(), hooks: [] };
    const lines: string[] = [];
    const stale = [...have.chains.keys()].filter((n) => !want.chains.has(n));
    for (const name of [...want.chains.keys(), ...stale]) lines.push(`:${name} - [0:0]`);
    for (const c of want.chains.values()) for (const r of c.rules) lines.push(`-A ${c.name} ${r.body}`);
    for (const h of have.hooks) lines.push(`-D ${h.builtin} ${h.body}`);
    for (const h of want.hooks) lines.push(`-I ${h.builtin} 1 ${h.body}`);
    for (const name of stale) lines.push(`-X ${name}`);
    plan.iptables.set(table as IPFamily, lines);
  }
  return plan;
}

/** Everything own removed: hooks first, then chains, then (after) sets. */
export function removeAll(applied: TablesState): Plan {
  const plan = emptyPlan();
  for (const [table, have] of applied.tables) {
    const lines: string[] = [];
    for (const name of have.chains.keys()) lines.push(`:${name} - [0:0]`);
    for (const h of have.hooks) lines.push(`-D ${h.builtin} ${h.body}`);
    for (const name of have.chains.keys()) lines.push(`-X ${name}`);
    plan.iptables.set(table as IPFamily, lines);
  }
  for (const name of applied.sets.keys()) plan.ipsetPost.push(`destroy ${name}`);
  return plan;
}

/**
 * Appends without spreading: `push(...xs)` passes every element as an argument and overflows
 * the call stack past ~100k lines (a first sync of a large cluster fills sets that big).
 */
function appendAll<T>(target: T[], ...sources: readonly (readonly T[])[]): void {
  for (const source of sources) for (const x of source) target.push(x);
}
