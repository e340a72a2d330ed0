/**
 * HTTP handlers: turn a routed request into a registry call or a watch, and the result into the
 * representation the client negotiated. Status codes follow the real API (201 on create, 200 otherwise,
 * metav1.Status bodies for errors).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import {
  AGGREGATED_CONTENT_TYPE,
  aggregatedDiscovery,
  apiGroupDocument,
  apiGroupList,
  apiResourceList,
  legacyApiVersions,
  versionInfo,
  type ServerVersion,
} from './discovery';
import { ApiError, errors, type Status } from './errors';
import type { Route } from './http-router';
import { bodyFormatOf, negotiate, patchTypeOf, type Representation } from './negotiation';
import { openApiV2 } from './openapi-v2';
import { openApiV3Document, openApiV3Root, type CustomSchemaLookup } from './openapi';
import type { ListResult, Registry } from './registry';
import type { ResourceType } from './resources';
import { parseFieldSelector, parseLabelSelector } from './selectors';
import { partialObjectMetadata, toTable, type IncludeObject } from './table';
import type { KubeObject } from './types';
import type { WatchEvent, WatchHub } from './watch-hub';

export interface HandlerContext {
  registry: Registry;
  hub: WatchHub;
  /** What the server serves now (built-in kinds and its CRDs' custom resources). */
  served: readonly ResourceType[];
  /** The openAPIV3Schema a CRD gives a custom resource type, if any. */
  customSchema: CustomSchemaLookup;
  version: ServerVersion;
  serverAddress: string;
  now: () => Date;
}

export interface ParsedRequest {
  method: string;
  route: Route;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  contentType = 'application/json',
): void {
  const payload = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(payload),
    'Cache-Control': 'no-cache, private',
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  const headers: Record<string, string> = {};
  if (err.details?.retryAfterSeconds !== undefined)
    headers['Retry-After'] = String(err.details.retryAfterSeconds);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  sendJson(res, err.code, err.toStatus());
}

function flag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  return value === 'true' || value === '1';
}

function integer(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) throw errors.badRequest(`invalid value for ${name}: "${value}"`);
  return Number(value);
}

function resourceVersionParam(query: URLSearchParams): string | undefined {
  const rv = query.get('resourceVersion') ?? undefined;
  if (rv !== undefined && rv !== '' && !/^\d+$/.test(rv)) {
    throw errors.badRequest(`resourceVersion: Invalid value: "${rv}": must be a non-negative integer`);
  }
  return rv;
}

function parseBody(request: ParsedRequest): unknown {
  const text = request.body.toString('utf8');
  if (text.trim() === '') throw errors.badRequest('the request body is empty');
  try {
    return bodyFormatOf(request.headers['content-type']) === 'yaml' ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw errors.badRequest(`the request body could not be decoded: ${(err as Error).message}`);
  }
}

function writeOptions(query: URLSearchParams): {
  dryRun: boolean;
  fieldManager?: string;
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
} {
  const dryRun = query.getAll('dryRun');
  if (dryRun.some((d) => d !== 'All'))
    throw errors.badRequest('dryRun: Unsupported value: only "All" is supported');
  const fieldValidation = query.get('fieldValidation') ?? undefined;
  if (fieldValidation !== undefined && !['Strict', 'Warn', 'Ignore'].includes(fieldValidation))
    throw errors.badRequest(
      `fieldValidation: Unsupported value: "${fieldValidation}": supported values: "Ignore", "Warn", "Strict"`,
    );
  return {
    dryRun: dryRun.length > 0,
    fieldManager: query.get('fieldManager') ?? undefined,
    ...(fieldValidation ? { fieldValidation: fieldValidation as 'Strict' | 'Warn' | 'Ignore' } : {}),
  };
}

/** Drops apiVersion/kind from list items, as typed lists from the real apiserver have none. */
function listItem(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest as KubeObject;
}

function includeObjectOf(query: URLSearchParams): IncludeObject {
  const value = query.get('includeObject') ?? 'Metadata';
  if (value !== 'None' && value !== 'Metadata' && value !== 'Object') {
    throw errors.badRequest(`includeObject: Unsupported value: "${value}"`);
  }
  return value;
}

