/**
 * IncrementalCompiler and ClusterNetworkPolicy events: regression tests for counterexamples the
 * convergence property (incremental.test.ts) found.
 */
import { IncrementalCompiler, compileSnapshot } from './incremental';
import type { ClusterPolicyInfo } from './model';
import { ns, pod } from './testutil/factories';

function members(c: IncrementalCompiler): Record<string, string[]> {
  return Object.fromEntries([...c.state().peerSets.values()].map((s) => [s.key, [...s.members].sort()]));
}

test('a namespace arriving after its pods gives a CNP its first subject without counting them twice', () => {
  // The CNP selects y/c, whose namespace is not known yet; when it arrives, the CNP gains its
  // first subject and acquires its peer set (holding y/c). The set used to be filled once by
  // acquiring it and once more by the namespace's own membership update, so after y/c changed
  // address its old one stayed a member.
  const cnp: ClusterPolicyInfo = {
    name: 'c',
    tier: 'Admin',
    priority: 0,
    subject: { namespaces: {} },
    ingress: [{ name: '', action: 'Accept', peers: [{ pods: { namespaceSelector: {}, podSelector: {} } }] }],
    egress: [],
  };
  const c = new IncrementalCompiler({});
  c.upsertPod(pod('y/c', { ip: '10.0.0.1' }));
  c.upsertClusterPolicy(cnp);
  c.upsertNamespace(ns('y'));
  c.upsertPod(pod('y/c', { ip: '10.0.0.2' }));
  const scratch = compileSnapshot({
    namespaces: [ns('y')],
    pods: [pod('y/c', { ip: '10.0.0.2' })],
    policies: [],
    clusterPolicies: [cnp],
  });
  expect(members(c)).toEqual(members(scratch));
  expect(members(c)).toEqual({ 'pods|nssel=*|pod=*': ['10.0.0.2'] });
});
