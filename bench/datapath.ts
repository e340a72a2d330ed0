/**
 * Datapath cost: what Palisade's rules cost the packets themselves, not the control plane.
 *
 * A remote pod (the client) reaches a local pod (the server) that NetworkPolicies isolate and
 * admit it through, across a node namespace that holds the whole cluster's rules for that node
 * (the same compiled state the bench programs), wired as the routed topology does (a /32 veth
 * per pod, proxy ARP on the node side). The same path is measured three times, each in fresh
 * namespaces: with no rules, with the iptables backend's rules, with the nftables backend's.
 *
 *   connection rate  wrk with `Connection: close` against a small HTTP server: every request is a
 *                    new TCP connection, so it meets the rules as a new flow (replies and the rest
 *                    of the flow are conntrack's established fast path)
 *   throughput       iperf3, one TCP stream: the per-packet cost of the established path
 *
 * Before measuring, a second remote pod that policy denies is shown to be refused, so a figure
 * can never come from a path the rules do not hold. Every command is an argv array.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { IncrementalCompiler, verdict, type PodInfo } from '../compiler';
import { ProcessKernel, createDataplane } from '../dataplane/api';
import type { BackendKind } from '../dataplane/api';
import { LOCAL_NODE, generateCluster, type ClusterWorld } from './cluster';
import { loadWorld } from './events';
import { BenchNetns, runCommand, type CommandResult } from './netns';
import { SIZES, type SizeName } from './sizes';
import { round } from './stats';

export type DatapathCase = 'none' | BackendKind;
export const DATAPATH_CASES: readonly DatapathCase[] = ['none', 'iptables', 'nftables'];

export interface DatapathPair {
  readonly client: string;
  readonly clientIp: string;
  readonly server: string;
  readonly serverIp: string;
  readonly port: number;
  /** The remote pod that policy denies: refused before every measurement. */
  readonly denied: string;
  readonly deniedIp: string;
  /** The NetworkPolicies that isolate the server's ingress. */
  readonly isolatingPolicies: readonly string[];
}

export interface Datapath {
  readonly connectionsPerSecond: Record<DatapathCase, number>;
  readonly throughputMbps: Record<DatapathCase, number>;
  /** Each case over the no-rules case. */
  readonly ratio: {
    readonly connectionsPerSecond: Record<DatapathCase, number>;
    readonly throughputMbps: Record<DatapathCase, number>;
  };
  readonly pair: DatapathPair;
  readonly seconds: number;
  readonly tools: { readonly wrk: string; readonly iperf3: string };
}

export interface DatapathOptions {
  readonly size: SizeName;
  readonly seed: number;
  /** Length of each measurement (default 10 s). */
  readonly seconds?: number;
  readonly progress?: (msg: string) => void;
}

