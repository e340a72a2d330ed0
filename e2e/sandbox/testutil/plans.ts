/**
 * Small plans for the sandbox tests. Fixed ranges: nodes 172.18.0.0/24 and fd00:18::/64, pods
 * 10.244.<node>.0/24 and fd00:244:<node>::/64, external hosts in TEST-NET-3 and 2001:db8::/32.
 */
import type { PlanPod, SandboxPlan } from '../plan';

export interface TestPlanOptions {
  readonly dualStack?: boolean;
}

/**
 * 2 nodes, 4 pods (x/a and x/b on node-a; y/c and hostNetwork y/host on node-b), one external
 * host (two when dual-stack: one per family); probes 80/TCP, 81/UDP, 82/SCTP.
 */
export function smallPlan(opts: TestPlanOptions = {}): SandboxPlan {
  const v6 = opts.dualStack === true;
  const pod = (key: string, node: string, n: number, octet: number, hostNetwork = false): PlanPod => ({
    key,
    node,
    hostNetwork,
    ipv4: hostNetwork ? `172.18.0.${n + 1}` : `10.244.${n}.${octet}`,
    ...(v6 ? { ipv6: hostNetwork ? `fd00:18::${n + 1}` : `fd00:244:${n}::${octet}` } : {}),
  });
  return {
    nodes: [
      { name: 'node-a', ipv4: '172.18.0.2', ...(v6 ? { ipv6: 'fd00:18::2' } : {}) },
      { name: 'node-b', ipv4: '172.18.0.3', ...(v6 ? { ipv6: 'fd00:18::3' } : {}) },
    ],
    pods: [
      pod('x/a', 'node-a', 1, 2),
      pod('x/b', 'node-a', 1, 3),
      pod('y/c', 'node-b', 2, 2),
      pod('y/host', 'node-b', 2, 0, true),
    ],
    externals: v6 ? ['203.0.113.10', '2001:db8::10'] : ['203.0.113.10'],
    probes: [
      { port: 80, protocol: 'TCP' },
      { port: 81, protocol: 'UDP' },
      { port: 82, protocol: 'SCTP' },
    ],
  };
}
