/**
 * Maps a request path to what it names, with the real API's URL layout:
 *   /api/v1/{plural}[/{name}[/{sub}]]                      (cluster-scoped, or all-namespaces lists)
 *   /api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]]      (namespaced)
 *   /apis/{group}/{version}/... likewise, and the legacy /watch/ segment after the version.
 * Pure: no I/O, returns a Route or undefined (404).
 */
import { RESOURCE_TYPES, type ResourceType, type Subresource } from './resources';

export type Route =
  | { kind: 'version' }
  | { kind: 'health' }
  | { kind: 'legacy-root' }
  | { kind: 'groups-root' }
  | { kind: 'group'; group: string }
  | { kind: 'resource-list'; group: string; version: string }
  | { kind: 'openapi-v2' }
  | { kind: 'openapi-v3-root' }
  | { kind: 'openapi-v3'; groupVersion: string }
  | {
      kind: 'resource';
      rt: ResourceType;
      namespace?: string;
      name?: string;
      subresource?: Subresource;
      watchPath: boolean;
    };

function resourceRoute(
  group: string,
  version: string,
  segments: string[],
  types: readonly ResourceType[],
): Route | undefined {
  const inGroupVersion = types.filter((rt) => rt.group === group && rt.version === version);
  if (inGroupVersion.length === 0) return undefined;
  let watchPath = false;
  if (segments[0] === 'watch') {
    watchPath = true;
    segments = segments.slice(1);
  }
  if (segments.length === 0) return watchPath ? undefined : { kind: 'resource-list', group, version };
  let namespace: string | undefined;
  if (segments[0] === 'namespaces' && segments.length >= 3) {
    const namespaced = inGroupVersion.find((rt) => rt.namespaced && rt.plural === segments[2]);
    if (namespaced) {
      namespace = segments[1];
      segments = segments.slice(2);
    }
  }
  const rt = inGroupVersion.find((r) => r.plural === segments[0]);
  if (!rt || segments.length > 3) return undefined;
  const [, name, subresource] = segments;
  if (rt.namespaced && namespace === undefined && name !== undefined) return undefined;
  if (subresource !== undefined && !rt.subresources.includes(subresource as Subresource)) return undefined;
  if (watchPath && subresource !== undefined) return undefined;
  return {
    kind: 'resource',
    rt,
    namespace,
    name,
    subresource: subresource as Subresource | undefined,
    watchPath,
  };
}

/** `types`: what the server serves now (the built-in kinds and its CRDs' custom resources). */
export function route(pathname: string, types: readonly ResourceType[] = RESOURCE_TYPES): Route | undefined {
  const trimmed = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
  let segments: string[];
  try {
    segments = trimmed.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  const [first, ...rest] = segments;
  switch (first) {
    case 'version':
      return rest.length === 0 ? { kind: 'version' } : undefined;
    case 'healthz':
    case 'livez':
    case 'readyz':
      return { kind: 'health' };
    case 'openapi':
      if (rest[0] === 'v2' && rest.length === 1) return { kind: 'openapi-v2' };
      if (rest[0] !== 'v3') return undefined;
      return rest.length === 1
        ? { kind: 'openapi-v3-root' }
        : { kind: 'openapi-v3', groupVersion: rest.slice(1).join('/') };
    case 'api':
      if (rest.length === 0) return { kind: 'legacy-root' };
      return resourceRoute('', rest[0], rest.slice(1), types);
    case 'apis':
      if (rest.length === 0) return { kind: 'groups-root' };
      if (rest.length === 1) return { kind: 'group', group: rest[0] };
      return resourceRoute(rest[0], rest[1], rest.slice(2), types);
    default:
      return undefined;
  }
}
