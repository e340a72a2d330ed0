/**
 * Scenarios: YAML files of Namespaces, Pods and NetworkPolicies that `palisade analyze`,
 * `palisade explain`, the conformance cases and the sandbox load (see load.ts), and the
 * projection of Kubernetes objects into the model that the agent's informers reuse.
 */
export { loadScenario, scenarioSnapshot } from './load';
export type { Scenario, LoadResult } from './load';
export { projectNamespace, projectPod, projectPolicy, isIP, NAMESPACE_NAME_LABEL } from './project';
export type { K8sNamespace, K8sPod, K8sNetworkPolicy } from './project';
export {
  assignAddresses,
  nodeAddresses,
  isDualStack,
  DEFAULT_NODE,
  DUAL_STACK_ANNOTATION,
} from './addresses';
export type { ScenarioNode, AddressAssignment } from './addresses';
