/**
 * core/v1 Node: cluster-scoped, with /status. The sandbox's node simulator registers one per
 * node (spec.podCIDRs, status.addresses, labels) and keeps its Ready condition; agents (for
 * ClusterNetworkPolicy `nodes` peers) and the scheduler read them. Printing follows upstream's
 * printNode.
 */
import type { ResourceType } from '../resources';
import { column, NAME, AGE, age, type KindPrinter } from '../table-columns';
import { isPlainObject, type KubeObject } from '../types';
import { record, records, section, str } from './fields';

function nodeStatus(node: KubeObject): string {
  const ready = records(record(node.status).conditions).find((c) => c.type === 'Ready');
  const parts = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady'];
  if (record(node.spec).unschedulable === true) parts.push('SchedulingDisabled');
  return parts.join(',');
}

/** printNode's ROLES: the node-role.kubernetes.io/<role> labels and the kubernetes.io/role value. */
function roles(node: KubeObject): string {
  const found = new Set<string>();
  for (const [key, value] of Object.entries(node.metadata.labels ?? {})) {
    if (key.startsWith('node-role.kubernetes.io/')) found.add(key.slice('node-role.kubernetes.io/'.length));
    else if (key === 'kubernetes.io/role') found.add(value);
  }
  found.delete('');
  return found.size === 0 ? '<none>' : [...found].sort().join(',');
}

function addressOfType(node: KubeObject, type: string): string {
  const found = records(record(node.status).addresses).find((a) => a.type === type);
  return found ? str(found.address) : '<none>';
}

function nodeInfo(node: KubeObject, field: string): string {
  return str(record(record(node.status).nodeInfo)[field]) || '<unknown>';
}

export const nodePrinter: KindPrinter = {
  columns: [
    NAME,
    column('Status', 'The status of the node'),
    column('Roles', 'The roles of the node'),
    AGE,
    column('Version', 'Kubelet Version reported by the node.'),
    column('Internal-IP', 'List of internal IPs.', 1),
    column('External-IP', 'List of external IPs.', 1),
    column('OS-Image', 'OS image reported by the node from /etc/os-release.', 1),
    column('Kernel-Version', 'Kernel version reported by the node.', 1),
    column('Container-Runtime', 'Container runtime version reported by the node.', 1),
  ],
  cells: (node, now) => [
    node.metadata.name ?? '',
    nodeStatus(node),
    roles(node),
    age(node, now),
    nodeInfo(node, 'kubeletVersion'),
    addressOfType(node, 'InternalIP'),
    addressOfType(node, 'ExternalIP'),
    nodeInfo(node, 'osImage'),
    nodeInfo(node, 'kernelVersion'),
    nodeInfo(node, 'containerRuntimeVersion'),
  ],
};

export const nodes: ResourceType = {
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  kind: 'Node',
  listKind: 'NodeList',
  plural: 'nodes',
  singular: 'node',
  namespaced: false,
  shortNames: ['no'],
  categories: [],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  subresources: ['status'],
  selectableFields: ['metadata.name', 'spec.unschedulable'],
  fieldsOf: (obj) => ({
    'metadata.name': str(obj.metadata.name),
    'spec.unschedulable': record(obj.spec).unschedulable === true ? 'true' : 'false',
  }),
  applyDefaults(obj) {
    section(obj, 'spec');
  },
  validate(obj) {
    const cidrs = record(obj.spec).podCIDRs;
    if (cidrs !== undefined && (!Array.isArray(cidrs) || cidrs.some((c) => typeof c !== 'string'))) {
      return [{ reason: 'FieldValueInvalid', field: 'spec.podCIDRs', message: 'must be a list of CIDRs' }];
    }
    return [];
  },
  prepareForCreate(obj) {
    // Upstream's node strategy keeps status on create: a kubelet registers its node with it.
    if (!isPlainObject(obj.status)) obj.status = {};
  },
  printer: nodePrinter,
};
