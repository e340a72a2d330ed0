/**
 * Server-side printing (meta.k8s.io/v1 Table), what `kubectl get` asks for. Columns and cell formats
 * follow upstream's printers for these kinds (pkg/printers/internalversion): NAME/STATUS/AGE for
 * namespaces, NAME/READY/STATUS/RESTARTS/AGE (+ IP/NODE/... for -o wide) for pods, NAME/POD-SELECTOR/AGE
 * for network policies.
 */
import type { ResourceType } from './resources';
import { AGE, age, column, NAME, type IncludeObject, type KindPrinter } from './table-columns';
import { isPlainObject, type KubeObject } from './types';

export { humanDuration, type IncludeObject, type TableColumn } from './table-columns';

function record(value: unknown): Record<string, unknown> {
  return isPlainObject(value) ? value : {};
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isPlainObject) : [];
}

/** metav1.FormatLabelSelector. */
export function formatLabelSelector(selector: unknown): string {
  const s = record(selector);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(record(s.matchLabels)).sort(([a], [b]) => a.localeCompare(b))) {
    parts.push(`${k}=${String(v)}`);
  }
  for (const e of records(s.matchExpressions)) {
    const values = Array.isArray(e.values) ? e.values.join(',') : '';
    switch (e.operator) {
      case 'In':
        parts.push(`${String(e.key)} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${String(e.key)} notin (${values})`);
        break;
      case 'Exists':
        parts.push(String(e.key));
        break;
      case 'DoesNotExist':
        parts.push(`!${String(e.key)}`);
        break;
    }
  }
  return parts.length === 0 ? '<none>' : parts.join(',');
}

/** The STATUS column of `kubectl get pods` (simplified printPod: reason, container states, Terminating). */
function podStatus(pod: KubeObject): string {
  const status = record(pod.status);
  let reason = String(status.reason ?? status.phase ?? 'Unknown');
  for (const cs of records(status.containerStatuses)) {
    const state = record(cs.state);
    const waiting = record(state.waiting);
    const terminated = record(state.terminated);
    if (waiting.reason) reason = String(waiting.reason);
    else if (terminated.reason) reason = String(terminated.reason);
  }
  if (pod.metadata.deletionTimestamp) reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

const PRINTERS: Record<string, KindPrinter> = {
  Namespace: {
    columns: [NAME, column('Status', 'The status of the namespace'), AGE],
    cells: (obj, now) => [obj.metadata.name ?? '', String(record(obj.status).phase ?? ''), age(obj, now)],
  },
  Pod: {
    columns: [
      NAME,
      column('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      column('Status', 'The aggregate status of the containers in this pod.'),
      column(
        'Restarts',
        'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      ),
      AGE,
      column(
        'IP',
        'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
        1,
      ),
      column('Node', 'NodeName is a request to schedule this pod onto a specific node.', 1),
      column(
        'Nominated Node',
        'nominatedNodeName is set only when this pod preempts other pods on the node.',
        1,
      ),
      column('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
    ],
    cells(pod, now) {
      const spec = record(pod.spec);
      const status = record(pod.status);
      const containerStatuses = records(status.containerStatuses);
      const ready = containerStatuses.filter((c) => c.ready === true).length;
      const restarts = containerStatuses.reduce((sum, c) => sum + (Number(c.restartCount) || 0), 0);
      const gates = records(spec.readinessGates);
      return [
        pod.metadata.name ?? '',
        `${ready}/${records(spec.containers).length}`,
        podStatus(pod),
        String(restarts),
        age(pod, now),
        String(status.podIP || '<none>'),
        String(spec.nodeName || '<none>'),
        String(status.nominatedNodeName || '<none>'),
        gates.length === 0 ? '<none>' : `0/${gates.length}`,
      ];
    },
  },
  NetworkPolicy: {
    columns: [
      NAME,
      column('Pod-Selector', 'Selects the pods to which this NetworkPolicy object applies.'),
      AGE,
    ],
    cells: (obj, now) => [
      obj.metadata.name ?? '',
      formatLabelSelector(record(obj.spec).podSelector),
      age(obj, now),
    ],
  },
};

/** metav1.PartialObjectMetadata of an object: what Table rows carry unless includeObject=Object. */
export function partialObjectMetadata(obj: KubeObject, apiVersion = 'meta.k8s.io/v1'): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion, metadata: obj.metadata };
}

export interface TableOptions {
  includeObject: IncludeObject;
  noHeaders: boolean;
  now: Date;
}

export function toTable(
  rt: ResourceType,
  objects: KubeObject[],
  listMeta: Record<string, unknown>,
  options: TableOptions,
): Record<string, unknown> {
  const printer = rt.printer ?? PRINTERS[rt.kind];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: options.noHeaders ? [] : printer.columns,
    rows: objects.map((obj) => {
      const row: Record<string, unknown> = { cells: printer.cells(obj, options.now) };
      if (options.includeObject === 'Object') row.object = obj;
      else if (options.includeObject === 'Metadata') row.object = partialObjectMetadata(obj);
      return row;
    }),
  };
}
