/**
 * Reading and writing object files for the CLI and tests: multi-document YAML or JSON, where a document
 * may be one object, a `kind: List` (or any `*List` with items), or an array of objects. Saved state is a
 * JSON List of every object.
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { isPlainObject, type KubeObject } from './types';

function flatten(doc: unknown, into: KubeObject[], source: string): void {
  if (doc === null || doc === undefined) return;
  if (Array.isArray(doc)) {
    doc.forEach((d) => flatten(d, into, source));
  } else if (
    isPlainObject(doc) &&
    Array.isArray(doc.items) &&
    typeof doc.kind === 'string' &&
    doc.kind.endsWith('List')
  ) {
    doc.items.forEach((d) => flatten(d, into, source));
  } else if (isPlainObject(doc) && typeof doc.kind === 'string') {
    into.push(doc as KubeObject);
  } else {
    throw new Error(`${source}: a document is neither an object with a kind, a List nor an array`);
  }
}

export function parseObjects(text: string, source = 'input'): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0].message}`);
    flatten(doc.toJS(), objects, source);
  }
  return objects;
}

export function readObjectsFile(path: string): KubeObject[] {
  return parseObjects(readFileSync(path, 'utf8'), path);
}

export function writeStateFile(path: string, objects: KubeObject[]): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2) + '\n');
  renameSync(tmp, path);
}
