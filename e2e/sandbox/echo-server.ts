/**
 * TCP and UDP echo servers on any number of ports, both address families (one dual-stack
 * socket per port and protocol). Runs inside an endpoint's network namespace. SCTP needs no
 * server here: sctp.py records arriving INIT chunks on every port.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import type { ServedPort } from './control-protocol';

export class EchoServers {
  private readonly tcp = new Map<number, Server>();
  private readonly udp = new Map<number, UdpSocket>();

  serving(): ServedPort[] {
    return [
      ...[...this.tcp.keys()].map((port): ServedPort => ({ port, protocol: 'TCP' })),
      ...[...this.udp.keys()].map((port): ServedPort => ({ port, protocol: 'UDP' })),
    ];
  }

  /** Starts serving the ports not served yet; resolves once every socket is bound. */
  async serve(ports: readonly ServedPort[]): Promise<void> {
    for (const p of ports) {
      if (p.protocol === 'TCP' && !this.tcp.has(p.port)) this.tcp.set(p.port, await listenTcp(p.port));
      if (p.protocol === 'UDP' && !this.udp.has(p.port)) this.udp.set(p.port, await bindUdp(p.port));
    }
  }

  close(): void {
    for (const s of this.tcp.values()) s.close();
    for (const s of this.udp.values()) s.close();
    this.tcp.clear();
    this.udp.clear();
  }
}

function listenTcp(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true }, (conn) => {
      conn.on('error', () => conn.destroy());
      conn.setTimeout(10_000, () => conn.destroy());
      conn.pipe(conn);
    });
    server.once('error', reject);
    server.listen({ port, host: '::', ipv6Only: false }, () => {
      server.off('error', reject);
      server.on('error', () => undefined);
      resolve(server);
    });
  });
}

function bindUdp(port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: 'udp6', ipv6Only: false });
    sock.once('error', reject);
    sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    sock.bind({ port, address: '::' }, () => {
      sock.off('error', reject);
      sock.on('error', () => undefined);
      resolve(sock);
    });
  });
}
