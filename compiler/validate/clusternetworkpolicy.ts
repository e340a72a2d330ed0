/**
 * policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy validation, exactly as an API server
 * with the experimental-channel CRD (network-policy-api v0.2.0,
 * config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml) accepts or
 * rejects an object that kubectl sends with strict field validation:
 *
 * - the OpenAPI schema: types, required fields, unknown fields (strict validation reports
 *   them rather than pruning them), enums, minimum/maximum, min/maxItems, maxLength, the
 *   domainNames pattern, min/maxProperties (how the schema says "exactly one of": subject,
 *   peers, protocols, tcp/udp/sctp, destinationPort);
 * - every x-kubernetes-validations (CEL) rule of the CRD, with the CRD's own messages:
 *   `isCIDR(self)` on networks, `self.start < self.end` on port ranges, and on egress rules
 *   "no destinationNamedPort with networks/nodes/domainNames peers";
 * - list-type `set` (networks, domainNames): no duplicates.
 *
 * A field set to null counts as absent, as the API server prunes nulls of non-nullable fields
 * before validating. Status is not validated on create (the status subresource makes the API
 * server drop it); `validateClusterNetworkPolicyStatus` checks it for /status writes.
 *
 * Label selectors: the CRD types them (matchLabels a string map, matchExpressions objects with
 * string key and operator) but nothing checks them further, so the API server accepts an
 * operator "Equals" or `In` without values. Those are not errors here either; they are
 * reported as warnings, because Palisade, as client-go, treats such a selector as selecting
 * nothing (compiler/scenario/project.ts).
 */
import { FieldErrors, type FieldPath, type RawObject } from './fields';
import { validateLabelSelector } from './meta';
import { parseCIDR } from './ip';

export const CLUSTER_POLICY_API_VERSION = 'policy.networking.k8s.io/v1alpha2';

const SPEC_FIELDS = ['tier', 'priority', 'subject', 'ingress', 'egress'];
const TIERS = ['Admin', 'Baseline'];
const ACTIONS = ['Accept', 'Deny', 'Pass'];
const SUBJECT_FIELDS = ['namespaces', 'pods'];
const INGRESS_PEER_FIELDS = ['namespaces', 'pods'];
const EGRESS_PEER_FIELDS = ['namespaces', 'pods', 'networks', 'nodes', 'domainNames'];
const PROTOCOL_FIELDS = ['tcp', 'udp', 'sctp', 'destinationNamedPort'];
const MAX_ITEMS = 25;
const MAX_RULE_NAME = 100;
const MAX_NETWORK_LENGTH = 43;
const MAX_PRIORITY = 1000;

/** The CRD's pattern for domainNames entries, verbatim (its `A-z` range included). */
export const DOMAIN_NAME_PATTERN =
  '^(\\*\\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\\.?$';
const DOMAIN_NAME = new RegExp(DOMAIN_NAME_PATTERN);

/** The CRD's CEL messages. */
export const CEL_MESSAGES = {
  cidr: 'Invalid CIDR format provided',
  range: 'Start port must be less than End port',
  namedPort:
    'networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames',
} as const;

const quoteAll = (xs: readonly string[]) => xs.map((x) => `"${x}"`).join(', ');

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** Problems the API server does not reject but that change how Palisade reads the object. */
export interface Checks {
  readonly errs: FieldErrors;
  readonly warns: FieldErrors;
}

/** `isCIDR(self)` of Kubernetes' CEL library: netip.ParsePrefix, no IPv4-mapped IPv6 address. */
export function isCIDR(s: string): boolean {
  const c = parseCIDR(s);
  if (!c) return false;
  if (c.family === 6 && c.ip >> 32n === 0xffffn) return false; // ::ffff:a.b.c.d
  return true;
}

function enumValue(v: unknown, path: FieldPath, allowed: readonly string[], errs: FieldErrors): void {
  const s = errs.string(v, path);
  if (s !== undefined && !allowed.includes(s))
    errs.add(path, `unsupported value ${JSON.stringify(s)}: supported values: ${quoteAll(allowed)}`);
}

function integerIn(
  v: unknown,
  path: FieldPath,
  min: number,
  max: number,
  errs: FieldErrors,
): number | undefined {
  const n = errs.integer(v, path);
  if (n === undefined) return undefined;
  if (n < min || n > max) {
    errs.add(path, `${n}: must be between ${min} and ${max}, inclusive`);
    return undefined;
  }
  return n;
}

