/**
 * v1 Node validation: the fields ClusterNetworkPolicy `nodes` peers and the sandbox read
 * (spec.podCIDR/podCIDRs, status.addresses), checked as the API server checks them: podCIDRs
 * are CIDRs, at most one per IP family, podCIDR equals podCIDRs[0]; an address has a type and a
 * value, and InternalIP/ExternalIP values are IP addresses (Palisade matches on them). Fields
 * Palisade does not read (taints, capacity, conditions, ...) are left unchecked.
 */
import { FieldErrors, type FieldPath } from './fields';
import { parseCIDR, parseIP } from './ip';

export const NODE_ADDRESS_TYPES = ['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS'];
/** The address types that carry an IP address: what `nodes` peers match. */
export const NODE_IP_ADDRESS_TYPES = ['InternalIP', 'ExternalIP'];

export function validateNodeSpec(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const spec = errs.object(raw, path);
  if (!spec) return;
  const cidrs = errs.array(spec.podCIDRs, [...path, 'podCIDRs']) ?? [];
  const families = new Set<number>();
  let first: string | undefined;
  cidrs.forEach((c, i) => {
    const s = errs.string(c, [...path, 'podCIDRs', i]);
    if (s === undefined) return;
    const parsed = parseCIDR(s);
    if (!parsed) {
      errs.add([...path, 'podCIDRs', i], `${JSON.stringify(s)}: must be a valid CIDR (e.g. 10.244.1.0/24)`);
      return;
    }
    if (i === 0) first = s;
    if (families.has(parsed.family))
      errs.add(
        [...path, 'podCIDRs', i],
        `${JSON.stringify(s)}: may specify no more than one CIDR for each IP family`,
      );
    families.add(parsed.family);
  });
  if (cidrs.length > 2) errs.add([...path, 'podCIDRs'], 'must have at most 2 items (one per IP family)');
  const single = errs.string(spec.podCIDR, [...path, 'podCIDR']);
  if (single) {
    if (!parseCIDR(single))
      errs.add([...path, 'podCIDR'], `${JSON.stringify(single)}: must be a valid CIDR (e.g. 10.244.1.0/24)`);
    else if (first !== undefined && single !== first)
      errs.add(
        [...path, 'podCIDR'],
        `${JSON.stringify(single)}: must match the first entry of podCIDRs (${JSON.stringify(first)})`,
      );
  }
}

export function validateNodeStatus(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const status = errs.object(raw, path);
  if (!status) return;
  const addresses = errs.array(status.addresses, [...path, 'addresses']) ?? [];
  addresses.forEach((a, i) => {
    const apath = [...path, 'addresses', i];
    const o = errs.object(a, apath, ['type', 'address']);
    if (!o) return;
    const type = errs.string(o.type, [...apath, 'type']);
    const address = errs.string(o.address, [...apath, 'address']);
    if (!type) errs.add([...apath, 'type'], 'required value');
    else if (!NODE_ADDRESS_TYPES.includes(type))
      errs.add(
        [...apath, 'type'],
        `unsupported value ${JSON.stringify(type)}: supported values: ${NODE_ADDRESS_TYPES.map((t) => `"${t}"`).join(', ')}`,
      );
    if (!address) errs.add([...apath, 'address'], 'required value');
    else if (type !== undefined && NODE_IP_ADDRESS_TYPES.includes(type) && !parseIP(address))
      errs.add([...apath, 'address'], `${JSON.stringify(address)}: must be a valid IP address`);
  });
}
