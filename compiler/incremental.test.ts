/**
 * The incremental compiler against compiling from scratch: random event sequences (namespaces,
 * pods, NetworkPolicies, ClusterNetworkPolicies of both tiers, Nodes with pod ranges), applied one by one with
 * flushes at random points, must leave the same state as compileSnapshot of the final model,
 * and the deltas, replayed onto a mirror, must rebuild that state exactly.
 */
import fc from 'fast-check';
import type { CompileDelta, CompiledState } from './ir';
import { IncrementalCompiler, compileSnapshot } from './incremental';
import type { ClusterPolicyInfo, LabelSelector, NamespaceInfo, NodeInfo, PodInfo, PolicyInfo } from './model';
import { objectKey } from './model';
import {
  clusterPolicyArb,
  nodeArb,
  nodeSelectorArb,
  type ClusterPolicyArbOptions,
} from './testutil/cluster-policy-arbitraries';
import { ns, pod, policy } from './testutil/factories';

function normalise(s: CompiledState) {
  return {
    pods: [...s.pods.values()].sort((a, b) => a.key.localeCompare(b.key)),
    policies: [...s.policies.values()].sort((a, b) => a.key.localeCompare(b.key)),
    clusterPolicies: [...s.clusterPolicies.values()].sort((a, b) => a.key.localeCompare(b.key)),
    peerSets: [...s.peerSets.values()]
      .map((p) => ({ key: p.key, def: p.def, members: [...p.members].sort() }))
      .sort((a, b) => a.key.localeCompare(b.key)),
    localPodCIDRs: s.localPodCIDRs ?? [],
    remotePodAddresses: [...(s.remotePodAddresses ?? [])].sort(),
  };
}

/** What a consumer (the dataplane) holds if it applies deltas exactly as documented. */
class Mirror {
  pods = new Map<string, unknown>();
  policies = new Map<string, unknown>();
  clusterPolicies = new Map<string, unknown>();
  sets = new Map<string, { key: string; def: unknown; members: Set<string> }>();
  localPodCIDRs: readonly string[] = [];
  remote = new Set<string>();
  apply(state: CompiledState, d: CompileDelta) {
    if (d.full || d.localPodCIDRs) this.localPodCIDRs = [...(state.localPodCIDRs ?? [])];
    if (d.full) {
      this.remote = new Set(state.remotePodAddresses);
      this.pods = new Map(state.pods);
      this.policies = new Map(state.policies);
      this.clusterPolicies = new Map(state.clusterPolicies);
      this.sets = new Map(
        [...state.peerSets].map(([k, v]) => [k, { key: k, def: v.def, members: new Set(v.members) }]),
      );
      return;
    }
    for (const k of d.pods) {
      if (state.pods.has(k)) this.pods.set(k, state.pods.get(k));
      else this.pods.delete(k);
    }
    for (const k of d.policies) {
      if (state.policies.has(k)) this.policies.set(k, state.policies.get(k));
      else this.policies.delete(k);
    }
    for (const k of d.clusterPolicies) {
      if (state.clusterPolicies.has(k)) this.clusterPolicies.set(k, state.clusterPolicies.get(k));
      else this.clusterPolicies.delete(k);
    }
    for (const k of d.peerSets) {
      const s = state.peerSets.get(k);
      if (s) this.sets.set(k, { key: k, def: s.def, members: new Set(s.members) });
      else this.sets.delete(k);
    }
    for (const a of d.remotePodAddresses?.added ?? []) {
      expect(this.remote.has(a)).toBe(false);
      this.remote.add(a);
    }
    for (const r of d.remotePodAddresses?.removed ?? []) {
      expect(this.remote.has(r)).toBe(true);
      this.remote.delete(r);
    }
    for (const [k, m] of d.members) {
      const s = this.sets.get(k)!;
      expect(s).toBeDefined();
      for (const a of m.added) {
        expect(s.members.has(a)).toBe(false);
        s.members.add(a);
      }
      for (const r of m.removed) {
        expect(s.members.has(r)).toBe(true);
        s.members.delete(r);
      }
    }
  }
  normalised() {
    return normalise({
      pods: this.pods,
      policies: this.policies,
      clusterPolicies: this.clusterPolicies,
      peerSets: this.sets,
      localPodCIDRs: this.localPodCIDRs,
      remotePodAddresses: this.remote,
    } as unknown as CompiledState);
  }
}

