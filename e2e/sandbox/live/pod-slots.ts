/**
 * The pod network namespaces of one node, kept for reuse. Creating a network namespace and a
 * veth, and the kernel's destruction of both, are the expensive part of a pod's wiring (they
 * take the RTNL lock and wait for RCU grace periods; under churn every other pod's wiring
 * waits behind them). So a pod that goes leaves its namespace, with its veth, as a slot for
 * the next pod, cleaned to what a new namespace would hold: its addresses, routes and
 * neighbour entries removed, its sockets closed (the pod endpoint host), the node's routes
 * and neighbour entries for it gone. A namespace anything was exec'd into is not kept (the
 * command could have changed anything in it): it is destroyed, as are slots that stay unused.
 *
 *   attach(pod) ─▶ idle slot? ─no─▶ make: netns add ─▶ sysctls ─▶ veth (node side)
 *                      │ yes                                │
 *                      ▼                                    ▼
 *               name the slot's namespace as the pod's ─▶ pod side: addresses, routes ─▶ node routes
 *   detach(pod) ─▶ node routes, neighbours ─▶ unname ─▶ reusable? pod side undone ─▶ idle
 *                                                       └─ no ─▶ netns del (the veth goes with it)
 *   idle for idleMs, or more than maxIdle idle ─▶ netns del
 *
 * A slot's namespace keeps its own name (`ps<id>-slot-…`) and has the pod's name
 * (`ps<id>-pod-…`) besides while a pod has it, so everything that finds a pod's namespace by
 * the pod's name (exec, probes, leak checks) works as before.
 */
import {
  nodeRouteCleanupLines,
  nodeRouteLines,
  podSideCleanupLines,
  podSideLines,
  slotNodeLines,
  slotNodeSysctls,
  slotPodLines,
  slotSysctls,
  type NodeWiring,
  type PodSlot,
  type PodWiring,
} from './pod-network';
import type { Topology } from '../plan';

/** What the slots do to the machine; kubelet.ts gives the real ones. */
export interface SlotActions {
  /** `ip` lines in the host's namespace list (netns add/del). */
  host(lines: readonly string[]): Promise<void>;
  /** `ip` lines in the node's namespace. */
  node(lines: readonly string[]): Promise<void>;
  /** `ip` lines inside a slot's namespace. */
  inSlot(netns: string, lines: readonly string[]): Promise<void>;
  sysctl(netns: string, settings: readonly [string, string][]): Promise<void>;
  /** Names namespace `netns` also `alias`. */
  alias(netns: string, alias: string): Promise<void>;
  unalias(alias: string): Promise<void>;
}

export interface SlotNames {
  netns(n: number): string;
  hostIf(n: number): string;
}

/** A pod on a slot: its own name for the slot's namespace, its addresses, the slot. */
export interface AttachedPod extends PodWiring {
  readonly slot: PodSlot;
}

export interface SlotOptions {
  /** Idle slots beyond this many are destroyed at once. */
  readonly maxIdle: number;
  /** Idle slots are destroyed when no pod came or went for this long. */
  readonly idleMs: number;
}

export const DEFAULT_SLOT_OPTIONS: SlotOptions = { maxIdle: 64, idleMs: 2000 };

export class PodSlots {
  private readonly idle: PodSlot[] = [];
  private made = 0;
  private readonly existing = new Set<string>();
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly destroying = new Set<Promise<void>>();

  constructor(
    private readonly node: NodeWiring,
    private readonly topology: Topology,
    private readonly names: SlotNames,
    private readonly act: SlotActions,
    private readonly log: (line: string) => void,
    private readonly options: SlotOptions = DEFAULT_SLOT_OPTIONS,
  ) {}

  /** Namespaces of slots that exist (with a pod or idle). */
  get slotCount(): number {
    return this.existing.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * Gives the pod a slot named `netns` with its addresses, reachable from the node. On failure
   * nothing of it is left (the slot is destroyed).
   */
  async attach(netns: string, addresses: { ipv4?: string; ipv6?: string }): Promise<AttachedPod> {
    this.touch();
    const kept = this.idle.pop();
    const slot = kept ?? (await this.make());
    const pod: AttachedPod = { ...addresses, netns, hostIf: slot.hostIf, slot };
    let named = false;
    try {
      await this.act.alias(slot.netns, netns);
      named = true;
      await this.act.inSlot(slot.netns, [
        ...(kept ? [] : slotPodLines()),
        ...podSideLines(pod, this.node, this.topology),
      ]);
      await this.act.node(nodeRouteLines(pod, this.node, this.topology));
    } catch (e) {
      await this.act.node(nodeRouteCleanupLines(pod, this.topology)).catch(() => undefined);
      if (named) await this.act.unalias(netns).catch(() => undefined);
      await this.destroy(slot).catch(() => undefined);
      throw e;
    }
    return pod;
  }

  /**
   * Takes the pod off its slot. `reusable` is asked after the pod's name is gone (nothing can
   * enter the namespace by it any more): false destroys the slot instead of keeping it.
   */
  async detach(pod: AttachedPod, reusable: () => boolean): Promise<void> {
    // The node's side first: from here on nothing is routed to the pod.
    await this.act.node(nodeRouteCleanupLines(pod, this.topology)).catch(() => undefined);
    await this.act.unalias(pod.netns);
    let keep = reusable();
    if (keep) {
      try {
        await this.act.inSlot(pod.slot.netns, podSideCleanupLines(pod, this.node, this.topology));
      } catch (e) {
        this.log(`slot ${pod.slot.netns}: not kept, cleaning it failed: ${(e as Error).message}`);
        keep = false;
      }
    }
    if (!keep) {
      await this.destroy(pod.slot);
      return;
    }
    this.idle.push(pod.slot);
    // The idle clock starts when a slot becomes idle (a detach can outlast idleMs on a busy machine).
    this.touch();
    while (this.idle.length > this.options.maxIdle) this.track(this.destroy(this.idle.shift()!));
  }

  /** Destroys every idle slot and waits for every destruction under way. */
  async drain(): Promise<void> {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    for (const slot of this.idle.splice(0)) this.track(this.destroy(slot));
    while (this.destroying.size > 0) await Promise.all([...this.destroying]);
  }

  private touch(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      void this.drain();
    }, this.options.idleMs);
    this.drainTimer.unref();
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((e: unknown) => this.log(`destroying an idle slot: ${(e as Error).message}`))
      .finally(() => this.destroying.delete(tracked));
    this.destroying.add(tracked);
  }

  private async make(): Promise<PodSlot> {
    const n = this.made++;
    const slot: PodSlot = { netns: this.names.netns(n), hostIf: this.names.hostIf(n) };
    this.existing.add(slot.netns);
    try {
      await this.act.host([`netns add ${slot.netns}`]);
      const sysctls = slotSysctls(this.node);
      if (sysctls.length > 0) await this.act.sysctl(slot.netns, sysctls);
      await this.act.node(slotNodeLines(slot, this.node, this.topology));
      const nodeSysctls = slotNodeSysctls(slot, this.topology);
      if (nodeSysctls.length > 0) await this.act.sysctl(this.node.ns, nodeSysctls);
    } catch (e) {
      await this.destroy(slot).catch(() => undefined);
      throw e;
    }
    return slot;
  }

  /** Deletes the slot's namespace (its veth goes with it); one that is not there is gone already. */
  private async destroy(slot: PodSlot): Promise<void> {
    try {
      await this.act.host([`netns del ${slot.netns}`]);
    } catch (e) {
      if (!/No such file/.test((e as Error).message)) throw e;
    }
    this.existing.delete(slot.netns);
  }
}