export async function checked(argv: readonly string[]): Promise<CommandResult> {
  const r = await runCommand(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/** wrk and iperf3 are installed (both Debian packages: `make bench-deps`). */
export async function datapathToolsAvailable(): Promise<{ ok: boolean; why: string }> {
  for (const argv of [
    ['wrk', '-v'],
    ['iperf3', '--version'],
  ]) {
    const r = await runCommand(argv);
    // wrk -v prints its version and exits 1.
    if (r.code === 127 || (r.stdout + r.stderr).trim() === '' || /ENOENT/.test(r.stderr))
      return { ok: false, why: `${argv[0]} is not installed (apt-get install wrk iperf3)` };
  }
  return { ok: true, why: '' };
}

function ipv4(p: PodInfo): string | undefined {
  return p.ips.find((ip) => !ip.includes(':'));
}

/**
 * A remote client and a local server that NetworkPolicy isolates and admits it to on a TCP
 * port the server declares, plus a remote pod it denies on the same port: the first such pair
 * in a fixed order, so the same seed measures the same path.
 */
export function choosePair(world: ClusterWorld, compiler: IncrementalCompiler): DatapathPair {
  const pods = [...world.pods.values()]
    .filter((p) => p.phase === 'Running' && ipv4(p) !== undefined && !p.hostNetwork)
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const remote = pods.filter((p) => p.nodeName !== LOCAL_NODE);
  for (const server of pods.filter((p) => p.nodeName === LOCAL_NODE)) {
    const serverKey = `${server.namespace}/${server.name}`;
    for (const port of server.namedPorts.filter((n) => n.protocol === 'TCP')) {
      const probe = { port: port.port, protocol: 'TCP' as const };
      let allowed: { pod: PodInfo; isolating: readonly string[] } | undefined;
      let denied: PodInfo | undefined;
      for (const client of remote) {
        if (allowed && denied) break;
        const v = verdict(
          compiler,
          { kind: 'pod', key: `${client.namespace}/${client.name}` },
          { kind: 'pod', key: serverKey },
          probe,
        );
        if (v.ingress.isolatingPolicies.length === 0) break; // not isolated on this port: next server
        if (v.allowed && v.ingress.decidedBy === 'networkpolicy' && !allowed)
          allowed = { pod: client, isolating: v.ingress.isolatingPolicies };
        if (!v.allowed && !denied) denied = client;
      }
      if (allowed && denied)
        return {
          client: `${allowed.pod.namespace}/${allowed.pod.name}`,
          clientIp: ipv4(allowed.pod)!,
          server: serverKey,
          serverIp: ipv4(server)!,
          port: port.port,
          denied: `${denied.namespace}/${denied.name}`,
          deniedIp: ipv4(denied)!,
          isolatingPolicies: allowed.isolating,
        };
    }
  }
  throw new Error('no local pod is isolated and reachable from a remote pod on a TCP port');
}

/** The node and its three pods, routed /32 veths with proxy ARP on the node side. */
export class RoutedPath {
  private constructor(
    readonly node: BenchNetns,
    readonly server: BenchNetns,
    readonly client: BenchNetns,
    readonly denied: BenchNetns,
  ) {}

  static async build(pair: DatapathPair): Promise<RoutedPath> {
    const made: BenchNetns[] = [];
    try {
      for (const tag of ['n', 's', 'c', 'd']) made.push(await BenchNetns.create(`d${tag}`));
      const [node, server, client, denied] = made;
      await checked(['ip', 'netns', 'exec', node.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      const wire = async (pod: BenchNetns, ip: string, veth: string): Promise<void> => {
        await checked([
          'ip',
          '-n',
          node.name,
          'link',
          'add',
          veth,
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          pod.name,
        ]);
        await checked(['ip', '-n', pod.name, 'addr', 'add', `${ip}/32`, 'dev', 'eth0']);
        await checked(['ip', '-n', pod.name, 'link', 'set', 'eth0', 'up']);
        await checked(['ip', '-n', pod.name, 'route', 'add', 'default', 'dev', 'eth0', 'scope', 'link']);
        await checked(['ip', '-n', node.name, 'link', 'set', veth, 'up']);
        await checked([
          'ip',
          'netns',
          'exec',
          node.name,
          'sysctl',
          '-qw',
          `net.ipv4.conf.${veth}.proxy_arp=1`,
        ]);
        await checked(['ip', '-n', node.name, 'route', 'add', `${ip}/32`, 'dev', veth]);
      };
      await wire(server, pair.serverIp, 'vserver');
      await wire(client, pair.clientIp, 'vclient');
      await wire(denied, pair.deniedIp, 'vdenied');
      return new RoutedPath(node, server, client, denied);
    } catch (e) {
      await Promise.all(made.map((ns) => ns.remove()));
      throw e;
    }
  }

  async remove(): Promise<void> {
    await Promise.all([this.node, this.server, this.client, this.denied].map((ns) => ns.remove()));
  }
}

export interface Server {
  stop(): Promise<void>;
}

/** A long-lived process in `ns`, ready once `ready` matches its output. */
export function startIn(ns: BenchNetns, argv: readonly string[], ready: RegExp): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    const stop = (): Promise<void> =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('close', () => done());
        child.kill('SIGTERM');
      });
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${argv.join(' ')} did not start: ${seen.trim()}`));
    }, 10_000);
    const onData = (b: Buffer): void => {
      seen += b.toString('utf8');
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve({ stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited with ${code}: ${seen.trim()}`));
    });
  });
}

/** New connections per second: wrk, every request on a connection of its own. */
async function connectionRate(path: RoutedPath, pair: DatapathPair, seconds: number): Promise<number> {
  const server = await startIn(
    path.server,
    [process.execPath, join(__dirname, 'datapath-server.js'), pair.serverIp, String(pair.port)],
    /listening/,
  );
  try {
    const r = await checked([
      'ip',
      'netns',
      'exec',
      path.client.name,
      'wrk',
      '-t2',
      '-c32',
      `-d${seconds}s`,
      '-H',
      'Connection: close',
      `http://${pair.serverIp}:${pair.port}/`,
    ]);
    const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
    if (!m) throw new Error(`wrk printed no rate: ${r.stdout}`);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
    if (errors && Number(errors[1]) + Number(errors[4]) > 0)
      throw new Error(`wrk saw connect errors or timeouts on an allowed path: ${errors[0]}`);
    return Number(m[1]);
  } finally {
    await server.stop();
  }
}

