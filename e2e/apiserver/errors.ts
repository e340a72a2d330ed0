/**
 * API errors as metav1.Status objects, with the reasons, codes and message wording of the real
 * kube-apiserver, so that client libraries classify them the same way (IsNotFound, IsConflict, ...).
 */
import type { ResourceType } from './resources';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

function qualified(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

function detailsFor(rt: ResourceType, name: string): StatusDetails {
  return rt.group ? { name, group: rt.group, kind: rt.plural } : { name, kind: rt.plural };
}

export const errors = {
  notFound: (rt: ResourceType, name: string) =>
    new ApiError(404, 'NotFound', `${qualified(rt)} "${name}" not found`, detailsFor(rt, name)),
  namespaceNotFound: (name: string) =>
    new ApiError(404, 'NotFound', `namespaces "${name}" not found`, { name, kind: 'namespaces' }),
  alreadyExists: (rt: ResourceType, name: string) =>
    new ApiError(409, 'AlreadyExists', `${qualified(rt)} "${name}" already exists`, detailsFor(rt, name)),
  conflict: (rt: ResourceType, name: string, why: string) =>
    new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualified(rt)} "${name}": ${why}`,
      detailsFor(rt, name),
    ),
  staleResourceVersion: (rt: ResourceType, name: string) =>
    errors.conflict(
      rt,
      name,
      'the object has been modified; please apply your changes to the latest version and try again',
    ),
  invalid: (rt: ResourceType, name: string, causes: StatusCause[]) =>
    new ApiError(
      422,
      'Invalid',
      `${rt.kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
      { name, group: rt.group || undefined, kind: rt.kind, causes },
    ),
  badRequest: (message: string) => new ApiError(400, 'BadRequest', message),
  forbidden: (rt: ResourceType, name: string, why: string) =>
    new ApiError(403, 'Forbidden', `${qualified(rt)} "${name}" is forbidden: ${why}`, detailsFor(rt, name)),
  expired: (message: string) => new ApiError(410, 'Expired', message),
  gone: (message: string) => new ApiError(410, 'Gone', message),
  methodNotAllowed: () =>
    new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
  pathNotFound: () => new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
  notAcceptable: (accepted: string[]) =>
    new ApiError(406, 'NotAcceptable', `only the following media types are accepted: ${accepted.join(', ')}`),
  unsupportedMediaType: (contentType: string, accepted: string[]) =>
    new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format (${contentType}) - accepted media types include: ${accepted.join(', ')}`,
    ),
  internal: (message: string) =>
    new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }),
};

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return errors.internal(err instanceof Error ? err.message : String(err));
}
