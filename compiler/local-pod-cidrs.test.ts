/**
 * The agent's node's pod ranges (CompiledState.localPodCIDRs, what fails closed for new pods):
 * its own Node's spec.podCIDRs as watched, or the configured ranges, which win; a change marks
 * the delta; other nodes do not count; analyze (no node name) has none.
 */
import { IncrementalCompiler } from './incremental';
import type { NodeInfo } from './model';

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
