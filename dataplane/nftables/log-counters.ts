/**
 * The verdict log's counters in nftables: the table's two named counters around the node's limit
 * (render.ts: `palisade-log-seen` counts every packet that reached a log point,
 * `palisade-log-logged` those the limit let through), read with `list counters table inet
 * palisade` through the session, which prints only the table's named counters as JSON.
 */
import type { LogCounterSample } from '../api';
import { LOG_LOGGED_COUNTER, LOG_SEEN_COUNTER } from '../verdict-log';
import { TABLE, TABLE_REF } from './names';

/** The list command (a single one, as NftSession.list takes). */
export const LIST_COUNTERS = `list counters table ${TABLE_REF}`;

const ROLE: Record<string, LogCounterSample['role']> = {
  [LOG_SEEN_COUNTER]: 'seen',
  [LOG_LOGGED_COUNTER]: 'logged',
};

/**
 * The two counters from nft's JSON. Each is keyed by its name and handle: a counter created
 * again (the table deleted and written anew) may get the same handle, and then shows as a count
 * that went down (see LogCounterSample).
 */
export function parseLogCounters(json: string): LogCounterSample[] {
  if (json.trim() === '') return [];
  const doc = JSON.parse(json) as { nftables?: unknown[] };
  const out: LogCounterSample[] = [];
  for (const item of doc.nftables ?? []) {
    const c = (item as { counter?: Record<string, unknown> }).counter;
    if (!c || c.table !== TABLE || c.family !== 'inet' || typeof c.name !== 'string') continue;
    const role = ROLE[c.name];
    if (!role || typeof c.packets !== 'number') continue;
    out.push({ key: `${c.name}#${String(c.handle)}`, role, packets: c.packets });
  }
  return out;
}
