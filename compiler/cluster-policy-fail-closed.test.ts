/**
 * The API's fail-closed rule for a ClusterNetworkPolicy peer Palisade cannot match
 * (domainNames): "For Accept rules, fail closed means: treat the rule as matching no traffic.
 * For Deny and Pass rules, fail closed means: treat the rule as a 'Deny all' rule."
 * (apis/v1alpha2, ClusterNetworkPolicyEgressPeer). Regression tests for the two minimal
 * counterexamples the property test found: a Pass rule that let everything through, and an
 * Accept rule that still matched its other peers.
 */
import { compileClusterPolicy, unsupportedRuleWarnings } from './cluster-policy-compile';
import type { ClusterPolicyInfo, ClusterPolicyRule } from './model';
import { allowed, ns, pod } from './testutil/factories';

function egressOnly(rules: ClusterPolicyRule[]): ClusterPolicyInfo {
  return {
    name: 'c',
    tier: 'Admin',
    priority: 0,
    subject: { namespaces: {} },
    ingress: [],
    egress: rules,
  };
}

const NAMESPACES = [ns('x')];
const PODS = [pod('x/a', { ip: '10.0.0.1' }), pod('x/b', { ip: '10.0.0.2' })];
const DOMAINS = { domainNames: ['example.com'] };

function cluster(rules: ClusterPolicyRule[]) {
  return { namespaces: NAMESPACES, pods: PODS, policies: [], clusterPolicies: [egressOnly(rules)] };
}

test('a Pass rule with a domainNames peer denies all traffic, within its protocols', () => {
  const s = cluster([{ name: 'p', action: 'Pass', peers: [DOMAINS], protocols: [{ tcp: {} }] }]);
  expect(allowed(s, 'x/a', 'x/b', '80/TCP')).toBe(false);
  expect(allowed(s, 'x/a', '192.0.2.1', '443/TCP')).toBe(false);
  // Outside the rule's protocols the rule does not apply: nothing else decides, allowed.
  expect(allowed(s, 'x/a', 'x/b', '53/UDP')).toBe(true);
  const rule = compileClusterPolicy(egressOnly(s.clusterPolicies[0].egress as ClusterPolicyRule[])).compiled
    .egress![0];
  expect(rule).toMatchObject({
    action: 'Deny',
    writtenAction: 'Pass',
    peers: 'any',
    unsupported: ['domainNames'],
  });
});

test('an Accept rule with a domainNames peer matches no traffic, its other peers included', () => {
  const s = cluster([
    { name: 'a', action: 'Accept', peers: [{ namespaces: {} }, DOMAINS] },
    { name: 'd', action: 'Deny', peers: [{ networks: ['0.0.0.0/0'] }] },
  ]);
  expect(allowed(s, 'x/a', 'x/b', '80/TCP')).toBe(false);
  const rule = compileClusterPolicy(s.clusterPolicies[0]).compiled.egress![0];
  expect(rule).toMatchObject({ action: 'Accept', peers: [] });
  expect(rule.writtenAction).toBeUndefined();
});

test('the warnings say what the rule became', () => {
  const c = compileClusterPolicy(
    egressOnly([
      { name: 'a', action: 'Accept', peers: [DOMAINS] },
      { name: 'p', action: 'Pass', peers: [DOMAINS] },
    ]),
  ).compiled;
  expect(unsupportedRuleWarnings(c)).toEqual([
    `ClusterNetworkPolicy c: egress rule 0 "a" (Accept) has domainNames peers, which Palisade does not enforce; Palisade treats the rule as matching no traffic (the API's fail-closed rule for Accept)`,
    `ClusterNetworkPolicy c: egress rule 1 "p" (Pass) has domainNames peers, which Palisade does not enforce; Palisade treats the rule as a Deny of every remote address (the API's fail-closed rule for Pass)`,
  ]);
});
