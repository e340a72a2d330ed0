/**
 * What the sandbox's live-cluster processes (its API server and its cluster simulator) are
 * told about the sandbox, written by the builder as `<state>/live-cluster.json`. Plain data.
 */
import { readFileSync } from 'node:fs';
import type { PlanProbe, Topology } from '../plan';

export interface LiveNode {
  readonly name: string;
  /** The node's network namespace. */
  readonly ns: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** spec.podCIDRs: where pods created on the node get their addresses. */
  readonly podCIDRs: readonly string[];
  /** The Node object's labels (the scenario's, or kubernetes.io/hostname alone). */
  readonly labels: Readonly<Record<string, string>>;
  /** The Node object's InternalIP addresses (the scenario's; the wired ipv4/ipv6 are among them). */
  readonly addresses: readonly string[];
  /** Control socket of the node namespace's endpoint process (hostNetwork ports, HTTP probes). */
  readonly endpointSocket: string;
  /** Control socket of the node's pod endpoint host (live/pod-endpoints.py). */
  readonly podEndpointsSocket: string;
  /** Scenario pods outside the node's CIDRs that a bridged pod of this node reaches on-link. */
  readonly onLinkExtra: readonly string[];
  /** Scenario pods inside the node's CIDRs that live on other nodes: a bridged pod routes them via its gateway. */
  readonly offLink: readonly string[];
}

export interface LiveAgents {
  /** argv template: {node}, {debugSocket} are filled per node. */
  readonly argv: readonly string[];
  /** Where each node's agent serves /readyz, inside the node's namespace. */
  readonly metricsAddress: string;
  readonly debugSockets: Readonly<Record<string, string>>;
  readonly logFiles: Readonly<Record<string, string>>;
  /**
   * Per node, a directory first on the agent's PATH, empty unless a test puts a failing stand-in
   * for a kernel tool there (the soak's failing-restore fault). Empty, it costs one failed lookup.
   */
  readonly toolShimDirs?: Readonly<Record<string, string>>;
  /**
   * Per node, the xtables lock file of the agent's iptables tools (XTABLES_LOCKFILE): each node
   * namespace has its own tables, so its own lock, and a test holding it blocks that node only.
   */
  readonly xtablesLocks?: Readonly<Record<string, string>>;
}

export interface LiveClusterConfig {
  readonly id: string;
  readonly topology: Topology;
  /** A Unix socket the API server itself listens on too (TLS inside): the simulator's way in. */
  readonly apiSocket: string;
  readonly tokenFile: string;
  readonly caFile: string;
  readonly nodes: readonly LiveNode[];
  /** Scenario pods' addresses, by pod key: the kubelet gives them these when they land on their node. */
  readonly reserved: readonly {
    readonly key: string;
    readonly node: string;
    readonly ips: readonly string[];
  }[];
  /** Ports every pod serves besides its containers' (the sandbox's probes). */
  readonly probePorts: readonly PlanProbe[];
  readonly agents?: LiveAgents;
  /** Directory put first on the PATH of exec'd commands (holds `palisade`). */
  readonly binDir: string;
  /**
   * Where the kubelets announce each pod they wire, `<uid>.json` (see PodRecord), written
   * before its namespace is created: a test can probe a pod from the instant its address exists.
   */
  readonly podsDir: string;
}

/** What a kubelet announces of a pod it wires, in `podsDir/<uid>.json`; the file goes with the pod. */
export interface PodRecord {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly node: string;
  readonly netns: string;
  readonly ips: readonly string[];
  /** "wiring": the address is taken, the namespace being made; "wired": reachable (before any status). */
  readonly stage: 'wiring' | 'wired';
  /** Epoch ms of the stage. */
  readonly at: number;
}

/**
 * The mark the API server leaves before it execs a command into a pod (`podsDir/<uid>.exec`):
 * only a pod with one can have processes to stop when it is deleted, so the kubelet scans
 * /proc (tens of milliseconds of blocking work on a busy machine) only for those.
 */
export function execMarkPath(podsDir: string, uid: string): string {
  return `${podsDir}/${uid}.exec`;
}

export function readLiveConfig(file: string): LiveClusterConfig {
  return JSON.parse(readFileSync(file, 'utf8')) as LiveClusterConfig;
}

/** Namespace and label of the agent pods the simulator runs, one per node, like a DaemonSet's. */
export const AGENT_NAMESPACE = 'kube-system';
export const AGENT_LABEL = 'palisade.dev/sandbox-agent';

export function agentPodName(node: string): string {
  return `palisade-agent-${node}`;
}
