/**
 * Generators of consistent CompiledStates: a fast-check arbitrary over a small universe (for
 * property tests that replay random sequences), and a seeded synthetic cluster of any size (for
 * proportionality tests and measurements).
 */
import fc from 'fast-check';
import type {
  CompiledPolicy,
  CompiledRule,
  CompiledState,
  PeerSet,
  PodRules,
  PortMatch,
} from '../../compiler/ir';
import { cidrSet, namedPortSet, podsSet, state } from './fixtures';

const NO_TIERS = { adminIngress: [], adminEgress: [], baselineIngress: [], baselineEgress: [] } as const;

// --- small universe for property tests --------------------------------------------------------

const LOCAL_PODS = ['a/p0', 'a/p1', 'b/p2', 'b/p3', 'c/p4'];
const POLICIES = ['a/deny', 'a/web', 'b/db', 'b/eg', 'c/all'];
const POD_SETS = ['pods:a', 'pods:b', 'pods:c:db'];
const CIDR_SETS: Record<string, [string, string[]]> = {
  'cidr:v4': ['192.0.2.0/24', ['192.0.2.128/25']],
  'cidr:any4': ['0.0.0.0/0', ['10.0.0.0/8']],
  'cidr:v6': ['2001:db8::/32', ['2001:db8:1::/48']],
};
const NAMED_SETS = ['np:http', 'np:dns'];
const REMOTE_IPS = ['10.2.0.1', '10.2.0.2', '10.2.0.3', '10.1.0.10', 'fd02::1', 'fd02::2', 'fd01::10'];

function localIPs(i: number): string[] {
  return [`10.1.0.${10 + i}`, `fd01::${(10 + i).toString(16)}`];
}

export interface StateChoice {
  pods: { present: boolean; v4: boolean; v6: boolean; ingress: boolean[]; egress: boolean[] }[];
  policies: {
    present: boolean;
    ingressRules: number[][] | null;
    egressRules: number[][] | null;
    ports: number;
  }[];
  members: boolean[][];
  namedMembers: boolean[][];
}

const bools = (n: number): fc.Arbitrary<boolean[]> => fc.array(fc.boolean(), { minLength: n, maxLength: n });
const ALL_PEERS = [...POD_SETS, ...Object.keys(CIDR_SETS)];
const rulesArb = fc.option(fc.array(fc.array(fc.nat(ALL_PEERS.length), { maxLength: 3 }), { maxLength: 3 }), {
  nil: null,
});

export const stateChoiceArb: fc.Arbitrary<StateChoice> = fc.record({
  pods: fc.array(
    fc.record({
      present: fc.boolean(),
      v4: fc.boolean(),
      v6: fc.boolean(),
      ingress: bools(POLICIES.length),
      egress: bools(POLICIES.length),
    }),
    { minLength: LOCAL_PODS.length, maxLength: LOCAL_PODS.length },
  ),
  policies: fc.array(
    fc.record({ present: fc.boolean(), ingressRules: rulesArb, egressRules: rulesArb, ports: fc.nat(4) }),
    { minLength: POLICIES.length, maxLength: POLICIES.length },
  ),
  members: fc.array(bools(REMOTE_IPS.length), { minLength: POD_SETS.length, maxLength: POD_SETS.length }),
  namedMembers: fc.array(bools(LOCAL_PODS.length), {
    minLength: NAMED_SETS.length,
    maxLength: NAMED_SETS.length,
  }),
});

function portsFor(choice: number): PortMatch[] | 'any' {
  switch (choice) {
    case 0:
      return 'any';
    case 1:
      return [{ kind: 'port', protocol: 'TCP', port: 80 }];
    case 2:
      return [
        { kind: 'port', protocol: 'UDP', port: 53 },
        { kind: 'named', protocol: 'UDP', name: 'dns', set: 'np:dns' },
      ];
    case 3:
      return [{ kind: 'port', protocol: 'SCTP', port: 9000, endPort: 9010 }];
    default:
      return [{ kind: 'named', protocol: 'TCP', name: 'http', set: 'np:http' }];
  }
}