/** Bulk throughput of one TCP stream, in Mbit/s as the receiver counted it. */
export async function throughput(path: RoutedPath, pair: DatapathPair, seconds: number): Promise<number> {
  const server = await startIn(
    path.server,
    ['iperf3', '-s', '-1', '--forceflush', '-B', pair.serverIp, '-p', String(pair.port)],
    /Server listening/,
  );
  try {
    const r = await checked([
      'ip',
      'netns',
      'exec',
      path.client.name,
      'iperf3',
      '-c',
      pair.serverIp,
      '-B',
      pair.clientIp,
      '-p',
      String(pair.port),
      '-t',
      String(seconds),
      '-J',
    ]);
    const report = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return report.end.sum_received.bits_per_second / 1e6;
  } finally {
    await server.stop();
  }
}

/** The denied pod cannot connect (rules loaded) or can (no rules): checked before measuring. */
export async function deniedConnects(path: RoutedPath, pair: DatapathPair): Promise<boolean> {
  const server = await startIn(
    path.server,
    ['iperf3', '-s', '-1', '--forceflush', '-B', pair.serverIp, '-p', String(pair.port)],
    /Server listening/,
  );
  try {
    const r = await runCommand([
      'ip',
      'netns',
      'exec',
      path.denied.name,
      'iperf3',
      '-c',
      pair.serverIp,
      '-B',
      pair.deniedIp,
      '-p',
      String(pair.port),
      '-t',
      '1',
      '--connect-timeout',
      '1000',
    ]);
    return r.code === 0;
  } finally {
    await server.stop();
  }
}

async function measureCase(
  kind: DatapathCase,
  world: ClusterWorld,
  pair: DatapathPair,
  seconds: number,
  progress: (msg: string) => void,
): Promise<{ cps: number; mbps: number }> {
  const path = await RoutedPath.build(pair);
  try {
    const dataplane =
      kind === 'none'
        ? undefined
        : createDataplane({
            kernel: new ProcessKernel({ netns: path.node.name }),
            backend: kind,
            families: [4],
          });
    try {
      if (dataplane) {
        const compiler = new IncrementalCompiler({ nodeName: LOCAL_NODE });
        loadWorld(compiler, world);
        await dataplane.sync(compiler.state(), compiler.flush());
      }
      const refused = !(await deniedConnects(path, pair));
      if (refused !== (kind !== 'none'))
        throw new Error(
          `${kind}: the denied pod ${pair.denied} ${refused ? 'was refused without rules' : 'connected through the rules'}`,
        );
      const cps = await connectionRate(path, pair, seconds);
      const mbps = await throughput(path, pair, seconds);
      progress(`datapath ${kind}: ${Math.round(cps)} connections/s, ${Math.round(mbps)} Mbit/s`);
      return { cps, mbps };
    } finally {
      await dataplane?.close();
    }
  } finally {
    await path.remove();
  }
}

export async function measureDatapath(opts: DatapathOptions): Promise<Datapath> {
  const seconds = opts.seconds ?? 10;
  const progress = opts.progress ?? (() => undefined);
  const tools = await datapathToolsAvailable();
  if (!tools.ok) throw new Error(`datapath: ${tools.why}`);
  const world = generateCluster(SIZES[opts.size], opts.seed);
  const compiler = new IncrementalCompiler({ nodeName: LOCAL_NODE });
  loadWorld(compiler, world);
  const pair = choosePair(world, compiler);
  progress(`datapath: ${pair.client} -> ${pair.server} port ${pair.port}/TCP (denied: ${pair.denied})`);
  const cps = {} as Record<DatapathCase, number>;
  const mbps = {} as Record<DatapathCase, number>;
  for (const kind of DATAPATH_CASES) {
    const r = await measureCase(kind, world, pair, seconds, progress);
    cps[kind] = round(r.cps, 0);
    mbps[kind] = round(r.mbps, 0);
  }
  const ratioOf = (m: Record<DatapathCase, number>) =>
    Object.fromEntries(DATAPATH_CASES.map((k) => [k, round(m[k] / m.none, 3)])) as Record<
      DatapathCase,
      number
    >;
  const version = async (argv: string[]) => {
    const r = await runCommand(argv);
    return (r.stdout + r.stderr).split('\n')[0].trim();
  };
  return {
    connectionsPerSecond: cps,
    throughputMbps: mbps,
    ratio: { connectionsPerSecond: ratioOf(cps), throughputMbps: ratioOf(mbps) },
    pair,
    seconds,
    tools: { wrk: await version(['wrk', '-v']), iperf3: await version(['iperf3', '--version']) },
  };
}
