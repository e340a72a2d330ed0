/**
 * The generator and the event streams the bench's figures rest on: exact sizes, determinism
 * (the incremental and the full run must see the same cluster and events), a policy mix that
 * really contains what the issue lists, and events that keep the world and the model in step.
 */
import { IncrementalCompiler, type CompiledState, podIsLive } from '../compiler';
import { LOCAL_NODE, generateCluster } from './cluster';
import { ChurnStream, EVENT_TYPES, SingleEvents, applyEvent, loadWorld } from './events';
import { SIZES } from './sizes';

function essence(s: CompiledState): unknown {
  return {
    pods: [...s.pods.values()]
      .map((p) => [
        p.key,
        p.ips,
        p.ingress,
        p.egress,
        p.adminIngress,
        p.adminEgress,
        p.baselineIngress,
        p.baselineEgress,
      ])
      .sort(),
    policies: [...s.policies.keys()].sort(),
    clusterPolicies: [...s.clusterPolicies.values()].map((c) => [c.key, c.priority]).sort(),
    sets: [...s.peerSets.values()].map((p) => [p.key, [...p.members].sort()]).sort(),
  };
}

function compiled(world: ReturnType<typeof generateCluster>): IncrementalCompiler {
  const c = new IncrementalCompiler({ nodeName: LOCAL_NODE });
  loadWorld(c, world);
  c.flush();
  return c;
}

describe('generateCluster', () => {
  test('has exactly the size it is asked for', () => {
    const w = generateCluster(SIZES.S, 1);
    expect(w.pods.size).toBe(1000);
    expect(w.namespaces.size).toBe(50);
    expect(w.policies.size).toBe(100);
    const pods = [...w.pods.values()];
    expect(pods.filter((p) => p.nodeName === LOCAL_NODE)).toHaveLength(110);
    expect(pods.every((p) => podIsLive(p) && p.ips.length === 1)).toBe(true);
    expect(new Set(pods.map((p) => p.ips[0])).size).toBe(1000);
  });

  test('is deterministic in its seed', () => {
    const a = JSON.stringify(generateCluster(SIZES.tiny, 7).snapshot());
    expect(JSON.stringify(generateCluster(SIZES.tiny, 7).snapshot())).toBe(a);
    expect(JSON.stringify(generateCluster(SIZES.tiny, 8).snapshot())).not.toBe(a);
  });

  test('writes the policies seen in practice', () => {
    const specs = [...generateCluster(SIZES.M, 1).policies.values()].map((p) => p.spec);
    const rules = specs.flatMap((s) => [...(s.ingress ?? []), ...(s.egress ?? [])]);
    const peers = rules.flatMap((r) => ('from' in r ? (r.from ?? []) : 'to' in r ? (r.to ?? []) : []));
    const ports = rules.flatMap((r) => r.ports ?? []);
    expect(specs.some((s) => Object.keys(s.podSelector).length === 0 && !s.ingress && !s.egress)).toBe(true);
    expect(peers.some((p) => p.namespaceSelector && p.podSelector)).toBe(true);
    expect(peers.some((p) => p.namespaceSelector?.matchExpressions?.length)).toBe(true);
    expect(peers.some((p) => (p.ipBlock?.except?.length ?? 0) > 0)).toBe(true);
    expect(ports.some((p) => p.port === 'metrics')).toBe(true);
    expect(ports.some((p) => p.endPort !== undefined)).toBe(true);
    expect(ports.some((p) => p.protocol === 'UDP' && p.port === 53)).toBe(true);
  });
});

test('writes the cluster policies the issue lists, and they reach the measured node', () => {
  const w = generateCluster(SIZES.M, 1);
  const cnps = [...w.clusterPolicies.values()];
  expect(cnps.filter((c) => c.tier === 'Admin')).toHaveLength(20);
  expect(cnps.filter((c) => c.tier === 'Baseline')).toHaveLength(5);
  const rules = cnps.flatMap((c) => [...c.ingress, ...c.egress]);
  expect(cnps.some((c) => c.name === 'protect-kube-system')).toBe(true); // deny kube-system except monitoring
  expect(rules.some((r) => r.action === 'Pass')).toBe(true); // pass within a team
  expect(cnps.some((c) => c.tier === 'Baseline' && c.ingress.some((r) => r.action === 'Deny'))).toBe(true);
  expect(rules.some((r) => r.peers.some((p) => p.networks !== undefined))).toBe(true);
  expect(rules.some((r) => r.protocols?.some((p) => p.destinationNamedPort !== undefined))).toBe(true);
  const priorities = cnps.filter((c) => c.tier === 'Admin').map((c) => c.priority);
  expect(new Set(priorities).size).toBeLessThan(priorities.length); // a tie
  const state = compiled(w).state();
  expect(state.clusterPolicies.size).toBeGreaterThan(5);
  expect(
    [...state.pods.values()].some((p) => p.adminIngress.length > 0 && p.baselineIngress.length > 0),
  ).toBe(true);
});

describe('events', () => {
  test.each([
    ['S', 1],
    ['M', 1],
    ['S', 3],
  ] as const)('every single event of %s (seed %d) changes the compiled state', (size, seed) => {
    const world = generateCluster(SIZES[size], seed);
    const c = compiled(world);
    const single = new SingleEvents(world);
    for (let rep = 0; rep < 20; rep++) {
      for (const t of EVENT_TYPES) {
        applyEvent(c, single.make(t, rep));
        const d = c.flush();
        expect([
          t,
          rep,
          d.pods.size + d.policies.size + d.clusterPolicies.size + d.peerSets.size + d.members.size > 0,
        ]).toEqual([t, rep, true]);
      }
    }
    expect(essence(c.state())).toEqual(essence(compiled(world).state()));
  });

  test('single events and churn keep the model equal to the world', () => {
    const world = generateCluster(SIZES.S, 3);
    const c = compiled(world);
    const single = new SingleEvents(world);
    for (let rep = 0; rep < 4; rep++) {
      for (const t of EVENT_TYPES) {
        applyEvent(c, single.make(t, rep));
        const d = c.flush();
        // Each single event is aimed at something the node enforces: it must change the IR.
        expect(
          d.pods.size + d.policies.size + d.clusterPolicies.size + d.peerSets.size + d.members.size,
        ).toBeGreaterThan(0);
      }
    }
    const churn = new ChurnStream(world);
    for (let i = 0; i < 3000; i++) {
      const e = churn.next();
      if (e.type === 'upsertPod' && e.unchanged) {
        expect(world.pods.get(`${e.pod.namespace}/${e.pod.name}`)).toBe(e.pod);
        continue;
      }
      applyEvent(c, e);
    }
    c.flush();
    expect(essence(c.state())).toEqual(essence(compiled(world).state()));
  });

  test('the same seed gives the same event stream', () => {
    const stream = (seed: number) => {
      const w = generateCluster(SIZES.tiny, seed);
      const s = new ChurnStream(w);
      return JSON.stringify(Array.from({ length: 500 }, () => s.next()));
    };
    expect(stream(5)).toBe(stream(5));
  });
});