/** A list with minItems/maxItems; returns its items (null when absent or not a list). */
function list(v: unknown, path: FieldPath, errs: FieldErrors, min: number, max: number): unknown[] | null {
  if (!present(v)) return null;
  const xs = errs.array(v, path);
  if (!xs) return null;
  if (xs.length < min) errs.add(path, `must have at least ${min} item${min === 1 ? '' : 's'}`);
  if (xs.length > max) errs.add(path, `must have at most ${max} items (has ${xs.length})`);
  return xs;
}

/** An object whose properties are "exactly one of" (minProperties 1, maxProperties 1). */
function oneOf(
  v: unknown,
  path: FieldPath,
  fields: readonly string[],
  errs: FieldErrors,
  unknownHint = '',
): RawObject | undefined {
  if (!present(v)) return undefined;
  const o = errs.object(v, path);
  if (!o) return undefined;
  for (const k of Object.keys(o)) {
    if (!fields.includes(k)) errs.add([...path, k], `unknown field${unknownHint}`);
  }
  const set = fields.filter((k) => present(o[k]));
  if (set.length === 0) errs.add(path, `must set exactly one of ${fields.join(', ')} (has none)`);
  else if (set.length > 1)
    errs.add(path, `must set exactly one of ${fields.join(', ')} (has ${set.length}: ${set.join(', ')})`);
  return o;
}

/** metav1.LabelSelector as the CRD's schema types it; semantic problems become warnings. */
function selector(v: unknown, path: FieldPath, c: Checks): void {
  if (!present(v)) return;
  const before = c.errs.errors.length;
  const sel = c.errs.object(v, path, ['matchLabels', 'matchExpressions']);
  if (!sel) return;
  const labels = present(sel.matchLabels)
    ? c.errs.object(sel.matchLabels, [...path, 'matchLabels'])
    : undefined;
  for (const [k, val] of Object.entries(labels ?? {})) {
    if (typeof val !== 'string' && present(val)) c.errs.string(val, [...path, 'matchLabels', k]);
  }
  const exprs = present(sel.matchExpressions)
    ? c.errs.array(sel.matchExpressions, [...path, 'matchExpressions'])
    : undefined;
  (exprs ?? []).forEach((e, i) => {
    const epath = [...path, 'matchExpressions', i];
    const r = c.errs.object(e, epath, ['key', 'operator', 'values']);
    if (!r) {
      if (e === null) c.errs.add(epath, 'must be an object, not null');
      return;
    }
    for (const f of ['key', 'operator']) {
      if (!present(r[f])) c.errs.add([...epath, f], 'required value');
      else c.errs.string(r[f], [...epath, f]);
    }
    const values = present(r.values) ? c.errs.array(r.values, [...epath, 'values']) : undefined;
    (values ?? []).forEach((x, j) => {
      if (typeof x !== 'string')
        c.errs.add([...epath, 'values', j], `must be a string, not ${x === null ? 'null' : typeof x}`);
    });
  });
  if (c.errs.errors.length !== before) return;
  const semantic = new FieldErrors();
  validateLabelSelector(v, path, semantic);
  for (const e of semantic.errors) {
    c.warns.add(
      e.path,
      `${e.message}: the API server accepts this (the CRD does not check label selectors), but it is not a valid label selector; Palisade, as client-go, treats the whole selector as selecting nothing`,
    );
  }
}

function namespacedPods(v: unknown, path: FieldPath, c: Checks): void {
  const o = c.errs.object(v, path, ['namespaceSelector', 'podSelector']);
  if (!o) return;
  if (!present(o.podSelector)) c.errs.add([...path, 'podSelector'], 'required value');
  selector(o.namespaceSelector, [...path, 'namespaceSelector'], c);
  selector(o.podSelector, [...path, 'podSelector'], c);
}

/** A `set` list of strings: no duplicates. */
function stringSet(
  xs: unknown[],
  path: FieldPath,
  errs: FieldErrors,
  each: (s: string, p: FieldPath) => void,
): void {
  const seen = new Set<string>();
  xs.forEach((x, i) => {
    const s = errs.string(x, [...path, i]);
    if (x === null) errs.add([...path, i], 'must be a string, not null');
    if (s === undefined) return;
    if (seen.has(s)) errs.add([...path, i], `duplicate value ${JSON.stringify(s)}`);
    seen.add(s);
    each(s, [...path, i]);
  });
}

