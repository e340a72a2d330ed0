/**
 * Discovery documents: /version, legacy /api, /apis, /api/v1, /apis/{group}[/{version}], and the
 * aggregated formats (apidiscovery.k8s.io v2 and v2beta1) that kubectl >= 1.26 asks for first on /api
 * and /apis. All are derived from the served types (RESOURCE_TYPES and the custom resources of the
 * server's CRDs) so they never disagree with what is served.
 */
import { RESOURCE_TYPES, subresourceVerbs, type ResourceType } from './resources';

export interface ServerVersion {
  major: string;
  minor: string;
  gitVersion: string;
}

export function versionInfo(version: ServerVersion): Record<string, string> {
  return {
    major: version.major,
    minor: version.minor,
    gitVersion: version.gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: 'go1.23.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

function groups(
  served: readonly ResourceType[],
): { group: string; version: string; types: ResourceType[] }[] {
  const byGroupVersion = new Map<string, { group: string; version: string; types: ResourceType[] }>();
  for (const rt of served) {
    const key = `${rt.group}/${rt.version}`;
    if (!byGroupVersion.has(key))
      byGroupVersion.set(key, { group: rt.group, version: rt.version, types: [] });
    byGroupVersion.get(key)?.types.push(rt);
  }
  return [...byGroupVersion.values()];
}

/** What a subresource reads and writes: the kind itself, or Scale, Binding, PodExecOptions. */
function subresourceResponseKind(
  rt: ResourceType,
  sub: string,
): { group: string; version: string; kind: string } {
  if (sub === 'scale') return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
  if (sub === 'binding') return { group: '', version: 'v1', kind: 'Binding' };
  if (sub === 'exec') return { group: '', version: 'v1', kind: 'PodExecOptions' };
  return { group: rt.group, version: rt.version, kind: rt.kind };
}

function subresourceKind(rt: ResourceType, sub: string): Record<string, string> {
  const k = subresourceResponseKind(rt, sub);
  return k.group === rt.group && k.version === rt.version
    ? { kind: k.kind }
    : { group: k.group, version: k.version, kind: k.kind };
}

export function legacyApiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(group: string, version: string): Record<string, unknown> {
  const gv = { groupVersion: `${group}/${version}`, version };
  return { name: group, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(served: readonly ResourceType[] = RESOURCE_TYPES): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups(served)
      .filter((g) => g.group !== '')
      .map((g) => apiGroup(g.group, g.version)),
  };
}

export function apiGroupDocument(
  group: string,
  served: readonly ResourceType[] = RESOURCE_TYPES,
): Record<string, unknown> | undefined {
  const g = groups(served).find((x) => x.group === group && group !== '');
  return g && { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g.group, g.version) };
}

export function apiResourceList(
  group: string,
  version: string,
  served: readonly ResourceType[] = RESOURCE_TYPES,
): Record<string, unknown> | undefined {
  const g = groups(served).find((x) => x.group === group && x.version === version);
  if (!g) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const rt of g.types) {
    resources.push({
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs,
      ...(rt.shortNames.length ? { shortNames: rt.shortNames } : {}),
      ...(rt.categories.length ? { categories: rt.categories } : {}),
    });
    for (const sub of rt.subresources) {
      resources.push({
        name: `${rt.plural}/${sub}`,
        singularName: '',
        namespaced: rt.namespaced,
        ...subresourceKind(rt, sub),
        verbs: subresourceVerbs(sub),
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

export type AggregatedVersion = 'v2' | 'v2beta1';

export const AGGREGATED_CONTENT_TYPE = (v: AggregatedVersion) =>
  `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;

/** apidiscovery.k8s.io APIGroupDiscoveryList for /api (legacy: true) or /apis. */
export function aggregatedDiscovery(
  legacy: boolean,
  version: AggregatedVersion,
  served: readonly ResourceType[] = RESOURCE_TYPES,
): Record<string, unknown> {
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: groups(served)
      .filter((g) => (g.group === '') === legacy)
      .map((g) => ({
        metadata: { name: g.group, creationTimestamp: null },
        versions: [
          {
            version: g.version,
            freshness: 'Current',
            resources: g.types.map((rt) => ({
              resource: rt.plural,
              responseKind: { group: rt.group, version: rt.version, kind: rt.kind },
              scope: rt.namespaced ? 'Namespaced' : 'Cluster',
              singularResource: rt.singular,
              verbs: rt.verbs,
              ...(rt.shortNames.length ? { shortNames: rt.shortNames } : {}),
              ...(rt.categories.length ? { categories: rt.categories } : {}),
              ...(rt.subresources.length
                ? {
                    subresources: rt.subresources.map((sub) => ({
                      subresource: sub,
                      responseKind: subresourceResponseKind(rt, sub),
                      verbs: subresourceVerbs(sub),
                    })),
                  }
                : {}),
            })),
          },
        ],
      })),
  };
}
