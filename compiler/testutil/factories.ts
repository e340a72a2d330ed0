/**
 * Small factories for compiler tests: `pod('x/a', { labels: {...}, ip: '10.0.0.1' })`,
 * `policy('x/deny', { ... spec ... })`. Test addresses: pods 10.0.0.0/16 and fd00::/64.
 */
import type {
  ClusterSnapshot,
  NamedPort,
  NamespaceInfo,
  NetworkPolicySpec,
  PodInfo,
  PolicyInfo,
  Protocol,
} from '../model';
import { compileSnapshot } from '../incremental';
import { verdict } from '../verdict';
import type { Endpoint, Verdict } from '../verdict-types';

export function ns(name: string, labels: Record<string, string> = {}): NamespaceInfo {
  return { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } };
}

let autoIP = 1;

export interface PodTweaks {
  labels?: Record<string, string>;
  ip?: string;
  ips?: string[];
  node?: string;
  hostNetwork?: boolean;
  phase?: string;
  ports?: Array<[string, number, Protocol?]>;
}

export function pod(key: string, t: PodTweaks = {}): PodInfo {
  const [namespace, name] = key.split('/');
  const ips = t.ips ?? [t.ip ?? `10.0.${Math.floor(autoIP / 250)}.${(autoIP++ % 250) + 1}`];
  const namedPorts: NamedPort[] = (t.ports ?? []).map(([n, port, protocol]) => ({
    name: n,
    port,
    protocol: protocol ?? 'TCP',
  }));
  return {
    namespace,
    name,
    labels: t.labels ?? {},
    nodeName: t.node ?? 'node-1',
    ips,
    hostNetwork: t.hostNetwork ?? false,
    phase: t.phase ?? 'Running',
    namedPorts,
  };
}

export function policy(key: string, spec: NetworkPolicySpec): PolicyInfo {
  const [namespace, name] = key.split('/');
  return { namespace, name, spec };
}

export function snapshot(
  namespaces: NamespaceInfo[],
  pods: PodInfo[],
  policies: PolicyInfo[] = [],
): ClusterSnapshot {
  return { namespaces, pods, policies };
}

export function endpoint(s: string): Endpoint {
  return s.includes('/') ? { kind: 'pod', key: s } : { kind: 'ip', ip: s };
}

/** The verdict of `from` → `to` on "80/TCP"-style probe text. */
export function check(s: ClusterSnapshot, from: string, to: string, probe = '80/TCP'): Verdict {
  const [port, protocol] = probe.split('/');
  return verdict(compileSnapshot(s), endpoint(from), endpoint(to), {
    port: Number(port),
    protocol: protocol as Protocol,
  });
}

export function allowed(s: ClusterSnapshot, from: string, to: string, probe = '80/TCP'): boolean {
  return check(s, from, to, probe).allowed;
}
