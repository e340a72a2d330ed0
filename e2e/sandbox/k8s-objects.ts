/**
 * The cluster a sandbox's API server serves, as Kubernetes objects: the scenario's model
 * objects turned back into v1 Namespaces, Pods (with spec.nodeName, hostNetwork, named
 * container ports and status.podIPs, i.e. the addresses the sandbox wired) and
 * networking.k8s.io/v1 NetworkPolicies. The model keeps every field that decides a verdict,
 * so the agents see the same cluster `palisade analyze` computes on. Pure.
 */
import type { NamespaceInfo, PodInfo, PolicyInfo } from '../../compiler/model';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
};

export interface ClusterObjects {
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly policies: readonly PolicyInfo[];
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
  return [...c.namespaces.map(namespaceObject), ...c.pods.map(podObject), ...c.policies.map(policyObject)];
}
