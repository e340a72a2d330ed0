/**
 * A simulated node for the agent's kernel tests.
 *
 *   host netns (jest, test API server on HOST_IP)           node netns (the agent)
 *      <id>h  HOST_IP/30  ═════════ veth ═════════  <id>n  NODE_IP/30
 *                                                     │ /32 routes, proxy ARP
 *                                      ┌──────────────┼──────────────┐
 *                                   <id>v0         <id>v1          ...        (node ends)
 *                                      ║              ║
 *                                 pod netns      pod netns        eth0 POD_IP/32, default dev eth0
 *                                 (prober)       (prober)
 *
 * The API server runs in the test process and listens on the host end of the veth, the only
 * thing outside the namespaces the test creates (a link and an address in 198.18.0.0/15, the
 * benchmarking range, removed in destroy()). Pods are routed /32 veths: a pod's default route is
 * its own eth0, the node answers ARP by proxy and forwards between pods, so pod-to-pod traffic
 * crosses the node's FORWARD chain where Palisade hooks in. Each pod runs one Prober: TCP
 * listeners on the probe ports and a client that connects on demand.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createInterface } from 'node:readline';
import { addNetns, deleteNetns, must, run, sysctl, uniqueId } from '../../../dataplane/testutil/netns';

const PROBER_SCRIPT = `
const net = require('node:net');
const readline = require('node:readline');
const ports = process.argv.slice(1).map(Number);
let waiting = ports.length;
for (const port of ports) {
  net.createServer((s) => { s.on('error', () => {}); s.end('ok'); })
    .listen({ port, host: '0.0.0.0' }, () => { if (--waiting === 0) process.stdout.write('{"ready":true}\\n'); });
}
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, host, port, timeoutMs } = JSON.parse(line);
  let done = false;
  let data = '';
  const s = net.connect({ host, port });
  const finish = (result) => {
    if (done) return;
    done = true;
    s.destroy();
    process.stdout.write(JSON.stringify({ id, result }) + '\\n');
  };
  s.setTimeout(timeoutMs, () => finish('timeout'));
  s.on('data', (d) => { data += d; });
  s.on('end', () => finish(data === 'ok' ? 'ok' : 'bad'));
  s.on('error', (e) => finish('error:' + e.code));
}).on('close', () => process.exit(0));
`;

export const PROBE_PORTS = [80, 81];

/** A long-lived process in a pod namespace: serves the probe ports, connects on request. */
export class Prober {
  private nextId = 0;
  private readonly waiting = new Map<number, (result: string) => void>();

  private constructor(private readonly child: ChildProcess) {}

  static start(ns: string, ports: readonly number[]): Promise<Prober> {
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', PROBER_SCRIPT, ...ports.map(String)],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const prober = new Prober(child);
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    return new Promise((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`prober in ${ns} exited (${code}): ${stderr}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const msg = JSON.parse(line) as { ready?: boolean; id?: number; result?: string };
        if (msg.ready) return resolve(prober);
        const done = prober.waiting.get(msg.id!);
        prober.waiting.delete(msg.id!);
        done?.(msg.result!);
      });
    });
  }

  /** "ok" when the server's answer came back; "timeout" (dropped) or "error:CODE" otherwise. */
  probe(host: string, port: number, timeoutMs = 1000): Promise<string> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ id, host, port, timeoutMs })}\n`);
    });
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

export interface SandboxPod {
  readonly key: string;
  readonly ns: string;
  readonly ip: string;
  readonly hostIf: string;
  readonly prober: Prober;
}

export class NodeSandbox {
  readonly pods = new Map<string, SandboxPod>();
  private podIndex = 0;

  private constructor(
    readonly id: string,
    /** The node's network namespace, where the agent runs and programs the kernel. */
    readonly node: string,
    /** The host end of the uplink: the test API server listens here. */
    readonly hostIP: string,
    /** The node end of the uplink: the agent's metrics server is reachable here. */
    readonly nodeIP: string,
    private readonly hostLink: string,
  ) {}

  static async create(): Promise<NodeSandbox> {
    const id = uniqueId();
    const node = `${id}n`;
    const hostLink = `${id}h`;
    // A random /30 of 198.18.0.0/15.
    const base = randomInt(0, 1 << 15) * 4;
    const octets = (n: number) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
    const sandbox = new NodeSandbox(id, node, octets(base + 1), octets(base + 2), hostLink);
    try {
      await addNetns(node);
      await sysctl(node, 'net.ipv4.ip_forward', '1');
      await must(['ip', 'link', 'add', hostLink, 'type', 'veth', 'peer', 'name', `${id}u`, 'netns', node]);
      await must(['ip', 'addr', 'add', `${sandbox.hostIP}/30`, 'dev', hostLink]);
      await must(['ip', 'link', 'set', hostLink, 'up']);
      await must(['ip', '-n', node, 'addr', 'add', `${sandbox.nodeIP}/30`, 'dev', `${id}u`]);
      await must(['ip', '-n', node, 'link', 'set', `${id}u`, 'up']);
    } catch (err) {
      await sandbox.destroy();
      throw err;
    }
    return sandbox;
  }

  /** A pod namespace with `ip`, wired to the node, running a prober on the probe ports. */
  async addPod(key: string, ip: string): Promise<SandboxPod> {
    const i = this.podIndex++;
    const ns = `${this.id}p${i}`;
    const hostIf = `${this.id}v${i}`;
    await addNetns(ns);
    await must([
      'ip',
      '-n',
      this.node,
      'link',
      'add',
      hostIf,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ]);
    await must(['ip', '-n', ns, 'addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    await must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await must(['ip', '-n', ns, 'route', 'add', 'default', 'dev', 'eth0']);
    await must(['ip', '-n', this.node, 'link', 'set', hostIf, 'up']);
    await must(['ip', '-n', this.node, 'route', 'add', `${ip}/32`, 'dev', hostIf]);
    await sysctl(this.node, `net.ipv4.conf.${hostIf}.proxy_arp`, '1');
    // Proxy ARP replies are otherwise delayed by up to 0.8 s, which a first probe may not wait for.
    await sysctl(this.node, `net.ipv4.neigh.${hostIf}.proxy_delay`, '0');
    const prober = await Prober.start(ns, PROBE_PORTS);
    const pod = { key, ns, ip, hostIf, prober };
    this.pods.set(key, pod);
    return pod;
  }

  async removePod(key: string): Promise<void> {
    const pod = this.pods.get(key);
    if (!pod) return;
    this.pods.delete(key);
    pod.prober.stop();
    await deleteNetns(pod.ns);
  }

  pod(key: string): SandboxPod {
    const p = this.pods.get(key);
    if (!p) throw new Error(`no sandbox pod ${key}`);
    return p;
  }

  /** Runs argv inside the node namespace; fails on a non-zero exit. */
  inNode(argv: readonly string[], stdin?: string): Promise<string> {
    return must(['ip', 'netns', 'exec', this.node, ...argv], stdin);
  }

  async destroy(): Promise<void> {
    for (const key of [...this.pods.keys()]) await this.removePod(key);
    await run(['ip', 'link', 'del', this.hostLink]);
    await deleteNetns(this.node);
  }
}
