/**
 * IP addresses and CIDRs as the API server reads them, without node:net (compiler/ is pure).
 *
 * Addresses are parsed into a family and a bigint so that containment is plain arithmetic.
 * Parsing is strict: IPv4 is four decimal octets without leading zeros; IPv6 follows RFC 4291
 * text forms (with "::" and an optional trailing dotted quad); zones ("%eth0") are rejected.
 * `formatIP` prints the canonical form (RFC 5952 for IPv6), the form the model stores.
 */

export type IPFamily = 4 | 6;

export interface ParsedIP {
  readonly family: IPFamily;
  readonly value: bigint;
}

export interface ParsedCIDR {
  readonly family: IPFamily;
  /** The address as written (host bits may be set, as the API server allows). */
  readonly ip: bigint;
  readonly prefix: number;
  /** The first address of the block (host bits cleared). */
  readonly network: bigint;
}

const IPV4_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!IPV4_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseGroups(s: string): number[] | undefined {
  if (s === '') return [];
  const out: number[] = [];
  const parts = s.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (i === parts.length - 1 && p.includes('.')) {
      const v4 = parseIPv4(p);
      if (v4 === undefined) return undefined;
      out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      continue;
    }
    if (!IPV6_GROUP.test(p)) return undefined;
    out.push(parseInt(p, 16));
  }
  return out;
}

function parseIPv6(s: string): bigint | undefined {
  const dbl = s.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    if (s.indexOf('::', dbl + 1) >= 0) return undefined;
    const head = parseGroups(s.slice(0, dbl));
    const tail = parseGroups(s.slice(dbl + 2));
    if (!head || !tail) return undefined;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    const all = parseGroups(s);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

export function parseIP(s: string): ParsedIP | undefined {
  if (s.includes(':')) {
    const v = parseIPv6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseIPv4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

export function familyBits(f: IPFamily): number {
  return f === 4 ? 32 : 128;
}

export function formatIP(ip: ParsedIP): string {
  if (ip.family === 4) {
    const o: number[] = [];
    for (let i = 3; i >= 0; i--) o.push(Number((ip.value >> BigInt(i * 8)) & 0xffn));
    return o.join('.');
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (first on ties) of two or more zero groups.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** The canonical text of an address, or undefined when `s` is not an address. */
export function canonicalIP(s: string): string | undefined {
  const p = parseIP(s);
  return p ? formatIP(p) : undefined;
}

export function parseCIDR(s: string): ParsedCIDR | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(bits)) return undefined;
  const prefix = Number(bits);
  const max = familyBits(ip.family);
  if (prefix > max) return undefined;
  const hostBits = BigInt(max - prefix);
  const network = (ip.value >> hostBits) << hostBits;
  return { family: ip.family, ip: ip.value, prefix, network };
}

export function cidrContainsIP(c: ParsedCIDR, ip: ParsedIP): boolean {
  if (c.family !== ip.family) return false;
  const hostBits = BigInt(familyBits(c.family) - c.prefix);
  return ip.value >> hostBits === c.network >> hostBits;
}

/** True when `inner` lies inside `outer` and is strictly smaller (the API server's rule for except). */
export function cidrStrictlyWithin(inner: ParsedCIDR, outer: ParsedCIDR): boolean {
  return (
    inner.family === outer.family &&
    inner.prefix > outer.prefix &&
    cidrContainsIP(outer, { family: inner.family, value: inner.network })
  );
}

/** The canonical text of a CIDR with host bits cleared ("10.1.2.3/8" -> "10.0.0.0/8"). */
export function formatCIDR(c: ParsedCIDR): string {
  return `${formatIP({ family: c.family, value: c.network })}/${c.prefix}`;
}
