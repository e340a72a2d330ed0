/**
 * The agent's node's pod ranges (CompiledState.localPodCIDRs, what fails closed for new pods):
 * its own Node's spec.podCIDRs as watched, or the configured ranges, which win; a change marks
 * the delta; other nodes do not count; analyze (no node name) has none. And the addresses of
 * those ranges that pods of other nodes hold (CompiledState.remotePodAddresses): known pods, not
 * new ones, followed pod by pod and across range changes, the delta naming what changed.
 */
import { IncrementalCompiler } from './incremental';
import type { NodeInfo } from './model';
import { pod } from './testutil/factories';

const node = (name: string, podCIDRs: string[]): NodeInfo => ({
  name,
  labels: {},
  addresses: [],
  podCIDRs,
});

describe('local pod CIDRs', () => {
  test("follow the agent's own Node, and mark the delta only when they change", () => {
    const c = new IncrementalCompiler({ nodeName: 'n1' });
    c.flush();
    expect(c.state().localPodCIDRs).toEqual([]);
    c.upsertNode(node('n2', ['10.2.0.0/24']));
    expect(c.flush().localPodCIDRs).toBeUndefined();
    expect(c.state().localPodCIDRs).toEqual([]);
    c.upsertNode(node('n1', ['10.1.0.0/24', 'fd01::/64']));
    expect(c.flush().localPodCIDRs).toBe(true);
    expect(c.state().localPodCIDRs).toEqual(['10.1.0.0/24', 'fd01::/64']);
    c.upsertNode({ ...node('n1', ['10.1.0.0/24', 'fd01::/64']), labels: { zone: 'a' } });
    expect(c.flush().localPodCIDRs).toBeUndefined();
    c.upsertNode(node('n1', ['10.1.0.0/23']));
    expect(c.flush().localPodCIDRs).toBe(true);
    expect(c.state().localPodCIDRs).toEqual(['10.1.0.0/23']);
    c.deleteNode('n1');
    expect(c.flush().localPodCIDRs).toBe(true);
    expect(c.state().localPodCIDRs).toEqual([]);
  });

  test('configured ranges win over the Node', () => {
    const c = new IncrementalCompiler({ nodeName: 'n1', localPodCIDRs: ['192.168.7.0/28'] });
    expect(c.state().localPodCIDRs).toEqual(['192.168.7.0/28']);
    c.upsertNode(node('n1', ['10.1.0.0/24']));
    expect(c.flush().localPodCIDRs).toBeUndefined();
    expect(c.state().localPodCIDRs).toEqual(['192.168.7.0/28']);
  });

  test('analyze (every pod a subject) has no local ranges', () => {
    const c = new IncrementalCompiler({ localPodCIDRs: ['192.168.7.0/28'] });
    c.upsertNode(node('n1', ['10.1.0.0/24']));
    c.flush();
    expect(c.state().localPodCIDRs).toEqual([]);
  });
});

describe('remote pod addresses in the local ranges', () => {
  const remote = (c: IncrementalCompiler): string[] => [...(c.state().remotePodAddresses ?? [])].sort();
  const change = (c: IncrementalCompiler): { added: string[]; removed: string[] } | undefined => {
    const d = c.flush().remotePodAddresses;
    return d && { added: [...d.added].sort(), removed: [...d.removed].sort() };
  };

  test("pods of other nodes inside the ranges, not this node's, not outside, not hostNetwork or done", () => {
    const c = new IncrementalCompiler({ nodeName: 'n1', localPodCIDRs: ['10.1.0.0/24', 'fd01::/64'] });
    c.upsertPod(pod('a/local', { ips: ['10.1.0.5'], node: 'n1' }));
    c.upsertPod(pod('a/elsewhere', { ips: ['10.1.0.7', 'fd01::7'], node: 'n2' }));
    c.upsertPod(pod('a/outside', { ips: ['10.2.0.7'], node: 'n2' }));
    c.upsertPod(pod('a/host', { ips: ['10.1.0.8'], node: 'n2', hostNetwork: true }));
    c.upsertPod(pod('a/done', { ips: ['10.1.0.9'], node: 'n2', phase: 'Succeeded' }));
    expect(c.flush().full).toBe(true);
    expect(remote(c)).toEqual(['10.1.0.7', 'fd01::7']);
    // Two pods share an address for a while: it stays until the last one goes.
    c.upsertPod(pod('a/reused', { ips: ['10.1.0.7'], node: 'n3' }));
    expect(change(c)).toBeUndefined();
    c.deletePod('a/elsewhere');
    expect(change(c)).toEqual({ added: [], removed: ['fd01::7'] });
    expect(remote(c)).toEqual(['10.1.0.7']);
    c.upsertPod(pod('a/reused', { ips: ['10.1.0.7'], node: 'n3', phase: 'Failed' }));
    expect(change(c)).toEqual({ added: [], removed: ['10.1.0.7'] });
    // Added and removed between two flushes: no change at all.
    c.upsertPod(pod('a/brief', { ips: ['10.1.0.30'], node: 'n2' }));
    c.deletePod('a/brief');
    expect(change(c)).toBeUndefined();
    expect(remote(c)).toEqual([]);
  });

  test("follow the Node's ranges: a change rescans the pods", () => {
    const c = new IncrementalCompiler({ nodeName: 'n1' });
    c.upsertPod(pod('a/p', { ips: ['10.1.0.7'], node: 'n2' }));
    c.upsertPod(pod('a/q', { ips: ['10.1.1.7'], node: 'n2' }));
    c.flush();
    expect(remote(c)).toEqual([]);
    c.upsertNode(node('n1', ['10.1.0.0/24']));
    expect(change(c)).toEqual({ added: ['10.1.0.7'], removed: [] });
    c.upsertNode(node('n1', ['10.1.1.0/24']));
    expect(change(c)).toEqual({ added: ['10.1.1.7'], removed: ['10.1.0.7'] });
    c.upsertPod(pod('a/r', { ips: ['10.1.1.8'], node: 'n2' }));
    expect(change(c)).toEqual({ added: ['10.1.1.8'], removed: [] });
    c.deleteNode('n1');
    expect(change(c)).toEqual({ added: [], removed: ['10.1.1.7', '10.1.1.8'] });
    expect(remote(c)).toEqual([]);
  });

  test('analyze (every pod a subject) has none', () => {
    const c = new IncrementalCompiler({ localPodCIDRs: ['10.1.0.0/24'] });
    c.upsertPod(pod('a/p', { ips: ['10.1.0.7'], node: 'n2' }));
    expect(remote(c)).toEqual([]);
  });
});