/** A consistent CompiledState from a choice: references always resolve. */
export function stateFromChoice(c: StateChoice): CompiledState {
  const policies: CompiledPolicy[] = [];
  const used = new Set<string>();
  POLICIES.forEach((key, i) => {
    const p = c.policies[i];
    if (!p.present) return;
    const toRules = (rules: number[][] | null): CompiledRule[] | null =>
      rules === null
        ? null
        : rules.map((peers, index) => {
            const keys =
              peers.length === 0 ? 'any' : [...new Set(peers.map((n) => ALL_PEERS[n % ALL_PEERS.length]))];
            const ports = portsFor((p.ports + index) % 5);
            if (keys !== 'any') keys.forEach((k) => used.add(k));
            if (ports !== 'any') for (const m of ports) if (m.kind === 'named') used.add(m.set);
            return { index, peers: keys, ports };
          });
    const [namespace, name] = key.split('/');
    // A policy always applies to at least one direction.
    const ingress = toRules(p.ingressRules) ?? (p.egressRules === null ? [] : null);
    policies.push({ key, namespace, name, ingress, egress: toRules(p.egressRules) });
  });
  const byKey = new Map(policies.map((p) => [p.key, p]));
  const pods: PodRules[] = [];
  LOCAL_PODS.forEach((key, i) => {
    const p = c.pods[i];
    if (!p.present) return;
    const [namespace, name] = key.split('/');
    const [v4, v6] = localIPs(i);
    const ips = [...(p.v4 ? [v4] : []), ...(p.v6 ? [v6] : [])];
    const pick = (flags: boolean[], dir: 'ingress' | 'egress'): string[] =>
      POLICIES.filter((k, j) => flags[j] && byKey.get(k)?.[dir] != null).sort();
    pods.push({
      key,
      namespace,
      name,
      nodeName: 'node-1',
      ips,
      ingress: pick(p.ingress, 'ingress'),
      egress: pick(p.egress, 'egress'),
      ...NO_TIERS,
    });
  });
  const peerSets: PeerSet[] = [];
  POD_SETS.forEach((key, i) => {
    if (!used.has(key)) return;
    const [, ns] = key.split(':');
    peerSets.push(
      podsSet(
        key,
        REMOTE_IPS.filter((_, j) => c.members[i][j]),
        { namespace: ns },
      ),
    );
  });
  for (const [key, [cidr, except]] of Object.entries(CIDR_SETS))
    if (used.has(key)) peerSets.push(cidrSet(key, cidr, except));
  NAMED_SETS.forEach((key, i) => {
    if (!used.has(key)) return;
    const proto = key === 'np:dns' ? 'udp' : 'tcp';
    const port = key === 'np:dns' ? 53 : 8080;
    const members = LOCAL_PODS.flatMap((_, j) =>
      c.namedMembers[i][j] ? localIPs(j).map((ip) => `${ip},${proto}:${port}`) : [],
    );
    peerSets.push(namedPortSet(key, key.slice(3), key === 'np:dns' ? 'UDP' : 'TCP', members));
  });
  return state({ pods, policies, peerSets });
}

export const stateArb: fc.Arbitrary<CompiledState> = stateChoiceArb.map(stateFromChoice);

// --- synthetic cluster of any size ---------------------------------------------------------------

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticOptions {
  readonly clusterPods: number;
  readonly localPods: number;
  readonly policies: number;
  readonly namespaces?: number;
  readonly seed?: number;
}

export interface SyntheticCluster {
  readonly state: CompiledState;
  /** Cluster pod addresses, index = pod number. */
  readonly podIPs: readonly string[];
  /** Keys of the pods-kind peer sets. */
  readonly podSetKeys: readonly string[];
}

