/**
 * What the soak reads of each agent: its `/v1/status` on the debug socket (a Unix socket in the
 * sandbox's state directory, reachable from the host whatever namespace the agent runs in).
 *
 * The predicates say when an agent has enforced something, from what the status shows:
 *   - a write at resourceVersion R of resource X is *seen* once the agent's X watch is at R or
 *     later (watch events arrive in revision order; a bookmark at R means everything up to R
 *     arrived; a relist at R or later includes it);
 *   - it is *applied* once it is seen and the agent is idle: no event pending, no apply running,
 *     the last apply not failed (a failed apply keeps its events pending, so idle means the apply
 *     that covered the event succeeded, or the event changed nothing the agent enforces);
 *   - an agent has *caught up* with R when every watch it holds is watching at R or later and it
 *     is idle (after an API server restart or a watch expiry: it relisted and applied).
 *
 * `AgentStatusPoller` polls only while someone waits, one loop per agent, however many waiters.
 */
import { debugGet } from '../conformance/agent-sync';

export interface AgentStatus {
  readonly backend?: string;
  /** nft or legacy (the iptables backend's variant). */
  readonly iptablesBackend?: string;
  readonly startedAt?: string;
  readonly ready?: boolean;
  readonly watches?: readonly {
    readonly resource: string;
    readonly state: string;
    readonly resourceVersion: string;
    readonly served?: boolean;
  }[];
  readonly runner?: {
    readonly pendingEvents: number;
    readonly running: 'apply' | 'repair' | null;
    readonly applies: number;
    readonly applyErrors: number;
    readonly consecutiveFailures: number;
    readonly lastApply: { readonly at: number; readonly durationMs: number } | null;
    readonly lastRepaired: { readonly at: number } | null;
    readonly repairs: number;
  } | null;
}

function revision(rv: string | undefined): number {
  const n = Number(rv);
  return rv === undefined || rv === '' || !Number.isFinite(n) ? -1 : n;
}

/** The agent's watch of `resource` is at `rv` or later. */
export function hasSeen(s: AgentStatus, resource: string, rv: string): boolean {
  const w = s.watches?.find((x) => x.resource === resource);
  return w !== undefined && revision(w.resourceVersion) >= revision(rv);
}

/** Nothing pending, nothing being applied, the last apply did not fail. */
export function isIdle(s: AgentStatus): boolean {
  const r = s.runner;
  return (
    s.ready === true &&
    r !== null &&
    r !== undefined &&
    r.pendingEvents === 0 &&
    r.running !== 'apply' &&
    r.consecutiveFailures === 0
  );
}

export function hasApplied(s: AgentStatus, resource: string, rv: string): boolean {
  return hasSeen(s, resource, rv) && isIdle(s);
}

/** Every watch the agent holds (a resource not served counts as held) is at `rv` or later, and it is idle. */
export function hasCaughtUp(s: AgentStatus, rv: string): boolean {
  const watches = s.watches ?? [];
  return (
    watches.length > 0 &&
    watches.every(
      (w) => w.served === false || (w.state === 'watching' && revision(w.resourceVersion) >= revision(rv)),
    ) &&
    isIdle(s)
  );
}

export function readStatus(socket: string, timeoutMs = 2000): Promise<AgentStatus> {
  return debugGet<AgentStatus>(socket, '/v1/status', timeoutMs);
}

/** The agent's differences between kernel and desired state (it reads the kernel; repairs nothing). */
export async function readDrift(socket: string, timeoutMs = 5000): Promise<readonly string[]> {
  return (await debugGet<{ differences?: string[] }>(socket, '/v1/drift', timeoutMs)).differences ?? [];
}

interface Waiter {
  readonly test: (s: AgentStatus) => boolean;
  readonly deadline: number;
  readonly resolve: (seen: { at: number; status: AgentStatus } | undefined) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class AgentStatusPoller {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly loops = new Set<string>();

  constructor(
    private readonly sockets: ReadonlyMap<string, string>,
    private readonly intervalMs = 25,
  ) {}

  /** One read of `node`'s status; undefined while its agent does not answer (restarting). */
  async read(node: string): Promise<AgentStatus | undefined> {
    const socket = this.sockets.get(node);
    if (!socket) throw new Error(`no agent on ${node}`);
    return readStatus(socket).catch(() => undefined);
  }

  /** `node`'s drift (kernel against desired state); undefined while its agent does not answer. */
  async drift(node: string): Promise<readonly string[] | undefined> {
    const socket = this.sockets.get(node);
    if (!socket) throw new Error(`no agent on ${node}`);
    return readDrift(socket).catch(() => undefined);
  }

  /**
   * Resolves with the time (epoch ms) of the first read of `node`'s status for which `test`
   * holds, or undefined after `timeoutMs`.
   */
  async waitFor(
    node: string,
    test: (s: AgentStatus) => boolean,
    timeoutMs: number,
  ): Promise<number | undefined> {
    return (await this.waitForStatus(node, test, timeoutMs))?.at;
  }

  /** As waitFor, with the status read that satisfied `test`. */
  waitForStatus(
    node: string,
    test: (s: AgentStatus) => boolean,
    timeoutMs: number,
  ): Promise<{ at: number; status: AgentStatus } | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(node);
      if (!set) this.waiters.set(node, (set = new Set()));
      set.add({ test, deadline: Date.now() + timeoutMs, resolve });
      if (!this.loops.has(node)) void this.loop(node);
    });
  }

  /** Ends every wait (undefined), e.g. when the soak stops. */
  cancelAll(): void {
    for (const set of this.waiters.values()) {
      for (const w of set) w.resolve(undefined);
      set.clear();
    }
  }

  private async loop(node: string): Promise<void> {
    this.loops.add(node);
    try {
      const set = this.waiters.get(node)!;
      while (set.size > 0) {
        const status = await this.read(node);
        const at = Date.now();
        for (const w of [...set]) {
          if (status && w.test(status)) {
            set.delete(w);
            w.resolve({ at, status });
          } else if (at >= w.deadline) {
            set.delete(w);
            w.resolve(undefined);
          }
        }
        if (set.size > 0) await sleep(this.intervalMs);
      }
    } finally {
      this.loops.delete(node);
    }
  }
}
