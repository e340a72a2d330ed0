/**
 * The flow cutter without a kernel: which addresses a delta makes it look at, which connections
 * it judges denied, and that it deletes only those, grouped, never the node's own.
 */
import { compileSnapshot } from '../../compiler/incremental';
import type { ClusterSnapshot, PolicyInfo } from '../../compiler/model';
import { ConntrackTable, parseConntrackList, type Flow, type FlowGroup } from '../../dataplane/conntrack';
import { cidrInterval, addressValue } from '../../dataplane/nftables/intervals';
import type { Kernel, ProcessResult } from '../../dataplane/kernel';
import { affectedAddresses, FlowCutter } from './flow-cutter';

const LIST = `tcp      6 431999 ESTABLISHED src=10.0.1.5 dst=10.0.2.7 sport=40112 dport=8080 src=10.0.2.7 dst=10.0.1.5 sport=8080 dport=40112 [ASSURED] mark=0 use=1
udp      17 28 src=10.0.1.5 dst=10.0.2.7 sport=5353 dport=53 src=10.0.2.7 dst=10.0.1.5 sport=53 dport=5353 mark=0 use=1
sctp     132 431999 ESTABLISHED src=10.0.1.5 dst=10.0.2.7 sport=5000 dport=38412 src=10.0.2.7 dst=10.0.1.5 sport=38412 dport=5000 [ASSURED] mark=0 use=1
icmp     1 29 src=10.0.1.5 dst=10.0.2.7 type=8 code=0 id=7 src=10.0.2.7 dst=10.0.1.5 type=0 code=0 id=7 mark=0 use=1
ipv6     10 tcp      6 86399 ESTABLISHED src=fd00::0005 dst=fd00::7 sport=50000 dport=443 src=fd00::7 dst=fd00::5 sport=443 dport=50000 [ASSURED] mark=0 use=1
`;

test('parses conntrack -L lines: the original direction, TCP/UDP/SCTP only, addresses canonical', () => {
  expect(parseConntrackList(LIST)).toEqual<Flow[]>([
    { protocol: 'tcp', src: '10.0.1.5', dst: '10.0.2.7', sport: 40112, dport: 8080 },
    { protocol: 'udp', src: '10.0.1.5', dst: '10.0.2.7', sport: 5353, dport: 53 },
    { protocol: 'sctp', src: '10.0.1.5', dst: '10.0.2.7', sport: 5000, dport: 38412 },
    { protocol: 'tcp', src: 'fd00::5', dst: 'fd00::7', sport: 50000, dport: 443 },
  ]);
});

/** A conntrack that answers -L (-s or -d, an address or a CIDR) from a fixed table and records -L and -D. */
class FakeConntrack implements Kernel {
  readonly listed: string[][] = [];
  readonly deleted: string[][] = [];
  constructor(private readonly flows: Flow[]) {}
  async run(argv: readonly string[]): Promise<ProcessResult> {
    const at = (flag: string) => argv[argv.indexOf(flag) + 1];
    if (argv[1] === '-L') {
      this.listed.push([...argv]);
      const side = argv.includes('-s') ? 'src' : 'dst';
      const { family, interval } = cidrInterval(at(side === 'src' ? '-s' : '-d'));
      const inPrefix = (ip: string) =>
        (ip.includes(':') ? 6 : 4) === family &&
        addressValue(ip) >= interval.start &&
        addressValue(ip) <= interval.end;
      const lines = this.flows
        .filter((f) => inPrefix(f[side]))
        .map(
          (f) =>
            `${f.protocol} 6 100 ESTABLISHED src=${f.src} dst=${f.dst} sport=${f.sport} dport=${f.dport} src=${f.dst} dst=${f.src}`,
        );
      return { code: 0, stdout: lines.join('\n'), stderr: '' };
    }
    this.deleted.push([...argv]);
    return {
      code: 0,
      stdout: '',
      stderr: 'conntrack v1.4.7 (conntrack-tools): 1 flow entries have been deleted.\n',
    };
  }
}

