/**
 * The kubelet and CNI of one sandbox node: every pod bound to the node is wired into the
 * node's topology (pod-network.ts), gets its endpoint (the node's pod endpoint host serves its
 * container ports and the sandbox's probe ports), and its status says Running and Ready; a pod
 * being deleted is stopped (its endpoint closed, the processes exec'd into it ended within the
 * grace period) and unwired (namespace, veth, routes, addresses) before the kubelet deletes the
 * object. Operations on one pod run one after another; pods proceed in parallel.
 *
 *   pod bound here ──▶ address (pool / scenario reservation) ──▶ a slot (pod-slots.ts: a kept
 *     namespace with its veth, or a new one) named as the pod ──▶ pod addresses + routes
 *     ──▶ node routes ──▶ endpoint sockets ──▶ status Running/Ready
 *   deletionTimestamp ──▶ endpoint closed ──▶ exec'd processes stopped (if the API server marked
 *     an exec into it) ──▶ node routes deleted ──▶ the pod's name of the namespace removed
 *     ──▶ slot cleaned and kept (or destroyed) ──▶ addresses released ──▶ DELETE (grace 0)
 *
 * The `ip` work of many pods shares processes (ip-batcher.ts): one `ip -batch` for the node's
 * side of every pod whose turn it is, one for namespaces made and deleted.
 *
 * hostNetwork pods share the node's namespace: their ports are served by the node's endpoint,
 * and the sandbox's agent pods are handed to the agent supervisor.
 */
import type { ControlClient } from '../control-client';
import { livePodNetns, livePodSlotHostIf, livePodSlotNetns } from '../names';
import { INNER_IF } from '../topology';
import type { AddressPool } from './address-pool';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_LABEL, execMarkPath, type LiveClusterConfig, type LiveNode, type PodRecord } from './config';
import { KubeApiError, type Json, type KubeRest } from './kube-rest';
import { stopNetnsProcesses } from './netns-processes';
import type { NodeWiring } from './pod-network';
import { PodSlots, type AttachedPod } from './pod-slots';
import { pendingStatus, runningStatus } from './pod-status';
import { slotActions } from './slot-actions';

export interface AgentRunner {
  /** Takes over an agent pod: runs and supervises its process, writes its status. */
  adopt(pod: Json): void;
  /** The agent pod is being deleted: stop the process. */
  stop(uid: string): Promise<void>;
}

interface WiredPod {
  readonly uid: string;
  readonly key: string;
  readonly hostNetwork: boolean;
  readonly wiring?: AttachedPod;
  readonly ips: readonly string[];
  readonly servedPorts: Set<string>;
  readonly startTime: string;
  /** The Running status is in the API (a failed write is retried by the next reconcile). */
  statusWritten?: boolean;
}

type Port = { port: number; protocol: 'TCP' | 'UDP' };

function metaOf(pod: Json): {
  name: string;
  namespace: string;
  uid: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  deletionGracePeriodSeconds?: number;
} {
  return (pod.metadata ?? {}) as ReturnType<typeof metaOf>;
}

