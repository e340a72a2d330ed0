/**
 * SyntheticCluster: a seeded, realistic cluster for the benchmark, and the live world the event
 * streams mutate.
 *
 * What it models: namespaces owned by teams (labels team, env; plus kube-system with the DNS
 * pods and monitoring with Prometheus), deployments of pods (labels app, tier,
 * pod-template-hash; named container ports by tier), pods spread over nodes of ~110 pods with
 * one /24 pod CIDR each (addresses are released and reused as pods come and go, as on a node),
 * and the policies teams write in practice: a default deny per namespace, allow from the same
 * app, allow from namespaces by label, ingress from monitoring on a named port, egress to DNS,
 * egress to CIDRs with excepts, port ranges (endPort); and the ClusterNetworkPolicies cluster
 * admins write: kube-system reachable only for DNS and from monitoring, the cloud metadata
 * address denied, traffic within a team passed down to the teams' own policies, partner
 * ranges (networks) denied, and baseline default denies per environment that a namespace's
 * own policies open.
 *
 * How it works: `generateCluster(size, seed)` builds everything from one Random, so the same
 * seed gives the same objects in every process. The world keeps the mutable bookkeeping
 * (deployments, free addresses, pending pods) that events.ts needs to make plausible changes.
 *
 * Promise: counts are exact (pods, namespaces, policies, localPods as the size says); every pod
 * starts Running with one IPv4 address; objects are plain model data (compiler/model.ts).
 */
import type {
  ClusterPolicyInfo,
  LabelSelector,
  NamedPort,
  NamespaceInfo,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicySpec,
  ObjectKey,
  PodInfo,
  PolicyInfo,
} from '../compiler';
import { objectKey } from '../compiler';
import { Random } from './random';
import type { ClusterSize } from './sizes';

/** The node whose pods the agent enforces. */
export const LOCAL_NODE = 'bench-local';
/** Pods per remote node, as kubelet's default max-pods allows. */
const PODS_PER_NODE = 110;

export type Tier = 'frontend' | 'backend' | 'db' | 'cache' | 'worker';

const APP_WORDS = [
  'api',
  'web',
  'checkout',
  'cart',
  'auth',
  'search',
  'catalog',
  'orders',
  'billing',
  'ledger',
  'notifier',
  'scheduler',
  'gateway',
  'inventory',
  'pricing',
  'profile',
  'reports',
  'ingest',
  'export',
  'media',
];
const TEAMS = [
  'payments',
  'identity',
  'growth',
  'platform',
  'data',
  'search',
  'mobile',
  'risk',
  'ads',
  'infra',
];
const ENVS = { prod: 4, staging: 3, dev: 3 } as const;

const TIER_PORTS: Readonly<Record<Tier, readonly NamedPort[]>> = {
  frontend: [
    { name: 'http', port: 8080, protocol: 'TCP' },
    { name: 'metrics', port: 9090, protocol: 'TCP' },
  ],
  backend: [
    { name: 'http', port: 8080, protocol: 'TCP' },
    { name: 'grpc', port: 9000, protocol: 'TCP' },
    { name: 'metrics', port: 9090, protocol: 'TCP' },
  ],
  db: [
    { name: 'postgres', port: 5432, protocol: 'TCP' },
    { name: 'metrics', port: 9187, protocol: 'TCP' },
  ],
  cache: [
    { name: 'redis', port: 6379, protocol: 'TCP' },
    { name: 'metrics', port: 9121, protocol: 'TCP' },
  ],
  worker: [{ name: 'metrics', port: 9090, protocol: 'TCP' }],
};
const DNS_PORTS: readonly NamedPort[] = [
  { name: 'dns', port: 53, protocol: 'UDP' },
  { name: 'dns-tcp', port: 53, protocol: 'TCP' },
  { name: 'metrics', port: 9153, protocol: 'TCP' },
];

