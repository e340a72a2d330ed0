/**
 * Small readers of untyped object fields, shared by the kinds in this folder (each kind keeps its
 * own defaulting, validation and printing in its own file).
 */
import { isPlainObject, type KubeObject } from '../types';

export function str(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

/** obj.spec or obj.status as a map, created empty when absent. */
export function section(obj: KubeObject, key: 'spec' | 'status'): Record<string, unknown> {
  const value = obj[key];
  if (isPlainObject(value)) return value;
  const fresh: Record<string, unknown> = {};
  obj[key] = fresh;
  return fresh;
}

export function record(value: unknown): Record<string, unknown> {
  return isPlainObject(value) ? value : {};
}

export function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isPlainObject) : [];
}

/** A map field of a map, created empty when absent. */
export function child(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = parent[key];
  if (isPlainObject(value)) return value;
  const fresh: Record<string, unknown> = {};
  parent[key] = fresh;
  return fresh;
}
