/**
 * An IPv6 link-local source is no way around policy. On a bridge, a pod may send from its
 * link-local address (fe80::/10) to another pod's address: br_netfilter hands the frame to the
 * forward hook, but no pod holds that source, so the sender's egress dispatch (by source address)
 * never matched it, and its egress policy was bypassed. (Routed pods cannot do this: the kernel
 * never forwards a link-local source.) With new pods failing closed (the default), a forwarded
 * packet from or to a link-local address is treated as from or to a local pod not programmed:
 * dropped. Neighbour discovery still passes, so pods still reach each other by their addresses.
 * Both backends, in the bridge topology; the drop is read back from NFLOG as the agent reads it.
 */
import { systemClock } from '../agent/daemon/clock';
import { silentLogger } from '../agent/daemon/logger';
import { type CapturedMessage, NflogCapture, spawnCapture } from '../agent/daemon/verdicts/capture';
import { summarize } from '../agent/daemon/verdicts/testutil/fixture';
import { IncrementalCompiler } from '../compiler/incremental';
import type { PodInfo } from '../compiler/model';
import { type BackendKind, type Dataplane, createDataplane } from './api';
import { failClosedPoint } from './evaluations';
import { ProcessKernel } from './kernel';
import {
  buildTopology,
  connect,
  describeKernel,
  inNs,
  must,
  run,
  startServer,
  type Server,
  type Topology,
} from './testutil/netns';
import { waitUntil } from './testutil/continuous-prober';
import { DEFAULT_VERDICT_LOG, formatPrefix } from './verdict-log';

jest.setTimeout(60_000);

const PORT = 8080;

/** Connect to host:port from `source` (an address of the namespace's eth0, link-local allowed). */
const CLIENT_FROM = `
const net = require('node:net');
const [host, port, source] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const done = (r) => { process.stdout.write(r); process.exit(0); };
const s = net.connect({ host, port, localAddress: source });
s.setTimeout(1500, () => done('timeout'));
s.on('data', (d) => done(String(d) === 'ok' ? 'ok' : 'bad'));
s.on('error', (e) => done('error:' + e.code));
`;

async function connectFrom(ns: string, source: string, host: string): Promise<string> {
  const r = await run(inNs(ns, [process.execPath, '-e', CLIENT_FROM, host, String(PORT), source]));
  return r.stdout.trim() || `exit ${r.code}: ${r.stderr.trim()}`;
}

async function linkLocal(ns: string): Promise<string> {
  const out = await must(['ip', '-n', ns, '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
  const m = /inet6 (fe80::[0-9a-f:]+)\/64/.exec(out);
  if (!m) throw new Error(`no link-local address on eth0 in ${ns}: ${out}`);
  return `${m[1]}%eth0`;
}

const podInfo = (topo: Topology, name: string): PodInfo => ({
  namespace: 'app',
  name,
  labels: { role: name },
  nodeName: 'node-1',
  ips: [topo.pods[name].v4, topo.pods[name].v6],
  hostNetwork: false,
  phase: 'Running',
  namedPorts: [],
});

describeKernel('an IPv6 link-local source is no way around policy (bridged pods)', () => {
  describe.each<[BackendKind]>([['iptables'], ['nftables']])('%s backend', (backend) => {
    let topo: Topology;
    const servers: Server[] = [];
    let dp: Dataplane | undefined;
    let capture: NflogCapture | undefined;
    const logged: CapturedMessage[] = [];

    beforeAll(async () => {
      topo = await buildTopology('bridge', ['sealed', 'open']);
      for (const name of ['sealed', 'open']) servers.push(await startServer(topo.pods[name].ns, PORT));
      const compiler = new IncrementalCompiler({ nodeName: 'node-1' });
      compiler.upsertNamespace({ name: 'app', labels: {} });
      compiler.upsertNode({
        name: 'node-1',
        labels: {},
        addresses: [topo.nodeV4],
        podCIDRs: ['10.99.1.0/24', 'fd99:1::/64'],
      });
      for (const name of ['sealed', 'open']) compiler.upsertPod(podInfo(topo, name));
      // "sealed" may send nothing; "open" is not isolated either way.
      compiler.upsertPolicy({
        namespace: 'app',
        name: 'sealed-egress',
        spec: { podSelector: { matchLabels: { role: 'sealed' } }, policyTypes: ['Egress'] },
      });
      dp = createDataplane({
        kernel: new ProcessKernel({ netns: topo.node }),
        backend,
        newPods: 'fail-closed',
        verdictLog: DEFAULT_VERDICT_LOG,
      });
      await dp.sync(compiler.state(), compiler.flush());
      capture = new NflogCapture({
        group: DEFAULT_VERDICT_LOG.group,
        clock: systemClock,
        log: silentLogger(),
        sink: (m) => logged.push(m),
        start: (argv) => spawnCapture(inNs(topo.node, [...argv])),
      });
      capture.start();
      await waitUntil(() => capture!.status().state === 'running', 10_000, 'tcpdump listening');
    });

    afterAll(async () => {
      for (const s of servers) s.stop();
      await capture?.stop();
      await dp?.close();
      await topo?.destroy();
    });

    test('a pod whose egress is denied gets no further from its link-local address than from its own', async () => {
      const { sealed, open } = topo.pods;
      // Its own address: denied by its egress policy, as always.
      expect(await connect(sealed.ns, open.v6, PORT, 1500)).toBe('timeout');
      // Its link-local address: not a pod's, so no egress dispatch; dropped as unattributable.
      const source = await linkLocal(sealed.ns);
      expect(await connectFrom(sealed.ns, source, open.v6)).toBe('timeout');
      // The kernel reports the drop at the fail-closed point of egress, as `palisade watch` shows it.
      const fromUnknown = formatPrefix(failClosedPoint('egress'));
      const address = source.replace(/%.*$/, '');
      await waitUntil(
        () => logged.map(summarize).some((m) => m.prefix === fromUnknown && m.src === address),
        5_000,
        'the drop read back from NFLOG',
      );
    });

    test('a pod not isolated still reaches pods by their addresses, and not from its link-local one', async () => {
      const { sealed, open } = topo.pods;
      // Neighbour discovery passes: the addresses resolve and connect.
      expect(await connect(open.ns, sealed.v6, PORT)).toBe('ok');
      expect(await connect(open.ns, sealed.v4, PORT)).toBe('ok');
      expect(await connectFrom(open.ns, await linkLocal(open.ns), sealed.v6)).toBe('timeout');
    });
  });
});
