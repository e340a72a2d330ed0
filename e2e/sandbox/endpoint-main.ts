/**
 * Entry point of an endpoint process: one per pod, node and external-host namespace, started
 * with `ip netns exec NS node endpoint-main.js ...` so everything it does happens in that
 * namespace. It serves the probe ports (TCP and UDP echo), records arriving SCTP INITs and
 * sends probes on request, all driven over its control socket (control-protocol.ts).
 *
 *   endpoint-main.js --socket PATH [--ports 80/TCP,53/UDP] [--python PYTHON --sctp-script PATH]
 *
 * Self-contained on purpose: it imports only Node built-ins and its sibling files, so it runs
 * from dist/ and from a test's transpiled copy alike.
 */
import { get } from 'node:http';
import type { ControlRequest, ControlResults, ServedPort } from './control-protocol';
import { serveControl } from './control-server';
import { EchoServers } from './echo-server';
import { runProbes } from './prober';
import { SctpHelper } from './sctp-helper';

interface EndpointArgs {
  socket: string;
  ports: ServedPort[];
  python?: string;
  sctpScript?: string;
}

function parseArgs(argv: readonly string[]): EndpointArgs {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const socket = value('--socket');
  if (!socket) throw new Error('--socket is required');
  const ports = (value('--ports') ?? '')
    .split(',')
    .filter((s) => s !== '')
    .map((s): ServedPort => {
      const [port, protocol] = s.split('/');
      if (protocol !== 'TCP' && protocol !== 'UDP') throw new Error(`bad port ${s}`);
      return { port: Number(port), protocol };
    });
  return { socket, ports, python: value('--python'), sctpScript: value('--sctp-script') };
}

function httpGet(url: string, timeoutMs: number): Promise<ControlResults['http-get']> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += body.length < 4096 ? c : ''));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const servers = new EchoServers();
  await servers.serve(args.ports);
  const sctp =
    args.python && args.sctpScript ? await SctpHelper.start(args.python, args.sctpScript) : undefined;

  const handle = async (req: ControlRequest): Promise<unknown> => {
    switch (req.op) {
      case 'ping':
        return {
          pid: process.pid,
          serving: servers.serving(),
          sctp: sctp !== undefined,
        } satisfies ControlResults['ping'];
      case 'serve':
        await servers.serve(req.ports);
        return { serving: servers.serving() } satisfies ControlResults['serve'];
      case 'probe':
        return { outcomes: await runProbes(req.targets, req.settings) } satisfies ControlResults['probe'];
      case 'sctp-send':
        if (!sctp) throw new Error('this endpoint has no SCTP helper');
        return { failures: await sctp.send(req.inits) } satisfies ControlResults['sctp-send'];
      case 'sctp-take':
        if (!sctp) throw new Error('this endpoint has no SCTP helper');
        return { arrivals: await sctp.take() } satisfies ControlResults['sctp-take'];
      case 'http-get':
        return httpGet(req.url, req.timeoutMs);
    }
  };
  const control = await serveControl(args.socket, handle);

  const stop = (): void => {
    control.close();
    servers.close();
    sctp?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`endpoint ready pid=${process.pid} socket=${args.socket}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`endpoint failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
