/**
 * `palisade sandbox status`: a kept sandbox as its state file and its API server describe it —
 * where the API server is and the kubeconfig, its processes, nodes, the agents (supervised as a
 * DaemonSet's pods: readiness and restarts from their pod status) and every other pod.
 */
import { StateStore, isRunning, type SandboxState } from '../../../e2e/sandbox/state-access';
import { AGENT_LABEL } from '../../../e2e/sandbox/live/config';
import { KubeRest, type Json } from '../../../e2e/sandbox/live/kube-rest';

export interface SandboxStatus {
  readonly id: string;
  readonly topology: string;
  readonly phase: string;
  readonly kept: boolean;
  readonly createdAt: string;
  readonly apiServer?: { readonly local?: string; readonly inside?: string };
  readonly kubeconfig?: string;
  readonly processes: { readonly role: string; readonly pid: number; readonly running: boolean }[];
  readonly nodes: {
    readonly name: string;
    readonly addresses: string[];
    readonly podCIDRs: string[];
    readonly ready: boolean;
  }[];
  readonly agents: {
    readonly node: string;
    readonly pod: string;
    readonly ready: boolean;
    readonly restarts: number;
    readonly state: string;
  }[];
  readonly pods: {
    readonly pod: string;
    readonly node: string;
    readonly phase: string;
    readonly ready: string;
    readonly ips: string[];
  }[];
  /** Why nodes, agents and pods are missing (the API server did not answer). */
  readonly apiError?: string;
}

function conditionTrue(o: Json, type: string): boolean {
  const conditions = ((o.status as Json | undefined)?.conditions ?? []) as {
    type?: string;
    status?: string;
  }[];
  return conditions.some((c) => c.type === type && c.status === 'True');
}

function containerStatuses(pod: Json): Json[] {
  return ((pod.status as Json | undefined)?.containerStatuses ?? []) as Json[];
}

function stateOf(pod: Json): string {
  if ((pod.metadata as Json).deletionTimestamp) return 'Terminating';
  const c = containerStatuses(pod)[0];
  const state = (c?.state ?? {}) as Record<string, Json>;
  if (state.waiting) return String(state.waiting.reason ?? 'Waiting');
  if (state.running) return `running since ${String(state.running.startedAt ?? '?')}`;
  return String((pod.status as Json | undefined)?.phase ?? 'Pending');
}

export async function sandboxStatus(store: StateStore): Promise<SandboxStatus> {
  const s: SandboxState = store.state;
  const base = {
    id: s.id,
    topology: s.topology,
    phase: s.phase,
    kept: s.kept,
    createdAt: s.createdAt,
    ...(s.localApiServerUrl || s.apiServerUrl
      ? { apiServer: { local: s.localApiServerUrl, inside: s.apiServerUrl } }
      : {}),
    ...(s.kubeconfig ? { kubeconfig: s.kubeconfig } : {}),
    processes: s.processes.map((p) => ({ role: p.role, pid: p.pid, running: isRunning(p) })),
  };
  if (!s.kubeconfig) return { ...base, nodes: [], agents: [], pods: [], apiError: 'no API server' };
  const api = KubeRest.fromKubeconfig(s.kubeconfig);
  try {
    const [nodes, pods] = await Promise.all([api.list('/api/v1/nodes'), api.list('/api/v1/pods')]);
    const isAgent = (p: Json): boolean =>
      ((p.metadata as Json).labels as Record<string, string> | undefined)?.[AGENT_LABEL] === 'true';
    const name = (p: Json): string =>
      `${String((p.metadata as Json).namespace)}/${String((p.metadata as Json).name)}`;
    return {
      ...base,
      nodes: nodes.items.map((n) => ({
        name: String((n.metadata as Json).name),
        addresses: (((n.status as Json | undefined)?.addresses ?? []) as { type: string; address: string }[])
          .filter((a) => a.type !== 'Hostname')
          .map((a) => a.address),
        podCIDRs: (((n.spec as Json | undefined)?.podCIDRs ?? []) as string[]).map(String),
        ready: conditionTrue(n, 'Ready'),
      })),
      agents: pods.items.filter(isAgent).map((p) => ({
        node: String((p.spec as Json).nodeName),
        pod: name(p),
        ready: conditionTrue(p, 'Ready'),
        restarts: containerStatuses(p).reduce((sum, c) => sum + Number(c.restartCount ?? 0), 0),
        state: stateOf(p),
      })),
      pods: pods.items
        .filter((p) => !isAgent(p))
        .map((p) => {
          const cs = containerStatuses(p);
          return {
            pod: name(p),
            node: String((p.spec as Json).nodeName ?? '') || '<none>',
            phase: (p.metadata as Json).deletionTimestamp
              ? 'Terminating'
              : String((p.status as Json | undefined)?.phase ?? 'Pending'),
            ready: `${cs.filter((c) => c.ready === true).length}/${((p.spec as Json).containers as unknown[] | undefined)?.length ?? 0}`,
            ips: (((p.status as Json | undefined)?.podIPs ?? []) as { ip: string }[]).map((x) => x.ip),
          };
        }),
    };
  } catch (e) {
    return { ...base, nodes: [], agents: [], pods: [], apiError: (e as Error).message };
  } finally {
    await api.close();
  }
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return (
    [header, ...rows]
      .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
      .join('\n') + '\n'
  );
}

export function renderSandboxStatus(s: SandboxStatus): string {
  let out = `Sandbox ${s.id} (${s.topology}, ${s.phase}${s.kept ? ', kept' : ''}), built ${s.createdAt}\n`;
  if (s.apiServer)
    out += `  API server:  ${s.apiServer.local ?? '-'} (inside the sandbox: ${s.apiServer.inside ?? '-'})\n`;
  if (s.kubeconfig)
    out += `  kubeconfig:  ${s.kubeconfig}   (kubectl --kubeconfig ${s.kubeconfig} get pods -A)\n`;
  const down = s.processes.filter((p) => !p.running);
  out += `  processes:   ${s.processes.length - down.length} of ${s.processes.length} running${down.length ? `; not running: ${down.map((p) => p.role).join(', ')}` : ''}\n`;
  if (s.apiError) return out + `  API server did not answer: ${s.apiError}\n`;
  out +=
    '\n' +
    table(
      ['NODE', 'READY', 'ADDRESSES', 'POD CIDRS'],
      s.nodes.map((n) => [
        n.name,
        String(n.ready),
        n.addresses.join(',') || '-',
        n.podCIDRs.join(',') || '-',
      ]),
    );
  if (s.agents.length > 0)
    out +=
      '\n' +
      table(
        ['AGENT', 'POD', 'READY', 'RESTARTS', 'STATE'],
        s.agents.map((a) => [a.node, a.pod, String(a.ready), String(a.restarts), a.state]),
      );
  out +=
    '\n' +
    table(
      ['POD', 'NODE', 'STATUS', 'READY', 'IPS'],
      s.pods.map((p) => [p.pod, p.node, p.phase, p.ready, p.ips.join(',') || '-']),
    );
  return out;
}