const labelVals = fc.constantFrom('a', 'b', 'c');
const labelsArb = fc.record({ app: labelVals, tier: labelVals }, { requiredKeys: [] });
const selectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  labelsArb.map((l) => ({ matchLabels: l })),
  fc.record({
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({
          key: fc.constantFrom('app', 'tier'),
          operator: fc.constantFrom('In' as const, 'NotIn' as const),
          values: fc.array(labelVals, { minLength: 1, maxLength: 2 }),
        }),
        fc.record({
          key: fc.constantFrom('app', 'tier'),
          operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const),
        }),
      ),
      { maxLength: 2 },
    ),
  }),
);
const nsNames = ['x', 'y'];
const podNames = ['a', 'b', 'c'];
const podArb: fc.Arbitrary<PodInfo> = fc
  .record({
    ns: fc.constantFrom(...nsNames),
    name: fc.constantFrom(...podNames),
    labels: labelsArb,
    ip: fc.integer({ min: 1, max: 6 }),
    v6: fc.boolean(),
    node: fc.constantFrom('n1', 'n2'),
    host: fc.boolean(),
    phase: fc.constantFrom('Running', 'Running', 'Pending', 'Failed'),
    noIP: fc.boolean().map((b) => b && Math.random() < 0.3),
    port: fc.option(
      fc.tuple(
        fc.constantFrom('http', 'dns'),
        fc.constantFrom(80, 81),
        fc.constantFrom('TCP' as const, 'UDP' as const),
      ),
    ),
  })
  .map((r) =>
    pod(`${r.ns}/${r.name}`, {
      labels: r.labels,
      ips: r.noIP ? [] : r.v6 ? [`10.0.0.${r.ip}`, `fd00::${r.ip}`] : [`10.0.0.${r.ip}`],
      node: r.node,
      hostNetwork: r.host && r.ip === 1,
      phase: r.phase,
      ports: r.port ? [r.port] : [],
    }),
  );
const peerArb = fc.oneof(
  selectorArb.map((s) => ({ podSelector: s })),
  selectorArb.map((s) => ({ namespaceSelector: s })),
  fc.tuple(selectorArb, selectorArb).map(([a, b]) => ({ namespaceSelector: a, podSelector: b })),
  fc.constant({ ipBlock: { cidr: '10.0.0.0/30', except: ['10.0.0.2/32'] } }),
);
const portArb = fc.oneof(
  fc.constant({ port: 80 }),
  fc.constant({ port: 'http' }),
  fc.constant({ protocol: 'UDP' as const, port: 'dns' }),
  fc.constant({ port: 79, endPort: 81 }),
);
const ruleArb = fc.record({
  peers: fc.option(fc.array(peerArb, { maxLength: 2 })),
  ports: fc.option(fc.array(portArb, { maxLength: 2 })),
});
const policyArb: fc.Arbitrary<PolicyInfo> = fc
  .record({
    ns: fc.constantFrom(...nsNames),
    name: fc.constantFrom('p', 'q'),
    sel: selectorArb,
    types: fc.constantFrom(
      undefined,
      ['Ingress' as const],
      ['Egress' as const],
      ['Ingress' as const, 'Egress' as const],
    ),
    ingress: fc.array(ruleArb, { maxLength: 2 }),
    egress: fc.array(ruleArb, { maxLength: 2 }),
  })
  .map((r) =>
    policy(`${r.ns}/${r.name}`, {
      podSelector: r.sel,
      ...(r.types ? { policyTypes: r.types } : {}),
      ingress: r.ingress.map((x) => ({
        ...(x.peers ? { from: x.peers } : {}),
        ...(x.ports ? { ports: x.ports } : {}),
      })),
      egress: r.egress.map((x) => ({
        ...(x.peers ? { to: x.peers } : {}),
        ...(x.ports ? { ports: x.ports } : {}),
      })),
    }),
  );
const nsArb: fc.Arbitrary<NamespaceInfo> = fc
  .record({ name: fc.constantFrom(...nsNames), labels: labelsArb })
  .map((r) => ns(r.name, r.labels));

/** Node addresses overlap pod addresses (hostNetwork pods share theirs) and each other. */
const nodeAddressPool = ['10.0.0.1', '10.0.0.5', '172.18.0.2', 'fd00::1'];
const nodeNames = ['n1', 'n2', 'n3'];
/** Pod ranges that split the pods' addresses (10.0.0.1-6, fd00::1-6) between nodes. */
const podCIDRPool = ['10.0.0.0/30', '10.0.0.4/30', 'fd00::/125'];
const nodeInfoArb: fc.Arbitrary<NodeInfo> = fc
  .record({
    name: fc.constantFrom(...nodeNames),
    addresses: fc.uniqueArray(fc.constantFrom(...nodeAddressPool), { maxLength: 2 }),
    podCIDRs: fc.uniqueArray(fc.constantFrom(...podCIDRPool), { maxLength: 2 }),
  })
  .chain(({ name, addresses, podCIDRs }) => nodeArb(name, addresses, podCIDRs));