export function podIP(n: number): string {
  return `10.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

/**
 * A node's compiled state in a synthetic cluster: `clusterPods` pods spread over namespaces,
 * `policies` policies (ten per namespace), `localPods` of the pods (a seeded sample) on this
 * node. Each policy selects pods of two apps of its namespace; its ingress admits a tier of its namespace, the same app across
 * namespaces on a port, and a CIDR; every fourth has egress to its namespace and DNS. The compiled
 * state holds the policies that select a local pod, and the peer sets they reference with members
 * drawn from all cluster pods.
 */
export function syntheticCluster(o: SyntheticOptions): SyntheticCluster {
  const namespaces = o.namespaces ?? Math.max(1, Math.floor(o.policies / 10));
  const rand = prng(o.seed ?? 1);
  const apps = 10;
  const tiers = 3;
  const podNs = (n: number): number => n % namespaces;
  const podApp = (n: number): number => Math.floor(n / namespaces) % apps;
  const podTier = (n: number): number => Math.floor(n / (namespaces * apps)) % tiers;
  const podIPs = Array.from({ length: o.clusterPods }, (_, n) => podIP(n));
  // Local pods: a seeded random sample of the cluster's pods.
  const chosen = new Set<number>();
  while (chosen.size < Math.min(o.localPods, o.clusterPods)) chosen.add(Math.floor(rand() * o.clusterPods));
  const local = [...chosen].sort((a, b) => a - b);
  const setMembers = new Map<string, Set<string>>();
  const addMember = (key: string, ip: string): void => {
    let s = setMembers.get(key);
    if (!s) setMembers.set(key, (s = new Set()));
    s.add(ip);
  };
  for (let n = 0; n < o.clusterPods; n++) {
    addMember(`pods:ns-${podNs(n)}:tier-${podTier(n)}`, podIPs[n]);
    addMember(`pods:*:app-${podApp(n)}`, podIPs[n]);
    addMember(`pods:ns-${podNs(n)}:*`, podIPs[n]);
  }
  const policies: CompiledPolicy[] = [];
  const selects = new Map<string, number[]>();
  for (let p = 0; p < o.policies; p++) {
    const ns = p % namespaces;
    const app = Math.floor(p / namespaces) % apps;
    const key = `ns-${ns}/pol-${p}`;
    const ingress: CompiledRule[] = [
      { index: 0, peers: [`pods:ns-${ns}:tier-${(p + 1) % tiers}`], ports: 'any' },
      {
        index: 1,
        peers: [`pods:*:app-${(app + 1) % apps}`],
        ports: [{ kind: 'port', protocol: 'TCP', port: 8000 + (p % 50) }],
      },
      { index: 2, peers: [`cidr:${p % 16}`], ports: [{ kind: 'port', protocol: 'TCP', port: 443 }] },
    ];
    const egress: CompiledRule[] | null =
      p % 4 === 0
        ? [
            { index: 0, peers: [`pods:ns-${ns}:*`], ports: 'any' },
            { index: 1, peers: 'any', ports: [{ kind: 'port', protocol: 'UDP', port: 53 }] },
          ]
        : null;
    policies.push({ key, namespace: `ns-${ns}`, name: `pol-${p}`, ingress, egress });
    // Each policy selects two apps of its namespace (app In [a, a+1]).
    selects.set(key, [app * namespaces + ns, ((app + 1) % apps) * namespaces + ns]);
  }
  // Which policies select a local pod: same namespace, one of their apps.
  const byNsApp = new Map<number, CompiledPolicy[]>();
  for (const pol of policies) {
    for (const k of selects.get(pol.key)!) {
      const list = byNsApp.get(k) ?? [];
      list.push(pol);
      byNsApp.set(k, list);
    }
  }
  const pods: PodRules[] = [];
  const usedPolicies = new Map<string, CompiledPolicy>();
  for (const n of local) {
    const mine = byNsApp.get(podApp(n) * namespaces + podNs(n)) ?? [];
    for (const pol of mine) usedPolicies.set(pol.key, pol);
    pods.push({
      key: `ns-${podNs(n)}/pod-${n}`,
      namespace: `ns-${podNs(n)}`,
      name: `pod-${n}`,
      nodeName: 'node-1',
      ips: [podIPs[n]],
      ingress: mine.map((m) => m.key).sort(),
      egress: mine
        .filter((m) => m.egress)
        .map((m) => m.key)
        .sort(),
      ...NO_TIERS,
    });
  }
  const peerSets: PeerSet[] = [];
  const used = new Set<string>();
  for (const pol of usedPolicies.values()) {
    for (const r of [...(pol.ingress ?? []), ...(pol.egress ?? [])])
      if (r.peers !== 'any') r.peers.forEach((k) => used.add(k));
  }
  for (const key of [...used].sort()) {
    if (key.startsWith('cidr:')) {
      const i = Number(key.slice(5));
      peerSets.push(cidrSet(key, `172.${16 + i}.0.0/16`, [`172.${16 + i}.${Math.floor(rand() * 255)}.0/24`]));
    } else {
      const [, ns, sel] = key.split(':');
      peerSets.push(
        podsSet(key, setMembers.get(key) ?? [], {
          ...(ns !== '*' ? { namespace: ns } : {}),
          podSelector: sel === '*' ? {} : { matchLabels: { [sel.split('-')[0]]: sel } },
        }),
      );
    }
  }
  return {
    state: state({ pods, policies: [...usedPolicies.values()], peerSets }),
    podIPs,
    podSetKeys: peerSets.filter((p) => p.def.kind === 'pods').map((p) => p.key),
  };
}
