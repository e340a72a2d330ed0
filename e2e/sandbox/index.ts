/**
 * The sandbox: a simulated cluster in network namespaces with real-packet probes, behind
 * `palisade sandbox`. See README.md for the topology and how each protocol is probed.
 */
export { Sandbox } from './sandbox';
export type {
  SandboxOptions,
  SandboxContext,
  EnforcementSetup,
  EnforcementResult,
  BuildTimings,
} from './sandbox';
export {
  planFromPods,
  planFromScenario,
  validatePlan,
  parseProbe,
  probeLabel,
  dedupeProbes,
  TOPOLOGIES,
} from './plan';
export type { SandboxPlan, PlanNode, PlanPod, PlanProbe, Topology } from './plan';
export { DEFAULT_PROBE_SETTINGS } from './probe-run';
export type { ProbeReport, ProbeRunSettings } from './probe-run';
export { compareMatrices } from './matrix';
export type { ReachabilityMatrix, FamilyDisagreement } from './matrix';
export { runSandboxSession, InterruptedError } from './session';
export type { SessionOptions, SessionResult } from './session';
export {
  enforcement,
  liveCluster,
  planObjects,
  podEndpointsSocket,
  agentDebugSocket,
  DEFAULT_ENFORCEMENT_LAUNCH,
  fillTemplate,
  launchWithBackend,
  repoRoot,
} from './enforcement';
export type { EnforcementLaunch, EnforcementAccess } from './enforcement';
export { clusterObjects } from './k8s-objects';
export type { LivePod } from './endpoints';
export { KubeRest, KubeApiError } from './live/kube-rest';
export type { K8sObject, ClusterObjects } from './k8s-objects';
export { preflight, PREFLIGHT_EXIT_CODE } from './preflight';
export { StateStore } from './state';
export { teardownSandbox } from './teardown';
export { inNetns } from './netns';
export { run } from './run';
export { findCommand } from './tools';
export { forgetUdpFlows } from './flows';
export { CONTROL_ADDRESS } from './topology';
