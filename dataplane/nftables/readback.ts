/**
 * Read-back: Palisade's table as `nft -j list table inet palisade` prints it, parsed into the
 * shared model (one table keyed 'inet'). Nothing outside the table is read.
 *
 * Rules are identified by the hash in their comment, and checked: the rule's expressions as the
 * kernel holds them are printed canonically (rules.ts) and hashed with the comment's human part;
 * a rule whose content no longer matches its hash (edited by hand, or holding expressions
 * Palisade never writes) gets an `altered:` hash no rendered rule has, so it shows as a
 * difference and is rewritten.
 */
import type { IPFamily } from '../api';
import { canonicalIP, familyOf } from '../ip';
import type { Chain, KernelSet, Rule, TableState, TablesState } from '../model';
import { RULE_HASH_CHARS, RULE_HASH_TAG, ruleHash, shortHash } from '../names';
import { cidrInterval, intervalText } from './intervals';
import { TABLE, chainNameInfo, setNameInfo } from './names';
import { fromJson, hasUnknown, printRule } from './rules';

type Json = unknown;

function isObj(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const HASHED_COMMENT = new RegExp(`^${RULE_HASH_TAG}([A-Z2-7]{${RULE_HASH_CHARS}}) (.*)$`);

/** A rule as read back: its canonical text, and its hash if its content still matches it. */
export function readRule(expr: readonly Json[], comment: string | undefined): Rule {
  const r = fromJson(expr, comment);
  const body = printRule(r);
  const m = comment !== undefined ? HASHED_COMMENT.exec(comment) : null;
  if (m && !hasUnknown(r)) {
    const bare = printRule({
      matches: r.matches,
      statements: r.statements,
      ...(r.verdict ? { verdict: r.verdict } : {}),
    });
    if (ruleHash(bare, m[2]) === m[1]) return { body, hash: m[1] };
  }
  return { body, hash: `altered:${shortHash(body, RULE_HASH_CHARS)}` };
}

function familyOfType(type: Json): IPFamily {
  const first = Array.isArray(type) ? type[0] : type;
  return first === 'ipv6_addr' ? 6 : 4;
}

/** An element as the model holds it (see render.ts), or undefined for a form Palisade never writes. */
function elementText(elem: Json, type: Json, interval: boolean): string | undefined {
  const e = isObj(elem) && isObj(elem.elem) ? elem.elem.val : elem;
  try {
    if (Array.isArray(type)) {
      if (isObj(e) && Array.isArray(e.concat) && e.concat.length === 2) {
        const [addr, port] = e.concat;
        if (typeof addr === 'string' && typeof port === 'number') return `${canonicalIP(addr)} . ${port}`;
      }
      return undefined;
    }
    if (interval) {
      if (typeof e === 'string') {
        const { family, interval: iv } = cidrInterval(e);
        return intervalText(iv, family);
      }
      if (
        isObj(e) &&
        isObj(e.prefix) &&
        typeof e.prefix.addr === 'string' &&
        typeof e.prefix.len === 'number'
      ) {
        const { family, interval: iv } = cidrInterval(`${e.prefix.addr}/${e.prefix.len}`);
        return intervalText(iv, family);
      }
      if (
        isObj(e) &&
        Array.isArray(e.range) &&
        typeof e.range[0] === 'string' &&
        typeof e.range[1] === 'string'
      ) {
        const family = familyOf(e.range[0]);
        const start = cidrInterval(e.range[0]).interval.start;
        const end = cidrInterval(e.range[1]).interval.start;
        return intervalText({ start, end }, family);
      }
      return undefined;
    }
    return typeof e === 'string' ? canonicalIP(e) : undefined;
  } catch {
    return undefined;
  }
}

function mapElementText(elem: Json): string | undefined {
  if (!Array.isArray(elem) || elem.length !== 2 || typeof elem[0] !== 'string') return undefined;
  const [key, verdict] = elem;
  let k: string;
  try {
    k = canonicalIP(key as string);
  } catch {
    return undefined;
  }
  if (isObj(verdict)) {
    for (const how of ['jump', 'goto'] as const) {
      const v = verdict[how];
      if (isObj(v) && typeof v.target === 'string') return `${k} : ${how} ${v.target}`;
    }
    for (const how of ['accept', 'drop', 'return', 'continue']) if (how in verdict) return `${k} : ${how}`;
  }
  return undefined;
}

/**
 * A named object of the table (the verdict log's limit and counters) as the model holds it: its
 * declaration as `type` (render.ts renderLogObjects), anything Palisade never declares as JSON.
 */
function readObject(o: Record<string, Json>): KernelSet | undefined {
  for (const kind of ['limit', 'counter'] as const) {
    const x = o[kind];
    if (!isObj(x) || x.table !== TABLE || x.family !== 'inet' || typeof x.name !== 'string') continue;
    let type: string;
    if (kind === 'counter') {
      type = 'counter';
    } else {
      const { rate, per, burst, family: _f, name: _n, table: _t, handle: _h, ...rest } = x;
      type =
        typeof rate === 'number' &&
        per === 'second' &&
        typeof burst === 'number' &&
        Object.keys(rest).length === 0
          ? `limit rate ${rate}/second burst ${burst} packets`
          : `limit ${JSON.stringify(x)}`;
    }
    return { name: x.name, family: 4, type, role: 'object', members: new Set() };
  }
  return undefined;
}

/**
 * Own objects from `nft -j list table inet palisade` output; `exists` is false when the table is
 * not there (empty output). Elements in a form Palisade never writes are kept as their JSON, so
 * they show as differences. `flagged` says the table has flags, which Palisade never sets: another
 * process set them (`owner` to take the table over, `dormant` to switch it off). nft 1.0.6
 * prints the flags' value from uninitialised memory, so the JSON of such a table is often cut
 * short (a SyntaxError here) and, when it parses, says nothing true about which flags they are.
 */
export function parseTable(json: string): { state: TablesState; exists: boolean; flagged: boolean } {
  const chains = new Map<string, Chain>();
  const sets = new Map<string, KernelSet>();
  const table: TableState = { chains, hooks: [] };
  if (json.trim() === '')
    return { state: { tables: new Map([['inet', table]]), sets }, exists: false, flagged: false };
  const doc = JSON.parse(json) as { nftables?: Json[] };
  const rules = new Map<string, Rule[]>();
  let exists = false;
  let flagged = false;
  for (const o of doc.nftables ?? []) {
    if (!isObj(o)) continue;
    if (isObj(o.table) && o.table.name === TABLE && o.table.family === 'inet') {
      exists = true;
      if (o.table.flags !== undefined) flagged = true;
    }
    const c = o.chain;
    if (isObj(c) && c.table === TABLE && c.family === 'inet' && typeof c.name === 'string') {
      const info = chainNameInfo(c.name);
      const base =
        typeof c.hook === 'string'
          ? {
              type: c.type as 'filter',
              hook: c.hook as 'forward',
              priority: Number(c.prio),
              policy: (c.policy ?? 'accept') as 'accept',
            }
          : undefined;
      // A chain Palisade never names (added by hand) is read as family 4: it is not desired, and goes.
      chains.set(c.name, {
        name: c.name,
        table: 'inet',
        family: info?.family ?? 4,
        kind: info?.kind ?? 'fixed',
        ...(info?.direction ? { direction: info.direction } : {}),
        ...(base ? { base } : {}),
        rules: [],
      });
    }
    const r = o.rule;
    if (isObj(r) && r.table === TABLE && r.family === 'inet' && typeof r.chain === 'string') {
      let list = rules.get(r.chain);
      if (!list) rules.set(r.chain, (list = []));
      list.push(
        readRule(Array.isArray(r.expr) ? r.expr : [], typeof r.comment === 'string' ? r.comment : undefined),
      );
    }
    for (const kind of ['set', 'map'] as const) {
      const s = o[kind];
      if (!isObj(s) || s.table !== TABLE || s.family !== 'inet' || typeof s.name !== 'string') continue;
      const flags = Array.isArray(s.flags) ? s.flags : [];
      const interval = flags.includes('interval');
      const base = Array.isArray(s.type) ? s.type.join(' . ') : String(s.type);
      const type = kind === 'map' ? `${base} : ${String(s.map)}` : interval ? `${base} interval` : base;
      const members = new Set<string>();
      for (const e of Array.isArray(s.elem) ? s.elem : []) {
        members.add(
          (kind === 'map' ? mapElementText(e) : elementText(e, s.type, interval)) ?? JSON.stringify(e),
        );
      }
      const info = setNameInfo(s.name);
      sets.set(s.name, {
        name: s.name,
        family: familyOfType(s.type),
        type,
        role: info.role,
        ...(info.direction ? { direction: info.direction } : {}),
        members,
      });
    }
    const object = readObject(o);
    if (object) sets.set(object.name, object);
  }
  for (const [name, list] of rules) {
    const c = chains.get(name);
    if (c) chains.set(name, { ...c, rules: list });
  }
  return { state: { tables: new Map([['inet', table]]), sets }, exists, flagged };
}
