/**
 * What the iptables backend's drift watch looks at, as pure functions.
 *
 * Rules: with iptables-nft, Palisade's chains live in nf_tables (tables `ip filter` and `ip6
 * filter`), so `nft monitor` reports every commit that touches them, whoever made it. An event
 * that names one of Palisade's chains is ours; one that names FORWARD (where Palisade's jump
 * lives: a deleted rule there is printed without its text) or deletes or flushes a whole filter
 * table may be (other tools change FORWARD too, so those are rate-limited by the monitor).
 *
 * Sets: ipset has no change feed. `ipset list -t` prints each set's header with its number of
 * entries, without the entries: comparing those counts with the desired sets every second is
 * cheap, and catches any deleted or added member (a member swapped for another keeps the count:
 * that waits for the periodic full check).
 */
import type { KernelSet } from '../model';
import { PREFIX } from './names';

const FILTER = String.raw`\b(?:ip|ip6) filter\b`;
const OWN_CHAIN = new RegExp(`${FILTER} ${PREFIX}[A-Za-z0-9_-]+\\b`);
const HOOK_CHAIN = new RegExp(`${FILTER} FORWARD\\b`);
const WHOLE_TABLE = new RegExp(`^(?:delete|flush) table ${FILTER}`);

/** An `nft monitor` event line: does it concern Palisade's iptables-nft rules? */
export function iptablesEventClass(event: string): 'ours' | 'maybe' | undefined {
  if (OWN_CHAIN.test(event)) return 'ours';
  if (HOOK_CHAIN.test(event) || WHOLE_TABLE.test(event)) return 'maybe';
  return undefined;
}

/** Entry counts by set name, from `ipset list -t` (terse: headers only). */
export function parseIpsetTerse(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  let name: string | undefined;
  for (const line of text.split('\n')) {
    const n = /^Name: (\S+)$/.exec(line);
    if (n) {
      name = n[1];
      continue;
    }
    const c = /^Number of entries: (\d+)$/.exec(line);
    if (c && name !== undefined) counts.set(name, Number(c[1]));
  }
  return counts;
}

/** The desired sets whose kernel count differs (or that the kernel lacks), one line each. */
export function setCountDifferences(
  desired: Iterable<KernelSet>,
  kernel: ReadonlyMap<string, number>,
): string[] {
  const out: string[] = [];
  for (const set of desired) {
    const have = kernel.get(set.name);
    if (have === undefined) out.push(`ipset ${set.name} is missing`);
    else if (have !== set.members.size)
      out.push(`ipset ${set.name} holds ${have} entries, ${set.members.size} expected`);
  }
  return out;
}
