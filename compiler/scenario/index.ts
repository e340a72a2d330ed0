/**
 * Scenarios: YAML files of Namespaces, Pods, Nodes, NetworkPolicies and ClusterNetworkPolicies
 * that `palisade analyze`,
 * `palisade explain`, the conformance cases and the sandbox load (see load.ts), and the
 * projection of Kubernetes objects into the model that the agent's informers reuse.
 */
export { loadScenario, scenarioSnapshot } from './load';
export type { Scenario, LoadResult } from './load';
export {
  projectNamespace,
  projectPod,
  projectPolicy,
  projectClusterPolicy,
  projectNode,
  isIP,
  NAMESPACE_NAME_LABEL,
  INVALID_SELECTOR,
} from './project';
export type { K8sNamespace, K8sPod, K8sNetworkPolicy, K8sClusterNetworkPolicy, K8sNode } from './project';
export { clusterPolicyObject, nodeObject } from './objects';
export {
  assignAddresses,
  nodeAddresses,
  nodeInfoOf,
  isDualStack,
  DEFAULT_NODE,
  DUAL_STACK_ANNOTATION,
  HOSTNAME_LABEL,
} from './addresses';
export type { ScenarioNode, AddressAssignment } from './addresses';
