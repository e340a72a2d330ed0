/**
 * Kubernetes remote command over WebSocket (the `*.channel.k8s.io` subprotocols), what
 * `kubectl exec` (≥ 1.30; SPDY only as a fallback when the upgrade is refused) and
 * client-node's Exec speak. The WebSocket framing itself is the `ws` library's.
 *
 * Every message is binary: its first byte is the channel, the rest the data.
 *   0 stdin (client → server)  1 stdout  2 stderr  3 error: once, at the end
 *   4 resize (client → server, JSON {"Width":W,"Height":H}, keys in any case, as Go decodes them)
 *   255 close (v5 only, client → server: [255, 0] = stdin reached its end)
 * At the end the error channel carries a metav1.Status (v4, v5): Success, or Failure with reason
 * NonZeroExitCode and the exit code as the cause ExitCode, which kubectl turns into its own exit
 * status; older protocols carry a text message. Then the socket closes normally.
 * As upstream's kubelet does, an empty message on the first writable channel opens the stream.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { startExecProcess, type ExecBackend, type ExecRequest } from './exec-process';

export const REMOTE_COMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
] as const;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

export interface ExecStreams {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

/** The protocol a client offered that this server prefers, or undefined. */
export function chooseProtocol(offered: ReadonlySet<string>): string | undefined {
  return REMOTE_COMMAND_PROTOCOLS.find((p) => offered.has(p));
}

export function exitStatus(code: number, command: readonly string[]): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

function frame(channel: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([channel]), data]);
}

const server = new WebSocketServer({
  noServer: true,
  handleProtocols: (offered) => chooseProtocol(offered) ?? false,
});

/** Upgrades the request and runs the command; the request was validated by the caller. */
export function serveRemoteCommand(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  backend: ExecBackend,
  exec: ExecRequest,
  streams: ExecStreams,
): void {
  server.handleUpgrade(req, socket, head, (ws) => run(ws, backend, exec, streams));
}

function run(ws: WebSocket, backend: ExecBackend, exec: ExecRequest, streams: ExecStreams): void {
  const statusAsJson = ws.protocol === 'v4.channel.k8s.io' || ws.protocol === 'v5.channel.k8s.io';
  const send = (channel: number, data: Buffer): void => {
    if (ws.readyState === ws.OPEN) ws.send(frame(channel, data));
  };
  send(streams.stdout ? STDOUT : streams.stderr ? STDERR : ERROR, Buffer.alloc(0));
  const proc = startExecProcess(backend, exec);
  if (!streams.stdin) proc.stdin.end();
  if (streams.stdout) proc.stdout.on('data', (d: Buffer) => send(STDOUT, d));
  else proc.stdout.resume();
  if (proc.stderr) {
    if (streams.stderr) proc.stderr.on('data', (d: Buffer) => send(STDERR, d));
    else proc.stderr.resume();
  }
  let finished = false;
  ws.on('message', (raw: RawData) => {
    const data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
    if (data.length === 0) return;
    const payload = data.subarray(1);
    switch (data[0]) {
      case STDIN:
        if (streams.stdin && !proc.stdin.writableEnded) proc.stdin.write(payload);
        break;
      case RESIZE:
        try {
          // Go decodes JSON keys case-insensitively: kubectl sends Width/Height, client-node width/height.
          const size = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
          const field = (name: string): number =>
            Number(Object.entries(size).find(([k]) => k.toLowerCase() === name)?.[1] ?? 0);
          if (field('width') > 0 && field('height') > 0) proc.resize(field('width'), field('height'));
        } catch {
          // a malformed resize is ignored, as upstream does
        }
        break;
      case CLOSE:
        if (payload[0] === STDIN) proc.stdin.end();
        break;
    }
  });
  ws.on('close', () => {
    // The client went away: the command goes too (a TTY would get SIGHUP).
    if (!finished) proc.kill(exec.tty ? 'SIGHUP' : 'SIGTERM');
    setTimeout(() => proc.kill('SIGKILL'), 2000).unref();
  });
  ws.on('error', () => ws.terminate());
  void proc.exited.then((code) => {
    finished = true;
    const status = exitStatus(code, exec.command);
    const text = statusAsJson ? JSON.stringify(status) : code === 0 ? '' : String(status.message);
    if (text !== '') send(ERROR, Buffer.from(text));
    if (ws.readyState === ws.OPEN) ws.close(1000);
  });
}
