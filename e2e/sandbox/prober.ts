/**
 * TCP and UDP probes with real packets, run inside the source endpoint's namespace.
 * TCP: connect, send a nonce, expect it echoed. UDP: send a nonce, expect it echoed, up to
 * `udpAttempts` times (a datagram may be lost). Every probe has a bounded timeout; a batch runs
 * with bounded concurrency. Allowed means the nonce came back, nothing else.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import type { ProbeOutcome, ProbeSettings, ProbeTarget } from './control-protocol';

function nonce(): string {
  return `palisade-probe-${randomBytes(8).toString('hex')}`;
}

function errorCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : String((e as Error).message ?? e);
}

export function probeTcp(ip: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const expected = nonce();
    let received = '';
    let done = false;
    const socket = connect({ host: ip, port });
    const finish = (detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(detail);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(expected));
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.length >= expected.length) finish(received.startsWith(expected) ? 'echoed' : 'mismatch');
    });
    socket.on('end', () => finish('closed'));
    socket.on('error', (e) => finish(errorCode(e)));
  });
}

function udpAttempt(ip: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const expected = nonce();
    const socket = createSocket(isIPv6(ip) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(detail);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('message', (msg) => {
      if (msg.toString() === expected) finish('echoed');
    });
    socket.on('error', (e) => finish(errorCode(e)));
    // Connected, so ICMP unreachable (a REJECT) surfaces as an error at once.
    socket.connect(port, ip, () => socket.send(expected));
  });
}

export async function probeUdp(
  ip: string,
  port: number,
  timeoutMs: number,
  attempts: number,
): Promise<string> {
  let detail = 'timeout';
  for (let i = 0; i < attempts; i++) {
    detail = await udpAttempt(ip, port, timeoutMs);
    if (detail === 'echoed') return detail;
  }
  return detail;
}

export async function runProbes(
  targets: readonly ProbeTarget[],
  settings: ProbeSettings,
): Promise<ProbeOutcome[]> {
  const outcomes: ProbeOutcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const t = targets[next++];
      const detail =
        t.protocol === 'TCP'
          ? await probeTcp(t.ip, t.port, settings.tcpTimeoutMs)
          : await probeUdp(t.ip, t.port, settings.udpTimeoutMs, settings.udpAttempts);
      outcomes.push({ id: t.id, ok: detail === 'echoed', detail });
    }
  };
  const workers = Math.max(1, Math.min(settings.concurrency, targets.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return outcomes;
}
