/**
 * metadata (ObjectMeta) and label selector validation, shared by every kind.
 */
import { FieldErrors, type FieldPath, type RawObject } from './fields';
import { dns1123Label, dns1123Subdomain, labelValue, qualifiedName } from './names';

const OBJECT_META_FIELDS = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

export type NameRule = 'dns1123-label' | 'dns1123-subdomain';

export interface MetaOptions {
  readonly namespaced: boolean;
  readonly nameRule: NameRule;
}

/** Validates metadata and returns its name and namespace (namespace defaults to "default"). */
export function validateObjectMeta(
  raw: unknown,
  path: FieldPath,
  errs: FieldErrors,
  opts: MetaOptions,
): { name?: string; namespace?: string } {
  if (raw === undefined || raw === null) {
    errs.add(path, 'required value');
    return {};
  }
  const meta = errs.object(raw, path, OBJECT_META_FIELDS);
  if (!meta) return {};
  const name = errs.string(meta.name, [...path, 'name']);
  if (meta.name === undefined || meta.name === null || name === '') {
    errs.add(
      [...path, 'name'],
      meta.generateName !== undefined
        ? 'generateName is not supported in scenarios: set name'
        : 'required value',
    );
  } else if (name !== undefined) {
    const problems = opts.nameRule === 'dns1123-label' ? dns1123Label(name) : dns1123Subdomain(name);
    for (const p of problems) errs.add([...path, 'name'], `${JSON.stringify(name)}: ${p}`);
  }
  let namespace: string | undefined;
  if (opts.namespaced) {
    namespace = errs.string(meta.namespace, [...path, 'namespace']);
    if (namespace === undefined || namespace === '') namespace = 'default';
    else
      for (const p of dns1123Label(namespace))
        errs.add([...path, 'namespace'], `${JSON.stringify(namespace)}: ${p}`);
  }
  validateLabels(meta.labels, [...path, 'labels'], errs);
  const annotations = errs.stringMap(meta.annotations, [...path, 'annotations']);
  for (const k of Object.keys(annotations ?? {})) {
    for (const p of qualifiedName(k)) errs.add([...path, 'annotations', k], `key ${JSON.stringify(k)}: ${p}`);
  }
  return { name, namespace };
}

export function validateLabels(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const labels = errs.stringMap(raw, path);
  for (const [k, v] of Object.entries(labels ?? {})) {
    for (const p of qualifiedName(k)) errs.add([...path, k], `key ${JSON.stringify(k)}: ${p}`);
    for (const p of labelValue(v)) errs.add([...path, k], `value ${JSON.stringify(v)}: ${p}`);
  }
}

const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** metav1.LabelSelector, as ValidateLabelSelector checks it. */
export function validateLabelSelector(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const sel = errs.object(raw, path, ['matchLabels', 'matchExpressions']);
  if (!sel) return;
  validateLabels(sel.matchLabels, [...path, 'matchLabels'], errs);
  const exprs = errs.array(sel.matchExpressions, [...path, 'matchExpressions']);
  (exprs ?? []).forEach((e, i) => validateRequirement(e, [...path, 'matchExpressions', i], errs));
}

function validateRequirement(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const r: RawObject | undefined = errs.object(raw, path, ['key', 'operator', 'values']);
  if (!r) return;
  const key = errs.string(r.key, [...path, 'key']);
  if (r.key === undefined || r.key === null) errs.add([...path, 'key'], 'required value');
  else if (key !== undefined)
    for (const p of qualifiedName(key)) errs.add([...path, 'key'], `${JSON.stringify(key)}: ${p}`);
  const op = errs.string(r.operator, [...path, 'operator']);
  const values = errs.array(r.values, [...path, 'values']);
  (values ?? []).forEach((v, i) => {
    const s = errs.string(v, [...path, 'values', i]);
    if (v === null) errs.add([...path, 'values', i], 'must be a string, not null');
    if (s !== undefined)
      for (const p of labelValue(s)) errs.add([...path, 'values', i], `${JSON.stringify(s)}: ${p}`);
  });
  if (r.operator === undefined || r.operator === null) {
    errs.add([...path, 'operator'], 'required value');
    return;
  }
  if (op === undefined) return;
  const n = values?.length ?? 0;
  switch (op) {
    case 'In':
    case 'NotIn':
      if (n === 0) errs.add([...path, 'values'], `must be specified when \`operator\` is '${op}'`);
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (n > 0) errs.add([...path, 'values'], `may not be specified when \`operator\` is '${op}'`);
      break;
    default:
      errs.add(
        [...path, 'operator'],
        `unsupported value ${JSON.stringify(op)}: supported values: ${SELECTOR_OPERATORS.map((o) => `"${o}"`).join(', ')}`,
      );
  }
}
