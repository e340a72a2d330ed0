/**
 * A few CIDR prefixes that together hold a set of addresses: what the flow cutter lists the
 * conntrack entries of, two filtered listings (`conntrack -L -s PREFIX`, `-d PREFIX`) a prefix.
 *
 * First the exact cover: the fewest prefixes that hold the addresses and no other address (the
 * local pods of a node, allocated from its pod CIDR, are mostly a few runs: a few prefixes).
 * When that takes more than `max` prefixes of a family, neighbours are merged: the addresses are
 * grouped by their first D bits, D the longest that makes at most `max` groups, and each group
 * becomes the smallest prefix that holds it. Such a prefix holds other addresses too; the caller
 * leaves their connections alone.
 */
import type { IPFamily } from './api';
import { familyOf, type Network } from './ip';
import { addressText, addressValue } from './nftables/intervals';

const widthOf = (family: IPFamily): number => (family === 4 ? 32 : 128);

/** Bits `a` and `b` share from the left, of `width`. */
function commonBits(a: bigint, b: bigint, width: number): number {
  let diff = a ^ b;
  let differing = 0;
  while (diff > 0n) {
    diff >>= 1n;
    differing++;
  }
  return width - differing;
}

function network(value: bigint, prefix: number, family: IPFamily): Network {
  const hostBits = BigInt(widthOf(family) - prefix);
  return { family, address: addressText((value >> hostBits) << hostBits, family), prefix };
}

/** The fewest prefixes holding exactly `sorted[lo..hi)` (distinct, ascending). */
function exactCover(
  sorted: readonly bigint[],
  lo: number,
  hi: number,
  family: IPFamily,
  out: Network[],
): void {
  const width = widthOf(family);
  const prefix = commonBits(sorted[lo], sorted[hi - 1], width);
  if (BigInt(hi - lo) === 1n << BigInt(width - prefix)) {
    out.push(network(sorted[lo], prefix, family));
    return;
  }
  // The first and last differ at the bit after the common prefix: split there.
  const bit = 1n << BigInt(width - prefix - 1);
  let mid = lo;
  while ((sorted[mid] & bit) === 0n) mid++;
  exactCover(sorted, lo, mid, family, out);
  exactCover(sorted, mid, hi, family, out);
}

/** How many groups the addresses make by their first `bits` bits. */
function groupCount(sorted: readonly bigint[], bits: number, width: number): number {
  const shift = BigInt(width - bits);
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] >> shift !== sorted[i - 1] >> shift) n++;
  return n;
}

/** At most `max` prefixes holding `sorted` (see the file comment). */
function mergedCover(sorted: readonly bigint[], family: IPFamily, max: number): Network[] {
  const width = widthOf(family);
  let lo = 0; // groupCount(0) is 1: always within max
  let hi = width;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (groupCount(sorted, mid, width) <= max) lo = mid;
    else hi = mid - 1;
  }
  const shift = BigInt(width - lo);
  const out: Network[] = [];
  let first = 0;
  for (let i = 1; i <= sorted.length; i++) {
    if (i < sorted.length && sorted[i] >> shift === sorted[first] >> shift) continue;
    out.push(network(sorted[first], commonBits(sorted[first], sorted[i - 1], width), family));
    first = i;
  }
  return out;
}

/** Prefixes that hold every address given (see the file comment); `max` (≥ 1) is per family. */
export function coveringPrefixes(addresses: Iterable<string>, max: number): Network[] {
  const byFamily = new Map<IPFamily, Set<bigint>>();
  for (const a of addresses) {
    const family = familyOf(a);
    let values = byFamily.get(family);
    if (!values) byFamily.set(family, (values = new Set()));
    values.add(addressValue(a));
  }
  const out: Network[] = [];
  for (const family of [4, 6] as const) {
    const values = byFamily.get(family);
    if (!values) continue;
    const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const exact: Network[] = [];
    exactCover(sorted, 0, sorted.length, family, exact);
    out.push(...(exact.length <= max ? exact : mergedCover(sorted, family, max)));
  }
  return out;
}
