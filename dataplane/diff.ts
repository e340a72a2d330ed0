/**
 * The diff, shared by both backends: desired state vs applied state → the Changes that take the
 * kernel from one to the other, as data. Each backend's plan turns Changes into its own input in
 * its own order (iptables/plan.ts: ipset before, iptables-restore per family, ipset after;
 * nftables/plan.ts: one transaction), and `commitChanges` records a successful apply.
 *
 * Scope: `all` compares everything (start, after a failure, drift repair); `dirty` compares only
 * what DesiredState marked — chains by name, sets by name, single set elements.
 */
import type { Dirty } from './desired';
import {
  type Chain,
  type HookRule,
  type KernelSet,
  type TableKey,
  type TableState,
  type TablesState,
  sameBase,
  sameRules,
  tableLabel,
} from './model';

export interface ChainChange {
  readonly table: TableKey;
  readonly name: string;
  /** The chain as it will be; undefined when it goes. */
  readonly desired: Chain | undefined;
  /** The chain as the kernel holds it; undefined when it is new. */
  readonly applied: Chain | undefined;
}

/** iptables: our rules in a table's built-in chains are not alone at position 1, or missing. */
export interface HooksChange {
  readonly table: TableKey;
  readonly desired: readonly HookRule[];
  readonly applied: readonly HookRule[];
}

export interface SetChange {
  readonly name: string;
  /** The set as it will be; undefined when it goes. */
  readonly desired: KernelSet | undefined;
  /** The set as the kernel holds it; undefined when it is new (create it with desired's members). */
  readonly applied: KernelSet | undefined;
  /** For a set on both sides: members to delete, then to add. */
  readonly dels: string[];
  readonly adds: string[];
}

export interface Changes {
  readonly chains: ChainChange[];
  readonly hooks: HooksChange[];
  readonly sets: SetChange[];
  /** Human-readable differences found (drift reports). */
  readonly differences: string[];
}

export type Scope = { readonly kind: 'all' } | { readonly kind: 'dirty'; readonly dirty: Dirty };

export function noChanges(c: Changes): boolean {
  return c.chains.length === 0 && c.hooks.length === 0 && c.sets.length === 0;
}

const EMPTY_TABLE: TableState = { chains: new Map(), hooks: [] };

function diffChain(
  table: TableKey,
  name: string,
  desired: Chain | undefined,
  applied: Chain | undefined,
  out: Changes,
): void {
  const where = tableLabel(table);
  if (desired && !applied) {
    out.differences.push(`chain ${name} ${where} missing`);
  } else if (!desired && applied) {
    out.differences.push(`chain ${name} ${where} not desired`);
  } else if (desired && applied) {
    if (sameRules(desired.rules, applied.rules) && sameBase(desired.base, applied.base)) return;
    out.differences.push(
      sameBase(desired.base, applied.base)
        ? `chain ${name} ${where} differs`
        : `chain ${name} ${where} hooks differently`,
    );
  } else {
    return;
  }
  out.chains.push({ table, name, desired, applied });
}

/** iptables hooks must be there once each, first in their built-in chain, with the current text. */
function diffHooks(
  table: TableKey,
  desired: readonly HookRule[],
  applied: readonly HookRule[],
  out: Changes,
): void {
  let changed = false;
  const where = tableLabel(table);
  for (const want of desired) {
    const have = applied.filter((h) => h.builtin === want.builtin);
    if (have.length === 1 && have[0].position === 1 && have[0].hash === want.hash) continue;
    changed = true;
    out.differences.push(
      have.length === 0
        ? `hook ${want.builtin} -> ${want.target} ${where} missing`
        : `hook ${want.builtin} -> ${want.target} ${where} not alone at position 1`,
    );
  }
  for (const h of applied) {
    if (desired.some((d) => d.builtin === h.builtin)) continue;
    changed = true;
    out.differences.push(`hook ${h.builtin} -> ${h.target} ${where} not desired`);
  }
  if (changed) out.hooks.push({ table, desired, applied });
}

function memberDiff(
  desired: KernelSet,
  applied: KernelSet,
  members: Iterable<string> | undefined,
): { dels: string[]; adds: string[] } {
  const dels: string[] = [];
  const adds: string[] = [];
  if (members) {
    for (const m of members) {
      const want = desired.members.has(m);
      if (want === applied.members.has(m)) continue;
      (want ? adds : dels).push(m);
    }
  } else {
    for (const m of applied.members) if (!desired.members.has(m)) dels.push(m);
    for (const m of desired.members) if (!applied.members.has(m)) adds.push(m);
  }
  return { dels, adds };
}

