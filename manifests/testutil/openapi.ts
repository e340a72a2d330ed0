/**
 * Checks Kubernetes objects against the API's OpenAPI schema, as the API server would before
 * admitting them, from two generated copies of that schema:
 *
 * - kubernetes-models (its validators are compiled from the OpenAPI definitions): types,
 *   required fields, enums, formats. It ignores fields it does not know, so
 * - @kubernetes/client-node's model table (generated from OpenAPI release-1.36) supplies the
 *   strict part: every field of the object must exist at its place in the schema, the check
 *   `kubectl apply --validate=strict` makes, which catches `livenessProbe` spelt
 *   `livenesProbe` (silently dropped by a lenient server) before a cluster does.
 *
 * Both packages are ES modules, loaded with import() (this project compiles to CommonJS).
 */
import type { K8sObject } from './render';

/** One field of a generated client-node model. */
interface Attribute {
  baseName: string;
  type: string;
}
interface ModelClass {
  getAttributeTypeMap(): Attribute[];
}
interface ValidatingModel {
  validate(): void;
}
type ModelConstructor = new (data: object) => ValidatingModel;

/** 'apps/v1' -> 'kubernetes-models/apps/v1'; 'v1' -> 'kubernetes-models/v1'. */
function modelsModule(apiVersion: string): string {
  return `kubernetes-models/${apiVersion}`;
}

/** Problems kubernetes-models' validator finds; [] when the object is valid. */
export async function schemaProblems(obj: K8sObject): Promise<string[]> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modelsModule(obj.apiVersion))) as Record<string, unknown>;
  } catch {
    return [`no schema for apiVersion ${obj.apiVersion}`];
  }
  const Model = mod[obj.kind] as ModelConstructor | undefined;
  if (typeof Model !== 'function') return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return [e instanceof Error ? e.message : String(e)];
  }
}

/** The client-node model name of a top-level kind: 'apps/v1' DaemonSet -> 'V1DaemonSet'. */
function topModelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? apiVersion;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

const LEAF_TYPES: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  boolean: (v) => typeof v === 'boolean',
  number: (v) => typeof v === 'number',
  Date: (v) => typeof v === 'string',
  IntOrString: (v) => typeof v === 'string' || Number.isInteger(v),
  any: () => true,
  object: () => true,
};

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;

/**
 * Every field of `obj` that its kind's schema does not have, and every value of the wrong
 * JSON type, as "path: problem" lines.
 */
export async function unknownFieldProblems(obj: K8sObject): Promise<string[]> {
  const models = (await import('@kubernetes/client-node')) as unknown as Record<
    string,
    ModelClass | undefined
  >;
  const problems: string[] = [];

  const walk = (value: unknown, type: string, at: string): void => {
    const leaf = LEAF_TYPES[type];
    if (leaf) {
      if (!leaf(value)) problems.push(`${at}: expected ${type}, got ${JSON.stringify(value)}`);
      return;
    }
    const array = ARRAY.exec(type);
    if (array) {
      if (!Array.isArray(value)) return void problems.push(`${at}: expected a list`);
      value.forEach((item, i) => walk(item, array[1], `${at}[${i}]`));
      return;
    }
    const map = MAP.exec(type);
    if (map) {
      if (!isPlainObject(value)) return void problems.push(`${at}: expected a map`);
      for (const [k, v] of Object.entries(value)) walk(v, map[1], `${at}.${k}`);
      return;
    }
    const model = models[type];
    if (!model || typeof model.getAttributeTypeMap !== 'function') {
      return void problems.push(`${at}: schema type ${type} is unknown to client-node`);
    }
    if (!isPlainObject(value)) return void problems.push(`${at}: expected an object (${type})`);
    const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
    for (const [k, v] of Object.entries(value)) {
      const fieldType = attributes.get(k);
      if (fieldType === undefined) problems.push(`${at}.${k}: unknown field (not in ${type})`);
      else walk(v, fieldType, `${at}.${k}`);
    }
  };

  walk(obj, topModelName(obj.apiVersion, obj.kind), `${obj.kind}/${obj.metadata?.name}`);
  return problems;
}

/** Both checks; [] when the object would be admitted by a strict-validating API server. */
export async function openApiProblems(obj: K8sObject): Promise<string[]> {
  return [...(await schemaProblems(obj)), ...(await unknownFieldProblems(obj))];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
