/**
 * JSON Patch, RFC 6902 (add, remove, replace, move, copy, test) over JSON Pointers (RFC 6901).
 * A failing operation throws JsonPatchError; the whole patch then applies nothing (we work on a copy).
 */
import { clone, isPlainObject, jsonEqual } from '../types';

export class JsonPatchError extends Error {}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new JsonPatchError(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(token: string, length: number, forInsert: boolean): number {
  if (forInsert && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new JsonPatchError(`invalid array index "${token}"`);
  const index = Number(token);
  if (index > length || (!forInsert && index === length))
    throw new JsonPatchError(`array index ${index} out of bounds`);
  return index;
}

function parentOf(doc: unknown, tokens: string[], pointer: string): unknown {
  let node = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length, false)];
    else if (isPlainObject(node) && token in node) node = node[token];
    else throw new JsonPatchError(`path "${pointer}" does not exist`);
  }
  return node;
}

function get(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length, false)];
    else if (isPlainObject(node) && token in node) node = node[token];
    else throw new JsonPatchError(`path "${pointer}" does not exist`);
  }
  return node;
}

function add(doc: unknown, pointer: string, value: unknown): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, pointer);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true), 0, value);
  else if (isPlainObject(parent)) parent[last] = value;
  else throw new JsonPatchError(`path "${pointer}" has no parent object or array`);
  return doc;
}

function remove(doc: unknown, pointer: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new JsonPatchError('cannot remove the whole document');
  const parent = parentOf(doc, tokens, pointer);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, false), 1);
  else if (isPlainObject(parent) && last in parent) delete parent[last];
  else throw new JsonPatchError(`path "${pointer}" does not exist`);
  return doc;
}

export function applyJsonPatch(document: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new JsonPatchError('a JSON patch must be an array of operations');
  let doc = clone(document);
  for (const raw of patch) {
    if (!isPlainObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new JsonPatchError(`invalid operation ${JSON.stringify(raw)}`);
    }
    const op = raw as unknown as Operation;
    const needsValue = op.op === 'add' || op.op === 'replace' || op.op === 'test';
    if (needsValue && !('value' in raw)) throw new JsonPatchError(`operation "${op.op}" requires a value`);
    switch (op.op) {
      case 'add':
        doc = add(doc, op.path, clone(op.value));
        break;
      case 'remove':
        doc = remove(doc, op.path);
        break;
      case 'replace':
        get(doc, op.path);
        doc =
          parsePointer(op.path).length === 0
            ? clone(op.value)
            : add(remove(doc, op.path), op.path, clone(op.value));
        break;
      case 'move': {
        if (typeof op.from !== 'string') throw new JsonPatchError('operation "move" requires "from"');
        if (op.path.startsWith(op.from + '/')) throw new JsonPatchError('cannot move a value into itself');
        const value = get(doc, op.from);
        doc = add(remove(doc, op.from), op.path, value);
        break;
      }
      case 'copy': {
        if (typeof op.from !== 'string') throw new JsonPatchError('operation "copy" requires "from"');
        doc = add(doc, op.path, clone(get(doc, op.from)));
        break;
      }
      case 'test':
        if (!jsonEqual(get(doc, op.path), op.value))
          throw new JsonPatchError(`test operation failed at "${op.path}"`);
        break;
      default:
        throw new JsonPatchError(`unknown operation "${op.op}"`);
    }
  }
  return doc;
}
