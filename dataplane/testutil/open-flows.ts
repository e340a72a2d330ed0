/**
 * Long-lived connections between test namespaces, for tests of what happens to connections that
 * are already open when the rules change: an echo server (TCP and UDP ports) and a client that
 * keeps one TCP connection or one UDP socket and answers "did my ping come back?".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const ECHO_SERVER = `
const net = require('node:net');
const dgram = require('node:dgram');
const [tcp, udp] = [process.argv[1], process.argv[2]].map((s) => s.split(',').filter(Boolean).map(Number));
let pending = tcp.length + udp.length;
const ready = () => { if (--pending === 0) process.stdout.write('listening\\n'); };
for (const port of tcp) {
  const server = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  server.listen({ port, host: '::', ipv6Only: false }, ready);
}
for (const port of udp) {
  const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  sock.on('message', (m, r) => sock.send(m, r.port, r.address));
  sock.bind(port, '::', ready);
}
`;

const CLIENT = `
const net = require('node:net');
const dgram = require('node:dgram');
const readline = require('node:readline');
const [proto, host, port] = [process.argv[1], process.argv[2], Number(process.argv[3])];
const say = (l) => process.stdout.write(l + '\\n');
let send;
if (proto === 'tcp') {
  const s = net.connect({ host, port }, () => say('open'));
  s.on('error', (e) => say('error ' + e.code));
  readline.createInterface({ input: s }).on('line', (l) => say('echo ' + l));
  send = (l) => s.write(l + '\\n');
} else {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.connect(port, host, () => say('open'));
  s.on('message', (m) => say('echo ' + m.toString().trim()));
  s.on('error', (e) => say('error ' + e.code));
  send = (l) => s.send(l + '\\n');
}
readline.createInterface({ input: process.stdin }).on('line', (l) => send(l));
`;

export interface EchoServer {
  stop(): void;
}

/** An echo server in namespace `ns` on the given TCP and UDP ports; resolves once all listen. */
export function startEchoServer(ns: string, tcp: number[], udp: number[]): Promise<EchoServer> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '-e', ECHO_SERVER, tcp.join(','), udp.join(',')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('listening')) resolve({ stop: () => child.kill('SIGKILL') });
    });
    child.on('exit', (code) => reject(new Error(`echo server in ${ns} exited (${code}): ${err}`)));
  });
}

/** One open connection (TCP) or flow (UDP socket, connected) from a namespace. */
export class OpenFlow {
  private seq = 0;
  private readonly waiters = new Map<number, () => void>();

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^echo (\d+)$/.exec(line);
      if (m) this.waiters.get(Number(m[1]))?.();
    });
  }

  static open(ns: string, proto: 'tcp' | 'udp', host: string, port: number): Promise<OpenFlow> {
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', CLIENT, proto, host, String(port)],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    return new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      const onLine = (line: string) => {
        if (line === 'open') {
          lines.off('line', onLine);
          resolve(new OpenFlow(child));
        } else if (line.startsWith('error'))
          reject(new Error(`${proto} ${host}:${port} from ${ns}: ${line}`));
      };
      lines.on('line', onLine);
      child.on('exit', (code) => reject(new Error(`flow client in ${ns} exited (${code})`)));
    });
  }

  /** Sends one ping; true when its echo came back within `timeoutMs`. */
  ping(timeoutMs: number): Promise<boolean> {
    const n = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(n);
        resolve(false);
      }, timeoutMs);
      this.waiters.set(n, () => {
        clearTimeout(timer);
        this.waiters.delete(n);
        resolve(true);
      });
      this.child.stdin!.write(`${n}\n`);
    });
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}
