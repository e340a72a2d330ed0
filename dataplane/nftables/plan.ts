/**
 * The nftables plan: Changes (../diff.ts) → one transaction script, committed by nft as a whole,
 * so no intermediate state is ever visible: the kernel goes from the old ruleset to the new one
 * at once. Within the script only references have an order:
 *   1. new sets and maps;  2. new chains (base chains with their hook);
 *   3. rules of new and changed chains (a changed chain is flushed first);
 *   4. elements: of new sets, then members leaving and joining (maps may now jump to new chains);
 *   5. deletions: chains flushed, then deleted, then sets and maps.
 * A sync keeps the deletions of step 5 out of the event path (nothing references those objects
 * any more, so they change no packet's fate): they are returned as kept and collected later
 * (engine.ts). Interval sets are rewritten whole when they differ (flush + add), never edited
 * element by element.
 */
import type { Changes, Kept, SetChange } from '../diff';
import type { WritePurpose } from '../engine';
import type { BaseChainSpec, Chain, KernelSet, TablesState } from '../model';
import { TABLE_REF } from './names';

/** Elements per `add element` command: keeps lines readable, nft's parser memory flat. */
const ELEMENTS_PER_COMMAND = 2000;

export interface NftPlan {
  readonly lines: string[];
  readonly kept: Kept;
}

function baseSpec(b: BaseChainSpec): string {
  return `{ type ${b.type} hook ${b.hook} priority ${b.priority}; policy ${b.policy}; }`;
}

/** `add set …` / `add map …` declaring a set of this type. */
export function declareSet(s: KernelSet): string {
  if (s.type.endsWith(' : verdict')) return `add map ${TABLE_REF} ${s.name} { type ${s.type}; }`;
  if (s.type.endsWith(' interval')) {
    return `add set ${TABLE_REF} ${s.name} { type ${s.type.slice(0, -' interval'.length)}; flags interval; }`;
  }
  return `add set ${TABLE_REF} ${s.name} { type ${s.type}; }`;
}

export function declareChain(c: Chain): string {
  return c.base ? `add chain ${TABLE_REF} ${c.name} ${baseSpec(c.base)}` : `add chain ${TABLE_REF} ${c.name}`;
}

function elementLines(verb: 'add' | 'delete', set: string, elements: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elements.length; i += ELEMENTS_PER_COMMAND) {
    out.push(
      `${verb} element ${TABLE_REF} ${set} { ${elements.slice(i, i + ELEMENTS_PER_COMMAND).join(', ')} }`,
    );
  }
  return out;
}

/** The key of a set or map element (a map element "10.0.0.5 : jump c" is deleted by "10.0.0.5"). */
export function elementKey(member: string): string {
  const colon = member.indexOf(' : ');
  return colon < 0 ? member : member.slice(0, colon);
}

const isMap = (s: KernelSet): boolean => s.type.endsWith(' : verdict');
const isInterval = (s: KernelSet): boolean => s.type.endsWith(' interval');

interface Steps {
  sets: string[];
  chains: string[];
  rules: string[];
  elements: string[];
  flushes: string[];
  deleteChains: string[];
  deleteSets: string[];
}

function memberLines(s: SetChange, out: Steps): void {
  const desired = s.desired!;
  if (isInterval(desired)) {
    out.elements.push(`flush set ${TABLE_REF} ${s.name}`);
    for (const l of elementLines('add', s.name, [...desired.members])) out.elements.push(l);
    return;
  }
  for (const l of elementLines('delete', s.name, s.dels.map(elementKey))) out.elements.push(l);
  for (const l of elementLines('add', s.name, s.adds)) out.elements.push(l);
}

/** The script for `changes`; `withTable` prefixes `add table` (the table may not exist yet). */
export function planChanges(changes: Changes, purpose: WritePurpose, withTable: boolean): NftPlan {
  const out: Steps = {
    sets: [],
    chains: [],
    rules: [],
    elements: [],
    flushes: [],
    deleteChains: [],
    deleteSets: [],
  };
  const kept = { chains: new Set<string>(), sets: new Set<string>() };
  const defer = purpose === 'sync';
  for (const s of changes.sets) {
    if (s.desired && !s.applied) {
      out.sets.push(declareSet(s.desired));
      for (const l of elementLines('add', s.name, [...s.desired.members])) out.elements.push(l);
    } else if (s.desired && s.applied) {
      memberLines(s, out);
    } else if (s.applied) {
      if (defer) kept.sets.add(s.name);
      else out.deleteSets.push(`delete ${isMap(s.applied) ? 'map' : 'set'} ${TABLE_REF} ${s.name}`);
    }
  }
  for (const c of changes.chains) {
    if (c.desired) {
      const baseChanged = c.applied && JSON.stringify(c.applied.base) !== JSON.stringify(c.desired.base);
      if (!c.applied || baseChanged) {
        if (c.applied) {
          // A chain's hook cannot change in place: replace the chain in the same transaction.
          out.chains.push(`flush chain ${TABLE_REF} ${c.name}`, `delete chain ${TABLE_REF} ${c.name}`);
        }
        out.chains.push(declareChain(c.desired));
      } else {
        out.rules.push(`flush chain ${TABLE_REF} ${c.name}`);
      }
      for (const r of c.desired.rules) out.rules.push(`add rule ${TABLE_REF} ${c.name} ${r.body}`);
    } else if (c.applied) {
      if (defer) {
        kept.chains.add(`${c.table}\0${c.name}`);
      } else {
        out.flushes.push(`flush chain ${TABLE_REF} ${c.name}`);
        out.deleteChains.push(`delete chain ${TABLE_REF} ${c.name}`);
      }
    }
  }
  const lines = [
    ...(withTable ? [`add table ${TABLE_REF}`] : []),
    ...out.sets,
    ...out.chains,
    ...out.rules,
    ...out.elements,
    ...out.flushes,
    ...out.deleteChains,
    ...out.deleteSets,
  ];
  return { lines: lines.length === (withTable ? 1 : 0) ? [] : lines, kept };
}

/** Everything in `desired`, declared and filled (after `add table`). */
function fullContents(desired: TablesState): string[] {
  const sets: string[] = [];
  const elements: string[] = [];
  for (const s of desired.sets.values()) {
    sets.push(declareSet(s));
    for (const l of elementLines('add', s.name, [...s.members])) elements.push(l);
  }
  const chains: string[] = [];
  const rules: string[] = [];
  for (const t of desired.tables.values()) {
    for (const c of t.chains.values()) {
      chains.push(declareChain(c));
      for (const r of c.rules) rules.push(`add rule ${TABLE_REF} ${c.name} ${r.body}`);
    }
  }
  return [...sets, ...chains, ...rules, ...elements];
}

/**
 * The full mode, the kube-network-policies way: the whole table deleted and rewritten in one
 * transaction (`add table` first, so the delete never fails on a missing table).
 */
export function rewriteAll(desired: TablesState): string[] {
  return [
    `add table ${TABLE_REF}`,
    `delete table ${TABLE_REF}`,
    `add table ${TABLE_REF}`,
    ...fullContents(desired),
  ];
}

/** Everything own removed: the table, whether or not it exists. */
export function removeAll(): string[] {
  return [`add table ${TABLE_REF}`, `delete table ${TABLE_REF}`];
}
