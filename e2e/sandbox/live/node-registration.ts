/**
 * How the simulator's kubelets register their nodes: each sandbox node becomes one v1 Node
 * object, created at start as a kubelet registers itself (upstream keeps the status of a Node
 * create). The simulator is the only source of Node objects: what the scenario declares of a
 * node (labels, addresses, pod CIDRs: what ClusterNetworkPolicy `nodes` peers and the agents'
 * fail-closed checks read) comes in through the live cluster config, never as a second object.
 */
import type { LiveNode } from './config';
import { KubeApiError, type Json, type KubeRest } from './kube-rest';

/** What the simulator reports as its kubelets' version and runtime (kubectl get nodes -o wide). */
const NODE_INFO = {
  kubeletVersion: 'v1.32.4-palisade-sandbox',
  containerRuntimeVersion: 'palisade-sandbox://1',
  osImage: 'palisade sandbox',
  kernelVersion: '',
  operatingSystem: 'linux',
  architecture: 'amd64',
};

function readyCondition(now: string): Json {
  return {
    type: 'Ready',
    status: 'True',
    reason: 'KubeletReady',
    message: 'the sandbox node simulator is running',
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
}

/** The node's status: its addresses as declared, a Hostname address, Ready, the node info. */
export function nodeStatus(node: LiveNode, now: string): Json {
  return {
    addresses: [
      ...node.addresses.map((address) => ({ type: 'InternalIP', address })),
      { type: 'Hostname', address: node.name },
    ],
    conditions: [readyCondition(now)],
    nodeInfo: NODE_INFO,
  };
}

/** The Node object a kubelet registers for `node`. */
export function nodeObject(node: LiveNode, now: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: node.name, labels: { ...node.labels } },
    spec: node.podCIDRs.length > 0 ? { podCIDR: node.podCIDRs[0], podCIDRs: [...node.podCIDRs] } : {},
    status: nodeStatus(node, now),
  };
}

/**
 * Creates the node's Node object; when it already exists (a restarted simulator), only its
 * status is written again: labels someone changed since (a test, kubectl label) stay.
 */
export async function registerNode(api: KubeRest, node: LiveNode, now = new Date()): Promise<void> {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  try {
    await api.create('/api/v1/nodes', nodeObject(node, stamp));
  } catch (e) {
    if (!(e instanceof KubeApiError && e.status === 409)) throw e;
    await api.mergePatch(`/api/v1/nodes/${encodeURIComponent(node.name)}/status`, {
      status: nodeStatus(node, stamp),
    });
  }
}