function diffSet(
  name: string,
  desired: KernelSet | undefined,
  applied: KernelSet | undefined,
  out: Changes,
  members?: Iterable<string>,
): void {
  if (desired && !applied) {
    out.differences.push(`set ${name} missing`);
    out.sets.push({ name, desired, applied, dels: [], adds: [] });
  } else if (!desired && applied) {
    out.differences.push(`set ${name} not desired`);
    out.sets.push({ name, desired, applied, dels: [], adds: [] });
  } else if (desired && applied) {
    if (desired.type !== applied.type || desired.family !== applied.family) {
      // Cannot be replaced while rules reference it; `palisade cleanup` then a restart fixes it.
      out.differences.push(
        `set ${name} is ${applied.type} (IPv${applied.family}), want ${desired.type} (IPv${desired.family})`,
      );
      return;
    }
    const { dels, adds } = memberDiff(desired, applied, members);
    if (dels.length + adds.length === 0) return;
    if (!members) out.differences.push(`set ${name}: ${dels.length + adds.length} members differ`);
    out.sets.push({ name, desired, applied, dels, adds });
  }
}

/** The changes taking the kernel from `applied` to `desired` within `scope`. */
export function diffTables(desired: TablesState, applied: TablesState, scope: Scope): Changes {
  const out: Changes = { chains: [], hooks: [], sets: [], differences: [] };
  for (const [table, want] of desired.tables) {
    const have = applied.tables.get(table) ?? EMPTY_TABLE;
    const names =
      scope.kind === 'all'
        ? new Set([...want.chains.keys(), ...have.chains.keys()])
        : (scope.dirty.chains.get(table) ?? new Set<string>());
    for (const name of names) diffChain(table, name, want.chains.get(name), have.chains.get(name), out);
    if (scope.kind === 'all') diffHooks(table, want.hooks, have.hooks, out);
  }
  const setNames =
    scope.kind === 'all' ? new Set([...desired.sets.keys(), ...applied.sets.keys()]) : scope.dirty.sets;
  for (const name of setNames) diffSet(name, desired.sets.get(name), applied.sets.get(name), out);
  if (scope.kind === 'dirty') {
    for (const [name, members] of scope.dirty.members) {
      if (scope.dirty.sets.has(name)) continue;
      const d = desired.sets.get(name);
      const a = applied.sets.get(name);
      diffSet(name, d, a, out, d && a ? members : undefined);
    }
  }
  return out;
}

/** What a successful apply of `changes` leaves out (nftables defers deleting unused objects). */
export interface Kept {
  readonly chains?: ReadonlySet<string>;
  readonly sets?: ReadonlySet<string>;
}

/** Record a successful apply of `changes` in the applied state (less what the backend `kept`). */
export function commitChanges(applied: TablesState, changes: Changes, kept: Kept = {}): void {
  for (const c of changes.chains) {
    let t = applied.tables.get(c.table);
    if (!t) applied.tables.set(c.table, (t = { chains: new Map(), hooks: [] }));
    if (c.desired) t.chains.set(c.name, c.desired);
    else if (!kept.chains?.has(`${c.table}\0${c.name}`)) t.chains.delete(c.name);
  }
  for (const h of changes.hooks) {
    const t = applied.tables.get(h.table);
    if (t) t.hooks.splice(0, t.hooks.length, ...h.desired.map((d) => ({ ...d, position: 1 })));
  }
  for (const s of changes.sets) {
    if (!s.applied && s.desired) {
      applied.sets.set(s.name, { ...s.desired, members: new Set(s.desired.members) });
    } else if (s.applied && !s.desired) {
      if (!kept.sets?.has(s.name)) applied.sets.delete(s.name);
    } else {
      const a = applied.sets.get(s.name);
      if (!a) continue;
      for (const m of s.dels) a.members.delete(m);
      for (const m of s.adds) a.members.add(m);
    }
  }
}

/** Make `target` an independent copy of `source` (chains shared, set members copied). */
export function copyInto(target: TablesState, source: TablesState): void {
  target.tables.clear();
  for (const [k, t] of source.tables) {
    target.tables.set(k, { chains: new Map(t.chains), hooks: t.hooks.map((h) => ({ ...h, position: 1 })) });
  }
  target.sets.clear();
  for (const [name, s] of source.sets) target.sets.set(name, { ...s, members: new Set(s.members) });
}
