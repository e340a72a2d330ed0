/**
 * The cluster a sandbox's API server serves, as Kubernetes objects: the scenario's model
 * objects turned back into v1 Namespaces, Pods (with spec.nodeName, hostNetwork, named
 * container ports and status.podIPs, i.e. the addresses the sandbox wired) and
 * networking.k8s.io/v1 NetworkPolicies; when the scenario has them, its v1 Nodes (every node
 * of the sandbox, with the labels and addresses the scenario gives it) and
 * ClusterNetworkPolicies, with the ClusterNetworkPolicy CRD that makes the server serve them.
 * The model keeps every field that decides a verdict, so the agents see the same cluster
 * `palisade analyze` computes on. Pure.
 */
import type { ClusterPolicyInfo, NamespaceInfo, NodeInfo, PodInfo, PolicyInfo } from '../../compiler/model';
import { clusterPolicyObject, nodeObject } from '../../compiler/scenario';
import { CLUSTER_NETWORK_POLICY_CRD } from '../apiserver/kinds/cluster-network-policy';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
};

export interface ClusterObjects {
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly policies: readonly PolicyInfo[];
  /** Served with the ClusterNetworkPolicy CRD; absent or empty: no CRD (NetworkPolicy only). */
  readonly clusterPolicies?: readonly ClusterPolicyInfo[];
  /** The nodes, for `nodes` peers (a scenario's ScenarioNodes fit). */
  readonly nodes?: readonly NodeInfo[];
}

function namespaceObject(n: NamespaceInfo): K8sObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.name, labels: { ...n.labels } } };
}

function podObject(p: PodInfo): K8sObject {
  const ports = p.namedPorts.map((np) => ({ name: np.name, containerPort: np.port, protocol: np.protocol }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace, labels: { ...p.labels } },
    spec: {
      nodeName: p.nodeName,
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      containers: [
        { name: 'main', image: 'palisade-sandbox/endpoint', ...(ports.length > 0 ? { ports } : {}) },
      ],
    },
    status: {
      phase: p.phase,
      ...(p.ips.length > 0 ? { podIP: p.ips[0], podIPs: p.ips.map((ip) => ({ ip })) } : {}),
    },
  };
}

function policyObject(p: PolicyInfo): K8sObject {
  // The model's spec has the shape and field names of networking.k8s.io/v1 NetworkPolicySpec.
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: p.name, namespace: p.namespace },
    spec: JSON.parse(JSON.stringify(p.spec)) as Record<string, unknown>,
  };
}

export function clusterObjects(c: ClusterObjects): K8sObject[] {
  const clusterPolicies = c.clusterPolicies ?? [];
  const crd = clusterPolicies.length > 0 ? [structuredClone(CLUSTER_NETWORK_POLICY_CRD) as K8sObject] : [];
  return [
    ...c.namespaces.map(namespaceObject),
    ...(c.nodes ?? []).map(
      (n) =>
        nodeObject({
          name: n.name,
          labels: n.labels,
          addresses: n.addresses,
          podCIDRs: n.podCIDRs,
        }) as K8sObject,
    ),
    ...c.pods.map(podObject),
    ...c.policies.map(policyObject),
    ...crd,
    ...clusterPolicies.map((p) => clusterPolicyObject(p) as K8sObject),
  ];
}