/** Outside ranges teams allow egress to (shared corporate ranges, partner APIs). */
const EGRESS_CIDRS: readonly { cidr: string; except: string[] }[] = [
  { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] },
  { cidr: '172.20.0.0/16', except: ['172.20.128.0/17'] },
  { cidr: '192.168.0.0/16', except: ['192.168.10.0/24', '192.168.11.0/24'] },
  { cidr: '100.64.0.0/10', except: [] },
];

export interface Deployment {
  readonly namespace: string;
  readonly app: string;
  readonly tier: Tier;
  readonly hash: string;
  readonly ports: readonly NamedPort[];
}

/** A node and the free host numbers of its /24 pod CIDR. */
interface NodeSlot {
  readonly name: string;
  readonly prefix: string;
  readonly free: number[];
}

export interface SyntheticCluster {
  readonly size: ClusterSize;
  readonly namespaces: NamespaceInfo[];
  readonly pods: PodInfo[];
  readonly policies: PolicyInfo[];
  readonly clusterPolicies: ClusterPolicyInfo[];
}

/**
 * The live cluster, as events change it. Maps hold the current objects; the rest is what an
 * event generator needs to make changes a real cluster would see.
 */
export class ClusterWorld {
  readonly namespaces = new Map<string, NamespaceInfo>();
  readonly pods = new Map<ObjectKey, PodInfo>();
  readonly policies = new Map<ObjectKey, PolicyInfo>();
  readonly clusterPolicies = new Map<string, ClusterPolicyInfo>();
  readonly deployments: Deployment[] = [];
  readonly deploymentsByNs = new Map<string, Deployment[]>();
  /** Namespaces that hold at least one local pod: where policies are active. */
  readonly localNamespaces = new Set<string>();
  private readonly nodes: NodeSlot[] = [];
  private readonly localNode: NodeSlot;
  private podSerial = 0;

  constructor(
    readonly size: ClusterSize,
    readonly rng: Random,
  ) {
    this.localNode = makeNode(LOCAL_NODE, 0);
    const remoteNodes = Math.max(1, Math.ceil((size.pods - size.localPods) / PODS_PER_NODE));
    for (let i = 1; i <= remoteNodes; i++) this.nodes.push(makeNode(`node-${String(i).padStart(5, '0')}`, i));
  }

  snapshot(): SyntheticCluster {
    return {
      size: this.size,
      namespaces: [...this.namespaces.values()],
      pods: [...this.pods.values()],
      policies: [...this.policies.values()],
      clusterPolicies: [...this.clusterPolicies.values()],
    };
  }

  addDeployment(d: Deployment): void {
    this.deployments.push(d);
    let list = this.deploymentsByNs.get(d.namespace);
    if (!list) this.deploymentsByNs.set(d.namespace, (list = []));
    list.push(d);
  }

  /** A new pod of deployment `d`: Running with an address, or Pending without (as just created). */
  newPod(d: Deployment, opts: { local: boolean; running: boolean }): PodInfo {
    const node = opts.local ? this.localNode : this.remoteNodeWithRoom();
    const name = `${d.app}-${d.hash}-${this.rng.token(5)}${(this.podSerial++).toString(36)}`;
    return {
      namespace: d.namespace,
      name,
      labels: { app: d.app, tier: d.tier, 'pod-template-hash': d.hash },
      nodeName: node.name,
      ips: opts.running ? [this.allocate(node)] : [],
      hostNetwork: false,
      phase: opts.running ? 'Running' : 'Pending',
      namedPorts: d.ports,
    };
  }

  /** The pod after the kubelet reported it Running with an address on its node. */
  started(p: PodInfo): PodInfo {
    return { ...p, phase: 'Running', ips: [this.allocate(this.nodeOf(p.nodeName))] };
  }

  /** Gives the pod's addresses back to its node (the pod is gone). */
  release(p: PodInfo): void {
    const node = this.nodeOf(p.nodeName);
    for (const ip of p.ips) node.free.push(Number(ip.slice(ip.lastIndexOf('.') + 1)));
  }

  isLocal(p: PodInfo): boolean {
    return p.nodeName === LOCAL_NODE;
  }

