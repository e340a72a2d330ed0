/**
 * What a watcher asks for: events of a pod, of a namespace, of a verdict, since a time. Parsed
 * from the debug endpoint's query (the CLI's flags map one to one) and matched per event.
 */
import { LOG_VERDICTS, type LogVerdict } from '../../../dataplane/verdict-log';
import { parseDuration } from '../duration';
import type { VerdictEvent } from './event';

export interface WatchFilter {
  /** Either end is this pod ("namespace/name"). */
  readonly pod?: string;
  /** Either end is a pod of this namespace. */
  readonly namespace?: string;
  readonly verdicts?: ReadonlySet<LogVerdict>;
  /** Only events logged at or after this time (epoch ms). */
  readonly sinceMs?: number;
}

export class FilterError extends Error {}

const POD = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `?pod=NS/NAME&namespace=NS&verdict=denied,would-deny&since=5m`; `now` is epoch ms. */
export function parseWatchFilter(q: URLSearchParams, now: number): WatchFilter {
  const pod = q.get('pod') ?? undefined;
  if (pod !== undefined && !POD.test(pod)) throw new FilterError(`pod: "${pod}" is not NAMESPACE/POD`);
  const namespace = q.get('namespace') ?? undefined;
  if (namespace !== undefined && !NAMESPACE.test(namespace))
    throw new FilterError(`namespace: "${namespace}" is not a namespace name`);
  let verdicts: Set<LogVerdict> | undefined;
  const v = q.getAll('verdict').flatMap((x) => x.split(','));
  if (v.length > 0) {
    for (const x of v) {
      if (!(LOG_VERDICTS as readonly string[]).includes(x))
        throw new FilterError(`verdict: "${x}" is not one of ${LOG_VERDICTS.join(', ')}`);
    }
    verdicts = new Set(v as LogVerdict[]);
  }
  let sinceMs: number | undefined;
  const since = q.get('since');
  if (since !== null) {
    const ms = parseDuration(since);
    if (ms === undefined) throw new FilterError(`since: "${since}" is not a duration (e.g. 30s, 5m, 1h)`);
    sinceMs = now - ms;
  }
  return {
    ...(pod !== undefined ? { pod } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(verdicts ? { verdicts } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
  };
}

export function matches(f: WatchFilter, e: VerdictEvent): boolean {
  if (f.verdicts && !f.verdicts.has(e.verdict)) return false;
  if (f.pod !== undefined && e.src.pod !== f.pod && e.dst.pod !== f.pod) return false;
  if (f.namespace !== undefined) {
    const ns = (pod: string | undefined): string | undefined => pod?.slice(0, pod.indexOf('/'));
    if (ns(e.src.pod) !== f.namespace && ns(e.dst.pod) !== f.namespace) return false;
  }
  if (f.sinceMs !== undefined && Date.parse(e.time) < f.sinceMs) return false;
  return true;
}