const cnpNames = ['c1', 'c2', 'c3'];
const CNP_OPTIONS: ClusterPolicyArbOptions = {
  names: cnpNames,
  selector: selectorArb,
  nsSelector: selectorArb,
  nodeSelector: nodeSelectorArb,
  cidrs: ['10.0.0.0/30', '10.0.0.2/32', '0.0.0.0/0', 'fd00::/64'],
  ports: [79, 80, 81],
  portNames: ['http', 'dns'],
  maxRules: 2,
};
const cnpArb: fc.Arbitrary<ClusterPolicyInfo> = fc
  .constantFrom(...cnpNames)
  .chain((name) => clusterPolicyArb(CNP_OPTIONS, name));

type Op =
  | { t: 'ns'; v: NamespaceInfo }
  | { t: 'delNs'; v: string }
  | { t: 'pod'; v: PodInfo }
  | { t: 'delPod'; v: string }
  | { t: 'pol'; v: PolicyInfo }
  | { t: 'delPol'; v: string }
  | { t: 'cnp'; v: ClusterPolicyInfo }
  | { t: 'delCnp'; v: string }
  | { t: 'node'; v: NodeInfo }
  | { t: 'delNode'; v: string }
  | { t: 'flush' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  nsArb.map((v) => ({ t: 'ns' as const, v })),
  fc.constantFrom(...nsNames).map((v) => ({ t: 'delNs' as const, v })),
  podArb.map((v) => ({ t: 'pod' as const, v })),
  podArb.map((v) => ({ t: 'pod' as const, v })),
  fc
    .constantFrom(...nsNames.flatMap((n) => podNames.map((p) => `${n}/${p}`)))
    .map((v) => ({ t: 'delPod' as const, v })),
  policyArb.map((v) => ({ t: 'pol' as const, v })),
  fc.constantFrom('x/p', 'y/q', 'y/p', 'x/q').map((v) => ({ t: 'delPol' as const, v })),
  cnpArb.map((v) => ({ t: 'cnp' as const, v })),
  cnpArb.map((v) => ({ t: 'cnp' as const, v })),
  fc.constantFrom(...cnpNames).map((v) => ({ t: 'delCnp' as const, v })),
  nodeInfoArb.map((v) => ({ t: 'node' as const, v })),
  fc.constantFrom(...nodeNames).map((v) => ({ t: 'delNode' as const, v })),
  fc.constant({ t: 'flush' as const }),
);

