/**
 * FlowCutter: after an apply that may deny connections that are already open, delete exactly
 * those connections' conntrack entries, so their next packet meets the new rules.
 *
 * Which connections are looked at: only those of the addresses an apply can have changed the
 * verdict for (affectedAddresses below): local pods whose rules changed, the local pods of a
 * policy or cluster policy that changed, and addresses that entered or left a peer set (a pod
 * joining a set can be denied too: ClusterNetworkPolicy Deny rules). They are listed by one
 * covering prefix a family (dataplane/address-cover.ts), two filtered `conntrack -L` each, never
 * by a listing of the whole table: what conntrack prints and the agent parses are the
 * connections of that prefix, which follows the addresses of the change. (conntrack 1.4.7 still
 * walks the family's table on every call, see dataplane/conntrack.ts: hence one prefix rather
 * than one listing per address.) Each listed connection of an affected address
 * is judged by verdict() on the compiled state the kernel now holds; denied ones are deleted in
 * groups of (protocol, source, destination, destination port). Connections of the node's own
 * addresses are never touched: traffic between a pod and its node is always allowed, and the
 * node's own flows are not Palisade's.
 *
 * After a failed apply or a full resync the scope is every local pod (the delta that failed is
 * gone); a failure here is reported and retried with the next apply, never fatal: the rules are
 * in place either way.
 */
import type { CompileDelta, CompiledState, Probe } from '../../compiler';
import { verdict } from '../../compiler';
import type { CompiledView } from '../../compiler/incremental';
import { coveringPrefixes } from '../../dataplane/address-cover';
import { type ConntrackTable, type FlowGroup, flowGroupKey } from '../../dataplane/conntrack';
import { canonicalIP, netEntry } from '../../dataplane/ip';

/** Above this many addresses, one apply checks every local pod instead (bounded by the node). */
const MAX_ADDRESSES = 4096;
/** conntrack processes run at once (deletions; a prefix's two listings run together). */
const CONCURRENCY = 4;
/**
 * Covering prefixes listed per family. Each costs two walks of the table (about 0.3 s of CPU
 * each at 100,000 entries, as much as parsing tens of thousands of entries here) and two
 * processes (most of the time on a small table): one, whose listings all start at once.
 */
const PREFIXES_PER_FAMILY = 1;

/** fn over every item, at most `n` at a time; results in item order. */
async function inBatches<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += n) out.push(...(await Promise.all(items.slice(i, i + n).map(fn))));
  return out;
}

/** An address as conntrack lists print it (canonical); undefined for one that does not parse. */
function canonicalOrUndefined(address: string): string | undefined {
  try {
    return canonicalIP(address);
  } catch {
    return undefined;
  }
}

/** The pod address part of a peer-set member ("10.0.0.1", "10.0.0.1,tcp:80"); undefined for CIDR entries. */
function memberAddress(member: string): string | undefined {
  if (member.startsWith('!') || member.includes('/')) return undefined;
  const comma = member.indexOf(',');
  return comma < 0 ? member : member.slice(0, comma);
}

/**
 * Addresses whose open connections may have changed verdict with this delta. `full` (first
 * apply, recovery, full mode): every local pod's addresses.
 */
export function affectedAddresses(state: CompiledState, delta: CompileDelta, full: boolean): Set<string> {
  const out = new Set<string>();
  const addPod = (key: string) => {
    for (const ip of state.pods.get(key)?.ips ?? []) out.add(ip);
  };
  if (full || delta.full) {
    for (const key of state.pods.keys()) addPod(key);
    return out;
  }
  for (const key of delta.pods) addPod(key);
  if (delta.policies.size > 0 || delta.clusterPolicies.size > 0 || delta.peerSets.size > 0) {
    for (const p of state.pods.values()) {
      const uses =
        p.ingress.some((k) => delta.policies.has(k)) ||
        p.egress.some((k) => delta.policies.has(k)) ||
        [...p.adminIngress, ...p.adminEgress, ...p.baselineIngress, ...p.baselineEgress].some((k) =>
          delta.clusterPolicies.has(k),
        );
      if (uses || delta.peerSets.size > 0) addPod(p.key);
      if (out.size > MAX_ADDRESSES) break;
    }
  }
  for (const change of delta.members.values()) {
    for (const m of [...change.added, ...change.removed]) {
      const ip = memberAddress(m);
      if (ip !== undefined) out.add(ip);
    }
  }
  if (out.size > MAX_ADDRESSES) {
    out.clear();
    for (const key of state.pods.keys()) addPod(key);
  }
  return out;
}

export interface CutReport {
  /** Addresses whose connections were listed. */
  readonly addresses: number;
  /** Connections judged. */
  readonly checked: number;
  /** Groups deleted, as "proto src dst dport". */
  readonly cut: readonly string[];
  /** Conntrack entries conntrack reported deleted. */
  readonly entries: number;
}

export class FlowCutter {
  constructor(
    private readonly table: ConntrackTable,
    private readonly view: () => CompiledView,
    /** The node's own addresses: their connections are never cut. */
    private readonly nodeAddresses: () => ReadonlySet<string>,
  ) {}

  async cut(state: CompiledState, delta: CompileDelta, full: boolean): Promise<CutReport> {
    const addresses = affectedAddresses(state, delta, full);
    const node = this.nodeAddresses();
    const view = this.view();
    const groups = new Map<string, FlowGroup>();
    const judged = new Set<string>();
    let checked = 0;
    const wanted = new Set<string>();
    for (const a of addresses) {
      const ip = canonicalOrUndefined(a);
      if (ip !== undefined && !node.has(ip)) wanted.add(ip);
    }
    const prefixes = coveringPrefixes(wanted, PREFIXES_PER_FAMILY);
    // Independent processes, a few at once (the apply waits for them).
    const listed = await inBatches(prefixes, CONCURRENCY / 2, (p) => this.table.flowsIn(netEntry(p)));
    for (const flows of listed) {
      for (const f of flows) {
        // A prefix holds other addresses too: only the change's connections are judged.
        if (!wanted.has(f.src) && !wanted.has(f.dst)) continue;
        if (node.has(f.src) || node.has(f.dst)) continue;
        const group: FlowGroup = { protocol: f.protocol, src: f.src, dst: f.dst, dport: f.dport };
        const key = flowGroupKey(group);
        if (judged.has(key)) continue;
        judged.add(key);
        checked++;
        const probe: Probe = { port: f.dport, protocol: f.protocol.toUpperCase() as Probe['protocol'] };
        const v = verdict(view, { kind: 'ip', ip: f.src }, { kind: 'ip', ip: f.dst }, probe);
        if (!v.allowed) groups.set(key, group);
      }
    }
    let entries = 0;
    for (const n of await inBatches([...groups.values()], CONCURRENCY, (g) => this.table.delete(g)))
      entries += n;
    return { addresses: addresses.size, checked, cut: [...groups.keys()], entries };
  }
}