function renderList(
  rt: ResourceType,
  result: ListResult,
  representation: Representation,
  query: URLSearchParams,
  now: Date,
): unknown {
  const listMeta: Record<string, unknown> = { resourceVersion: result.resourceVersion };
  if (result.continue) {
    listMeta.continue = result.continue;
    listMeta.remainingItemCount = result.remainingItemCount;
  }
  if (representation.kind === 'table') {
    return toTable(rt, result.items, listMeta, {
      includeObject: includeObjectOf(query),
      noHeaders: false,
      now,
    });
  }
  if (representation.kind === 'partial') {
    return {
      kind: 'PartialObjectMetadataList',
      apiVersion: 'meta.k8s.io/v1',
      metadata: listMeta,
      items: result.items.map((o) => listItem(partialObjectMetadata(o))),
    };
  }
  return {
    kind: rt.listKind,
    apiVersion: rt.apiVersion,
    metadata: listMeta,
    items: result.items.map(listItem),
  };
}

function renderObject(
  rt: ResourceType,
  obj: KubeObject,
  representation: Representation,
  query: URLSearchParams,
  now: Date,
): unknown {
  if (representation.kind === 'table') {
    return toTable(
      rt,
      [obj],
      { resourceVersion: obj.metadata.resourceVersion },
      {
        includeObject: includeObjectOf(query),
        noHeaders: false,
        now,
      },
    );
  }
  if (representation.kind === 'partial') return partialObjectMetadata(obj);
  return obj;
}

function deletedStatus(rt: ResourceType, obj: KubeObject): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: {
      name: obj.metadata.name,
      ...(rt.group ? { group: rt.group } : {}),
      kind: rt.plural,
      uid: obj.metadata.uid,
    },
    code: 200,
  };
}

function handleDiscovery(ctx: HandlerContext, request: ParsedRequest, res: ServerResponse): void {
  const route = request.route;
  if (request.method !== 'GET' && request.method !== 'HEAD') throw errors.methodNotAllowed();
  switch (route.kind) {
    case 'version':
      return sendJson(res, 200, versionInfo(ctx.version));
    case 'health':
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    case 'legacy-root':
    case 'groups-root': {
      const representation = negotiate(request.headers.accept, 'discovery');
      const legacy = route.kind === 'legacy-root';
      if (representation.kind === 'aggregated-discovery') {
        res.setHeader('Vary', 'Accept');
        return sendJson(
          res,
          200,
          aggregatedDiscovery(legacy, representation.version, ctx.served),
          AGGREGATED_CONTENT_TYPE(representation.version),
        );
      }
      return sendJson(res, 200, legacy ? legacyApiVersions(ctx.serverAddress) : apiGroupList(ctx.served));
    }
    case 'group': {
      const doc = apiGroupDocument(route.group, ctx.served);
      if (!doc) throw errors.pathNotFound();
      return sendJson(res, 200, doc);
    }
    case 'resource-list': {
      const doc = apiResourceList(route.group, route.version, ctx.served);
      if (!doc) throw errors.pathNotFound();
      return sendJson(res, 200, doc);
    }
    case 'openapi-v2': {
      const { contentType, body } = openApiV2(request.headers.accept, ctx.version.gitVersion);
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': body.length });
      res.end(body);
      return;
    }
    case 'openapi-v3-root':
      return sendJson(res, 200, openApiV3Root(ctx.version.gitVersion, ctx.served, ctx.customSchema));
    case 'openapi-v3': {
      const doc = openApiV3Document(route.groupVersion, ctx.version.gitVersion, ctx.served, ctx.customSchema);
      if (!doc) throw errors.pathNotFound();
      return sendJson(res, 200, doc);
    }
  }
}

