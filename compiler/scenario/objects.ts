/**
 * Model objects back into Kubernetes objects: a ClusterNetworkPolicy or a Node as the API server
 * would hold it, carrying every field the model keeps. The inverse of project.ts for these two
 * kinds (projecting the result gives the model object back), used where a simulated cluster
 * must serve what a scenario declares (the sandbox) and by the projection round-trip tests.
 */
import type {
  ClusterPolicyInfo,
  ClusterPolicyPeer,
  ClusterPolicyProtocol,
  ClusterPolicyRule,
  NodeInfo,
} from '../model';
import { ENFORCEMENT_ANNOTATION } from '../model';
import { CLUSTER_POLICY_API_VERSION } from '../validate/clusternetworkpolicy';

type Json = Record<string, unknown>;

const plain = <T>(x: T): Json => JSON.parse(JSON.stringify(x)) as Json;

function peerObject(p: ClusterPolicyPeer): Json {
  return plain(p);
}

function protocolObject(p: ClusterPolicyProtocol): Json {
  return plain(p);
}

function ruleObject(r: ClusterPolicyRule, peersField: 'from' | 'to'): Json {
  return {
    ...(r.name !== '' ? { name: r.name } : {}),
    action: r.action,
    [peersField]: r.peers.map(peerObject),
    ...(r.protocols && r.protocols.length > 0 ? { protocols: r.protocols.map(protocolObject) } : {}),
  };
}

export function clusterPolicyObject(c: ClusterPolicyInfo): Json {
  return {
    apiVersion: CLUSTER_POLICY_API_VERSION,
    kind: 'ClusterNetworkPolicy',
    metadata: { name: c.name, ...(c.audit ? { annotations: { [ENFORCEMENT_ANNOTATION]: 'audit' } } : {}) },
    spec: {
      tier: c.tier,
      priority: c.priority,
      subject: plain(c.subject),
      ...(c.ingress.length > 0 ? { ingress: c.ingress.map((r) => ruleObject(r, 'from')) } : {}),
      ...(c.egress.length > 0 ? { egress: c.egress.map((r) => ruleObject(r, 'to')) } : {}),
    },
  };
}

/** A Node whose InternalIP addresses are the model's addresses. */
export function nodeObject(n: NodeInfo): Json {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, labels: { ...n.labels } },
    spec: n.podCIDRs.length > 0 ? { podCIDR: n.podCIDRs[0], podCIDRs: [...n.podCIDRs] } : {},
    status: { addresses: n.addresses.map((address) => ({ type: 'InternalIP', address })) },
  };
}
