/**
 * The cluster sizes of the benchmark (issue "Scale"). Every size has 110 pods on the measured
 * node (the kubelet's default maximum), except `tiny`, the smoke size CI runs in seconds.
 */
export type SizeName = 'tiny' | 'S' | 'M' | 'L';

export interface ClusterSize {
  readonly name: SizeName;
  readonly pods: number;
  readonly namespaces: number;
  readonly policies: number;
  /** Pods scheduled on the measured node. */
  readonly localPods: number;
  /** ClusterNetworkPolicies of the Admin and the Baseline tier. */
  readonly adminPolicies: number;
  readonly baselinePolicies: number;
}

export const SIZES: Readonly<Record<SizeName, ClusterSize>> = {
  tiny: {
    name: 'tiny',
    pods: 100,
    namespaces: 8,
    policies: 16,
    localPods: 20,
    adminPolicies: 6,
    baselinePolicies: 2,
  },
  S: {
    name: 'S',
    pods: 1_000,
    namespaces: 50,
    policies: 100,
    localPods: 110,
    adminPolicies: 10,
    baselinePolicies: 3,
  },
  M: {
    name: 'M',
    pods: 10_000,
    namespaces: 500,
    policies: 1_000,
    localPods: 110,
    adminPolicies: 20,
    baselinePolicies: 5,
  },
  L: {
    name: 'L',
    pods: 150_000,
    namespaces: 2_000,
    policies: 10_000,
    localPods: 110,
    adminPolicies: 40,
    baselinePolicies: 10,
  },
};

export function isSizeName(s: string): s is SizeName {
  return Object.prototype.hasOwnProperty.call(SIZES, s);
}
