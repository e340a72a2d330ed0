/**
 * networking.k8s.io/v1 NetworkPolicy validation: the schema (types, unknown fields, as
 * kubectl's strict field validation) and the API server's ValidateNetworkPolicySpec rules.
 */
import { FieldErrors, type FieldPath, type RawObject } from './fields';
import { cidrStrictlyWithin, parseCIDR, type ParsedCIDR } from './ip';
import { validateLabelSelector } from './meta';
import { ianaServiceName } from './names';

export const SPEC_FIELDS = ['podSelector', 'policyTypes', 'ingress', 'egress'];
const PEER_FIELDS = ['podSelector', 'namespaceSelector', 'ipBlock'];
const PORT_FIELDS = ['protocol', 'port', 'endPort'];
export const PROTOCOL_VALUES = ['TCP', 'UDP', 'SCTP'];

function quoteAll(xs: readonly string[]): string {
  return xs.map((x) => `"${x}"`).join(', ');
}

export function validateNetworkPolicySpec(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  if (raw === undefined || raw === null) {
    errs.add(path, 'required value');
    return;
  }
  const spec = errs.object(raw, path, SPEC_FIELDS);
  if (!spec) return;
  if (spec.podSelector === undefined) {
    errs.add([...path, 'podSelector'], 'required value (use {} to select every pod in the namespace)');
  } else if (spec.podSelector !== null) {
    validateLabelSelector(spec.podSelector, [...path, 'podSelector'], errs);
  }
  // `podSelector:` with no value (null) the API server decodes into the empty selector (every
  // pod of the namespace); upstream manifests write it so (network-policy-api's conformance
  // suite does), and kubectl sends it as null.
  const types = errs.array(spec.policyTypes, [...path, 'policyTypes']);
  if (types) {
    if (types.length > 2) errs.add([...path, 'policyTypes'], 'may not specify more than two policyTypes');
    types.forEach((t, i) => {
      const s = errs.string(t, [...path, 'policyTypes', i]);
      if (s !== undefined && s !== 'Ingress' && s !== 'Egress') {
        errs.add(
          [...path, 'policyTypes', i],
          `unsupported value ${JSON.stringify(s)}: supported values: "Ingress", "Egress"`,
        );
      }
    });
  }
  for (const [dir, peersField] of [
    ['ingress', 'from'],
    ['egress', 'to'],
  ] as const) {
    const rules = errs.array(spec[dir], [...path, dir]);
    (rules ?? []).forEach((r, i) => {
      const rpath = [...path, dir, i];
      const rule = errs.object(r === null ? {} : r, rpath, [peersField, 'ports']);
      if (!rule) return;
      const ports = errs.array(rule.ports, [...rpath, 'ports']);
      (ports ?? []).forEach((p, j) => validatePort(p, [...rpath, 'ports', j], errs));
      const peers = errs.array(rule[peersField], [...rpath, peersField]);
      (peers ?? []).forEach((p, j) => validatePeer(p, [...rpath, peersField, j], errs));
    });
  }
}

function validatePort(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const p = errs.object(raw === null ? {} : raw, path, PORT_FIELDS);
  if (!p) return;
  const proto = errs.string(p.protocol, [...path, 'protocol']);
  if (proto !== undefined && !PROTOCOL_VALUES.includes(proto)) {
    errs.add(
      [...path, 'protocol'],
      `unsupported value ${JSON.stringify(proto)}: supported values: ${quoteAll(PROTOCOL_VALUES)}`,
    );
  }
  let numericPort: number | undefined;
  const port = p.port;
  if (typeof port === 'number') {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      errs.add([...path, 'port'], `${port}: must be between 1 and 65535, inclusive`);
    } else numericPort = port;
  } else if (typeof port === 'string') {
    for (const e of ianaServiceName(port)) errs.add([...path, 'port'], `${JSON.stringify(port)}: ${e}`);
  } else if (port !== undefined && port !== null) {
    errs.add([...path, 'port'], 'must be a port number or a port name');
  }
  const endPort = errs.integer(p.endPort, [...path, 'endPort']);
  if (endPort !== undefined) {
    if (port === undefined || port === null) {
      errs.add([...path, 'endPort'], 'may not be specified when `port` is not specified');
    } else if (typeof port === 'string') {
      errs.add([...path, 'endPort'], 'may not be specified when `port` is non-numeric');
    } else if (numericPort !== undefined && endPort < numericPort) {
      errs.add(
        [...path, 'endPort'],
        `${endPort}: must be greater than or equal to \`port\` (${numericPort})`,
      );
    }
    if (endPort < 1 || endPort > 65535)
      errs.add([...path, 'endPort'], `${endPort}: must be between 1 and 65535, inclusive`);
  }
}

function validatePeer(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const peer: RawObject | undefined = errs.object(raw === null ? {} : raw, path, PEER_FIELDS);
  if (!peer) return;
  const has = (k: string) => peer[k] !== undefined && peer[k] !== null;
  const n = PEER_FIELDS.filter(has).length;
  if (n === 0) {
    errs.add(path, 'must specify a peer (podSelector, namespaceSelector or ipBlock)');
  } else if (n > 1 && has('ipBlock')) {
    errs.add(path, 'may not specify both ipBlock and another peer');
  }
  if (has('podSelector')) validateLabelSelector(peer.podSelector, [...path, 'podSelector'], errs);
  if (has('namespaceSelector'))
    validateLabelSelector(peer.namespaceSelector, [...path, 'namespaceSelector'], errs);
  if (has('ipBlock')) validateIPBlock(peer.ipBlock, [...path, 'ipBlock'], errs);
}

function validateIPBlock(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const b = errs.object(raw, path, ['cidr', 'except']);
  if (!b) return;
  let cidr: ParsedCIDR | undefined;
  const cidrText = errs.string(b.cidr, [...path, 'cidr']);
  if (b.cidr === undefined || b.cidr === null || cidrText === '') {
    errs.add([...path, 'cidr'], 'required value');
  } else if (cidrText !== undefined) {
    cidr = parseCIDR(cidrText);
    if (!cidr)
      errs.add(
        [...path, 'cidr'],
        `${JSON.stringify(cidrText)}: must be a valid CIDR (e.g. 10.0.0.0/8 or fd00::/64)`,
      );
  }
  const except = errs.array(b.except, [...path, 'except']);
  (except ?? []).forEach((e, i) => {
    const epath = [...path, 'except', i];
    const s = errs.string(e, epath);
    if (s === undefined) return;
    const ex = parseCIDR(s);
    if (!ex) {
      errs.add(epath, `${JSON.stringify(s)}: must be a valid CIDR (e.g. 10.0.0.0/8 or fd00::/64)`);
      return;
    }
    if (!cidr || cidrStrictlyWithin(ex, cidr)) return;
    if (ex.family !== cidr.family) {
      errs.add(
        epath,
        `${JSON.stringify(s)} is not within cidr ${JSON.stringify(cidrText)} (different IP family)`,
      );
    } else if (ex.prefix === cidr.prefix && ex.network === cidr.network) {
      errs.add(
        epath,
        `${JSON.stringify(s)} is not strictly within cidr ${JSON.stringify(cidrText)}: an except must be smaller than cidr`,
      );
    } else {
      errs.add(epath, `${JSON.stringify(s)} is not within cidr ${JSON.stringify(cidrText)}`);
    }
  });
}
