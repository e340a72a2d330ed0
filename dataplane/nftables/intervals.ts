/**
 * Address intervals for nftables interval sets: an ipBlock's cidr minus its excepts becomes a
 * list of disjoint intervals, and every interval has one canonical text — a plain address for a
 * single address, `addr/len` when it is exactly a prefix, `start-end` otherwise — which is how
 * nft prints interval elements, so rendered elements and read-back ones compare as strings.
 */
import type { IPFamily } from '../api';
import { canonicalIP, familyOf, parseCIDR } from '../ip';

export interface Interval {
  readonly start: bigint;
  readonly end: bigint;
}

const bitsOf = (family: IPFamily): number => (family === 4 ? 32 : 128);

/** An address as a number. */
export function addressValue(address: string): bigint {
  const text = canonicalIP(address);
  if (familyOf(text) === 4) {
    return text.split('.').reduce((v, o) => (v << 8n) | BigInt(Number(o)), 0n);
  }
  // inet_ntop prints IPv4-mapped addresses with a dotted tail: make it two hex groups.
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  const hexText = dotted
    ? `${dotted[1]}${((Number(dotted[2]) << 8) | Number(dotted[3])).toString(16)}:${((Number(dotted[4]) << 8) | Number(dotted[5])).toString(16)}`
    : text;
  const [head, tail] = hexText.includes('::') ? hexText.split('::') : [hexText, undefined];
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** A number as canonical address text of a family. */
export function addressText(value: bigint, family: IPFamily): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
  }
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  return canonicalIP(groups.join(':'));
}

export function cidrInterval(cidr: string): { family: IPFamily; interval: Interval } {
  const net = parseCIDR(cidr);
  const start = addressValue(net.address);
  const size = 1n << BigInt(bitsOf(net.family) - net.prefix);
  return { family: net.family, interval: { start, end: start + size - 1n } };
}

/** `cidr` minus every `except` of the same family, as sorted disjoint intervals. */
export function cidrMinus(
  cidr: string,
  excepts: readonly string[],
): { family: IPFamily; intervals: Interval[] } {
  const { family, interval } = cidrInterval(cidr);
  let out: Interval[] = [interval];
  for (const e of excepts) {
    const ex = cidrInterval(e);
    if (ex.family !== family) continue;
    const next: Interval[] = [];
    for (const iv of out) {
      if (ex.interval.end < iv.start || ex.interval.start > iv.end) {
        next.push(iv);
        continue;
      }
      if (ex.interval.start > iv.start) next.push({ start: iv.start, end: ex.interval.start - 1n });
      if (ex.interval.end < iv.end) next.push({ start: ex.interval.end + 1n, end: iv.end });
    }
    out = next;
  }
  return { family, intervals: out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0)) };
}

/** The canonical element text of an interval (see the file comment). */
export function intervalText(iv: Interval, family: IPFamily): string {
  if (iv.start === iv.end) return addressText(iv.start, family);
  const size = iv.end - iv.start + 1n;
  if ((size & (size - 1n)) === 0n && iv.start % size === 0n) {
    let log = 0;
    while (1n << BigInt(log) < size) log++;
    return `${addressText(iv.start, family)}/${bitsOf(family) - log}`;
  }
  return `${addressText(iv.start, family)}-${addressText(iv.end, family)}`;
}

/** Parse an element text ("10.0.0.1", "10.0.0.0/8", "10.0.0.1-10.0.0.9") into its interval. */
export function parseIntervalText(text: string): { family: IPFamily; interval: Interval } {
  const dash = text.indexOf('-');
  if (dash > 0) {
    const a = text.slice(0, dash);
    const b = text.slice(dash + 1);
    const family = familyOf(a);
    return { family, interval: { start: addressValue(a), end: addressValue(b) } };
  }
  return cidrInterval(text);
}

/** Does the interval element `text` hold `address`? */
export function intervalHas(text: string, address: string): boolean {
  const { family, interval } = parseIntervalText(text);
  if (familyOf(address) !== family) return false;
  const v = addressValue(address);
  return v >= interval.start && v <= interval.end;
}