  private nodeOf(name: string): NodeSlot {
    if (name === LOCAL_NODE) return this.localNode;
    return this.nodes[Number(name.slice('node-'.length)) - 1];
  }

  private remoteNodeWithRoom(): NodeSlot {
    for (let tries = 0; tries < 64; tries++) {
      const n = this.rng.pick(this.nodes);
      if (n.free.length > 0) return n;
    }
    const n = this.nodes.find((x) => x.free.length > 0);
    if (!n) throw new Error('every node pod CIDR is full');
    return n;
  }

  private allocate(node: NodeSlot): string {
    if (node.free.length === 0) throw new Error(`pod CIDR of ${node.name} is full`);
    // Take a random free host number: kubelet's IPAM does not hand addresses out in order either.
    const i = this.rng.int(node.free.length);
    const host = node.free[i];
    node.free[i] = node.free[node.free.length - 1];
    node.free.pop();
    return `${node.prefix}.${host}`;
  }
}

/** Node n has the pod CIDR 10.(64 + n / 256).(n % 256).0/24; hosts .2 to .254. */
function makeNode(name: string, index: number): NodeSlot {
  const free: number[] = [];
  for (let h = 254; h >= 2; h--) free.push(h);
  return { name, prefix: `10.${64 + (index >> 8)}.${index & 255}`, free };
}

// ---------------------------------------------------------------------------------------------
// Namespaces, deployments, pods

function namespaceNames(rng: Random, count: number): NamespaceInfo[] {
  const out: NamespaceInfo[] = [
    { name: 'kube-system', labels: {} },
    { name: 'monitoring', labels: { purpose: 'monitoring' } },
  ];
  const teams = TEAMS.slice(0, Math.max(3, Math.min(TEAMS.length, Math.ceil(count / 20))));
  for (let i = out.length; i < count; i++) {
    const team = rng.pick(teams);
    const env = rng.weighted(ENVS);
    out.push({ name: `${team}-${env}-${String(i).padStart(4, '0')}`, labels: { team, env } });
  }
  return out;
}

function tierOf(rng: Random): Tier {
  return rng.weighted({ frontend: 2, backend: 5, db: 1, cache: 1, worker: 2 });
}

function replicas(rng: Random): number {
  return Number(rng.weighted({ '1': 2, '2': 3, '3': 3, '5': 1.5, '10': 0.5 }));
}

/** Spreads `total` over `n` buckets with weights in [0.5, 1.5): exact total, every bucket ≥ 1. */
function spread(rng: Random, total: number, n: number): number[] {
  const weights = Array.from({ length: n }, () => 0.5 + rng.next());
  const sum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.max(1, Math.floor((w / sum) * total)));
  let left = total - counts.reduce((a, b) => a + b, 0);
  for (let i = 0; left !== 0; i = (i + 1) % n) {
    if (left > 0) {
      counts[i]++;
      left--;
    } else if (counts[i] > 1) {
      counts[i]--;
      left++;
    }
  }
  return counts;
}