function peer(v: unknown, path: FieldPath, direction: 'ingress' | 'egress', c: Checks): void {
  const fields = direction === 'ingress' ? INGRESS_PEER_FIELDS : EGRESS_PEER_FIELDS;
  const hint =
    direction === 'ingress'
      ? ' (an ingress peer is namespaces or pods; networks, nodes and domainNames are egress peers)'
      : '';
  if (v === null) {
    c.errs.add(path, 'must be an object, not null');
    return;
  }
  const p = oneOf(v, path, fields, c.errs, hint);
  if (!p) return;
  selector(p.namespaces, [...path, 'namespaces'], c);
  if (present(p.pods)) namespacedPods(p.pods, [...path, 'pods'], c);
  if (direction === 'ingress') return;
  selector(p.nodes, [...path, 'nodes'], c);
  const networks = list(p.networks, [...path, 'networks'], c.errs, 1, MAX_ITEMS);
  if (networks) {
    stringSet(networks, [...path, 'networks'], c.errs, (s, at) => {
      if ([...s].length > MAX_NETWORK_LENGTH)
        c.errs.add(at, `${JSON.stringify(s)}: must be no more than ${MAX_NETWORK_LENGTH} characters`);
      if (!isCIDR(s)) c.errs.add(at, `${JSON.stringify(s)}: ${CEL_MESSAGES.cidr}`);
    });
  }
  const domains = list(p.domainNames, [...path, 'domainNames'], c.errs, 1, MAX_ITEMS);
  if (domains) {
    stringSet(domains, [...path, 'domainNames'], c.errs, (s, at) => {
      if (!DOMAIN_NAME.test(s)) c.errs.add(at, `${JSON.stringify(s)}: should match '${DOMAIN_NAME_PATTERN}'`);
    });
  }
}

function destinationPort(v: unknown, path: FieldPath, errs: FieldErrors): void {
  const d = oneOf(v, path, ['number', 'range'], errs);
  if (!d) return;
  if (present(d.number)) integerIn(d.number, [...path, 'number'], 1, 65535, errs);
  if (!present(d.range)) return;
  const rpath = [...path, 'range'];
  const r = errs.object(d.range, rpath, ['start', 'end']);
  if (!r) return;
  let start: number | undefined;
  let end: number | undefined;
  for (const f of ['start', 'end'] as const) {
    if (!present(r[f])) errs.add([...rpath, f], 'required value');
    else if (f === 'start') start = integerIn(r[f], [...rpath, f], 1, 65535, errs);
    else end = integerIn(r[f], [...rpath, f], 1, 65535, errs);
  }
  if (start !== undefined && end !== undefined && !(start < end))
    errs.add(rpath, `${start}-${end}: ${CEL_MESSAGES.range}`);
}

function protocol(v: unknown, path: FieldPath, errs: FieldErrors): void {
  if (v === null) {
    errs.add(path, 'must be an object, not null');
    return;
  }
  const p = oneOf(v, path, PROTOCOL_FIELDS, errs);
  if (!p) return;
  for (const proto of ['tcp', 'udp', 'sctp']) {
    if (!present(p[proto])) continue;
    // minProperties 1: destinationPort is the only property, so it is required.
    const o = oneOf(p[proto], [...path, proto], ['destinationPort'], errs);
    if (o && present(o.destinationPort))
      destinationPort(o.destinationPort, [...path, proto, 'destinationPort'], errs);
  }
  if (present(p.destinationNamedPort)) errs.string(p.destinationNamedPort, [...path, 'destinationNamedPort']);
}

function rule(v: unknown, path: FieldPath, direction: 'ingress' | 'egress', c: Checks): void {
  const peersField = direction === 'ingress' ? 'from' : 'to';
  if (v === null) {
    c.errs.add(path, 'must be an object, not null');
    return;
  }
  const r = c.errs.object(v, path, ['name', 'action', peersField, 'protocols']);
  if (!r) return;
  if (present(r.name)) {
    const name = c.errs.string(r.name, [...path, 'name']);
    if (name !== undefined && [...name].length > MAX_RULE_NAME)
      c.errs.add(
        [...path, 'name'],
        `must be no more than ${MAX_RULE_NAME} characters (has ${[...name].length})`,
      );
  }
  if (!present(r.action)) c.errs.add([...path, 'action'], 'required value');
  else enumValue(r.action, [...path, 'action'], ACTIONS, c.errs);
  if (!present(r[peersField])) c.errs.add([...path, peersField], 'required value');
  const peers = list(r[peersField], [...path, peersField], c.errs, 1, MAX_ITEMS);
  (peers ?? []).forEach((p, i) => peer(p, [...path, peersField, i], direction, c));
  const protocols = list(r.protocols, [...path, 'protocols'], c.errs, 1, MAX_ITEMS);
  (protocols ?? []).forEach((p, i) => protocol(p, [...path, 'protocols', i], c.errs));
  if (direction === 'egress' && peers && protocols) {
    const addressPeer = peers.some(
      (p) =>
        typeof p === 'object' &&
        p !== null &&
        ['networks', 'nodes', 'domainNames'].some((k) => present((p as RawObject)[k])),
    );
    const namedPort = protocols.some(
      (p) => typeof p === 'object' && p !== null && present((p as RawObject).destinationNamedPort),
    );
    if (addressPeer && namedPort) c.errs.add(path, CEL_MESSAGES.namedPort);
  }
}

