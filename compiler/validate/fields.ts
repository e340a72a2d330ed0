/**
 * Field errors and typed readers for raw (decoded YAML/JSON) Kubernetes objects.
 *
 * Validation walks plain `unknown` values: every reader checks the type, records a FieldError
 * at the exact path when it is wrong and returns undefined, so one pass reports every problem
 * of an object rather than the first. Paths are arrays ("spec", "ingress", 0) so that callers
 * can both print them (`spec.ingress[0]`) and find the YAML node they point at.
 */

export type FieldPath = readonly (string | number)[];

export interface FieldError {
  readonly path: FieldPath;
  readonly message: string;
}

export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

export type RawObject = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `a string (${JSON.stringify(v)})`;
  if (typeof v === 'number') return `a number (${v})`;
  return `a ${typeof v} (${String(v)})`;
}

/** Collects errors for one object. */
export class FieldErrors {
  readonly errors: FieldError[] = [];

  add(path: FieldPath, message: string): void {
    this.errors.push({ path, message });
  }

  /** An object (mapping). `known` lists the allowed field names: others are reported as unknown. */
  object(v: unknown, path: FieldPath, known?: readonly string[]): RawObject | undefined {
    if (v === undefined) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.add(path, `must be an object, not ${describe(v)}`);
      return undefined;
    }
    const o = v as RawObject;
    if (known) {
      for (const k of Object.keys(o)) {
        if (!known.includes(k)) this.add([...path, k], 'unknown field');
      }
    }
    return o;
  }

  /** A list; `null` is accepted as an empty list, as the API server's decoder does. */
  array(v: unknown, path: FieldPath): unknown[] | undefined {
    if (v === undefined || v === null) return v === null ? [] : undefined;
    if (!Array.isArray(v)) {
      this.add(path, `must be a list, not ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  string(v: unknown, path: FieldPath): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      this.add(path, `must be a string, not ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  integer(v: unknown, path: FieldPath): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.add(path, `must be an integer, not ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  boolean(v: unknown, path: FieldPath): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      this.add(path, `must be a boolean, not ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** A map of string to string (labels, annotations). */
  stringMap(v: unknown, path: FieldPath): Record<string, string> | undefined {
    const o = this.object(v, path);
    if (!o) return undefined;
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) {
      const s = this.string(val, [...path, k]);
      if (s !== undefined) out[k] = s;
      else if (val === null || val === undefined) this.add([...path, k], 'must be a string, not null');
    }
    return out;
  }
}
