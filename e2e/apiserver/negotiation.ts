/**
 * Content negotiation: which representation a client asked for in Accept (plain JSON, a Table for
 * `kubectl get`, PartialObjectMetadata, aggregated discovery) and which patch type a Content-Type names.
 */
import { errors } from './errors';
import type { AggregatedVersion } from './discovery';
import type { PatchType } from './registry';

export type Representation =
  | { kind: 'json' }
  | { kind: 'table' }
  | { kind: 'partial' }
  | { kind: 'aggregated-discovery'; version: AggregatedVersion };

interface MediaRange {
  type: string;
  params: Record<string, string>;
}

function parseAccept(header: string | undefined): MediaRange[] {
  if (!header || header.trim() === '') return [{ type: '*/*', params: {} }];
  return header.split(',').map((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim());
    return {
      type: type.toLowerCase(),
      params: Object.fromEntries(
        params.map((p) => {
          const eq = p.indexOf('=');
          return eq < 0 ? [p, ''] : [p.slice(0, eq).trim(), p.slice(eq + 1).trim()];
        }),
      ),
    };
  });
}

const JSONISH = new Set(['application/json', 'application/*', '*/*']);

/**
 * The first acceptable representation in the client's order. `discovery` allows the aggregated
 * discovery document; resource reads allow Table and PartialObjectMetadata.
 */
export function negotiate(
  accept: string | undefined,
  allowed: 'resource' | 'discovery' | 'plain',
): Representation {
  for (const range of parseAccept(accept)) {
    if (!JSONISH.has(range.type)) continue;
    const as = range.params.as;
    if (as === undefined) return { kind: 'json' };
    const g = range.params.g;
    const v = range.params.v;
    if (allowed === 'resource' && g === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1')) {
      if (as === 'Table') return { kind: 'table' };
      if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return { kind: 'partial' };
    }
    if (
      allowed === 'discovery' &&
      g === 'apidiscovery.k8s.io' &&
      as === 'APIGroupDiscoveryList' &&
      (v === 'v2' || v === 'v2beta1')
    ) {
      return { kind: 'aggregated-discovery', version: v };
    }
  }
  throw errors.notAcceptable(['application/json']);
}

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};

export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const patchType = PATCH_TYPES[type];
  if (!patchType) throw errors.unsupportedMediaType(type, Object.keys(PATCH_TYPES));
  return patchType;
}

/** Body media types accepted for create and update. */
export function bodyFormatOf(contentType: string | undefined): 'json' | 'yaml' {
  const type = (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
  if (type === 'application/json' || type === '') return 'json';
  if (type === 'application/yaml') return 'yaml';
  throw errors.unsupportedMediaType(type, ['application/json', 'application/yaml']);
}
