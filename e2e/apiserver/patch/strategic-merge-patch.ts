/**
 * Strategic merge patch as kube-apiserver applies it (k8s.io/apimachinery strategicpatch), driven by
 * PatchMeta instead of Go struct tags:
 * - maps merge recursively; `null` deletes a key; `$patch: replace` replaces a map, `$patch: delete`
 *   removes it; `$retainKeys: [...]` drops the original's keys not listed;
 * - lists with strategy merge and a merge key merge element-wise by that key; an element
 *   `{$patch: delete, <key>: v}` deletes, a `{$patch: replace}` element replaces the whole list;
 *   `$setElementOrder/<field>` orders the result; primitive lists with strategy merge are unions and
 *   honour `$deleteFromPrimitiveList/<field>`;
 * - every other list is atomic and replaced.
 * Malformed directives throw SmpError (the server answers 400 BadRequest).
 */
import { isPlainObject, jsonEqual } from '../types';
import type { PatchMeta } from './patch-meta';

export class SmpError extends Error {}

const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

type JsonMap = Record<string, unknown>;

/** A patch value with directives and nulls removed: what a key absent from the original becomes. */
function materialize(value: unknown, meta: PatchMeta | undefined): unknown {
  if (isPlainObject(value)) {
    if (value.$patch === 'delete') return undefined;
    return mergeMap({}, value, meta);
  }
  if (Array.isArray(value)) return mergeList([], value, meta);
  return value;
}

export function applyStrategicMergePatch(
  original: unknown,
  patch: unknown,
  meta: PatchMeta | undefined,
): unknown {
  if (!isPlainObject(patch)) throw new SmpError('a strategic merge patch must be a JSON object');
  return mergeMap(isPlainObject(original) ? original : {}, patch, meta);
}

function mergeMap(original: JsonMap, patch: JsonMap, meta: PatchMeta | undefined): JsonMap {
  const directive = patch.$patch;
  if (directive !== undefined && directive !== 'replace' && directive !== 'merge' && directive !== 'delete') {
    throw new SmpError(`unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`);
  }
  if (directive === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return mergeMap({}, rest, meta);
  }
  let result: JsonMap = { ...original };
  if (patch.$retainKeys !== undefined) {
    if (!Array.isArray(patch.$retainKeys)) throw new SmpError('$retainKeys must be a list of field names');
    const retain = new Set(patch.$retainKeys.map(String));
    result = Object.fromEntries(Object.entries(result).filter(([k]) => retain.has(k)));
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(DELETE_PRIMITIVE)) {
      const field = key.slice(DELETE_PRIMITIVE.length);
      if (!Array.isArray(value)) throw new SmpError(`${key} must be a list`);
      if (Array.isArray(result[field])) {
        result[field] = (result[field] as unknown[]).filter((item) => !value.some((v) => jsonEqual(v, item)));
      }
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (
      key === '$patch' ||
      key === '$retainKeys' ||
      key.startsWith(SET_ORDER) ||
      key.startsWith(DELETE_PRIMITIVE)
    )
      continue;
    if (key.startsWith('$')) throw new SmpError(`unknown directive ${key}`);
    const fieldMeta = meta?.fields?.[key];
    if (value === null) {
      delete result[key];
    } else if (isPlainObject(value) && value.$patch === 'delete') {
      delete result[key];
    } else if (isPlainObject(value) && isPlainObject(result[key])) {
      result[key] = mergeMap(result[key] as JsonMap, value, fieldMeta);
    } else if (Array.isArray(value) && Array.isArray(result[key])) {
      result[key] = mergeList(result[key] as unknown[], value, fieldMeta);
    } else {
      const materialized = materialize(value, fieldMeta);
      if (materialized === undefined) delete result[key];
      else result[key] = materialized;
    }
  }
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith(SET_ORDER)) continue;
    const field = key.slice(SET_ORDER.length);
    if (!Array.isArray(order)) throw new SmpError(`${key} must be a list`);
    if (Array.isArray(result[field]))
      result[field] = applyOrder(result[field] as unknown[], order, meta?.fields?.[field]);
  }
  return result;
}

function mergeList(original: unknown[], patch: unknown[], meta: PatchMeta | undefined): unknown[] {
  const replaceMarker = patch.findIndex(
    (e) => isPlainObject(e) && e.$patch === 'replace' && Object.keys(e).length === 1,
  );
  if (meta?.strategy !== 'merge' || replaceMarker >= 0) {
    const rest = patch.filter((_, i) => i !== replaceMarker);
    const merged: unknown[] = [];
    for (const item of rest) {
      const m = materialize(item, meta?.items);
      if (m !== undefined) merged.push(m);
    }
    return merged;
  }
  if (meta.mergeKey === undefined) {
    const result = [...original];
    for (const item of patch) if (!result.some((existing) => jsonEqual(existing, item))) result.push(item);
    return result;
  }
  const mergeKey = meta.mergeKey;
  const result = [...original];
  for (const item of patch) {
    if (!isPlainObject(item)) throw new SmpError(`list elements must be maps to merge by key "${mergeKey}"`);
    if (!(mergeKey in item)) {
      throw new SmpError(`map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
    }
    const index = result.findIndex((e) => isPlainObject(e) && jsonEqual(e[mergeKey], item[mergeKey]));
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
    } else if (index >= 0) {
      result[index] = mergeMap(result[index] as JsonMap, item, meta.items);
    } else {
      result.push(mergeMap({}, item, meta.items));
    }
  }
  return result;
}

/**
 * `$setElementOrder`: elements named in the order list take the order list's order; the others keep
 * the positions they had (upstream interleaves server-only elements by their server position).
 */
function applyOrder(list: unknown[], order: unknown[], meta: PatchMeta | undefined): unknown[] {
  const keyOf = (e: unknown) => (meta?.mergeKey && isPlainObject(e) ? e[meta.mergeKey] : e);
  const orderKeyOf = (o: unknown) => (meta?.mergeKey && isPlainObject(o) ? o[meta.mergeKey] : o);
  const rank = (e: unknown) => order.findIndex((o) => jsonEqual(orderKeyOf(o), keyOf(e)));
  const ordered = list.filter((e) => rank(e) >= 0).sort((a, b) => rank(a) - rank(b));
  let next = 0;
  return list.map((e) => (rank(e) >= 0 ? ordered[next++] : e));
}