function populate(world: ClusterWorld): void {
  const { size, rng } = world;
  const nsList = namespaceNames(rng, size.namespaces);
  for (const ns of nsList) world.namespaces.set(ns.name, ns);

  // System pods first: two DNS pods, two Prometheus pods (remote, as on most nodes).
  const system: Deployment[] = [
    { namespace: 'kube-system', app: 'coredns', tier: 'backend', hash: rng.token(10), ports: DNS_PORTS },
    {
      namespace: 'monitoring',
      app: 'prometheus',
      tier: 'backend',
      hash: rng.token(10),
      ports: [{ name: 'web', port: 9090, protocol: 'TCP' }],
    },
  ];
  const systemPods: PodInfo[] = [];
  for (const d of system) {
    world.addDeployment(d);
    for (let r = 0; r < 2; r++) {
      const p = world.newPod(d, { local: false, running: true });
      systemPods.push(d.app === 'coredns' ? { ...p, labels: { ...p.labels, 'k8s-app': 'kube-dns' } } : p);
    }
  }

  // Application pods: quotas per team namespace, filled with deployments of 1..10 replicas.
  const appNs = nsList.slice(2);
  const quotas = spread(rng, size.pods - systemPods.length, appNs.length);
  const appPods: { d: Deployment; index: number }[] = [];
  appNs.forEach((ns, i) => {
    let left = quotas[i];
    const used = new Set<string>();
    while (left > 0) {
      const n = Math.min(left, replicas(rng));
      let app = rng.pick(APP_WORDS);
      for (let k = 2; used.has(app); k++) app = `${rng.pick(APP_WORDS)}-${k}`;
      used.add(app);
      const tier = tierOf(rng);
      const d: Deployment = { namespace: ns.name, app, tier, hash: rng.token(10), ports: TIER_PORTS[tier] };
      world.addDeployment(d);
      for (let r = 0; r < n; r++) appPods.push({ d, index: appPods.length });
      left -= n;
    }
  });

  // The measured node's pods: a random sample of application pods.
  const local = new Set<number>();
  while (local.size < Math.min(size.localPods, appPods.length)) local.add(rng.int(appPods.length));
  for (const p of systemPods) world.pods.set(objectKey(p), p);
  for (const { d, index } of appPods) {
    const isLocal = local.has(index);
    const p = world.newPod(d, { local: isLocal, running: true });
    world.pods.set(objectKey(p), p);
    if (isLocal) world.localNamespaces.add(d.namespace);
  }
}

// ---------------------------------------------------------------------------------------------
// Policies

export type PolicyKind =
  | 'defaultDeny'
  | 'allowSameApp'
  | 'allowFromNamespaces'
  | 'monitoringIngress'
  | 'dnsEgress'
  | 'cidrEgress'
  | 'portRange'
  | 'allowNamespaceInternal';

const POLICY_MIX: Readonly<Record<Exclude<PolicyKind, 'defaultDeny'>, number>> = {
  allowSameApp: 25,
  allowFromNamespaces: 20,
  monitoringIngress: 15,
  dnsEgress: 15,
  cidrEgress: 10,
  portRange: 10,
  allowNamespaceInternal: 5,
};

const sel = (matchLabels: Record<string, string>): LabelSelector => ({ matchLabels });

