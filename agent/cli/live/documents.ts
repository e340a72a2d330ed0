/**
 * The JSON documents the agent's debug endpoint serves (agent/daemon/README.md), as the CLI
 * reads them, and their conversion back into the compiler's Map/Set shapes where the shared
 * formatters (format/explain-text.ts) need them. The agent writes Maps as objects and Sets as
 * arrays (agent/daemon/http-util.ts).
 */
import type {
  ClusterPolicyInfo,
  ClusterPolicyKey,
  CompiledClusterPolicy,
  CompiledPolicy,
  CompiledState,
  Endpoint,
  NamespaceInfo,
  ObjectKey,
  PeerSet,
  PeerSetDef,
  PeerSetKey,
  PodInfo,
  PodRules,
  PolicyInfo,
  Probe,
  Verdict,
} from '../../../compiler';
import type { ApplyStats, DataplaneView, KernelCounts } from '../../../dataplane/api';
import type { ExplainLookup } from '../format/explain-text';

export type { DataplaneView };

export interface WatchDoc {
  readonly resource: string;
  readonly state: string;
  readonly synced: boolean;
  readonly objects: number;
  readonly resourceVersion: string;
  readonly restarts: number;
  readonly lastError: string | null;
  /** Optional resources (a CRD's): whether the API server serves it now. */
  readonly served?: boolean;
}

export interface RunnerDoc {
  readonly synced: boolean;
  readonly ready: boolean;
  readonly healthy: boolean;
  readonly running: 'apply' | 'repair' | null;
  readonly pendingEvents: number;
  readonly applies: number;
  readonly applyErrors: number;
  readonly consecutiveFailures: number;
  readonly retryInMs: number | null;
  readonly lastApply: {
    readonly at: number;
    readonly durationMs: number;
    readonly events: number;
    readonly full: boolean;
    readonly stats: ApplyStats | null;
  } | null;
  readonly lastError: {
    readonly at: number;
    readonly error: string;
    readonly details: Record<string, unknown>;
  } | null;
  readonly lastRepair: { readonly at: number; readonly differences: readonly string[] } | null;
  /** Absent from agents older than this field. */
  readonly lastRepaired?: { readonly at: number; readonly differences: readonly string[] } | null;
  readonly repairs: number;
}

/** GET /v1/status */
/** /v1/status `verdictLog`: the mode, and when on, the reader and the counters (verdicts/service.ts). */
export interface VerdictLogDoc {
  readonly mode: 'off' | 'denied' | 'all';
  readonly group?: number;
  readonly capture?: { readonly state: string; readonly lastError?: string; readonly starts: number };
  readonly events?: number;
  readonly watchers?: number;
  readonly lost?: {
    readonly rate_limit: number;
    readonly queue_overflow: number;
    readonly slow_reader: number;
  };
  /** The kernel's counters beside the rate limit, as this agent observed them (absent from older agents). */
  readonly rateLimit?: {
    readonly seen: number;
    readonly logged: number;
    readonly lost: number;
    readonly reads: number;
    readonly failures: number;
    readonly lastAt: string | null;
  };
}

export interface StatusDoc {
  readonly nodeName: string;
  readonly syncMode: string;
  /** The dataplane backend ('iptables' or 'nftables'; absent from older agents: iptables). */
  readonly backend?: string;
  readonly iptablesBackend: string;
  /** The drift watch (nftables: nft monitor); null when the backend has none. */
  readonly driftWatch?: {
    readonly running: boolean;
    readonly restarts: number;
    readonly foreignChanges: number;
    readonly lastForeignChange: {
      readonly at: number;
      readonly pid: number;
      readonly comm: string;
      readonly events: readonly string[];
      readonly certain: boolean;
    } | null;
  } | null;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly synced: boolean;
  readonly ready: boolean;
  readonly healthy: boolean;
  readonly watches: readonly WatchDoc[];
  readonly compiled: {
    readonly subjectPods: number;
    readonly policies: number;
    /** Absent from agents older than ClusterNetworkPolicy support. */
    readonly clusterPolicies?: number;
    readonly peerSets: number;
  };
  /** Absent from agents older than ClusterNetworkPolicy support. */
  readonly clusterNetworkPolicies?: {
    /** Whether the API server serves ClusterNetworkPolicies (the CRD is installed). */
    readonly crd: 'unknown' | 'installed' | 'absent';
    readonly note: string;
    /** ClusterNetworkPolicies in the cluster. */
    readonly policies: number;
    /** Rules Palisade cannot enforce as written (domainNames peers), one sentence each. */
    readonly unsupported: readonly string[];
  };
  readonly kernel: KernelCounts | null;
  readonly runner: RunnerDoc | null;
  /** Verdict logs (older agents leave it out). */
  readonly verdictLog?: VerdictLogDoc;
}

