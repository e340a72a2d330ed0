/**
 * Strategic-merge metadata (upstream's `patchStrategy`/`patchMergeKey` struct tags) for the fields of
 * the served kinds that have any (a Deployment's or StatefulSet's pod template merges as a pod does). Lists not named here are atomic: a patch replaces
 * them, exactly as upstream treats lists without a patch strategy (all of NetworkPolicy's spec lists).
 */
export interface PatchMeta {
  /** Metadata of map fields, by JSON name. */
  fields?: Record<string, PatchMeta>;
  /** For a list field: merge strategy, the merge key of its elements (absent: a primitive set). */
  strategy?: 'merge';
  mergeKey?: string;
  /** `retainKeys` strategy: the elements (or this map) honour `$retainKeys`. */
  retainKeys?: boolean;
  /** Metadata of the elements of a list field. */
  items?: PatchMeta;
}

const mergeBy = (mergeKey: string, items?: PatchMeta, retainKeys?: boolean): PatchMeta => ({
  strategy: 'merge',
  mergeKey,
  items,
  retainKeys,
});

const objectMeta: PatchMeta = {
  fields: {
    finalizers: { strategy: 'merge' },
    ownerReferences: mergeBy('uid'),
  },
};

const container: PatchMeta = {
  fields: {
    ports: mergeBy('containerPort'),
    env: mergeBy('name'),
    volumeMounts: mergeBy('mountPath'),
    volumeDevices: mergeBy('devicePath'),
  },
};

const podSpec: PatchMeta = {
  fields: {
    containers: mergeBy('name', container),
    initContainers: mergeBy('name', container),
    ephemeralContainers: mergeBy('name', container),
    volumes: mergeBy('name', undefined, true),
    imagePullSecrets: mergeBy('name'),
    hostAliases: mergeBy('ip'),
    topologySpreadConstraints: mergeBy('topologyKey'),
    resourceClaims: mergeBy('name', undefined, true),
    schedulingGates: mergeBy('name'),
  },
};

const podStatus: PatchMeta = {
  fields: {
    conditions: mergeBy('type'),
    podIPs: mergeBy('ip'),
    hostIPs: mergeBy('ip'),
    resourceClaimStatuses: mergeBy('name', undefined, true),
  },
};

const podTemplate: PatchMeta = { fields: { metadata: objectMeta, spec: podSpec } };

const workloadStatus: PatchMeta = { fields: { conditions: mergeBy('type') } };

export const PATCH_META_BY_KIND: Record<string, PatchMeta> = {
  Pod: { fields: { metadata: objectMeta, spec: podSpec, status: podStatus } },
  Node: {
    fields: {
      metadata: objectMeta,
      spec: { fields: { taints: mergeBy('key') } },
      status: { fields: { conditions: mergeBy('type'), addresses: mergeBy('type') } },
    },
  },
  Deployment: {
    fields: { metadata: objectMeta, spec: { fields: { template: podTemplate } }, status: workloadStatus },
  },
  StatefulSet: {
    fields: { metadata: objectMeta, spec: { fields: { template: podTemplate } }, status: workloadStatus },
  },
  Namespace: { fields: { metadata: objectMeta, status: { fields: { conditions: mergeBy('type') } } } },
  NetworkPolicy: { fields: { metadata: objectMeta } },
};