describe('IncrementalCompiler', () => {
  test.each([[undefined], ['n1']])(
    'random event sequences converge to a from-scratch compile (node %s)',
    (nodeName) => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 5, maxLength: 60, size: 'max' }), (ops) => {
          const c = new IncrementalCompiler({ nodeName });
          const mirror = new Mirror();
          const model = {
            ns: new Map<string, NamespaceInfo>(),
            pods: new Map<string, PodInfo>(),
            pols: new Map<string, PolicyInfo>(),
            cnps: new Map<string, ClusterPolicyInfo>(),
            nodes: new Map<string, NodeInfo>(),
          };
          for (const op of ops) {
            switch (op.t) {
              case 'ns':
                c.upsertNamespace(op.v);
                model.ns.set(op.v.name, op.v);
                break;
              case 'delNs':
                c.deleteNamespace(op.v);
                model.ns.delete(op.v);
                break;
              case 'pod':
                c.upsertPod(op.v);
                model.pods.set(objectKey(op.v), op.v);
                break;
              case 'delPod':
                c.deletePod(op.v);
                model.pods.delete(op.v);
                break;
              case 'pol':
                c.upsertPolicy(op.v);
                model.pols.set(objectKey(op.v), op.v);
                break;
              case 'delPol':
                c.deletePolicy(op.v);
                model.pols.delete(op.v);
                break;
              case 'cnp':
                c.upsertClusterPolicy(op.v);
                model.cnps.set(op.v.name, op.v);
                break;
              case 'delCnp':
                c.deleteClusterPolicy(op.v);
                model.cnps.delete(op.v);
                break;
              case 'node':
                c.upsertNode(op.v);
                model.nodes.set(op.v.name, op.v);
                break;
              case 'delNode':
                c.deleteNode(op.v);
                model.nodes.delete(op.v);
                break;
              case 'flush':
                mirror.apply(c.state(), c.flush());
                check();
                break;
            }
          }
          mirror.apply(c.state(), c.flush());
          check();
          function check() {
            const scratch = compileSnapshot(
              {
                namespaces: [...model.ns.values()],
                pods: [...model.pods.values()],
                policies: [...model.pols.values()],
                clusterPolicies: [...model.cnps.values()],
                nodes: [...model.nodes.values()],
              },
              { nodeName },
            );
            expect(normalise(c.state())).toEqual(normalise(scratch.state()));
            expect(mirror.normalised()).toEqual(normalise(scratch.state()));
          }
        }),
        { numRuns: 1000 },
      );
    },
  );

  test('a peer pod relabel changes set members only', () => {
    const c = compileSnapshot({
      namespaces: [ns('x')],
      pods: [
        pod('x/a', { labels: { app: 'web' }, ip: '10.0.0.1' }),
        pod('x/b', { labels: { app: 'db' }, ip: '10.0.0.2' }),
      ],
      policies: [
        policy('x/p', {
          podSelector: { matchLabels: { app: 'web' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }],
        }),
      ],
    });
    c.upsertPod(pod('x/b', { labels: { app: 'cache' }, ip: '10.0.0.2' }));
    const d = c.flush();
    expect(d.full).toBe(false);
    expect([...d.pods]).toEqual([]);
    expect([...d.policies]).toEqual([]);
    expect([...d.peerSets]).toEqual([]);
    expect([...d.members.values()]).toEqual([{ added: [], removed: ['10.0.0.2'] }]);
  });

  test('a subject relabel that keeps its policies changes nothing but membership', () => {
    const c = compileSnapshot({
      namespaces: [ns('x')],
      pods: [pod('x/a', { labels: { app: 'web', v: '1' }, ip: '10.0.0.1' })],
      policies: [
        policy('x/p', {
          podSelector: { matchLabels: { app: 'web' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { v: '1' } } }] }],
        }),
      ],
    });
    c.upsertPod(pod('x/a', { labels: { app: 'web', v: '2' }, ip: '10.0.0.1' }));
    const d = c.flush();
    expect([...d.pods, ...d.policies, ...d.peerSets]).toEqual([]);
    expect([...d.members.values()]).toEqual([{ added: [], removed: ['10.0.0.1'] }]);
  });

  test('identical peers in different policies share one peer set', () => {
    const c = compileSnapshot({
      namespaces: [ns('x')],
      pods: [pod('x/a', { labels: { app: 'web' } })],
      policies: [
        policy('x/p', {
          podSelector: {},
          ingress: [
            {
              from: [
                {
                  podSelector: {
                    matchLabels: { a: '1', b: '2' },
                    matchExpressions: [{ key: 'c', operator: 'In', values: ['1', '2'] }],
                  },
                },
              ],
            },
          ],
        }),
        policy('x/q', {
          podSelector: {},
          ingress: [
            {
              from: [
                {
                  podSelector: {
                    matchExpressions: [{ key: 'c', operator: 'In', values: ['2', '1'] }],
                    matchLabels: { b: '2', a: '1' },
                  },
                },
              ],
            },
          ],
        }),
      ],
    });
    expect(c.state().peerSets.size).toBe(1);
  });

  test("only policies that select the node's pods are compiled into its state", () => {
    const c = compileSnapshot(
      {
        namespaces: [ns('x')],
        pods: [
          pod('x/a', { labels: { app: 'web' }, node: 'n1' }),
          pod('x/b', { labels: { app: 'db' }, node: 'n2' }),
        ],
        policies: [
          policy('x/web', {
            podSelector: { matchLabels: { app: 'web' } },
            ingress: [{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }],
          }),
          policy('x/db', {
            podSelector: { matchLabels: { app: 'db' } },
            ingress: [{ from: [{ podSelector: { matchLabels: { role: 'x' } } }] }],
          }),
        ],
      },
      { nodeName: 'n1' },
    );
    expect([...c.state().pods.keys()]).toEqual(['x/a']);
    expect([...c.state().policies.keys()]).toEqual(['x/web']);
    expect(c.state().peerSets.size).toBe(1);
  });
});

describe('podByIP', () => {
  test('two live pods sharing an address: either answers until one goes, then the other', () => {
    const c = compileSnapshot({
      namespaces: [ns('x')],
      pods: [pod('x/old', { ip: '10.9.0.1' }), pod('x/new', { ip: '10.9.0.1' })],
      policies: [],
    });
    expect(['x/old', 'x/new']).toContain(objectKey(c.podByIP('10.9.0.1')!));
    c.deletePod('x/old');
    expect(objectKey(c.podByIP('10.9.0.1')!)).toBe('x/new');
    c.deletePod('x/new');
    expect(c.podByIP('10.9.0.1')).toBeUndefined();
  });
});