/** Commands run, as text, sorted (listings run concurrently). */
const commands = (runs: readonly string[][]): string[] => runs.map((r) => r.join(' ')).sort();

const NODE_IP = '10.0.0.1';
const cluster = (policies: PolicyInfo[]): ClusterSnapshot => ({
  namespaces: [{ name: 'app', labels: {} }],
  pods: [
    {
      namespace: 'app',
      name: 'server',
      labels: { role: 'server' },
      nodeName: 'n1',
      ips: ['10.0.1.1'],
      hostNetwork: false,
      phase: 'Running',
      namedPorts: [],
    },
    {
      namespace: 'app',
      name: 'friend',
      labels: { role: 'friend' },
      nodeName: 'n2',
      ips: ['10.0.2.1'],
      hostNetwork: false,
      phase: 'Running',
      namedPorts: [],
    },
    {
      namespace: 'app',
      name: 'other',
      labels: { role: 'other' },
      nodeName: 'n1',
      ips: ['10.0.1.2'],
      hostNetwork: false,
      phase: 'Running',
      namedPorts: [],
    },
  ],
  policies,
});
const onlyPort80: PolicyInfo = {
  namespace: 'app',
  name: 'server-80',
  spec: {
    podSelector: { matchLabels: { role: 'server' } },
    policyTypes: ['Ingress'],
    ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }],
  },
};

test('a new policy: its pods are affected, the other local pod is not', () => {
  const c = compileSnapshot(cluster([]), { nodeName: 'n1' });
  c.upsertPolicy(onlyPort80);
  const delta = c.flush();
  expect([...affectedAddresses(c.state(), delta, false)]).toEqual(['10.0.1.1']);
  expect([...affectedAddresses(c.state(), delta, true)].sort()).toEqual(['10.0.1.1', '10.0.1.2']);
});

test('a peer-set member change makes its address affected', () => {
  const withPeers: PolicyInfo = {
    ...onlyPort80,
    spec: { ...onlyPort80.spec, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'friend' } } }] }] },
  };
  const c = compileSnapshot(cluster([withPeers]), { nodeName: 'n1' });
  c.upsertPod({ ...cluster([]).pods[1], labels: { role: 'stranger' } });
  expect([...affectedAddresses(c.state(), c.flush(), false)]).toEqual(['10.0.2.1']);
});

test('cuts exactly the denied groups, never the node, never the allowed ones', async () => {
  const c = compileSnapshot(cluster([]), { nodeName: 'n1' });
  const kernel = new FakeConntrack([
    { protocol: 'tcp', src: '10.0.2.1', dst: '10.0.1.1', sport: 1000, dport: 443 }, // denied: not port 80
    { protocol: 'tcp', src: '10.0.2.1', dst: '10.0.1.1', sport: 1001, dport: 443 }, // same group
    { protocol: 'tcp', src: '10.0.2.1', dst: '10.0.1.1', sport: 1002, dport: 80 }, // allowed
    { protocol: 'udp', src: '10.0.1.1', dst: '10.0.2.1', sport: 53, dport: 5353 }, // egress: not isolated
    { protocol: 'tcp', src: NODE_IP, dst: '10.0.1.1', sport: 2000, dport: 8080 }, // kubelet probe: never
  ]);
  const cutter = new FlowCutter(
    new ConntrackTable(kernel),
    () => c,
    () => new Set([NODE_IP]),
  );
  c.upsertPolicy(onlyPort80);
  const delta = c.flush();
  const report = await cutter.cut(c.state(), delta, false);
  expect(report.cut).toEqual(['tcp 10.0.2.1 10.0.1.1 443']);
  expect(report.checked).toBe(3);
  expect(kernel.deleted).toEqual([
    ['conntrack', '-D', '-f', 'ipv4', '-p', 'tcp', '-s', '10.0.2.1', '-d', '10.0.1.1', '--dport', '443'],
  ]);
});

