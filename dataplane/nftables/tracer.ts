/**
 * A packet tracer over FakeNft state: walks the base chains of a hook in priority order the way
 * nf_tables does (within a chain: jump pushes, goto replaces, return pops, a vmap jumps or goes
 * to the chain its element names; accept ends one base chain, drop ends them all; a base chain's
 * end applies its policy) and evaluates the expressions Palisade writes (rules.ts). For fast
 * semantic tests and the CLI's kernel path; real packets in network namespaces remain the truth.
 *
 * An expression the tracer does not understand throws, so a rule it cannot read never silently
 * counts as a match or a miss.
 */
import type { IPFamily } from '../api';
import { canonicalIP, familyOf, parseCIDR } from '../ip';
import type { FakeNft, FakeSet } from './fake-nft';
import { intervalHas } from './intervals';
import type { Match, RuleExpr } from './rules';

export interface Packet {
  readonly src: string;
  readonly dst: string;
  readonly proto: 'tcp' | 'udp' | 'sctp' | 'ipv6-icmp' | 'icmp';
  readonly dport?: number;
  readonly icmpv6Type?: number;
  readonly ctstate?: 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID';
  readonly mark?: number;
}

export interface TraceResult {
  readonly verdict: 'ACCEPT' | 'DROP';
  /** Packet mark when the verdict was reached. */
  readonly mark: number;
  /** "TABLE CHAIN#n" of every rule evaluated, in order (n counts from 1). */
  readonly evaluated: readonly string[];
  /** "TABLE CHAIN#n" of the rules that matched. */
  readonly matched: readonly string[];
}

const ICMPV6_TYPES: Record<string, number> = {
  'nd-router-solicit': 133,
  'nd-router-advert': 134,
  'nd-neighbor-solicit': 135,
  'nd-neighbor-advert': 136,
};

function inPrefix(ip: string, prefix: string): boolean {
  if (familyOf(ip) !== familyOf(prefix.split('/')[0])) return false;
  if (!prefix.includes('/')) return canonicalIP(ip) === canonicalIP(prefix);
  const net = parseCIDR(prefix);
  return parseCIDR(`${ip}/${net.prefix}`).address === net.address;
}

/** Does a set hold this key (an address, or "address . port")? */
export function setHolds(set: FakeSet, key: string): boolean {
  if (!set.interval) return set.elements.has(key);
  for (const element of set.elements.keys()) if (intervalHas(element, key)) return true;
  return false;
}

function matches(m: Match, p: Packet, family: IPFamily, mark: number, sets: (n: string) => FakeSet): boolean {
  switch (m.kind) {
    case 'addr': {
      if (m.family !== family) return false;
      const ip = canonicalIP(m.field === 'saddr' ? p.src : p.dst);
      return m.set !== undefined ? setHolds(sets(m.set), ip) : inPrefix(ip, m.prefix!);
    }
    case 'port':
      return p.proto === m.proto && p.dport !== undefined && p.dport >= m.from && p.dport <= m.to;
    case 'l4proto':
      return p.proto === m.proto;
    case 'ct':
      return m.states.includes((p.ctstate ?? 'NEW').toLowerCase());
    case 'icmpv6':
      return p.proto === 'ipv6-icmp' && m.types.some((t) => ICMPV6_TYPES[t] === p.icmpv6Type);
    case 'mark':
      return (mark & m.mask) >>> 0 === m.value >>> 0;
    case 'addrPort':
      return (
        m.family === family &&
        p.proto === m.proto &&
        p.dport !== undefined &&
        setHolds(sets(m.set), `${canonicalIP(p.dst)} . ${p.dport}`)
      );
    case 'unknown':
      throw new Error(`tracer: cannot evaluate ${m.json}`);
  }
}

/** Run a packet through every base chain of `hook` (the forward hook, for Palisade). */
export function trace(nft: FakeNft, p: Packet, hook = 'forward'): TraceResult {
  const family = familyOf(p.src);
  const evaluated: string[] = [];
  const matched: string[] = [];
  let mark = p.mark ?? 0;
  const bases = [...nft.tables.values()]
    .filter((t) => t.family === 'inet' || t.family === (family === 4 ? 'ip' : 'ip6'))
    .flatMap((t) => [...t.chains.values()].filter((c) => c.base?.hook === hook).map((c) => ({ t, c })))
    .sort((a, b) => a.c.base!.priority - b.c.base!.priority);
  for (const { t, c: base } of bases) {
    const sets = (n: string): FakeSet => {
      const s = t.sets.get(n);
      if (!s) throw new Error(`tracer: set ${n} missing in ${t.name}`);
      return s;
    };
    const chainOf = (n: string): (typeof base.rules)[number][] => {
      const c = t.chains.get(n);
      if (!c) throw new Error(`tracer: chain ${n} missing in ${t.name}`);
      return c.rules;
    };
    const stack: { chain: string; next: number }[] = [];
    let chain = base.name;
    let index = 0;
    let outcome: 'accept' | 'drop' | 'policy' | undefined;
    for (let guard = 0; guard < 100_000 && !outcome; guard++) {
      const rules = chainOf(chain);
      if (index >= rules.length) {
        const back = stack.pop();
        if (!back) outcome = 'policy';
        else ({ chain, next: index } = back);
        continue;
      }
      const here = `${t.name} ${chain}#${index + 1}`;
      evaluated.push(here);
      const r: RuleExpr = rules[index].expr;
      index++;
      if (!r.matches.every((m) => matches(m, p, family, mark, sets))) continue;
      matched.push(here);
      for (const s of r.statements) {
        if (s.kind !== 'mark') throw new Error(`tracer: cannot apply ${s.json}`);
        mark = (s.op === '&' ? mark & s.value : mark | s.value) >>> 0;
      }
      let v = r.verdict;
      if (v?.kind === 'vmap') {
        if (v.family !== family) continue;
        const element = sets(v.map).elements.get(canonicalIP(v.field === 'saddr' ? p.src : p.dst));
        if (element === undefined) continue;
        const [how, target] = element.split(' ');
        v = { kind: how as 'jump' | 'goto', target };
      }
      if (!v) continue;
      if (v.kind === 'jump') {
        stack.push({ chain, next: index });
        chain = v.target;
        index = 0;
      } else if (v.kind === 'goto') {
        chain = v.target;
        index = 0;
      } else if (v.kind === 'return') {
        const back = stack.pop();
        if (!back) outcome = 'policy';
        else ({ chain, next: index } = back);
      } else {
        outcome = v.kind as 'accept' | 'drop';
      }
    }
    if (!outcome) throw new Error('tracer: rule loop');
    if (outcome === 'drop' || (outcome === 'policy' && base.base!.policy === 'drop')) {
      return { verdict: 'DROP', mark, evaluated, matched };
    }
  }
  return { verdict: 'ACCEPT', mark, evaluated, matched };
}
