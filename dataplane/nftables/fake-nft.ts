/**
 * FakeNft: an in-memory nf_tables that understands the nft input Palisade writes, for fast tests
 * of the nftables backend (the real one is exercised by the kernel tests).
 *
 * What it models: tables of chains (base chains with their hook) holding rules (rules.ts'
 * subset), sets (plain, interval, address . port) and verdict maps with their elements. It
 * interprets
 *   nft -f -                    one transaction from stdin
 *   nft -j -i                   a long-lived session (session.ts' protocol: include "./tx", the
 *                               `}<seq>` sentinel, `list table …` as one JSON line)
 *   nft -j list table F NAME    the JSON nft 1.0.6 prints (the shapes readback.ts parses)
 * with the kernel's checks: a jump, goto, @set or vmap to something missing fails, deleting a
 * chain that holds rules or is referenced fails, deleting a referenced set fails, deleting a
 * missing element fails, a map key cannot point two ways, interval elements cannot overlap, a
 * chain's hook cannot change. Every transaction is atomic: a failure changes nothing.
 *
 * Promise: tests can read the state (`snapshot()`, `table()`), count what each transaction cost
 * (`transactions`), inject a refusal (`failNextTransaction`), and kill sessions (`killSessions`).
 * Commits are announced to `nft monitor` children (monitor.ts) with the committing pid.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IPFamily } from '../api';
import { canonicalIP, familyOf } from '../ip';
import type { Kernel, ProcessResult } from '../kernel';
import type { LongLivedProcess, ProcessExit, StartOptions } from '../process';
import { intervalText, parseIntervalText } from './intervals';
import { type RuleExpr, parseRule, printRule, referencesOf, toJson, tokenize } from './rules';

export interface FakeBase {
  readonly type: string;
  readonly hook: string;
  readonly priority: number;
  readonly policy: string;
}

export interface FakeRule {
  readonly handle: number;
  readonly expr: RuleExpr;
}

export interface FakeChain {
  readonly name: string;
  readonly handle: number;
  readonly base?: FakeBase;
  rules: FakeRule[];
}

export interface FakeSet {
  readonly name: string;
  readonly handle: number;
  readonly map: boolean;
  /** ['ipv4_addr'] or ['ipv4_addr', 'inet_service']. */
  readonly keyType: readonly string[];
  readonly interval: boolean;
  /** Element (canonical key) → map value ("jump c") or '' for sets. */
  readonly elements: Map<string, string>;
}

/** A named object: a limit (rate per second, burst in packets) or a counter. */
export interface FakeObject {
  readonly kind: 'limit' | 'counter';
  readonly name: string;
  readonly handle: number;
  readonly rate?: number;
  readonly burst?: number;
  /** Counters: what tests say the kernel counted. */
  packets: number;
  bytes: number;
}

export interface FakeTable {
  readonly family: string;
  readonly name: string;
  readonly handle: number;
  readonly chains: Map<string, FakeChain>;
  readonly sets: Map<string, FakeSet>;
  /** By "<kind> <name>". */
  readonly objects: Map<string, FakeObject>;
  /** Table flags (`add table … { flags dormant; }`); Palisade never sets any. */
  flags: string[];
}

export interface FakeTransaction {
  readonly pid: number;
  readonly script: string;
  /** Commands in it (lines, `;`-separated commands counted apart). */
  readonly commands: number;
  readonly ok: boolean;
  readonly error?: string;
}

/** A command refused: which line, which part of it, and nft's reason. */
class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly text: string,
  ) {
    super(reason);
  }
}

const ENOENT = 'Could not process rule: No such file or directory';
const EBUSY = 'Could not process rule: Device or resource busy';
const EEXIST = 'Could not process rule: File exists';
const EOPNOTSUPP = 'Could not process rule: Operation not supported';

