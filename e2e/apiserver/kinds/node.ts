/**
 * v1 Node, cluster-scoped, with /status: what ClusterNetworkPolicy `nodes` peers need the agent
 * to watch (labels, status.addresses) and what kubectl prints for `get nodes` (NAME, STATUS,
 * ROLES, AGE, VERSION; -o wide adds the addresses). Like pods, a create over HTTP drops the
 * status (kubelet reports it through /status); in-process and state-file writes keep it.
 */
import type { ResourceType } from '../resources';
import { humanDuration, type TableColumn } from '../table';
import { isPlainObject, type KubeObject } from '../types';

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

function record(v: unknown): Record<string, unknown> {
  return isPlainObject(v) ? v : {};
}

function records(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isPlainObject) : [];
}

const col = (name: string, description: string, priority = 0, format = ''): TableColumn => ({
  name,
  type: 'string',
  format,
  description,
  priority,
});

/** printNode's STATUS: the Ready condition, then SchedulingDisabled when cordoned. */
function nodeStatus(node: KubeObject): string {
  const ready = records(record(node.status).conditions).find((c) => c.type === 'Ready');
  const parts = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady'];
  if (record(node.spec).unschedulable === true) parts.push('SchedulingDisabled');
  return parts.join(',');
}

/** printNode's ROLES: the node-role.kubernetes.io/<role> labels (and kubernetes.io/role). */
function nodeRoles(node: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length)
      roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v !== '') roles.add(v);
  }
  return roles.size === 0 ? '<none>' : [...roles].sort().join(',');
}

function address(node: KubeObject, type: string): string {
  const a = records(record(node.status).addresses).find((x) => x.type === type);
  return a ? str(a.address) : '<none>';
}

function age(obj: KubeObject, now: Date): string {
  const created = obj.metadata.creationTimestamp;
  return created ? humanDuration(now.getTime() - Date.parse(created)) : '<unknown>';
}

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
  applyDefaults() {},
  validate: () => [],
  prepareForCreate(obj, privileged) {
    if (!privileged || !isPlainObject(obj.status)) obj.status = {};
  },
  printer: {
    columns: [
      col('Name', 'Name must be unique within a namespace.', 0, 'name'),
      col('Status', 'The status of the node'),
      col('Roles', 'The roles of the node'),
      col(
        'Age',
        'CreationTimestamp is a timestamp representing the server time when this object was created.',
      ),
      col('Version', 'Kubelet Version reported by the node.'),
      col('Internal-IP', 'List of internal IPs in the node.', 1),
      col('External-IP', 'List of external IPs in the node.', 1),
    ],
    cells: (node, now) => [
      node.metadata.name ?? '',
      nodeStatus(node),
      nodeRoles(node),
      age(node, now),
      str(record(record(node.status).nodeInfo).kubeletVersion),
      address(node, 'InternalIP'),
      address(node, 'ExternalIP'),
    ],
  },
};
