/**
 * Accumulates what changed between two flushes, cancelling opposite changes so a delta is
 * the net difference (a pod relabelled out of a set and back in between two flushes is no
 * change at all).
 */
import type { ClusterPolicyKey, CompileDelta, MemberChange, PeerSetKey } from './ir';
import type { ObjectKey } from './model';

export class DeltaRecorder {
  private full = true;
  private pods = new Set<ObjectKey>();
  private policies = new Set<ObjectKey>();
  private clusterPolicies = new Set<ClusterPolicyKey>();
  private peerSets = new Set<PeerSetKey>();
  private members = new Map<PeerSetKey, { added: Set<string>; removed: Set<string> }>();
  private localPodCIDRs = false;
  private remoteAdded = new Set<string>();
  private remoteRemoved = new Set<string>();

  pod(key: ObjectKey): void {
    this.pods.add(key);
  }

  policy(key: ObjectKey): void {
    this.policies.add(key);
  }

  clusterPolicy(key: ClusterPolicyKey): void {
    this.clusterPolicies.add(key);
  }

  /** The local node's pod address ranges changed. */
  localPodCIDRsChanged(): void {
    this.localPodCIDRs = true;
  }

  /** An address entered CompiledState.remotePodAddresses (a full delta carries none: consumers read the state). */
  remoteAddressAdded(ip: string): void {
    if (this.full) return;
    if (!this.remoteRemoved.delete(ip)) this.remoteAdded.add(ip);
  }

  remoteAddressRemoved(ip: string): void {
    if (this.full) return;
    if (!this.remoteAdded.delete(ip)) this.remoteRemoved.add(ip);
  }

  /** A set appeared or disappeared: consumers redo it whole, so its member changes are moot. */
  peerSet(key: PeerSetKey): void {
    this.peerSets.add(key);
    this.members.delete(key);
  }

  memberAdded(set: PeerSetKey, member: string): void {
    if (this.full || this.peerSets.has(set)) return;
    const m = this.entry(set);
    if (!m.removed.delete(member)) m.added.add(member);
  }

  memberRemoved(set: PeerSetKey, member: string): void {
    if (this.full || this.peerSets.has(set)) return;
    const m = this.entry(set);
    if (!m.added.delete(member)) m.removed.add(member);
  }

  private entry(set: PeerSetKey): { added: Set<string>; removed: Set<string> } {
    let m = this.members.get(set);
    if (!m) {
      m = { added: new Set(), removed: new Set() };
      this.members.set(set, m);
    }
    return m;
  }

  take(): CompileDelta {
    const members = new Map<PeerSetKey, MemberChange>();
    for (const [k, m] of this.members) {
      if (m.added.size || m.removed.size) members.set(k, { added: [...m.added], removed: [...m.removed] });
    }
    const delta: CompileDelta = {
      full: this.full,
      pods: this.pods,
      policies: this.policies,
      clusterPolicies: this.clusterPolicies,
      peerSets: this.peerSets,
      members,
      ...(this.localPodCIDRs ? { localPodCIDRs: true } : {}),
      ...(this.remoteAdded.size || this.remoteRemoved.size
        ? { remotePodAddresses: { added: [...this.remoteAdded], removed: [...this.remoteRemoved] } }
        : {}),
    };
    this.full = false;
    this.localPodCIDRs = false;
    this.remoteAdded = new Set();
    this.remoteRemoved = new Set();
    this.pods = new Set();
    this.policies = new Set();
    this.clusterPolicies = new Set();
    this.peerSets = new Set();
    this.members = new Map();
    return delta;
  }
}
