/**
 * Address text in the exact form `ipset save` prints it, so desired members and members read
 * back from the kernel compare as plain strings. IPv4 dotted quad; IPv6 lower-case with the
 * longest run of two or more zero groups compressed (RFC 5952, as glibc's inet_ntop); networks
 * masked to their prefix, host prefixes (/32, /128) dropped as hash:net prints them.
 */
import type { IPFamily } from './api';

export function familyOf(address: string): IPFamily {
  return address.includes(':') ? 6 : 4;
}

function parseV4(text: string): number[] {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address "${text}"`);
  return parts.map((p) => {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`invalid IPv4 address "${text}"`);
    return Number(p);
  });
}

/** Sixteen bytes of an IPv6 address (accepts "::" and an embedded IPv4 tail). */
function parseV6(text: string): number[] {
  let head = text;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(text.slice(lastColon + 1));
    head = `${text.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = head.split('::');
  if (halves.length > 2) throw new Error(`invalid IPv6 address "${text}"`);
  const groups = (s: string): number[] =>
    s === ''
      ? []
      : s.split(':').map((g) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new Error(`invalid IPv6 address "${text}"`);
          return parseInt(g, 16);
        });
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  const fill = halves.length === 2 ? 8 - left.length - right.length : 0;
  if ((halves.length === 1 && left.length !== 8) || (halves.length === 2 && fill < 1)) {
    throw new Error(`invalid IPv6 address "${text}"`);
  }
  const all = [...left, ...new Array<number>(fill).fill(0), ...right];
  const bytes: number[] = [];
  for (const g of all) bytes.push(g >> 8, g & 255);
  return bytes;
}

function formatV6(bytes: readonly number[]): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i] << 8) | bytes[i + 1]);
  // IPv4-mapped addresses print with a dotted tail, as inet_ntop does.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function maskBytes(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return keep === 8 ? b : b & ((0xff << (8 - keep)) & 0xff);
  });
}

/** Canonical text of one address. */
export function canonicalIP(address: string): string {
  return familyOf(address) === 4 ? parseV4(address).join('.') : formatV6(parseV6(address));
}

export interface Network {
  readonly family: IPFamily;
  /** Masked network address, canonical text. */
  readonly address: string;
  readonly prefix: number;
}

export function parseCIDR(cidr: string): Network {
  const slash = cidr.indexOf('/');
  const addr = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = familyOf(addr);
  const bits = family === 4 ? 32 : 128;
  const prefix = slash < 0 ? bits : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) throw new Error(`invalid CIDR "${cidr}"`);
  const bytes = family === 4 ? parseV4(addr) : parseV6(addr);
  const masked = maskBytes(bytes, prefix);
  return { family, address: family === 4 ? masked.join('.') : formatV6(masked), prefix };
}

/** hash:net element text: host prefixes print bare. */
export function netEntry(n: Network): string {
  return n.prefix === (n.family === 4 ? 32 : 128) ? n.address : `${n.address}/${n.prefix}`;
}

/**
 * hash:net cannot hold a /0 (prefixes 1..32 or 1..128 only), so the whole address space is
 * stored as its two halves; nomatch entries inside still win, longest prefix first.
 */
export function netEntries(n: Network): string[] {
  if (n.prefix > 0) return [netEntry(n)];
  return n.family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1'];
}

/** hash:ip,port element "ip,proto:port" with the address canonical. */
export function canonicalIPPort(entry: string): { family: IPFamily; entry: string } {
  const comma = entry.lastIndexOf(',');
  if (comma < 0) throw new Error(`invalid ip,port entry "${entry}"`);
  const ip = canonicalIP(entry.slice(0, comma));
  return { family: familyOf(ip), entry: `${ip},${entry.slice(comma + 1).toLowerCase()}` };
}
