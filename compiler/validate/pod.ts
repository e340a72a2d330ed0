/**
 * v1 Pod validation: the fields NetworkPolicy depends on, checked as the API server checks
 * them (containers with names and images, container ports, nodeName, status addresses).
 * Container fields Palisade does not read (command, env, resources, ...) are left unchecked.
 */
import { FieldErrors, type FieldPath } from './fields';
import { parseIP } from './ip';
import { dns1123Label, dns1123Subdomain, ianaServiceName } from './names';
import { PROTOCOL_VALUES } from './networkpolicy';

export const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

export function validatePodSpec(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  if (raw === undefined || raw === null) {
    errs.add(path, 'required value');
    return;
  }
  const spec = errs.object(raw, path);
  if (!spec) return;
  const containers = errs.array(spec.containers, [...path, 'containers']);
  if (!containers || containers.length === 0) {
    if (spec.containers === undefined || (containers && containers.length === 0)) {
      errs.add([...path, 'containers'], 'required value: a pod needs at least one container');
    }
  }
  const portNames = new Map<string, string>();
  (containers ?? []).forEach((c, i) => validateContainer(c, [...path, 'containers', i], errs, portNames));
  const init = errs.array(spec.initContainers, [...path, 'initContainers']);
  (init ?? []).forEach((c, i) => errs.object(c, [...path, 'initContainers', i]));
  const node = errs.string(spec.nodeName, [...path, 'nodeName']);
  if (node)
    for (const p of dns1123Subdomain(node)) errs.add([...path, 'nodeName'], `${JSON.stringify(node)}: ${p}`);
  errs.boolean(spec.hostNetwork, [...path, 'hostNetwork']);
}

function validateContainer(
  raw: unknown,
  path: FieldPath,
  errs: FieldErrors,
  portNames: Map<string, string>,
): void {
  const c = errs.object(raw, path);
  if (!c) return;
  const name = errs.string(c.name, [...path, 'name']);
  if (c.name === undefined || c.name === null || name === '') errs.add([...path, 'name'], 'required value');
  else if (name !== undefined)
    for (const p of dns1123Label(name)) errs.add([...path, 'name'], `${JSON.stringify(name)}: ${p}`);
  const image = errs.string(c.image, [...path, 'image']);
  if (c.image === undefined || c.image === null || image === '')
    errs.add([...path, 'image'], 'required value');
  const ports = errs.array(c.ports, [...path, 'ports']);
  (ports ?? []).forEach((p, j) => {
    const ppath = [...path, 'ports', j];
    const port = errs.object(p, ppath, ['name', 'containerPort', 'protocol', 'hostPort', 'hostIP']);
    if (!port) return;
    const num = errs.integer(port.containerPort, [...ppath, 'containerPort']);
    if (port.containerPort === undefined || port.containerPort === null) {
      errs.add([...ppath, 'containerPort'], 'required value');
    } else if (num !== undefined && (num < 1 || num > 65535)) {
      errs.add([...ppath, 'containerPort'], `${num}: must be between 1 and 65535, inclusive`);
    }
    const hostPort = errs.integer(port.hostPort, [...ppath, 'hostPort']);
    if (hostPort !== undefined && (hostPort < 1 || hostPort > 65535)) {
      errs.add([...ppath, 'hostPort'], `${hostPort}: must be between 1 and 65535, inclusive`);
    }
    errs.string(port.hostIP, [...ppath, 'hostIP']);
    const proto = errs.string(port.protocol, [...ppath, 'protocol']);
    if (proto !== undefined && !PROTOCOL_VALUES.includes(proto)) {
      errs.add(
        [...ppath, 'protocol'],
        `unsupported value ${JSON.stringify(proto)}: supported values: "TCP", "UDP", "SCTP"`,
      );
    }
    const pname = errs.string(port.name, [...ppath, 'name']);
    if (pname) {
      const problems = ianaServiceName(pname);
      for (const e of problems) errs.add([...ppath, 'name'], `${JSON.stringify(pname)}: ${e}`);
      const seen = portNames.get(pname);
      if (seen !== undefined)
        errs.add([...ppath, 'name'], `duplicate port name ${JSON.stringify(pname)} (also at ${seen})`);
      else
        portNames.set(
          pname,
          ppath
            .map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`))
            .join('')
            .slice(1),
        );
    }
  });
}

export function validatePodStatus(raw: unknown, path: FieldPath, errs: FieldErrors): void {
  const status = errs.object(raw, path);
  if (!status) return;
  const phase = errs.string(status.phase, [...path, 'phase']);
  if (phase !== undefined && !POD_PHASES.includes(phase)) {
    errs.add(
      [...path, 'phase'],
      `unsupported value ${JSON.stringify(phase)}: supported values: ${POD_PHASES.map((p) => `"${p}"`).join(', ')}`,
    );
  }
  const podIP = errs.string(status.podIP, [...path, 'podIP']);
  if (podIP && !parseIP(podIP))
    errs.add([...path, 'podIP'], `${JSON.stringify(podIP)}: must be a valid IP address`);
  const list = errs.array(status.podIPs, [...path, 'podIPs']);
  const families = new Set<number>();
  let first: string | undefined;
  (list ?? []).forEach((e, i) => {
    const epath = [...path, 'podIPs', i];
    const o = errs.object(e, epath, ['ip']);
    if (!o) return;
    const ip = errs.string(o.ip, [...epath, 'ip']);
    if (o.ip === undefined || o.ip === null) errs.add([...epath, 'ip'], 'required value');
    if (ip === undefined) return;
    const parsed = parseIP(ip);
    if (!parsed) {
      errs.add([...epath, 'ip'], `${JSON.stringify(ip)}: must be a valid IP address`);
      return;
    }
    if (i === 0) first = ip;
    if (families.has(parsed.family)) {
      errs.add([...epath, 'ip'], `${JSON.stringify(ip)}: may specify no more than one IP for each IP family`);
    }
    families.add(parsed.family);
  });
  if (podIP && parseIP(podIP) && first !== undefined && podIP !== first) {
    errs.add(
      [...path, 'podIP'],
      `${JSON.stringify(podIP)}: must match the first entry of podIPs (${JSON.stringify(first)})`,
    );
  }
}