/** A policy of the given kind for namespace `ns`, named after its purpose and `serial`. */
export function makePolicy(
  world: ClusterWorld,
  ns: NamespaceInfo,
  kind: PolicyKind,
  serial: number,
): PolicyInfo {
  const { rng } = world;
  const deployments = world.deploymentsByNs.get(ns.name) ?? [];
  const d = deployments.length > 0 ? rng.pick(deployments) : undefined;
  const app = d?.app ?? 'api';
  let spec: NetworkPolicySpec;
  switch (kind) {
    case 'defaultDeny':
      spec = rng.chance(0.3)
        ? { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }
        : { podSelector: {}, policyTypes: ['Ingress'] };
      break;
    case 'allowSameApp': {
      const ingress: NetworkPolicyIngressRule = rng.chance(0.5)
        ? { from: [{ podSelector: sel({ app }) }], ports: [{ port: d?.ports[0]?.name ?? 'http' }] }
        : { from: [{ podSelector: sel({ app }) }] };
      spec = { podSelector: sel({ app }), policyTypes: ['Ingress'], ingress: [ingress] };
      break;
    }
    case 'allowFromNamespaces': {
      const team = ns.labels.team ?? rng.pick(TEAMS);
      const from = rng.chance(0.5)
        ? [{ namespaceSelector: sel({ team }), podSelector: sel({ tier: 'frontend' }) }]
        : [
            {
              namespaceSelector: {
                matchLabels: { team },
                matchExpressions: [{ key: 'env', operator: 'In' as const, values: ['prod', 'staging'] }],
              },
            },
          ];
      spec = {
        podSelector: sel({ tier: rng.pick(['backend', 'db', 'cache']) }),
        policyTypes: ['Ingress'],
        ingress: [{ from, ports: [{ protocol: 'TCP', port: 8080 }, { port: 'grpc' }] }],
      };
      break;
    }
    case 'monitoringIngress':
      spec = {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              { namespaceSelector: sel({ purpose: 'monitoring' }), podSelector: sel({ app: 'prometheus' }) },
            ],
            ports: [{ port: 'metrics' }],
          },
        ],
      };
      break;
    case 'dnsEgress':
      spec = {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'kube-system' }),
                podSelector: sel({ 'k8s-app': 'kube-dns' }),
              },
            ],
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
            ],
          },
        ],
      };
      break;
    case 'cidrEgress': {
      const block = rng.pick(EGRESS_CIDRS);
      const rules: NetworkPolicyEgressRule[] = [
        {
          to: [
            {
              ipBlock: block.except.length
                ? { cidr: block.cidr, except: block.except }
                : { cidr: block.cidr },
            },
          ],
          ports: [{ protocol: 'TCP', port: 443 }],
        },
      ];
      // A partner range of the team's own: a /28 in TEST-NET-3 with one excepted address block.
      const base = rng.int(16) * 16;
      rules.push({
        to: [{ ipBlock: { cidr: `203.0.113.${base}/28`, except: [`203.0.113.${base}/30`] } }],
        ports: [{ protocol: 'TCP', port: 8443 }],
      });
      spec = { podSelector: sel({ app }), policyTypes: ['Egress'], egress: rules };
      break;
    }
    case 'portRange':
      spec = rng.chance(0.5)
        ? {
            podSelector: sel({ app }),
            policyTypes: ['Ingress'],
            ingress: [
              { from: [{ podSelector: sel({ tier: 'frontend' }) }], ports: [{ port: 8000, endPort: 8100 }] },
            ],
          }
        : {
            podSelector: sel({ tier: 'worker' }),
            policyTypes: ['Egress'],
            egress: [
              {
                to: [{ namespaceSelector: sel({ team: ns.labels.team ?? 'platform' }) }],
                ports: [{ protocol: 'TCP', port: 30000, endPort: 32767 }],
              },
            ],
          };
      break;
    case 'allowNamespaceInternal':
      spec = { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] };
      break;
  }
  const name = kind === 'defaultDeny' ? 'default-deny' : `${kebab(kind)}-${app}-${serial}`;
  return { namespace: ns.name, name, spec };
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function writePolicies(world: ClusterWorld): void {
  const { size, rng } = world;
  // Team namespaces get policies round-robin; the first one of each is its default deny.
  const teamNs = [...world.namespaces.values()].filter((n) => n.labels.team !== undefined);
  for (let i = 0; i < size.policies; i++) {
    const ns = teamNs[i % teamNs.length];
    const slot = Math.floor(i / teamNs.length);
    const kind: PolicyKind = slot === 0 ? 'defaultDeny' : rng.weighted(POLICY_MIX);
    const p = makePolicy(world, ns, kind, i);
    world.policies.set(objectKey(p), p);
  }
}

export function randomPolicyKind(rng: Random): Exclude<PolicyKind, 'defaultDeny'> {
  return rng.weighted(POLICY_MIX);
}

// ---------------------------------------------------------------------------------------------
// ClusterNetworkPolicies

const nsNamed = (name: string): LabelSelector => sel({ 'kubernetes.io/metadata.name': name });

/** Partner and legacy ranges admins deny egress to (documentation ranges: never pod addresses). */
const DENIED_NETWORKS: readonly string[][] = [
  ['198.51.100.0/24'],
  ['203.0.113.128/25', '2001:db8:1::/48'],
  ['192.0.2.0/24'],
  ['198.18.0.0/15'],
];

