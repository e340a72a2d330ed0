/**
 * The part of the nft rule language Palisade writes, as data (`RuleExpr`), with one canonical
 * text for it and the two translations the backend needs:
 *   printRule  RuleExpr → text, as rules are written (`add rule inet palisade CHAIN <text>`);
 *   parseRule  text → RuleExpr (FakeNft, and the CLI replaying a view);
 *   fromJson   nft's JSON expressions (`nft -j list table`) → RuleExpr (read-back);
 *   toJson     RuleExpr → nft's JSON expressions (FakeNft's `list`).
 * The JSON shapes are those nft 1.0.6 prints (see rules.test.ts). Anything outside this subset
 * read back from the kernel becomes an `unknown` part: such a rule cannot be Palisade's as
 * rendered, and read-back reports it as altered.
 */
import type { IPFamily } from '../api';
import { canonicalIP, familyOf, netEntry, parseCIDR } from '../ip';

export type L4 = 'tcp' | 'udp' | 'sctp';
export type AddrField = 'saddr' | 'daddr';

export type Match =
  /** ip saddr 10.0.0.5 | ip6 daddr fd00::/8 | ip saddr @set | ip saddr != @set (`negate`) */
  | {
      readonly kind: 'addr';
      readonly family: IPFamily;
      readonly field: AddrField;
      readonly set?: string;
      readonly prefix?: string;
      readonly negate?: true;
    }
  /** tcp dport 80 | udp dport 1000-2000 */
  | { readonly kind: 'port'; readonly proto: L4; readonly from: number; readonly to: number }
  /** meta l4proto sctp */
  | { readonly kind: 'l4proto'; readonly proto: string }
  /** ct state established,related */
  | { readonly kind: 'ct'; readonly states: readonly string[] }
  /** icmpv6 type { nd-router-solicit, ... } */
  | { readonly kind: 'icmpv6'; readonly types: readonly string[] }
  /** meta mark & MASK == VALUE */
  | { readonly kind: 'mark'; readonly mask: number; readonly value: number }
  /** ip daddr . tcp dport @set */
  | { readonly kind: 'addrPort'; readonly family: IPFamily; readonly proto: L4; readonly set: string }
  | { readonly kind: 'unknown'; readonly json: string };

/**
 * meta mark set meta mark & VALUE | meta mark set meta mark | VALUE; and the verdict log's:
 * counter name "N" (a named counter), limit name "N" (a named limit: the rule ends here when the
 * bucket is empty), log prefix "P" group G snaplen S queue-threshold Q (NFLOG; Q 0 = not set).
 */
export type Statement =
  | { readonly kind: 'mark'; readonly op: '&' | '|'; readonly value: number }
  | { readonly kind: 'counter'; readonly name: string }
  | { readonly kind: 'limit'; readonly name: string }
  | {
      readonly kind: 'log';
      readonly prefix: string;
      readonly group: number;
      readonly snaplen: number;
      readonly queueThreshold: number;
    }
  | { readonly kind: 'unknown'; readonly json: string };

export type Verdict =
  | { readonly kind: 'accept' | 'drop' | 'return' }
  | { readonly kind: 'jump' | 'goto'; readonly target: string }
  /** ip saddr vmap @map */
  | { readonly kind: 'vmap'; readonly family: IPFamily; readonly field: AddrField; readonly map: string };

export interface RuleExpr {
  readonly matches: readonly Match[];
  readonly statements: readonly Statement[];
  readonly verdict?: Verdict;
  readonly comment?: string;
}

const ipWord = (f: IPFamily): string => (f === 4 ? 'ip' : 'ip6');
const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

const CT_ORDER = ['invalid', 'established', 'related', 'new', 'untracked'];
const ICMPV6_ORDER = ['nd-router-solicit', 'nd-router-advert', 'nd-neighbor-solicit', 'nd-neighbor-advert'];