function startWatch(
  ctx: HandlerContext,
  rt: ResourceType,
  namespace: string | undefined,
  name: string | undefined,
  request: ParsedRequest,
  res: ServerResponse,
): void {
  const query = request.query;
  const representation = negotiate(request.headers.accept, 'resource');
  let fieldSelector = query.get('fieldSelector') ?? '';
  if (name !== undefined) fieldSelector = [fieldSelector, `metadata.name=${name}`].filter(Boolean).join(',');
  const labelSelector = parseLabelSelector(query.get('labelSelector') ?? '');
  const fields = parseFieldSelector(fieldSelector, rt.selectableFields);
  const resourceVersion = resourceVersionParam(query);
  const timeoutSeconds = integer(query, 'timeoutSeconds');
  const sendInitialEvents = flag(query, 'sendInitialEvents');
  const includeObject = representation.kind === 'table' ? includeObjectOf(query) : 'Metadata';
  let headersSent = false;

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  const render = (event: WatchEvent): WatchEvent => {
    if (event.type === 'ERROR' || event.object.kind === 'Status') return event;
    const obj = event.object as KubeObject;
    if (representation.kind === 'table') {
      if (event.type === 'BOOKMARK') {
        return {
          type: 'BOOKMARK',
          object: {
            kind: 'Table',
            apiVersion: 'meta.k8s.io/v1',
            metadata: obj.metadata,
            columnDefinitions: [],
            rows: [],
          } as unknown as KubeObject,
        };
      }
      // Upstream sends column definitions with the first event only.
      const table = toTable(
        rt,
        [obj],
        { resourceVersion: obj.metadata.resourceVersion },
        {
          includeObject,
          noHeaders: headersSent,
          now: ctx.now(),
        },
      );
      headersSent = true;
      return { type: event.type, object: table as unknown as KubeObject };
    }
    if (representation.kind === 'partial') return { type: event.type, object: partialObjectMetadata(obj) };
    return event;
  };
  const watch = ctx.hub.start(
    {
      rt,
      namespace,
      labelSelector,
      fieldSelector: fields,
      resourceVersion,
      allowBookmarks: flag(query, 'allowWatchBookmarks'),
      sendInitialEvents,
      timeoutSeconds,
    },
    {
      send: (event) => {
        if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(render(event)) + '\n');
      },
      end: () => {
        if (!res.writableEnded && !res.destroyed) res.end();
      },
    },
  );
  res.on('close', () => watch.stop());
}

