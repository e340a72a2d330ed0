/**
 * A self-signed certificate for the test API server. Why TLS at all on a test server: kubectl
 * (client-go's clientcmd) sends credentials only over TLS, so a server that requires a token
 * must speak HTTPS for kubectl to authenticate. The certificate is its own CA: a kubeconfig
 * carries it as certificate-authority-data. Made by the openssl command (argv, no shell).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsMaterial {
  /** PEM certificate: the server's, and the CA clients trust. */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
}

/** A fresh P-256 certificate valid for 30 days for the given IP addresses and DNS names. */
export function selfSignedCertificate(
  ips: readonly string[],
  dnsNames: readonly string[] = ['localhost'],
): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-tls-'));
  try {
    const san = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((d) => `DNS:${d}`)].join(',');
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '30',
        '-subj',
        '/CN=palisade-test-apiserver',
        '-addext',
        `subjectAltName=${san}`,
      ],
      { encoding: 'utf8' },
    );
    if (r.error || r.status !== 0)
      throw new Error(`openssl could not make a certificate: ${r.error?.message ?? r.stderr.trim()}`);
    return {
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
