/**
 * Entry point of a relay process: forwards every connection it accepts on one address to
 * another, byte for byte, both ways. The sandbox runs two of them so that kubectl and tests in
 * the host's network namespace reach the API server inside the fabric namespace, without any
 * link, address or route in the host namespace (a path socket is visible from every network
 * namespace; a TCP port is not):
 *
 *   host namespace                              fabric namespace
 *   127.0.0.1:<free port> ──relay──▶ <state>/sock/apiserver.sock ──relay──▶ 169.254.255.254:6443
 *
 *   relay-main.js --listen tcp:HOST:PORT|unix:PATH --connect tcp:HOST:PORT|unix:PATH [--address-file FILE]
 *
 * `--address-file` receives the bound address ("127.0.0.1:41235" or the socket path) once the
 * relay listens, written by rename so a reader never sees half of it. Port 0 picks a free port.
 * Self-contained on purpose: Node built-ins only, so it runs from dist/ as it is.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

type Address =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

function parseAddress(text: string | undefined, flag: string): Address {
  if (text?.startsWith('unix:') && text.length > 5) return { kind: 'unix', path: text.slice(5) };
  const m = text === undefined ? null : /^tcp:(.+):(\d{1,5})$/.exec(text);
  if (!m) throw new Error(`${flag} must be tcp:HOST:PORT or unix:PATH (got ${text ?? 'nothing'})`);
  return { kind: 'tcp', host: m[1], port: Number(m[2]) };
}

function parseArgs(argv: readonly string[]): { listen: Address; target: Address; addressFile?: string } {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    listen: parseAddress(value('--listen'), '--listen'),
    target: parseAddress(value('--connect'), '--connect'),
    addressFile: value('--address-file'),
  };
}

function dial(target: Address): Socket {
  return target.kind === 'unix' ? connect(target.path) : connect(target.port, target.host);
}

/** Joins two sockets; either side ending or failing ends both. */
function splice(a: Socket, b: Socket): void {
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
  a.pipe(b);
  b.pipe(a);
}

function main(): void {
  const { listen, target, addressFile } = parseArgs(process.argv.slice(2));
  const server = createServer({ pauseOnConnect: true }, (client) => {
    const upstream = dial(target);
    splice(client, upstream);
    upstream.once('connect', () => client.resume());
  });
  server.on('error', (e) => {
    process.stderr.write(`relay failed: ${e.message}\n`);
    process.exit(1);
  });
  const ready = (): void => {
    const bound =
      listen.kind === 'unix' ? listen.path : `${listen.host}:${(server.address() as AddressInfo).port}`;
    if (addressFile) {
      writeFileSync(`${addressFile}.tmp`, bound);
      renameSync(`${addressFile}.tmp`, addressFile);
    }
    process.stdout.write(
      `relay ${bound} -> ${target.kind === 'unix' ? target.path : `${target.host}:${target.port}`}\n`,
    );
  };
  if (listen.kind === 'unix') {
    rmSync(listen.path, { force: true });
    server.listen(listen.path, ready);
  } else {
    server.listen(listen.port, listen.host, ready);
  }
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