function specOf(pod: Json): {
  hostNetwork?: boolean;
  containers?: { ports?: { containerPort: number; protocol?: string }[] }[];
  terminationGracePeriodSeconds?: number;
} {
  return (pod.spec ?? {}) as ReturnType<typeof specOf>;
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Kubelet {
  private readonly pods = new Map<string, WiredPod>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, number>();
  private readonly slots: PodSlots;

  constructor(
    readonly node: LiveNode,
    private readonly config: LiveClusterConfig,
    private readonly api: KubeRest,
    private readonly podHost: ControlClient,
    private readonly nodeEndpoint: ControlClient,
    private readonly pool: AddressPool,
    private readonly agents: AgentRunner | undefined,
    private readonly log: (line: string) => void,
  ) {
    const wiring: NodeWiring = {
      ns: node.ns,
      ipv4: node.ipv4,
      ipv6: node.ipv6,
      ipv6Pods: node.podCIDRs.some((c) => c.includes(':')),
      onLink: [...node.podCIDRs, ...node.onLinkExtra],
      offLink: node.offLink,
    };
    const nodeNumber = config.nodes.findIndex((n) => n.name === node.name) + 1;
    this.slots = new PodSlots(
      wiring,
      config.topology,
      {
        netns: (n) => livePodSlotNetns(config.id, nodeNumber, n),
        hostIf: (n) => livePodSlotHostIf(config.id, nodeNumber, n),
      },
      slotActions(node.ns, podHost),
      log,
    );
  }

  get wiredCount(): number {
    return this.pods.size;
  }

  /** Addresses in use on this node (leak checks). */
  addresses(): string[] {
    return [...this.pods.values()].flatMap((p) => (p.hostNetwork ? [] : p.ips));
  }

  /** A pod bound to this node was added or changed (from the pod watch). */
  observe(pod: Json): void {
    const { uid } = metaOf(pod);
    this.serial(uid, () => this.reconcile(pod), pod);
  }

  /** A pod of this node is gone from the API (force-deleted): unwire it if still wired. */
  forget(pod: Json): void {
    const { uid } = metaOf(pod);
    this.serial(uid, async () => {
      if (this.pods.has(uid)) await this.teardown(pod, 0, false);
    });
  }

  /** Resolves when every operation queued so far has finished. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /**
   * Runs `work` after the pod's earlier operations. A failure (an API call that timed out on a
   * busy machine, say) is retried with backoff from the pod as the API server has it then: the
   * kubelet is level-triggered, like upstream's pod workers.
   */
  private serial(uid: string, work: () => Promise<void>, pod?: Json): void {
    const next = (this.chains.get(uid) ?? Promise.resolve())
      .then(work)
      .then(
        () => {
          this.failures.delete(`op:${uid}`);
        },
        (e: unknown) => {
          const tries = (this.failures.get(`op:${uid}`) ?? 0) + 1;
          this.failures.set(`op:${uid}`, tries);
          this.log(`pod ${uid}: ${(e as Error).message} (try ${tries}; retrying)`);
          if (pod) setTimeout(() => void this.retry(pod), Math.min(200 * 2 ** tries, 5000));
        },
      )
      .finally(() => {
        if (this.chains.get(uid) === next) this.chains.delete(uid);
      });
    this.chains.set(uid, next);
  }

  private async retry(pod: Json): Promise<void> {
    const m = metaOf(pod);
    try {
      const current = await this.api.get(`/api/v1/namespaces/${m.namespace}/pods/${m.name}`);
      if (metaOf(current).uid === m.uid) this.observe(current);
      else this.forget(pod);
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) this.forget(pod);
      else setTimeout(() => void this.retry(pod), 1000);
    }
  }

  private async reconcile(pod: Json): Promise<void> {
    const m = metaOf(pod);
    const wired = this.pods.get(m.uid);
    const isAgent = m.labels?.[AGENT_LABEL] === 'true';
    if (m.deletionTimestamp) {
      const grace = (m.deletionGracePeriodSeconds ?? specOf(pod).terminationGracePeriodSeconds ?? 30) * 1000;
      if (isAgent) await this.agents?.stop(m.uid);
      await this.teardown(pod, grace, true);
      return;
    }
    if (isAgent && this.agents) {
      if (!wired) {
        this.pods.set(m.uid, {
          uid: m.uid,
          key: `${m.namespace}/${m.name}`,
          hostNetwork: true,
          ips: [],
          servedPorts: new Set(),
          startTime: timestamp(),
        });
        this.agents.adopt(pod);
      }
      return;
    }
    if (!wired) {
      await this.setUp(pod);
      return;
    }
    await this.servePorts(wired, pod);
    if (!wired.statusWritten) await this.writeRunning(pod, wired);
  }

  private wantedPorts(pod: Json): Port[] {
    const out = new Map<string, Port>();
    for (const c of specOf(pod).containers ?? []) {
      for (const p of c.ports ?? []) {
        const protocol = (p.protocol ?? 'TCP') as string;
        if (protocol === 'TCP' || protocol === 'UDP')
          out.set(`${p.containerPort}/${protocol}`, { port: p.containerPort, protocol });
      }
    }
    for (const p of this.config.probePorts) {
      if (p.protocol !== 'SCTP') out.set(`${p.port}/${p.protocol}`, { port: p.port, protocol: p.protocol });
    }
    return [...out.values()];
  }

  private async servePorts(wired: WiredPod, pod: Json): Promise<void> {
    const missing = this.wantedPorts(pod).filter((p) => !wired.servedPorts.has(`${p.port}/${p.protocol}`));
    if (missing.length === 0) return;
    if (wired.hostNetwork) await this.nodeEndpoint.request({ op: 'serve', ports: missing });
    else await this.podHost.send({ op: 'serve', pod: wired.uid, ports: missing });
    for (const p of missing) wired.servedPorts.add(`${p.port}/${p.protocol}`);
  }

  private addressesFor(key: string): string[] | undefined {
    const reservation = this.config.reserved.find((r) => r.key === key);
    if (
      reservation &&
      reservation.node === this.node.name &&
      !reservation.ips.some((ip) => this.pool.isUsed(ip))
    ) {
      this.pool.take(reservation.ips);
      return [...reservation.ips];
    }
    return this.pool.allocate(key);
  }

  private async setUp(pod: Json): Promise<void> {
    const m = metaOf(pod);
    const key = `${m.namespace}/${m.name}`;
    const startTime = timestamp();
    if (specOf(pod).hostNetwork) {
      const ips = [this.node.ipv4, this.node.ipv6].filter((ip): ip is string => ip !== undefined);
      const wired: WiredPod = { uid: m.uid, key, hostNetwork: true, ips, servedPorts: new Set(), startTime };
      await this.servePorts(wired, pod);
      this.pods.set(m.uid, wired);
      await this.writeRunning(pod, wired);
      return;
    }
    const ips = this.addressesFor(key);
    if (!ips) {
      await this.writeStatus(
        pod,
        pendingStatus(
          pod,
          'ContainerCreating',
          `no free address in ${this.node.podCIDRs.join(', ')}`,
          startTime,
        ),
      );
      return;
    }
    const netns = livePodNetns(this.config.id, m.namespace, m.name, m.uid);
    const addresses = {
      ...(ips.find((ip) => !ip.includes(':')) ? { ipv4: ips.find((ip) => !ip.includes(':')) } : {}),
      ...(ips.find((ip) => ip.includes(':')) ? { ipv6: ips.find((ip) => ip.includes(':')) } : {}),
    };
    const record = (stage: PodRecord['stage']): void =>
      this.announce({
        namespace: m.namespace,
        name: m.name,
        uid: m.uid,
        node: this.node.name,
        netns,
        ips,
        stage,
        at: Date.now(),
      });
    // Announced before anything exists: a test can probe the address from its first instant.
    record('wiring');
    let wired: WiredPod;
    let wiring: AttachedPod | undefined;
    try {
      const began = Date.now();
      wiring = await this.slots.attach(netns, addresses);
      wired = { uid: m.uid, key, hostNetwork: false, wiring, ips, servedPorts: new Set(), startTime };
      if (process.env.PALISADE_KUBELET_TIMINGS === '1')
        this.log(
          `${netns}: attached in ${Date.now() - began} ms (${this.slots.slotCount} slots, ${this.slots.idleCount} idle)`,
        );
      record('wired');
      const ports = this.wantedPorts(pod);
      // Bridged: the pod's neighbours may still map its addresses to an earlier pod's MAC.
      const announce = this.config.topology === 'bridge' ? { ifname: INNER_IF, ips } : undefined;
      await this.podHost.send({ op: 'add', pod: m.uid, netns, ports, ...(announce ? { announce } : {}) });
      for (const p of ports) wired.servedPorts.add(`${p.port}/${p.protocol}`);
    } catch (e) {
      if (wiring) await this.slots.detach(wiring, () => false).catch(() => undefined);
      this.forgetRecord(m.uid);
      this.pool.release(ips);
      const failures = (this.failures.get(m.uid) ?? 0) + 1;
      this.failures.set(m.uid, failures);
      this.log(`pod ${key}: setting up failed (try ${failures}): ${(e as Error).message}`);
      await this.writeStatus(
        pod,
        pendingStatus(pod, 'ContainerCreating', `FailedCreatePodSandBox: ${(e as Error).message}`, startTime),
      ).catch(() => undefined);
      await sleep(Math.min(250 * 2 ** failures, 5000));
      const current = await this.api
        .get(`/api/v1/namespaces/${m.namespace}/pods/${m.name}`)
        .catch(() => undefined);
      if (current && metaOf(current).uid === m.uid) this.observe(current);
      return;
    }
    this.failures.delete(m.uid);
    this.pods.set(m.uid, wired);
    await this.writeRunning(pod, wired);
  }

  private async writeRunning(pod: Json, wired: WiredPod): Promise<void> {
    const hostIPs = [this.node.ipv4, this.node.ipv6].filter((ip): ip is string => ip !== undefined);
    await this.writeStatus(
      pod,
      runningStatus(pod, { podIPs: wired.ips, hostIPs, startTime: wired.startTime, now: timestamp() }),
    );
    wired.statusWritten = true;
  }

  /** Stops and unwires a pod, then (when it is still in the API) deletes its object. */
  private async teardown(pod: Json, graceMs: number, deleteObject: boolean): Promise<void> {
    const m = metaOf(pod);
    const wired = this.pods.get(m.uid);
    if (wired && !wired.hostNetwork && wired.wiring) {
      await this.podHost.send({ op: 'remove', pod: m.uid });
      const execMark = execMarkPath(this.config.podsDir, m.uid);
      if (existsSync(execMark)) await stopNetnsProcesses(wired.wiring.netns, graceMs);
      const began = Date.now();
      // Kept only if nothing was exec'd into it: the mark is written before any exec starts.
      await this.slots.detach(wired.wiring, () => !existsSync(execMark));
      if (process.env.PALISADE_KUBELET_TIMINGS === '1')
        this.log(`${wired.wiring.netns}: detached in ${Date.now() - began} ms`);
      rmSync(execMark, { force: true });
      this.forgetRecord(m.uid);
      this.pool.release(wired.ips);
    }
    this.pods.delete(m.uid);
    this.failures.delete(m.uid);
    if (!deleteObject) return;
    try {
      await this.api.delete(`/api/v1/namespaces/${m.namespace}/pods/${m.name}`, {
        gracePeriodSeconds: 0,
        preconditions: { uid: m.uid },
      });
    } catch (e) {
      if (!(e instanceof KubeApiError && (e.status === 404 || e.status === 409))) throw e;
    }
  }

  /** Writes the pod's record atomically (rename), so a reader never sees half of it. */
  private announce(record: PodRecord): void {
    const file = join(this.config.podsDir, `${record.uid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(record));
    renameSync(`${file}.tmp`, file);
  }

  private forgetRecord(uid: string): void {
    rmSync(join(this.config.podsDir, `${uid}.json`), { force: true });
  }

  private async writeStatus(pod: Json, status: Json): Promise<void> {
    const m = metaOf(pod);
    try {
      await this.api.mergePatch(`/api/v1/namespaces/${m.namespace}/pods/${m.name}/status`, {
        metadata: { uid: m.uid },
        status,
      });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return;
      throw e;
    }
  }
}
