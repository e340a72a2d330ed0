/**
 * Log fields for a failed apply. The dataplane's ApplyError carries the offending input (the
 * command, the failing line and the lines around it, the tool's stderr); this copies those own
 * fields of the error, whatever they are called, into plain loggable data, and bounds their size
 * so a failed 10 MB restore cannot flood the log.
 */
const MAX_STRING = 4000;
const MAX_ITEMS = 40;
const SKIPPED = new Set(['stack', 'message', 'name', 'cause']);

function bounded(v: unknown, depth: number): unknown {
  if (typeof v === 'string')
    return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…(${v.length} chars)` : v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
  if (depth > 2) return undefined;
  if (Array.isArray(v)) {
    const items = v.slice(0, MAX_ITEMS).map((x) => bounded(x, depth + 1));
    if (v.length > MAX_ITEMS) items.push(`…(${v.length - MAX_ITEMS} more)`);
    return items;
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const b = bounded(x, depth + 1);
      if (b !== undefined) out[k] = b;
    }
    return out;
  }
  return undefined;
}

export function applyErrorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return {};
  const out: Record<string, unknown> = {};
  if (err.name && err.name !== 'Error') out.errorType = err.name;
  for (const [k, v] of Object.entries(err)) {
    if (SKIPPED.has(k)) continue;
    const b = bounded(v, 0);
    if (b !== undefined) out[k] = b;
  }
  return out;
}