function byOrder(order: readonly string[]): (a: string, b: string) => number {
  return (a, b) => order.indexOf(a) - order.indexOf(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** A comment nft can hold and Palisade can quote: printable, no quote or backslash, ≤ 127 bytes. */
export function commentText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/["\\\u0000-\u001f\u007f-\uffff]/g, '').slice(0, 127);
}

function printMatch(m: Match): string {
  switch (m.kind) {
    case 'addr':
      return `${ipWord(m.family)} ${m.field} ${m.negate ? '!= ' : ''}${m.set !== undefined ? `@${m.set}` : m.prefix}`;
    case 'port':
      return `${m.proto} dport ${m.from === m.to ? m.from : `${m.from}-${m.to}`}`;
    case 'l4proto':
      return `meta l4proto ${m.proto}`;
    case 'ct':
      return `ct state ${[...m.states].sort(byOrder(CT_ORDER)).join(',')}`;
    case 'icmpv6':
      return `icmpv6 type { ${[...m.types].sort(byOrder(ICMPV6_ORDER)).join(', ')} }`;
    case 'mark':
      return `meta mark & ${hex(m.mask)} == ${hex(m.value)}`;
    case 'addrPort':
      return `${ipWord(m.family)} daddr . ${m.proto} dport @${m.set}`;
    case 'unknown':
      return `unknown(${m.json})`;
  }
}

function printStatement(s: Statement): string {
  switch (s.kind) {
    case 'mark':
      return `meta mark set meta mark ${s.op} ${hex(s.value)}`;
    case 'counter':
    case 'limit':
      return `${s.kind} name "${s.name}"`;
    case 'log':
      return `log prefix "${s.prefix}" group ${s.group} snaplen ${s.snaplen}${s.queueThreshold ? ` queue-threshold ${s.queueThreshold}` : ''}`;
    case 'unknown':
      return `unknown(${s.json})`;
  }
}

function printVerdict(v: Verdict): string {
  switch (v.kind) {
    case 'jump':
    case 'goto':
      return `${v.kind} ${v.target}`;
    case 'vmap':
      return `${ipWord(v.family)} ${v.field} vmap @${v.map}`;
    default:
      return v.kind;
  }
}

/** The canonical text of a rule (what follows `add rule inet palisade CHAIN`). */
export function printRule(r: RuleExpr): string {
  const parts = [...r.matches.map(printMatch), ...r.statements.map(printStatement)];
  if (r.verdict) parts.push(printVerdict(r.verdict));
  if (r.comment !== undefined) parts.push(`comment "${r.comment}"`);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// Text → RuleExpr

/** Tokens: words, quoted strings (as `"…"`), and braces / commas as their own tokens. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /"[^"]*"|[{},]|[^\s{},"]+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push(m[0]);
  return out;
}

const L4S: readonly string[] = ['tcp', 'udp', 'sctp'];

function parseAddrValue(token: string, family: IPFamily): { set?: string; prefix?: string } {
  if (token.startsWith('@')) return { set: token.slice(1) };
  if (familyOf(token.split('/')[0]) !== family) throw new Error(`address ${token} is not IPv${family}`);
  return { prefix: token.includes('/') ? netEntry(parseCIDR(token)) : canonicalIP(token) };
}

function parseNumber(token: string): number {
  const n = token.startsWith('0x') ? parseInt(token, 16) : Number(token);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`not a number: ${token}`);
  return n;
}

function unquote(token: string): string {
  if (!token.startsWith('"') || !token.endsWith('"') || token.length < 2)
    throw new Error(`expected a quoted string, got ${token}`);
  return token.slice(1, -1);
}

/** Parse rule text in the subset printRule writes; throws on anything else. */
export function parseRule(text: string): RuleExpr {
  const t = tokenize(text);
  let i = 0;
  const next = (): string => {
    if (i >= t.length) throw new Error(`rule ends early: ${text}`);
    return t[i++];
  };
  const expect = (word: string): void => {
    const got = next();
    if (got !== word) throw new Error(`expected "${word}", got "${got}" in: ${text}`);
  };
  const peek = (): string | undefined => t[i];
  const matches: Match[] = [];
  const statements: Statement[] = [];
  let verdict: Verdict | undefined;
  let comment: string | undefined;
  while (i < t.length) {
    const w = next();
    if (verdict && w !== 'comment') throw new Error(`"${w}" after the verdict in: ${text}`);
    if (w === 'ip' || w === 'ip6') {
      const family: IPFamily = w === 'ip' ? 4 : 6;
      const field = next();
      if (field !== 'saddr' && field !== 'daddr') throw new Error(`unknown ${w} field ${field}`);
      const value = next();
      if (value === 'vmap') {
        const map = next();
        if (!map.startsWith('@')) throw new Error(`vmap needs @map, got ${map}`);
        verdict = { kind: 'vmap', family, field, map: map.slice(1) };
      } else if (value === '.') {
        const proto = next();
        if (!L4S.includes(proto)) throw new Error(`unknown protocol ${proto}`);
        expect('dport');
        const set = next();
        if (field !== 'daddr' || !set.startsWith('@'))
          throw new Error(`unsupported concatenation in: ${text}`);
        matches.push({ kind: 'addrPort', family, proto: proto as L4, set: set.slice(1) });
      } else if (value === '!=') {
        matches.push({ kind: 'addr', family, field, ...parseAddrValue(next(), family), negate: true });
      } else {
        matches.push({ kind: 'addr', family, field, ...parseAddrValue(value, family) });
      }
    } else if (L4S.includes(w)) {
      expect('dport');
      const v = next();
      const [a, b] = v.split('-');
      const from = parseNumber(a);
      const to = b === undefined ? from : parseNumber(b);
      if (from > 65535 || to > 65535 || to < from) throw new Error(`bad port ${v}`);
      matches.push({ kind: 'port', proto: w as L4, from, to });
    } else if (w === 'meta') {
      const key = next();
      if (key === 'l4proto') {
        matches.push({ kind: 'l4proto', proto: next() });
      } else if (key === 'mark') {
        const op = next();
        if (op === '&') {
          const mask = parseNumber(next());
          expect('==');
          matches.push({ kind: 'mark', mask, value: parseNumber(next()) });
        } else if (op === 'set') {
          expect('meta');
          expect('mark');
          const how = next();
          if (how !== '&' && how !== '|') throw new Error(`unsupported mark operation ${how}`);
          statements.push({ kind: 'mark', op: how, value: parseNumber(next()) });
        } else {
          throw new Error(`unsupported meta mark ${op}`);
        }
      } else {
        throw new Error(`unsupported meta ${key}`);
      }
    } else if (w === 'ct') {
      expect('state');
      const states = [next()];
      while (t[i] === ',') {
        i++;
        states.push(next());
      }
      matches.push({ kind: 'ct', states });
    } else if (w === 'icmpv6') {
      expect('type');
      expect('{');
      const types: string[] = [];
      for (let v = next(); v !== '}'; v = next()) if (v !== ',') types.push(v);
      matches.push({ kind: 'icmpv6', types });
    } else if (w === 'counter' || w === 'limit') {
      expect('name');
      statements.push({ kind: w, name: unquote(next()) });
    } else if (w === 'log') {
      expect('prefix');
      const prefix = unquote(next());
      expect('group');
      const group = parseNumber(next());
      expect('snaplen');
      const snaplen = parseNumber(next());
      let queueThreshold = 0;
      if (peek() === 'queue-threshold') {
        next();
        queueThreshold = parseNumber(next());
      }
      statements.push({ kind: 'log', prefix, group, snaplen, queueThreshold });
    } else if (w === 'accept' || w === 'drop' || w === 'return') {
      verdict = { kind: w };
    } else if (w === 'jump' || w === 'goto') {
      verdict = { kind: w, target: next() };
    } else if (w === 'comment') {
      const q = next();
      if (!q.startsWith('"') || !q.endsWith('"')) throw new Error(`comment must be quoted: ${q}`);
      comment = q.slice(1, -1);
    } else {
      throw new Error(`unsupported "${w}" in: ${text}`);
    }
  }
  return {
    matches,
    statements,
    ...(verdict ? { verdict } : {}),
    ...(comment !== undefined ? { comment } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// nft JSON ↔ RuleExpr

type Json = unknown;

function isObj(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function payloadOf(v: Json): { protocol: string; field: string } | undefined {
  if (!isObj(v) || !isObj(v.payload)) return undefined;
  const p = v.payload;
  return typeof p.protocol === 'string' && typeof p.field === 'string'
    ? { protocol: p.protocol, field: p.field }
    : undefined;
}

function metaKey(v: Json): string | undefined {
  return isObj(v) && isObj(v.meta) && typeof v.meta.key === 'string' ? v.meta.key : undefined;
}

function addrRight(right: Json, family: IPFamily): { set?: string; prefix?: string } | undefined {
  if (typeof right === 'string') {
    if (right.startsWith('@')) return { set: right.slice(1) };
    return familyOf(right) === family ? { prefix: canonicalIP(right) } : undefined;
  }
  if (isObj(right) && isObj(right.prefix)) {
    const { addr, len } = right.prefix;
    if (typeof addr !== 'string' || typeof len !== 'number' || familyOf(addr) !== family) return undefined;
    return { prefix: netEntry(parseCIDR(`${addr}/${len}`)) };
  }
  return undefined;
}

function matchFromJson(m: Record<string, Json>): Match | undefined {
  const { op, left, right } = m;
  const p = payloadOf(left);
  if (p && (p.protocol === 'ip' || p.protocol === 'ip6') && (p.field === 'saddr' || p.field === 'daddr')) {
    const family: IPFamily = p.protocol === 'ip' ? 4 : 6;
    const value = op === '==' || op === '!=' ? addrRight(right, family) : undefined;
    if (!value) return undefined;
    return { kind: 'addr', family, field: p.field, ...value, ...(op === '!=' ? { negate: true } : {}) };
  }
  if (p && L4S.includes(p.protocol) && p.field === 'dport' && op === '==') {
    if (typeof right === 'number') return { kind: 'port', proto: p.protocol as L4, from: right, to: right };
    if (isObj(right) && Array.isArray(right.range) && right.range.length === 2) {
      const [a, b] = right.range;
      if (typeof a === 'number' && typeof b === 'number')
        return { kind: 'port', proto: p.protocol as L4, from: a, to: b };
    }
    return undefined;
  }
  if (p && p.protocol === 'icmpv6' && p.field === 'type' && op === '==') {
    const types =
      isObj(right) && Array.isArray(right.set) ? right.set : typeof right === 'string' ? [right] : undefined;
    return types && types.every((x) => typeof x === 'string')
      ? { kind: 'icmpv6', types: types as string[] }
      : undefined;
  }
  if (metaKey(left) === 'l4proto' && op === '==' && typeof right === 'string')
    return { kind: 'l4proto', proto: right };
  if (isObj(left) && isObj(left.ct) && left.ct.key === 'state' && (op === 'in' || op === '==')) {
    const states = Array.isArray(right) ? right : typeof right === 'string' ? [right] : undefined;
    return states && states.every((x) => typeof x === 'string')
      ? { kind: 'ct', states: states as string[] }
      : undefined;
  }
  if (isObj(left) && Array.isArray(left['&']) && op === '==' && typeof right === 'number') {
    const [a, b] = left['&'] as Json[];
    if (metaKey(a) === 'mark' && typeof b === 'number') return { kind: 'mark', mask: b, value: right };
    return undefined;
  }
  if (
    isObj(left) &&
    Array.isArray(left.concat) &&
    op === '==' &&
    typeof right === 'string' &&
    right.startsWith('@')
  ) {
    const [a, b] = (left.concat as Json[]).map(payloadOf);
    if (
      a &&
      b &&
      (a.protocol === 'ip' || a.protocol === 'ip6') &&
      a.field === 'daddr' &&
      L4S.includes(b.protocol) &&
      b.field === 'dport'
    ) {
      return {
        kind: 'addrPort',
        family: a.protocol === 'ip' ? 4 : 6,
        proto: b.protocol as L4,
        set: right.slice(1),
      };
    }
  }
  return undefined;
}

/** A rule's `expr` array from `nft -j list` (plus its comment) as a RuleExpr. */
export function fromJson(expr: readonly Json[], comment: string | undefined): RuleExpr {
  const matches: Match[] = [];
  const statements: Statement[] = [];
  let verdict: Verdict | undefined;
  for (const e of expr) {
    const unknown = (): void => {
      matches.push({ kind: 'unknown', json: JSON.stringify(e) });
    };
    if (!isObj(e)) {
      unknown();
      continue;
    }
    if (isObj(e.match)) {
      const m = matchFromJson(e.match);
      if (m) matches.push(m);
      else unknown();
    } else if (isObj(e.mangle)) {
      const value = e.mangle.value;
      const op = isObj(value)
        ? Array.isArray(value['&'])
          ? '&'
          : Array.isArray(value['|'])
            ? '|'
            : undefined
        : undefined;
      const operands = op && isObj(value) ? (value[op] as Json[]) : undefined;
      if (
        metaKey(e.mangle.key) === 'mark' &&
        op &&
        operands &&
        metaKey(operands[0]) === 'mark' &&
        typeof operands[1] === 'number'
      ) {
        statements.push({ kind: 'mark', op, value: operands[1] });
      } else {
        statements.push({ kind: 'unknown', json: JSON.stringify(e) });
      }
    } else if (
      (typeof e.counter === 'string' || typeof e.limit === 'string') &&
      Object.keys(e).length === 1
    ) {
      statements.push(
        typeof e.counter === 'string'
          ? { kind: 'counter', name: e.counter }
          : { kind: 'limit', name: e.limit as string },
      );
    } else if (isObj(e.log)) {
      const { prefix, group, snaplen, 'queue-threshold': queueThreshold = 0, ...rest } = e.log;
      if (
        typeof prefix === 'string' &&
        typeof group === 'number' &&
        typeof snaplen === 'number' &&
        typeof queueThreshold === 'number' &&
        Object.keys(rest).length === 0
      ) {
        statements.push({ kind: 'log', prefix, group, snaplen, queueThreshold });
      } else {
        statements.push({ kind: 'unknown', json: JSON.stringify(e) });
      }
    } else if ('accept' in e || 'drop' in e || 'return' in e) {
      verdict = { kind: 'accept' in e ? 'accept' : 'drop' in e ? 'drop' : 'return' };
    } else if (isObj(e.jump) && typeof e.jump.target === 'string') {
      verdict = { kind: 'jump', target: e.jump.target };
    } else if (isObj(e.goto) && typeof e.goto.target === 'string') {
      verdict = { kind: 'goto', target: e.goto.target };
    } else if (isObj(e.vmap)) {
      const p = payloadOf(e.vmap.key);
      const data = e.vmap.data;
      if (
        p &&
        (p.protocol === 'ip' || p.protocol === 'ip6') &&
        (p.field === 'saddr' || p.field === 'daddr') &&
        typeof data === 'string' &&
        data.startsWith('@')
      ) {
        verdict = { kind: 'vmap', family: p.protocol === 'ip' ? 4 : 6, field: p.field, map: data.slice(1) };
      } else {
        unknown();
      }
    } else {
      unknown();
    }
  }
  return {
    matches,
    statements,
    ...(verdict ? { verdict } : {}),
    ...(comment !== undefined ? { comment } : {}),
  };
}

function addrJson(family: IPFamily, field: AddrField): Json {
  return { payload: { protocol: ipWord(family), field } };
}

function matchJson(m: Match): Json {
  switch (m.kind) {
    case 'addr': {
      let right: Json;
      if (m.set !== undefined) right = `@${m.set}`;
      else if (m.prefix!.includes('/')) {
        const [addr, len] = m.prefix!.split('/');
        right = { prefix: { addr, len: Number(len) } };
      } else right = m.prefix;
      return { match: { op: m.negate ? '!=' : '==', left: addrJson(m.family, m.field), right } };
    }
    case 'port':
      return {
        match: {
          op: '==',
          left: { payload: { protocol: m.proto, field: 'dport' } },
          right: m.from === m.to ? m.from : { range: [m.from, m.to] },
        },
      };
    case 'l4proto':
      return { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: m.proto } };
    case 'ct':
      return {
        match: { op: 'in', left: { ct: { key: 'state' } }, right: [...m.states].sort(byOrder(CT_ORDER)) },
      };
    case 'icmpv6':
      return {
        match: {
          op: '==',
          left: { payload: { protocol: 'icmpv6', field: 'type' } },
          right: { set: [...m.types] },
        },
      };
    case 'mark':
      return { match: { op: '==', left: { '&': [{ meta: { key: 'mark' } }, m.mask] }, right: m.value } };
    case 'addrPort':
      return {
        match: {
          op: '==',
          left: { concat: [addrJson(m.family, 'daddr'), { payload: { protocol: m.proto, field: 'dport' } }] },
          right: `@${m.set}`,
        },
      };
    case 'unknown':
      return JSON.parse(m.json) as Json;
  }
}

function statementJson(s: Statement): Json {
  switch (s.kind) {
    case 'mark':
      return {
        mangle: { key: { meta: { key: 'mark' } }, value: { [s.op]: [{ meta: { key: 'mark' } }, s.value] } },
      };
    case 'counter':
      return { counter: s.name };
    case 'limit':
      return { limit: s.name };
    case 'log':
      return {
        log: {
          prefix: s.prefix,
          group: s.group,
          snaplen: s.snaplen,
          ...(s.queueThreshold ? { 'queue-threshold': s.queueThreshold } : {}),
        },
      };
    case 'unknown':
      return JSON.parse(s.json) as Json;
  }
}

/** A RuleExpr as nft's JSON `expr` array. */
export function toJson(r: RuleExpr): Json[] {
  const out: Json[] = r.matches.map(matchJson);
  for (const s of r.statements) out.push(statementJson(s));
  const v = r.verdict;
  if (v) {
    if (v.kind === 'jump' || v.kind === 'goto') out.push({ [v.kind]: { target: v.target } });
    else if (v.kind === 'vmap') out.push({ vmap: { key: addrJson(v.family, v.field), data: `@${v.map}` } });
    else out.push({ [v.kind]: null });
  }
  return out;
}

/** Does any part of the rule fall outside what Palisade writes? */
export function hasUnknown(r: RuleExpr): boolean {
  return r.matches.some((m) => m.kind === 'unknown') || r.statements.some((s) => s.kind === 'unknown');
}

/** Chains a rule refers to (jump, goto), sets or maps it reads (@name), named objects it uses. */
export function referencesOf(r: RuleExpr): { chains: string[]; sets: string[]; objects: string[] } {
  const chains: string[] = [];
  const sets: string[] = [];
  const objects: string[] = [];
  for (const s of r.statements)
    if (s.kind === 'counter' || s.kind === 'limit') objects.push(`${s.kind} ${s.name}`);
  for (const m of r.matches) {
    if (m.kind === 'addr' && m.set !== undefined) sets.push(m.set);
    if (m.kind === 'addrPort') sets.push(m.set);
  }
  if (r.verdict?.kind === 'jump' || r.verdict?.kind === 'goto') chains.push(r.verdict.target);
  if (r.verdict?.kind === 'vmap') sets.push(r.verdict.map);
  return { chains, sets, objects };
}