test('a group that ended meanwhile (conntrack exits 1, 0 deleted) is not an error', async () => {
  const kernel: Kernel = {
    run: async () => ({
      code: 1,
      stdout: '',
      stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n',
    }),
  };
  const g: FlowGroup = { protocol: 'udp', src: '10.0.0.5', dst: '10.0.0.6', dport: 53 };
  await expect(new ConntrackTable(kernel).delete(g)).resolves.toBe(0);
  const broken: Kernel = {
    run: async () => ({ code: 2, stdout: '', stderr: 'conntrack: Operation not permitted' }),
  };
  await expect(new ConntrackTable(broken).delete(g)).rejects.toThrow(/Operation not permitted/);
});

test('many affected addresses: filtered listings of their covering prefix, never the whole table', async () => {
  const pods = Array.from({ length: 6 }, (_, i) => ({
    namespace: 'app',
    name: `p${i}`,
    labels: { role: 'server' },
    nodeName: 'n1',
    ips: [`10.0.1.${10 + i}`],
    hostNetwork: false,
    phase: 'Running',
    namedPorts: [],
  }));
  const c = compileSnapshot(
    { namespaces: [{ name: 'app', labels: {} }], pods, policies: [] },
    { nodeName: 'n1' },
  );
  const kernel = new FakeConntrack([
    { protocol: 'tcp', src: '10.0.9.9', dst: '10.0.1.10', sport: 1, dport: 443 }, // denied: not port 80
    { protocol: 'tcp', src: '10.0.9.9', dst: '10.0.1.12', sport: 1, dport: 80 }, // allowed
    { protocol: 'tcp', src: '10.0.9.9', dst: '10.0.1.9', sport: 1, dport: 443 }, // in the prefix, no pod of this change
    { protocol: 'tcp', src: '10.0.9.9', dst: '10.0.7.7', sport: 1, dport: 443 }, // outside the prefix
  ]);
  const cutter = new FlowCutter(
    new ConntrackTable(kernel),
    () => c,
    () => new Set(),
  );
  c.upsertPolicy({ ...onlyPort80, spec: { ...onlyPort80.spec, podSelector: {} } });
  const report = await cutter.cut(c.state(), c.flush(), false);
  // 10.0.1.10-15: the smallest prefix that holds them, .8-.15, listed by source and by destination.
  expect(commands(kernel.listed)).toEqual([
    'conntrack -L -f ipv4 -d 10.0.1.8/29',
    'conntrack -L -f ipv4 -s 10.0.1.8/29',
  ]);
  expect(report.addresses).toBe(6);
  expect(report.checked).toBe(2);
  expect(report.cut).toEqual(['tcp 10.0.9.9 10.0.1.10 443']);
});

test('local and remote addresses: one prefix per family holds them all; only their connections are judged', async () => {
  const c = compileSnapshot(cluster([]), { nodeName: 'n1' });
  const kernel = new FakeConntrack([
    { protocol: 'tcp', src: '10.0.2.1', dst: '10.0.1.1', sport: 1000, dport: 443 }, // denied
    { protocol: 'tcp', src: '10.0.2.9', dst: '10.0.1.1', sport: 1000, dport: 443 }, // denied too
    { protocol: 'tcp', src: '10.0.2.3', dst: '10.0.2.7', sport: 1000, dport: 443 }, // listed, not judged
  ]);
  const cutter = new FlowCutter(
    new ConntrackTable(kernel),
    () => c,
    () => new Set([NODE_IP]),
  );
  c.upsertPolicy(onlyPort80);
  // The policy's pod and three peers that left or joined a set, none of them adjacent.
  const delta = {
    ...c.flush(),
    members: new Map([['peers', { added: ['10.0.2.1', '10.0.2.9'], removed: ['10.0.2.5'] }]]),
  };
  const report = await cutter.cut(c.state(), delta, false);
  expect(commands(kernel.listed)).toEqual([
    'conntrack -L -f ipv4 -d 10.0.0.0/22',
    'conntrack -L -f ipv4 -s 10.0.0.0/22',
  ]);
  expect(report.checked).toBe(2);
  expect([...report.cut].sort()).toEqual(['tcp 10.0.2.1 10.0.1.1 443', 'tcp 10.0.2.9 10.0.1.1 443']);
});
