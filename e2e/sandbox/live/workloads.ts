/**
 * What the Deployment and StatefulSet controllers decide, as pure functions of the workload and
 * the pods it owns (by ownerReference uid): pods to create from the template, pods to delete,
 * and the status to write. Enough for suites that create their pods that way; not simulated:
 * ReplicaSets, rolling updates (a changed template replaces every pod at once), surge and
 * unavailability budgets, minReadySeconds, pod disruption.
 *
 * - Deployment: `replicas` pods named NAME-HASH-XXXXX, labelled with pod-template-hash HASH (of
 *   the template); pods of another hash are deleted; extra pods go, not-ready ones first.
 * - StatefulSet: pods NAME-0 … NAME-(n-1). OrderedReady (the default) creates ordinal i only
 *   when 0 … i-1 are Running and Ready, and removes from the highest ordinal, one at a time;
 *   Parallel does both at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Json } from './kube-rest';
import { isReady } from './pod-status';

export interface WorkloadPlan {
  readonly create: readonly Json[];
  readonly delete: readonly string[];
  readonly status: Json;
}

function meta(o: Json): {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  labels?: Record<string, string>;
  deletionTimestamp?: string;
  creationTimestamp?: string;
} {
  return (o.metadata ?? {}) as ReturnType<typeof meta>;
}

function spec(o: Json): Json {
  return (o.spec ?? {}) as Json;
}

export function templateHash(workload: Json): string {
  const digest = createHash('sha256')
    .update(JSON.stringify(spec(workload).template ?? {}))
    .digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...digest.subarray(0, 10)].map((b) => alphabet[b % alphabet.length]).join('');
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** A pod from the workload's template, owned by it. */
function podFromTemplate(
  workload: Json,
  kind: string,
  name: string,
  extraLabels: Record<string, string>,
  extraSpec: Json = {},
): Json {
  const m = meta(workload);
  const template = (spec(workload).template ?? {}) as Json;
  const tMeta = (template.metadata ?? {}) as Json;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: m.namespace,
      labels: { ...((tMeta.labels ?? {}) as Record<string, string>), ...extraLabels },
      ...(tMeta.annotations ? { annotations: tMeta.annotations } : {}),
      ownerReferences: [
        { apiVersion: 'apps/v1', kind, name: m.name, uid: m.uid, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: { ...structuredClone((template.spec ?? {}) as Json), ...extraSpec },
  };
}

const live = (pods: readonly Json[]): Json[] => pods.filter((p) => !meta(p).deletionTimestamp);
const running = (p: Json): boolean => (p.status as Json | undefined)?.phase === 'Running';

export function planDeployment(deployment: Json, owned: readonly Json[]): WorkloadPlan {
  const m = meta(deployment);
  const replicas = Number(spec(deployment).replicas ?? 1);
  const hash = templateHash(deployment);
  const current = live(owned);
  const updated = current.filter((p) => meta(p).labels?.['pod-template-hash'] === hash);
  const outdated = current.filter((p) => meta(p).labels?.['pod-template-hash'] !== hash);
  const remove = outdated.map((p) => meta(p).name);
  const create: Json[] = [];
  for (let i = updated.length; i < replicas; i++) {
    create.push(
      podFromTemplate(deployment, 'Deployment', `${m.name}-${hash}-${randomSuffix()}`, {
        'pod-template-hash': hash,
      }),
    );
  }
  if (updated.length > replicas) {
    // Not-ready pods go first, then the newest (upstream's ActivePods ordering, simplified).
    const excess = [...updated].sort((a, b) => {
      const ra = isReady(a) ? 1 : 0;
      const rb = isReady(b) ? 1 : 0;
      if (ra !== rb) return ra - rb;
      return String(meta(b).creationTimestamp).localeCompare(String(meta(a).creationTimestamp));
    });
    remove.push(...excess.slice(0, updated.length - replicas).map((p) => meta(p).name));
  }
  const ready = current.filter(isReady).length;
  const updatedReady = updated.filter(isReady).length;
  const available = updatedReady >= replicas && outdated.length === 0;
  return {
    create,
    delete: remove,
    status: {
      observedGeneration: m.generation ?? 1,
      replicas: current.length,
      updatedReplicas: updated.length,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(current.length - ready > 0 ? { unavailableReplicas: current.length - ready } : {}),
      conditions: [
        {
          type: 'Available',
          status: available ? 'True' : 'False',
          reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          message: available
            ? 'Deployment has minimum availability.'
            : 'Deployment does not have minimum availability.',
        },
        {
          type: 'Progressing',
          status: 'True',
          reason:
            updated.length === replicas && outdated.length === 0
              ? 'NewReplicaSetAvailable'
              : 'ReplicaSetUpdated',
          message: `Deployment "${m.name}" is progressing.`,
        },
      ],
    },
  };
}

function ordinalOf(setName: string, pod: Json): number {
  const name = meta(pod).name;
  const m = name.startsWith(`${setName}-`) ? /^(\d+)$/.exec(name.slice(setName.length + 1)) : null;
  return m ? Number(m[1]) : -1;
}

export function planStatefulSet(set: Json, owned: readonly Json[]): WorkloadPlan {
  const m = meta(set);
  const s = spec(set);
  const replicas = Number(s.replicas ?? 1);
  const ordered = (s.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady';
  const hash = templateHash(set);
  const byOrdinal = new Map<number, Json>();
  for (const p of owned) byOrdinal.set(ordinalOf(m.name, p), p);
  const create: Json[] = [];
  const remove: string[] = [];
  for (let i = 0; i < replicas; i++) {
    const p = byOrdinal.get(i);
    if (p) {
      if (ordered && (!running(p) || !isReady(p) || meta(p).deletionTimestamp)) break;
      continue;
    }
    create.push(
      podFromTemplate(
        set,
        'StatefulSet',
        `${m.name}-${i}`,
        {
          'controller-revision-hash': `${m.name}-${hash}`,
          'statefulset.kubernetes.io/pod-name': `${m.name}-${i}`,
          'apps.kubernetes.io/pod-index': String(i),
        },
        { hostname: `${m.name}-${i}`, ...(s.serviceName ? { subdomain: s.serviceName } : {}) },
      ),
    );
    if (ordered) break;
  }
  const extra = [...byOrdinal.entries()]
    .filter(([i, p]) => (i < 0 || i >= replicas) && !meta(p).deletionTimestamp)
    .sort(([a], [b]) => b - a);
  const terminating = owned.some((p) => meta(p).deletionTimestamp);
  if (extra.length > 0 && !(ordered && terminating)) {
    for (const [, p] of ordered ? extra.slice(0, 1) : extra) remove.push(meta(p).name);
  }
  const current = live(owned);
  const ready = current.filter(isReady).length;
  return {
    create,
    delete: remove,
    status: {
      observedGeneration: m.generation ?? 1,
      replicas: current.length,
      readyReplicas: ready,
      currentReplicas: current.length,
      updatedReplicas: current.length,
      availableReplicas: ready,
      currentRevision: `${m.name}-${hash}`,
      updateRevision: `${m.name}-${hash}`,
    },
  };
}
