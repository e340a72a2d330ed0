/**
 * Kubernetes objects for tests, as an API client would send them: small factories with tweaks.
 *   pod('x/a', { labels: { app: 'web' }, ip: '10.244.1.2', node: 'node-a' })
 *   namespace('x', { team: 'x' })
 *   policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] })
 */
import type { KubeObject } from '../../../e2e/apiserver';

export interface PodTweaks {
  labels?: Record<string, string>;
  ip?: string;
  node?: string;
  annotations?: Record<string, string>;
  phase?: string;
  ports?: Array<{ name: string; containerPort: number; protocol?: string }>;
  hostNetwork?: boolean;
}

function split(key: string): [string, string] {
  const [ns, name] = key.split('/');
  return [ns, name];
}

export function pod(key: string, t: PodTweaks = {}): KubeObject {
  const [namespace, name] = split(key);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace,
      name,
      labels: t.labels ?? {},
      ...(t.annotations ? { annotations: t.annotations } : {}),
    },
    spec: {
      nodeName: t.node ?? 'node-a',
      hostNetwork: t.hostNetwork ?? false,
      containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10', ports: t.ports ?? [] }],
    },
    status: t.ip
      ? { phase: t.phase ?? 'Running', podIP: t.ip, podIPs: [{ ip: t.ip }] }
      : { phase: t.phase ?? 'Pending' },
  } as unknown as KubeObject;
}

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } as unknown as KubeObject;
}

export function policy(key: string, spec: Record<string, unknown>): KubeObject {
  const [ns, name] = split(key);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: ns, name },
    spec,
  } as unknown as KubeObject;
}
