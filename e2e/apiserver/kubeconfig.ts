/** Writes a kubeconfig that points kubectl or client libraries at a plain-HTTP test server (no auth). */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  contextName?: string;
  namespace?: string;
}

export function kubeconfigYaml(serverUrl: string, options: KubeconfigOptions = {}): string {
  const name = options.contextName ?? 'palisade-test';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    // @kubernetes/client-node 2.x refuses plain http:// unless TLS verification is marked skipped;
    // kubectl ignores the flag for http.
    clusters: [{ name, cluster: { server: serverUrl, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: {} }],
    contexts: [
      {
        name,
        context: {
          cluster: name,
          user: name,
          ...(options.namespace ? { namespace: options.namespace } : {}),
        },
      },
    ],
    'current-context': name,
    preferences: {},
  });
}

export function writeKubeconfig(path: string, serverUrl: string, options: KubeconfigOptions = {}): void {
  writeFileSync(path, kubeconfigYaml(serverUrl, options), { mode: 0o600 });
}
