/**
 * A simplified server-side apply. Upstream tracks field ownership per manager (managedFields) and
 * reports conflicts between managers; this server instead remembers, per object and manager, the last
 * configuration applied, and turns a new apply into the strategic merge patch kubectl's client-side apply
 * would send: everything in the new configuration, plus deletions of what the manager applied before and
 * no longer does. Fields set by other writers are kept. Conflicts are never reported and managedFields
 * are not maintained.
 */
import { isPlainObject, jsonEqual } from '../types';
import type { PatchMeta } from './patch-meta';

type JsonMap = Record<string, unknown>;

/** The strategic merge patch that moves an object from `previous` applied config to `next`. */
export function applyPatchFor(
  previous: JsonMap | undefined,
  next: JsonMap,
  meta: PatchMeta | undefined,
): JsonMap {
  const patch: JsonMap = { ...next };
  if (!previous) return patch;
  for (const [key, before] of Object.entries(previous)) {
    const fieldMeta = meta?.fields?.[key];
    const after = next[key];
    if (!(key in next)) {
      patch[key] = null;
    } else if (isPlainObject(before) && isPlainObject(after)) {
      patch[key] = applyPatchFor(before, after, fieldMeta);
    } else if (Array.isArray(before) && Array.isArray(after) && fieldMeta?.strategy === 'merge') {
      const mergeKey = fieldMeta.mergeKey;
      if (mergeKey === undefined) {
        const gone = before.filter((b) => !after.some((a) => jsonEqual(a, b)));
        if (gone.length > 0) patch[`$deleteFromPrimitiveList/${key}`] = gone;
        continue;
      }
      const keyOf = (e: unknown) => (isPlainObject(e) ? e[mergeKey] : undefined);
      const merged: unknown[] = after.map((a) => {
        const b = before.find((x) => jsonEqual(keyOf(x), keyOf(a)));
        return isPlainObject(a) && isPlainObject(b) ? applyPatchFor(b, a, fieldMeta.items) : a;
      });
      for (const b of before) {
        if (!after.some((a) => jsonEqual(keyOf(a), keyOf(b))))
          merged.push({ $patch: 'delete', [mergeKey]: keyOf(b) });
      }
      patch[key] = merged;
    }
  }
  return patch;
}
