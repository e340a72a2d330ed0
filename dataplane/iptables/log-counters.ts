/**
 * The verdict log's counters in iptables: the packet counters of PALISADE-LOG-LIMIT's two rules
 * (render.ts: the first counts every packet that reached a log point, the second, the hashlimit
 * match, those the node's bucket let through). Read per family with one
 * `iptables -w -S PALISADE-LOG-LIMIT -v`, which prints the chain's rules as iptables-save does,
 * each with its counters as `-c PACKETS BYTES` before the target (iptables-nft and -legacy 1.8.9
 * alike). One chain's rules, not the whole table: cheap at any ruleset size.
 */
import type { IPFamily, LogCounterSample } from '../api';
import { RULE_HASH_CHARS, RULE_HASH_TAG } from '../names';
import { CHAIN_LOG_LIMIT } from './names';

/** The argv (after the binary) that prints the chain with its counters. */
export const LOG_LIMIT_LIST_ARGS: readonly string[] = ['-w', '-S', CHAIN_LOG_LIMIT, '-v'];

const RULE_HASH = new RegExp(`${RULE_HASH_TAG}([A-Z2-7]{${RULE_HASH_CHARS}}) `);
const COUNTERS = /\s-c (\d+) (\d+)(?:\s|$)/;

/**
 * The chain's two counters from `iptables -S PALISADE-LOG-LIMIT -v`. Rules without Palisade's
 * hash in their comment (someone else's) are skipped; each counter is keyed by its family and
 * its rule's hash, so a rule rewritten with new settings (a new rate: a new hash) is a new key.
 */
export function parseLogLimitChain(text: string, family: IPFamily): LogCounterSample[] {
  const out: LogCounterSample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`-A ${CHAIN_LOG_LIMIT} `)) continue;
    const hash = RULE_HASH.exec(line);
    const counters = COUNTERS.exec(line);
    if (!hash || !counters) continue;
    out.push({
      key: `ipv${family}:${hash[1]}`,
      role: line.includes('--hashlimit-name') ? 'logged' : 'seen',
      packets: Number(counters[1]),
    });
  }
  return out;
}
