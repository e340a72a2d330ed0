/** Writes a kubeconfig (mode 0600) that points kubectl or client libraries at a plain-HTTP test server. */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  contextName?: string;
  namespace?: string;
  /** The bearer token of a server that requires one. */
  token?: string;
  /** PEM CA of an HTTPS server (certificate-authority-data). */
  certificateAuthority?: string;
}

export function kubeconfigYaml(serverUrl: string, options: KubeconfigOptions = {}): string {
  const name = options.contextName ?? 'palisade-test';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    // @kubernetes/client-node 2.x refuses plain http:// unless TLS verification is marked skipped;
    // kubectl ignores the flag for http.
    clusters: [
      {
        name,
        cluster: options.certificateAuthority
          ? {
              server: serverUrl,
              'certificate-authority-data': Buffer.from(options.certificateAuthority).toString('base64'),
            }
          : { server: serverUrl, 'insecure-skip-tls-verify': true },
      },
    ],
    users: [{ name, user: options.token ? { token: options.token } : {} }],
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