/** The Admin-tier policy of ordinal `i`: the fixed two first, then team passes and network denies. */
function adminPolicy(world: ClusterWorld, i: number): ClusterPolicyInfo {
  if (i === 0) {
    return {
      name: 'protect-kube-system',
      tier: 'Admin',
      priority: 10,
      subject: { namespaces: nsNamed('kube-system') },
      ingress: [
        {
          name: 'dns-from-everyone',
          action: 'Accept',
          peers: [{ namespaces: {} }],
          protocols: [
            { udp: { destinationPort: { number: 53 } } },
            { tcp: { destinationPort: { number: 53 } } },
          ],
        },
        {
          name: 'metrics-from-monitoring',
          action: 'Accept',
          peers: [{ namespaces: sel({ purpose: 'monitoring' }) }],
          protocols: [{ destinationNamedPort: 'metrics' }],
        },
        { name: 'nobody-else', action: 'Deny', peers: [{ namespaces: {} }] },
      ],
      egress: [],
    };
  }
  if (i === 1) {
    return {
      name: 'deny-cloud-metadata',
      tier: 'Admin',
      priority: 20,
      subject: { namespaces: {} },
      ingress: [],
      egress: [{ name: 'metadata', action: 'Deny', peers: [{ networks: ['169.254.169.254/32'] }] }],
    };
  }
  const teams = [...new Set([...world.namespaces.values()].map((n) => n.labels.team).filter(Boolean))];
  if (i % 2 === 0) {
    const team = teams[(i / 2 - 1) % teams.length];
    return {
      name: `team-internal-pass-${team}-${i}`,
      tier: 'Admin',
      priority: 100 + i,
      subject: { namespaces: sel({ team }) },
      ingress: [{ name: 'same-team', action: 'Pass', peers: [{ namespaces: sel({ team }) }] }],
      egress: [{ name: 'same-team', action: 'Pass', peers: [{ namespaces: sel({ team }) }] }],
    };
  }
  const env = (['prod', 'staging', 'dev'] as const)[i % 3];
  return {
    name: `deny-partner-ranges-${env}-${i}`,
    tier: 'Admin',
    // Every fifth shares its priority with the one before: ties happen in real clusters.
    priority: 100 + i - (i % 5 === 0 ? 1 : 0),
    subject: { namespaces: sel({ env }) },
    ingress: [],
    egress: [
      {
        name: 'partners',
        action: 'Deny',
        peers: [{ networks: DENIED_NETWORKS[i % DENIED_NETWORKS.length] }],
        protocols: [{ tcp: { destinationPort: { range: { start: 1, end: 1023 } } } }],
      },
    ],
  };
}

/** The Baseline-tier policy of ordinal `i`: default denies per environment, monitoring allowed first. */
function baselinePolicy(i: number): ClusterPolicyInfo {
  if (i === 0) {
    return {
      name: 'baseline-allow-monitoring',
      tier: 'Baseline',
      priority: 10,
      subject: { namespaces: {} },
      ingress: [
        { name: 'scrape', action: 'Accept', peers: [{ namespaces: sel({ purpose: 'monitoring' }) }] },
      ],
      egress: [],
    };
  }
  const env = (['prod', 'staging', 'dev'] as const)[(i - 1) % 3];
  return {
    name: `baseline-default-deny-${env}-${i}`,
    tier: 'Baseline',
    priority: 100 + i,
    subject: { namespaces: sel({ env }) },
    ingress: [{ name: 'default-deny', action: 'Deny', peers: [{ namespaces: {} }] }],
    egress:
      i % 2 === 0
        ? [{ name: 'no-internet', action: 'Deny', peers: [{ networks: ['0.0.0.0/0', '::/0'] }] }]
        : [],
  };
}

function writeClusterPolicies(world: ClusterWorld): void {
  for (let i = 0; i < world.size.adminPolicies; i++) {
    const p = adminPolicy(world, i);
    world.clusterPolicies.set(p.name, p);
  }
  for (let i = 0; i < world.size.baselinePolicies; i++) {
    const p = baselinePolicy(i);
    world.clusterPolicies.set(p.name, p);
  }
}

/** The cluster of `size` for `seed`, with the world that events mutate. */
export function generateCluster(size: ClusterSize, seed: number): ClusterWorld {
  const world = new ClusterWorld(size, new Random(seed));
  populate(world);
  writePolicies(world);
  writeClusterPolicies(world);
  return world;
}