export interface PeerSetDoc {
  readonly key: PeerSetKey;
  readonly def: PeerSetDef;
  readonly members: readonly string[];
}

/** GET /v1/explain */
export interface ExplainDoc {
  readonly from: Endpoint;
  readonly to: Endpoint;
  readonly probe: Probe;
  readonly verdict: Verdict;
  readonly pods: readonly PodInfo[];
  readonly namespaces: readonly NamespaceInfo[];
  readonly policies: readonly PolicyInfo[];
  /** The ClusterNetworkPolicies of either end and of the verdict; absent from older agents. */
  readonly clusterPolicies?: readonly ClusterPolicyInfo[];
  readonly state: {
    readonly pods: Readonly<Record<ObjectKey, PodRules>>;
    readonly policies: Readonly<Record<ObjectKey, CompiledPolicy>>;
    /** Absent from agents older than ClusterNetworkPolicy support. */
    readonly clusterPolicies?: Readonly<Record<ClusterPolicyKey, CompiledClusterPolicy>>;
    readonly peerSets: Readonly<Record<PeerSetKey, PeerSetDoc>>;
  };
}

/** GET /v1/rules?pod=NS/POD */
export interface RulesDoc {
  readonly pod: PodInfo;
  readonly namespace: NamespaceInfo | null;
  /** null: not a subject of this agent (another node's pod, hostNetwork, not running). */
  readonly rules: PodRules | null;
  readonly policies: ReadonlyArray<{
    readonly info: PolicyInfo | null;
    readonly compiled: CompiledPolicy | null;
  }>;
  /** The ClusterNetworkPolicies that hold the pod (either tier, either direction); absent from older agents. */
  readonly clusterPolicies?: ReadonlyArray<{
    readonly info: ClusterPolicyInfo | null;
    readonly compiled: CompiledClusterPolicy | null;
  }>;
  readonly peerSets: Readonly<Record<PeerSetKey, PeerSetDoc>>;
  /** The pod that owns each address found in a pods or named-port set. */
  readonly owners: Readonly<Record<string, { readonly pod: ObjectKey; readonly node: string }>>;
}

/** GET /v1/drift */
export interface DriftDoc {
  readonly differences: readonly string[];
}

export function peerSetFromDoc(d: PeerSetDoc): PeerSet {
  return { key: d.key, def: d.def, members: new Set(d.members) };
}

/** A CompiledState from its JSON form. */
export function compiledState(doc: ExplainDoc['state']): CompiledState {
  return {
    pods: new Map(Object.entries(doc.pods)),
    policies: new Map(Object.entries(doc.policies)),
    clusterPolicies: new Map(Object.entries(doc.clusterPolicies ?? {})),
    peerSets: new Map(Object.entries(doc.peerSets).map(([k, v]) => [k, peerSetFromDoc(v)])),
  };
}

/** The lookup explain-text.ts reads, over what /v1/explain returned. */
export function explainLookup(doc: ExplainDoc): ExplainLookup {
  const state = compiledState(doc.state);
  const pods = new Map(doc.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const namespaces = new Map(doc.namespaces.map((n) => [n.name, n]));
  const policies = new Map(doc.policies.map((p) => [`${p.namespace}/${p.name}`, p]));
  const clusterPolicies = new Map((doc.clusterPolicies ?? []).map((c) => [c.name, c]));
  return {
    clusterPolicy: (name) => clusterPolicies.get(name),
    state: () => state,
    pod: (key) => pods.get(key),
    podByIP: (ip) => doc.pods.find((p) => !p.hostNetwork && p.ips.includes(ip)),
    namespace: (name) => namespaces.get(name),
    policy: (key) => policies.get(key),
  };
}
