/**
 * The watched resources: how each raw object becomes its slim model projection and what its
 * cache key is. The projections themselves live in compiler/scenario/project.ts, shared with the
 * scenario loader, and keep only the fields that decide verdicts.
 */
import type { ClusterPolicyInfo, NamespaceInfo, NodeInfo, PodInfo, PolicyInfo } from '../../compiler';
import { objectKey } from '../../compiler';
import {
  projectClusterPolicy,
  projectNamespace,
  projectNode,
  projectPod,
  projectPolicy,
  type K8sClusterNetworkPolicy,
  type K8sNamespace,
  type K8sNetworkPolicy,
  type K8sNode,
  type K8sPod,
} from '../../compiler/scenario/project';
import type { ResourceName } from './client';

export interface ResourceSpec<T> {
  readonly resource: ResourceName;
  readonly project: (raw: unknown) => T;
  readonly keyOf: (obj: T) => string;
  /** Served only when a CRD is installed: absence (404) is a state, not an error. */
  readonly optional?: boolean;
}

export const NAMESPACES: ResourceSpec<NamespaceInfo> = {
  resource: 'namespaces',
  project: (raw) => projectNamespace(raw as K8sNamespace),
  keyOf: (ns) => ns.name,
};

export const PODS: ResourceSpec<PodInfo> = {
  resource: 'pods',
  project: (raw) => projectPod(raw as K8sPod),
  keyOf: objectKey,
};

export const NETWORK_POLICIES: ResourceSpec<PolicyInfo> = {
  resource: 'networkpolicies',
  project: (raw) => projectPolicy(raw as K8sNetworkPolicy),
  keyOf: objectKey,
};

export const NODES: ResourceSpec<NodeInfo> = {
  resource: 'nodes',
  project: (raw) => projectNode(raw as K8sNode),
  keyOf: (n) => n.name,
};

export const CLUSTER_NETWORK_POLICIES: ResourceSpec<ClusterPolicyInfo> = {
  resource: 'clusternetworkpolicies',
  project: (raw) => projectClusterPolicy(raw as K8sClusterNetworkPolicy),
  keyOf: (c) => c.name,
  optional: true,
};
