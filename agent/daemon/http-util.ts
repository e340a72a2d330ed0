/**
 * Small helpers shared by the health and debug servers: JSON responses (Maps become objects,
 * Sets arrays, so IR values serialise as they read), listening, and closing promptly (idle
 * keep-alive connections would otherwise hold a close() open).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** JSON.stringify replacer for the compiler's and dataplane's Map/Set-based values. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

export function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, jsonReplacer, 2)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendText(
  res: ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The request's path and query (the host part of the URL is irrelevant, and absent on a unix socket). */
export function requestURL(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://palisade.local');
}

export function listen(
  server: Server,
  target: { port: number; host: string } | { path: string },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if ('path' in target) server.listen(target.path, done);
    else server.listen(target.port, target.host, done);
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