function handleResource(ctx: HandlerContext, request: ParsedRequest, res: ServerResponse): void {
  const route = request.route;
  if (route.kind !== 'resource') return;
  const { rt, namespace, name, subresource } = route;
  const { query, method } = request;
  const registry = ctx.registry;
  const wantsWatch = route.watchPath || flag(query, 'watch');

  if (subresource === 'exec') throw errors.badRequest('Upgrade request required');
  if (subresource === 'scale' || subresource === 'binding')
    return handleScaleOrBinding(ctx, request, res, subresource);
  if (method === 'GET' && wantsWatch) return startWatch(ctx, rt, namespace, name, request, res);
  if (method === 'GET' && name !== undefined) {
    const representation = negotiate(request.headers.accept, 'resource');
    return sendJson(
      res,
      200,
      renderObject(rt, registry.get(rt, namespace, name), representation, query, ctx.now()),
    );
  }
  if (method === 'GET') {
    const representation = negotiate(request.headers.accept, 'resource');
    const result = registry.list(rt, {
      namespace,
      labelSelector: query.get('labelSelector') ?? undefined,
      fieldSelector: query.get('fieldSelector') ?? undefined,
      limit: integer(query, 'limit'),
      continue: query.get('continue') ?? undefined,
      resourceVersion: resourceVersionParam(query),
      resourceVersionMatch: query.get('resourceVersionMatch') ?? undefined,
    });
    return sendJson(res, 200, renderList(rt, result, representation, query, ctx.now()));
  }
  if (rt.namespaced && namespace === undefined) throw errors.methodNotAllowed();
  switch (method) {
    case 'POST': {
      if (name !== undefined) throw errors.methodNotAllowed();
      const created = registry.create(rt, namespace, parseBody(request), writeOptions(query));
      return sendJson(res, 201, created);
    }
    case 'PUT': {
      if (name === undefined) throw errors.methodNotAllowed();
      const updated = registry.update(rt, namespace, name, parseBody(request), {
        ...writeOptions(query),
        subresource,
      });
      return sendJson(res, 200, updated);
    }
    case 'PATCH': {
      if (name === undefined) throw errors.methodNotAllowed();
      const type = patchTypeOf(request.headers['content-type']);
      let patch: unknown;
      try {
        patch =
          type === 'apply'
            ? parseYaml(request.body.toString('utf8'))
            : JSON.parse(request.body.toString('utf8'));
      } catch (err) {
        throw errors.badRequest(`the patch could not be decoded: ${(err as Error).message}`);
      }
      const { object, created } = registry.patch(rt, namespace, name, type, patch, {
        ...writeOptions(query),
        subresource,
        force: flag(query, 'force'),
      });
      return sendJson(res, created ? 201 : 200, object);
    }
    case 'DELETE': {
      if (subresource !== undefined) throw errors.methodNotAllowed();
      // DeleteOptions; propagationPolicy is accepted and has no effect (the sandbox's controllers
      // delete what their objects own); gracePeriodSeconds matters for pods (graceful deletion).
      const body = (request.body.length > 0 ? parseBody(request) : {}) as Record<string, unknown>;
      const gracePeriodSeconds =
        typeof body.gracePeriodSeconds === 'number'
          ? body.gracePeriodSeconds
          : integer(query, 'gracePeriodSeconds');
      const preconditions = (body.preconditions ?? {}) as { uid?: string; resourceVersion?: string };
      const dryRun = writeOptions(query).dryRun || (Array.isArray(body.dryRun) && body.dryRun.length > 0);
      if (name === undefined) {
        const deleted = registry.deleteCollection(rt, {
          namespace,
          labelSelector: query.get('labelSelector') ?? undefined,
          fieldSelector: query.get('fieldSelector') ?? undefined,
          dryRun,
          gracePeriodSeconds,
        });
        return sendJson(res, 200, {
          kind: rt.listKind,
          apiVersion: rt.apiVersion,
          metadata: {},
          items: deleted.map(listItem),
        });
      }
      const { object, removed } = registry.delete(rt, namespace, name, {
        preconditions,
        dryRun,
        gracePeriodSeconds,
      });
      const returnsObject = rt.kind !== 'NetworkPolicy' || !removed;
      return sendJson(res, 200, returnsObject ? object : deletedStatus(rt, object));
    }
    default:
      throw errors.methodNotAllowed();
  }
}

/** /scale (GET, PUT, PATCH) of Deployments and StatefulSets; /binding (POST) of pods. */
function handleScaleOrBinding(
  ctx: HandlerContext,
  request: ParsedRequest,
  res: ServerResponse,
  subresource: 'scale' | 'binding',
): void {
  const route = request.route;
  if (route.kind !== 'resource' || route.name === undefined) throw errors.methodNotAllowed();
  const { rt, namespace, name } = route;
  const { dryRun } = writeOptions(request.query);
  if (subresource === 'binding') {
    if (request.method !== 'POST') throw errors.methodNotAllowed();
    ctx.registry.bind(rt, namespace, name, parseBody(request));
    return sendJson(res, 201, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      code: 201,
    });
  }
  switch (request.method) {
    case 'GET':
      return sendJson(res, 200, ctx.registry.getScale(rt, namespace, name));
    case 'PUT':
      return sendJson(res, 200, ctx.registry.updateScale(rt, namespace, name, parseBody(request), dryRun));
    case 'PATCH': {
      let patch: unknown;
      try {
        patch = JSON.parse(request.body.toString('utf8'));
      } catch (err) {
        throw errors.badRequest(`the patch could not be decoded: ${(err as Error).message}`);
      }
      const type = patchTypeOf(request.headers['content-type']);
      return sendJson(res, 200, ctx.registry.patchScale(rt, namespace, name, type, patch, dryRun));
    }
    default:
      throw errors.methodNotAllowed();
  }
}

export function handle(ctx: HandlerContext, request: ParsedRequest, res: ServerResponse): void {
  if (request.route.kind === 'resource') handleResource(ctx, request, res);
  else handleDiscovery(ctx, request, res);
}
