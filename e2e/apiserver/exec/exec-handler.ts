/**
 * pods/{name}/exec: checks an upgrade request the way kube-apiserver and the kubelet would
 * (the pod exists and runs, the container exists, a command is given, some stream is asked for)
 * and hands it to the remote command protocol; a refusal is an HTTP error with a Status body,
 * written on the raw socket since no response object exists for an upgrade.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, errors } from '../errors';
import type { Registry } from '../registry';
import type { ResourceType } from '../resources';
import { isPlainObject } from '../types';
import type { ExecBackend } from './exec-process';
import { chooseProtocol, serveRemoteCommand } from './remote-command';

function flag(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  return v === 'true' || v === '1';
}

export function handleExecUpgrade(
  registry: Registry,
  backend: ExecBackend | undefined,
  rt: ResourceType,
  namespace: string | undefined,
  name: string,
  query: URLSearchParams,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  if (!backend)
    throw new ApiError(501, 'NotImplemented', 'this server runs no commands (exec is not configured)');
  const command = query.getAll('command');
  if (command.length === 0) throw errors.badRequest('you must specify at least 1 command');
  const streams = {
    stdin: flag(query, 'stdin'),
    stdout: flag(query, 'stdout'),
    stderr: flag(query, 'stderr'),
  };
  const tty = flag(query, 'tty');
  if (!streams.stdin && !streams.stdout && !streams.stderr)
    throw errors.badRequest('you must specify at least one of stdin, stdout, stderr');
  const pod = registry.get(rt, namespace, name);
  const spec = isPlainObject(pod.spec) ? pod.spec : {};
  const containers = (Array.isArray(spec.containers) ? spec.containers : []).filter(isPlainObject);
  const container = query.get('container') || String(containers[0]?.name ?? '');
  if (!containers.some((c) => c.name === container)) {
    throw errors.badRequest(`container ${container} is not valid for pod ${name}`);
  }
  const phase = isPlainObject(pod.status) ? pod.status.phase : undefined;
  if (phase !== 'Running' || pod.metadata.deletionTimestamp) {
    throw errors.badRequest(
      `unable to upgrade connection: pod ${name} is not running (phase ${String(phase ?? 'Pending')})`,
    );
  }
  // After the checks above, so that a client falling back to SPDY hears the real refusal.
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    throw errors.badRequest(
      `unable to upgrade connection: only WebSocket remote command is served (offered: ${req.headers.upgrade ?? 'none'})`,
    );
  }
  const offered = new Set(
    (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== ''),
  );
  if (!chooseProtocol(offered)) {
    throw errors.badRequest(
      `unable to upgrade connection: no supported subprotocol in [${[...offered].join(', ')}]`,
    );
  }
  const request = { pod, container, command, tty };
  backend.prefix(request); // refuses early (ApiError) when the backend cannot reach the pod
  serveRemoteCommand(req, socket, head, backend, request, { ...streams, stderr: streams.stderr && !tty });
}

/** Writes an API error as an HTTP response on a socket that was not upgraded. */
export function refuseUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  socket.end(
    `HTTP/1.1 ${err.code} ${err.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
