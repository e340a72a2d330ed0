/**
 * Authentication: one bearer token. When the server has a token, every request (plain HTTP and
 * exec upgrades alike) must carry `Authorization: Bearer <token>`, else 401 Unauthorized, as
 * kube-apiserver answers an unauthenticated request. Why a token at all: exec runs commands as
 * root on the machine, so whoever reaches the port must also be able to read the kubeconfig
 * (written with mode 0600). There is no authorization beyond that: the token holder may do all.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from './errors';

export function isAuthenticated(headers: IncomingHttpHeaders, token: string | undefined): boolean {
  if (token === undefined) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]);
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}