/** spec of a ClusterNetworkPolicy: schema errors in `c.errs`, selector warnings in `c.warns`. */
export function validateClusterNetworkPolicySpec(raw: unknown, path: FieldPath, c: Checks): void {
  if (!present(raw)) {
    c.errs.add(path, 'required value');
    return;
  }
  const spec = c.errs.object(raw, path, SPEC_FIELDS);
  if (!spec) return;
  if (!present(spec.tier)) c.errs.add([...path, 'tier'], 'required value');
  else enumValue(spec.tier, [...path, 'tier'], TIERS, c.errs);
  if (!present(spec.priority)) c.errs.add([...path, 'priority'], 'required value');
  else integerIn(spec.priority, [...path, 'priority'], 0, MAX_PRIORITY, c.errs);
  if (!present(spec.subject)) c.errs.add([...path, 'subject'], 'required value');
  const subject = oneOf(spec.subject, [...path, 'subject'], SUBJECT_FIELDS, c.errs);
  if (subject) {
    selector(subject.namespaces, [...path, 'subject', 'namespaces'], c);
    if (present(subject.pods)) namespacedPods(subject.pods, [...path, 'subject', 'pods'], c);
  }
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = list(spec[direction], [...path, direction], c.errs, 0, MAX_ITEMS);
    (rules ?? []).forEach((r, i) => rule(r, [...path, direction, i], direction, c));
  }
}

const CONDITION_STATUS = ['True', 'False', 'Unknown'];
const CONDITION_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const CONDITION_TYPE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;

/** status (metav1.Condition list, keyed by type), as a /status write is checked. */
export function validateClusterNetworkPolicyStatus(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  if (!present(raw)) return;
  const status = errs.object(raw, path, ['conditions']);
  if (!status) return;
  if (!present(status.conditions)) {
    errs.add([...path, 'conditions'], 'required value');
    return;
  }
  const conditions = errs.array(status.conditions, [...path, 'conditions']) ?? [];
  const types = new Set<string>();
  conditions.forEach((raw, i) => {
    const cpath = [...path, 'conditions', i];
    const c = errs.object(raw, cpath, [
      'type',
      'status',
      'reason',
      'message',
      'lastTransitionTime',
      'observedGeneration',
    ]);
    if (!c) return;
    for (const f of ['lastTransitionTime', 'message', 'reason', 'status', 'type']) {
      if (!present(c[f])) errs.add([...cpath, f], 'required value');
    }
    const type = errs.string(c.type, [...cpath, 'type']);
    if (type !== undefined) {
      if (type.length > 316 || !CONDITION_TYPE.test(type))
        errs.add([...cpath, 'type'], `${JSON.stringify(type)}: must be a qualified name`);
      if (types.has(type)) errs.add([...cpath, 'type'], `duplicate value ${JSON.stringify(type)}`);
      types.add(type);
    }
    if (present(c.status)) enumValue(c.status, [...cpath, 'status'], CONDITION_STATUS, errs);
    const reason = errs.string(c.reason, [...cpath, 'reason']);
    if (reason !== undefined && (reason.length > 1024 || !CONDITION_REASON.test(reason)))
      errs.add([...cpath, 'reason'], `${JSON.stringify(reason)}: should match '${CONDITION_REASON.source}'`);
    const message = errs.string(c.message, [...cpath, 'message']);
    if (message !== undefined && message.length > 32768)
      errs.add([...cpath, 'message'], 'must be no more than 32768 characters');
    const at = errs.string(c.lastTransitionTime, [...cpath, 'lastTransitionTime']);
    if (at !== undefined && Number.isNaN(Date.parse(at)))
      errs.add([...cpath, 'lastTransitionTime'], `${JSON.stringify(at)}: must be a date-time (RFC 3339)`);
    const gen = errs.integer(c.observedGeneration, [...cpath, 'observedGeneration']);
    if (gen !== undefined && gen < 0)
      errs.add([...cpath, 'observedGeneration'], `${gen}: must be at least 0`);
  });
}