function cloneTables(tables: Map<string, FakeTable>): Map<string, FakeTable> {
  const out = new Map<string, FakeTable>();
  for (const [k, t] of tables) {
    out.set(k, {
      ...t,
      chains: new Map([...t.chains].map(([n, c]) => [n, { ...c, rules: [...c.rules] }])),
      sets: new Map([...t.sets].map(([n, s]) => [n, { ...s, elements: new Map(s.elements) }])),
      objects: new Map([...t.objects].map(([n, o]) => [n, { ...o }])),
    });
  }
  return out;
}

/** Split a script into commands with their line numbers (`;` separates commands on one line). */
function commandsOf(script: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  script.split('\n').forEach((raw, i) => {
    let depth = 0;
    let quoted = false;
    let start = 0;
    for (let j = 0; j <= raw.length; j++) {
      const ch = raw[j];
      if (ch === '"') quoted = !quoted;
      else if (!quoted && ch === '{') depth++;
      else if (!quoted && ch === '}') depth--;
      if (j === raw.length || (!quoted && depth === 0 && ch === ';')) {
        const text = raw.slice(start, j).trim();
        if (text && !text.startsWith('#')) out.push({ line: i + 1, text });
        start = j + 1;
      }
    }
  });
  return out;
}

/** The text between the first `{` and its matching `}`, split at top-level commas. */
function braceItems(text: string): string[] {
  const open = text.indexOf('{');
  const close = text.lastIndexOf('}');
  if (open < 0 || close < open) throw new Error('expected { … }');
  return text
    .slice(open + 1, close)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export class FakeNft implements Kernel {
  tables = new Map<string, FakeTable>();
  readonly transactions: FakeTransaction[] = [];
  /** Bumped by every committed transaction, as the kernel's ruleset generation. */
  generation = 0;
  /** How a table with flags is printed (nft 1.0.6 prints either, by chance): cut short, or a stray string. */
  tableFlagsJson: 'cut' | 'stray' = 'cut';
  private nextHandle = 1;
  private nextPid = 50_000;
  private failure: string | undefined;
  private readonly sessions = new Set<FakeSession>();
  private readonly monitors = new Set<FakeMonitor>();

  // --- Kernel -----------------------------------------------------------------------------------

  async run(argv: readonly string[], stdin?: string): Promise<ProcessResult> {
    const args = argv.slice(1).filter((a) => a !== '-j' && a !== '--json');
    if (args[0] === '-f' && args[1] === '-') {
      const err = this.transact(stdin ?? '', this.nextPid++, '/dev/stdin');
      return { code: err ? 1 : 0, stdout: '', stderr: err };
    }
    if (args[0] === 'list' && args[1] === 'table' && args.length === 4) {
      const t = this.tables.get(`${args[2]} ${args[3]}`);
      if (!t) return { code: 1, stdout: '', stderr: `Error: ${'No such file or directory'}\n` };
      return { code: 0, stdout: `${this.tableJson(t)}\n`, stderr: '' };
    }
    if (args[0] === 'list' && args[1] === 'counters' && args[2] === 'table' && args.length === 5) {
      const t = this.tables.get(`${args[3]} ${args[4]}`);
      if (!t) return { code: 1, stdout: '', stderr: `Error: ${'No such file or directory'}\n` };
      return { code: 0, stdout: `${this.countersJson(t)}\n`, stderr: '' };
    }
    return { code: 1, stdout: '', stderr: `FakeNft: unsupported command ${argv.join(' ')}\n` };
  }

  start(argv: readonly string[], options?: StartOptions): LongLivedProcess {
    const args = argv.slice(1);
    if (args.includes('monitor')) {
      const m = new FakeMonitor(this.nextPid++, () => this.monitors.delete(m));
      this.monitors.add(m);
      return m;
    }
    if (!args.includes('-i')) throw new Error(`FakeNft: cannot start ${argv.join(' ')}`);
    const s = new FakeSession(this, this.nextPid++, options?.cwd ?? '.', () => this.sessions.delete(s));
    this.sessions.add(s);
    return s;
  }

  // --- test controls ----------------------------------------------------------------------------

  /** The next transaction is refused (after parsing: nothing of it applies). */
  failNextTransaction(message = 'Could not process rule: Cannot allocate memory'): void {
    this.failure = message;
  }

  /** Kill every session child, as the OOM killer would. */
  killSessions(): void {
    for (const s of [...this.sessions]) s.exit({ code: null, signal: 'SIGKILL' });
  }

  get liveSessions(): number {
    return this.sessions.size;
  }

  table(family = 'inet', name = 'palisade'): FakeTable | undefined {
    return this.tables.get(`${family} ${name}`);
  }

  /** Run a script as a process other than Palisade's would (a foreign change, seen by monitors). */
  foreign(script: string): void {
    const err = this.transact(script, 4242, '/dev/stdin');
    if (err) throw new Error(`foreign change refused: ${err}`);
  }

  /** Every table, canonical: chains with their rules in order, sets sorted. */
  snapshot(): string {
    const out: string[] = [];
    for (const key of [...this.tables.keys()].sort()) {
      const t = this.tables.get(key)!;
      out.push(`table ${key}${t.flags.length ? ` flags ${t.flags.join(',')}` : ''}`);
      for (const c of [...t.chains.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        out.push(`  chain ${c.name}${c.base ? ` ${JSON.stringify(c.base)}` : ''}`);
        for (const r of c.rules) out.push(`    ${printRule(r.expr)}`);
      }
      for (const o of [...t.objects.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        out.push(`  ${o.kind} ${o.name}${o.kind === 'limit' ? ` ${o.rate}/second burst ${o.burst}` : ''}`);
      }
      for (const s of [...t.sets.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const elems = [...s.elements].map(([k, v]) => (v ? `${k} : ${v}` : k)).sort();
        out.push(
          `  ${s.map ? 'map' : 'set'} ${s.name} ${s.keyType.join(' . ')}${s.interval ? ' interval' : ''}: ${elems.join(', ')}`,
        );
      }
    }
    return out.join('\n');
  }

  // --- transactions -------------------------------------------------------------------------------

  /** Apply a script atomically; returns nft's stderr ('' on success). */
  transact(script: string, pid: number, source: string): string {
    const commands = commandsOf(script);
    const next = cloneTables(this.tables);
    const events: string[] = [];
    try {
      for (const c of commands) {
        try {
          this.command(next, c.text, events);
        } catch (e) {
          if (e instanceof Refusal) throw new Refusal(e.reason, c.line, c.text);
          throw new Refusal(`syntax error, ${e instanceof Error ? e.message : String(e)}`, c.line, c.text);
        }
        if (this.failure !== undefined) {
          const message = this.failure;
          this.failure = undefined;
          throw new Refusal(message, c.line, c.text);
        }
      }
    } catch (e) {
      const r = e as Refusal;
      const error = `${source}:${r.line}:1-${r.text.length}: Error: ${r.reason}\n${r.text}\n${'^'.repeat(r.text.length)}\n`;
      this.transactions.push({ pid, script, commands: commands.length, ok: false, error });
      return error;
    }
    this.tables = next;
    this.transactions.push({ pid, script, commands: commands.length, ok: true });
    if (commands.length > 0) {
      this.generation++;
      for (const m of this.monitors) m.announce(events, this.generation, pid);
    }
    return '';
  }

  private handle(): number {
    return this.nextHandle++;
  }

  private command(tables: Map<string, FakeTable>, text: string, events: string[]): void {
    const t = tokenize(text);
    const [verb, what] = t;
    if (what === 'table') {
      const key = `${t[2]} ${t[3]}`;
      if (verb === 'add') {
        const flags = /\{\s*flags\s+([a-z, ]+);/.exec(text)?.[1].split(/[ ,]+/).filter(Boolean);
        const existing = tables.get(key);
        if (!existing) {
          tables.set(key, {
            family: t[2],
            name: t[3],
            handle: this.handle(),
            chains: new Map(),
            sets: new Map(),
            objects: new Map(),
            flags: flags ?? [],
          });
          events.push(`add table ${key}`);
        } else if (flags) {
          existing.flags = flags;
        }
        return;
      }
      if (verb === 'delete') {
        if (!tables.delete(key)) throw new Refusal(ENOENT, 0, text);
        events.push(`delete table ${key}`);
        return;
      }
    }
    const table = tables.get(`${t[2]} ${t[3]}`);
    if (!table) throw new Refusal(ENOENT, 0, text);
    const name = t[4];
    const where = `${table.family} ${table.name} ${name}`;
    if (what === 'chain') {
      const chain = table.chains.get(name);
      if (verb === 'add') {
        const base = text.includes('{') ? parseBase(text) : undefined;
        if (chain) {
          if (JSON.stringify(chain.base) !== JSON.stringify(base)) throw new Refusal(EOPNOTSUPP, 0, text);
          return;
        }
        table.chains.set(name, { name, handle: this.handle(), ...(base ? { base } : {}), rules: [] });
        events.push(`add chain ${where}`);
        return;
      }
      if (!chain) throw new Refusal(ENOENT, 0, text);
      if (verb === 'flush') {
        chain.rules = [];
        events.push(`flush chain ${where}`);
        return;
      }
      if (verb === 'delete') {
        if (chain.rules.length > 0 || chainReferenced(table, name)) throw new Refusal(EBUSY, 0, text);
        table.chains.delete(name);
        events.push(`delete chain ${where}`);
        return;
      }
    }
    if (what === 'rule' && verb === 'add') {
      const chain = table.chains.get(name);
      if (!chain) throw new Refusal(ENOENT, 0, text);
      const expr = parseRule(/^add rule \S+ \S+ \S+ (.*)$/.exec(text)?.[1] ?? '');
      const refs = referencesOf(expr);
      for (const c of refs.chains) if (!table.chains.has(c)) throw new Refusal(ENOENT, 0, text);
      for (const s of refs.sets) if (!table.sets.has(s)) throw new Refusal(ENOENT, 0, text);
      for (const o of refs.objects) if (!table.objects.has(o)) throw new Refusal(ENOENT, 0, text);
      chain.rules.push({ handle: this.handle(), expr });
      events.push(`add rule ${table.family} ${table.name} ${name}`);
      return;
    }
    if (what === 'set' || what === 'map') {
      const existing = table.sets.get(name);
      if (verb === 'add') {
        const decl = parseSetDecl(text, what === 'map');
        if (existing) {
          if (
            existing.map !== decl.map ||
            existing.keyType.join() !== decl.keyType.join() ||
            existing.interval !== decl.interval
          ) {
            throw new Refusal(EEXIST, 0, text);
          }
          return;
        }
        table.sets.set(name, { name, handle: this.handle(), ...decl, elements: new Map() });
        events.push(`add ${what} ${where}`);
        return;
      }
      if (!existing || existing.map !== (what === 'map')) throw new Refusal(ENOENT, 0, text);
      if (verb === 'flush') {
        existing.elements.clear();
        events.push(`flush ${what} ${where}`);
        return;
      }
      if (verb === 'delete') {
        if (setReferenced(table, name)) throw new Refusal(EBUSY, 0, text);
        table.sets.delete(name);
        events.push(`delete ${what} ${where}`);
        return;
      }
    }
    if (what === 'limit' || what === 'counter') {
      const key = `${what} ${name}`;
      const existing = table.objects.get(key);
      if (verb === 'add') {
        // As the kernel: adding an existing object changes nothing (a limit keeps its settings).
        if (existing) return;
        const spec = what === 'limit' ? parseLimit(text) : {};
        table.objects.set(key, { kind: what, name, handle: this.handle(), ...spec, packets: 0, bytes: 0 });
        events.push(`add ${what} ${where}`);
        return;
      }
      if (verb === 'delete') {
        if (!existing) throw new Refusal(ENOENT, 0, text);
        if (objectReferenced(table, key)) throw new Refusal(EBUSY, 0, text);
        table.objects.delete(key);
        events.push(`delete ${what} ${where}`);
        return;
      }
    }
    if (what === 'element') {
      const set = table.sets.get(name);
      if (!set) throw new Refusal(ENOENT, 0, text);
      for (const item of braceItems(text)) {
        const { key, value } = parseElement(item, set, verb === 'delete');
        if (verb === 'add') {
          if (set.map && value && !table.chains.has(value.split(' ')[1])) throw new Refusal(ENOENT, 0, text);
          const had = set.elements.get(key);
          if (had !== undefined) {
            if (had !== value) throw new Refusal(EEXIST, 0, text);
            continue;
          }
          if (set.interval && [...set.elements.keys()].some((k) => overlaps(k, key))) {
            throw new Refusal('conflicting intervals specified', 0, text);
          }
          set.elements.set(key, value);
        } else if (verb === 'delete') {
          if (!set.elements.delete(key)) throw new Refusal(ENOENT, 0, text);
        } else {
          throw new Error(`unsupported ${verb} element`);
        }
      }
      events.push(`${verb} element ${where}`);
      return;
    }
    throw new Error(`unsupported command`);
  }

  // --- JSON ---------------------------------------------------------------------------------------

  /** `nft -j list counters table …`: the table's named counters. */
  countersJson(t: FakeTable): string {
    const items: unknown[] = [
      { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    ];
    for (const o of t.objects.values()) if (o.kind === 'counter') items.push(objectJson(t, o));
    return JSON.stringify({ nftables: items });
  }

  tableJson(t: FakeTable): string {
    // nft 1.0.6 prints a table's flags from uninitialised memory: the JSON of a table with any
    // flag mostly stops right after `"flags": `, and sometimes holds a stray string there.
    const table: Record<string, unknown> = { family: t.family, name: t.name, handle: t.handle };
    if (t.flags.length > 0) {
      if (this.tableFlagsJson === 'cut') {
        const meta = JSON.stringify({
          metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 },
        });
        return `{"nftables": [${meta}, {"table": ${JSON.stringify(table).slice(0, -1)}, "flags": `;
      }
      table.flags = 'Lester Gooch #5';
    }
    const items: unknown[] = [
      { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
      { table },
    ];
    for (const s of t.sets.values()) {
      const type = s.keyType.length === 1 ? s.keyType[0] : [...s.keyType];
      const elem = [...s.elements].map(([k, v]) => elementJson(s, k, v));
      const body = {
        family: t.family,
        name: s.name,
        table: t.name,
        type,
        handle: s.handle,
        ...(s.map ? { map: 'verdict' } : {}),
        ...(s.interval ? { flags: ['interval'] } : {}),
        ...(elem.length ? { elem } : {}),
      };
      items.push(s.map ? { map: body } : { set: body });
    }
    for (const o of t.objects.values()) items.push(objectJson(t, o));
    for (const c of t.chains.values()) {
      items.push({
        chain: {
          family: t.family,
          table: t.name,
          name: c.name,
          handle: c.handle,
          ...(c.base
            ? { type: c.base.type, hook: c.base.hook, prio: c.base.priority, policy: c.base.policy }
            : {}),
        },
      });
    }
    for (const c of t.chains.values()) {
      for (const r of c.rules) {
        items.push({
          rule: {
            family: t.family,
            table: t.name,
            chain: c.name,
            handle: r.handle,
            ...(r.expr.comment !== undefined ? { comment: r.expr.comment } : {}),
            expr: toJson(r.expr),
          },
        });
      }
    }
    return JSON.stringify({ nftables: items });
  }
}

function objectJson(t: FakeTable, o: FakeObject): unknown {
  const head = { family: t.family, name: o.name, table: t.name, handle: o.handle };
  return o.kind === 'limit'
    ? { limit: { ...head, rate: o.rate, per: 'second', burst: o.burst } }
    : { counter: { ...head, packets: o.packets, bytes: o.bytes } };
}

function parseLimit(text: string): { rate: number; burst: number } {
  const m = /\{\s*rate (\d+)\/second burst (\d+) packets;?\s*\}/.exec(text);
  if (!m) throw new Error('unsupported limit declaration');
  return { rate: Number(m[1]), burst: Number(m[2]) };
}

function objectReferenced(table: FakeTable, key: string): boolean {
  for (const c of table.chains.values())
    for (const r of c.rules) if (referencesOf(r.expr).objects.includes(key)) return true;
  return false;
}

function parseBase(text: string): FakeBase {
  const m = /type (\w+) hook (\w+) priority (-?\d+);\s*policy (\w+);/.exec(text);
  if (!m) throw new Error(`unsupported base chain declaration`);
  return { type: m[1], hook: m[2], priority: Number(m[3]), policy: m[4] };
}

function parseSetDecl(text: string, map: boolean): { map: boolean; keyType: string[]; interval: boolean } {
  const m = /\{\s*type ([^;]+);\s*(flags interval;)?\s*\}/.exec(text);
  if (!m) throw new Error('unsupported set declaration');
  let type = m[1].trim();
  if (map) {
    if (!type.endsWith(': verdict')) throw new Error('only verdict maps are supported');
    type = type.slice(0, -': verdict'.length).trim();
  }
  const keyType = type.split('.').map((s) => s.trim());
  for (const k of keyType) {
    if (!['ipv4_addr', 'ipv6_addr', 'inet_service'].includes(k)) throw new Error(`unsupported type ${k}`);
  }
  return { map, keyType, interval: !!m[2] };
}

function familyOfKey(set: FakeSet): IPFamily {
  return set.keyType[0] === 'ipv6_addr' ? 6 : 4;
}

/** An element as the set holds it: the canonical key, and the map value. */
function parseElement(item: string, set: FakeSet, keyOnly: boolean): { key: string; value: string } {
  const family = familyOfKey(set);
  const addr = (a: string): string => {
    const c = canonicalIP(a);
    if (familyOf(c) !== family) throw new Error(`${a} is not IPv${family}`);
    return c;
  };
  if (set.map) {
    const [k, v] = item.split(' : ').map((s) => s.trim());
    const value = v ?? '';
    if (!keyOnly && !/^(jump|goto) \S+$/.test(value)) throw new Error(`unsupported map value "${value}"`);
    return { key: addr(k), value: keyOnly ? '' : value };
  }
  if (set.keyType.length === 2) {
    const [a, p] = item.split(' . ').map((s) => s.trim());
    const port = Number(p);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${p}`);
    return { key: `${addr(a)} . ${port}`, value: '' };
  }
  if (set.interval) {
    const { family: f, interval } = parseIntervalText(item);
    if (f !== family) throw new Error(`${item} is not IPv${family}`);
    return { key: intervalText(interval, f), value: '' };
  }
  return { key: addr(item), value: '' };
}

function overlaps(a: string, b: string): boolean {
  const x = parseIntervalText(a).interval;
  const y = parseIntervalText(b).interval;
  return x.start <= y.end && y.start <= x.end;
}

function chainReferenced(table: FakeTable, name: string): boolean {
  for (const c of table.chains.values())
    for (const r of c.rules) if (referencesOf(r.expr).chains.includes(name)) return true;
  for (const s of table.sets.values()) {
    if (s.map) for (const v of s.elements.values()) if (v.split(' ')[1] === name) return true;
  }
  return false;
}

function setReferenced(table: FakeTable, name: string): boolean {
  for (const c of table.chains.values())
    for (const r of c.rules) if (referencesOf(r.expr).sets.includes(name)) return true;
  return false;
}

function elementJson(s: FakeSet, key: string, value: string): unknown {
  if (s.map) {
    const [how, target] = value.split(' ');
    return [key, { [how]: { target } }];
  }
  if (s.keyType.length === 2) {
    const [a, p] = key.split(' . ');
    return { concat: [a, Number(p)] };
  }
  if (s.interval) {
    if (key.includes('/')) {
      const [addr, len] = key.split('/');
      return { prefix: { addr, len: Number(len) } };
    }
    if (key.includes('-')) return { range: key.split('-') };
  }
  return key;
}

/** The stdio protocol of `nft -j -i` over FakeNft (see session.ts). */
class FakeSession implements LongLivedProcess {
  private out: ((t: string) => void)[] = [];
  private err: ((t: string) => void)[] = [];
  private exits: ((e: ProcessExit) => void)[] = [];
  private buffer = '';
  private exited = false;

  constructor(
    private readonly nft: FakeNft,
    readonly pid: number,
    private readonly cwd: string,
    private readonly onGone: () => void,
  ) {}

  write(text: string): void {
    if (this.exited) return;
    this.buffer += text;
    let nl: number;
    while (!this.exited && (nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line.startsWith('}')) {
      this.emit(this.err, `Error: syntax error, unexpected '}'\n${line}\n^\n`);
    } else if (line === 'include "./tx"') {
      const path = join(this.cwd, 'tx');
      const error = this.nft.transact(readFileSync(path, 'utf8'), this.pid, path);
      if (error) this.emit(this.err, `In file included from <cmdline>:1:1-14:\n${error}`);
    } else if (line.startsWith('list counters table ')) {
      const [, , , family, name] = line.split(' ');
      const t = this.nft.table(family, name);
      if (t) this.emit(this.out, `${this.nft.countersJson(t)}\n`);
      else this.emit(this.err, `Error: No such file or directory\n${line}\n${'^'.repeat(line.length)}\n`);
    } else if (line.startsWith('list table ')) {
      const [, , family, name] = line.split(' ');
      const t = this.nft.table(family, name);
      if (t) this.emit(this.out, `${this.nft.tableJson(t)}\n`);
      else this.emit(this.err, `Error: No such file or directory\n${line}\n${'^'.repeat(line.length)}\n`);
    } else if (line.trim() !== '') {
      const error = this.nft.transact(line, this.pid, '<cmdline>');
      if (error) this.emit(this.err, error);
    }
  }

  private emit(listeners: ((t: string) => void)[], text: string): void {
    for (const l of listeners) l(text);
  }

  end(): void {
    this.exit({ code: 0, signal: null });
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.exit({ code: null, signal });
  }
  exit(e: ProcessExit): void {
    if (this.exited) return;
    this.exited = true;
    this.onGone();
    for (const l of this.exits) l(e);
  }
  onStdout(l: (t: string) => void): void {
    this.out.push(l);
  }
  onStderr(l: (t: string) => void): void {
    this.err.push(l);
  }
  onExit(l: (e: ProcessExit) => void): void {
    if (this.exited) l({ code: 0, signal: null });
    else this.exits.push(l);
  }
}

/** `nft monitor`: every committed transaction's events, then its generation line with the pid. */
class FakeMonitor implements LongLivedProcess {
  private out: ((t: string) => void)[] = [];
  private exits: ((e: ProcessExit) => void)[] = [];
  private exited = false;

  constructor(
    readonly pid: number,
    private readonly onGone: () => void,
  ) {}

  announce(events: readonly string[], generation: number, pid: number): void {
    if (this.exited) return;
    const text = `${events.join('\n')}${events.length ? '\n' : ''}# new generation ${generation} by process ${pid} (nft)\n`;
    for (const l of this.out) l(text);
  }

  write(): void {}
  end(): void {
    this.exit({ code: 0, signal: null });
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.exit({ code: null, signal });
  }
  exit(e: ProcessExit): void {
    if (this.exited) return;
    this.exited = true;
    this.onGone();
    for (const l of this.exits) l(e);
  }
  onStdout(l: (t: string) => void): void {
    this.out.push(l);
  }
  onStderr(): void {}
  onExit(l: (e: ProcessExit) => void): void {
    if (this.exited) l({ code: 0, signal: null });
    else this.exits.push(l);
  }
}
