/**
 * Parsers for command-line values shared by several commands: probes ("80/TCP"), endpoints
 * ("ns/pod" or an IP address) and repeatable options. They throw commander's
 * InvalidArgumentError, which commander reports as a usage error (exit status 2).
 */
import { InvalidArgumentError } from 'commander';
import { PROTOCOLS, type Probe, type Protocol } from '../../compiler';
import { canonicalIP } from '../../compiler/validate';

/** "80", "80/TCP", "53/udp" -> a probe; the protocol defaults to TCP. */
export function parseProbe(text: string): Probe {
  const m = /^(\d{1,5})(?:\/([A-Za-z]+))?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a port: use PORT or PORT/PROTOCOL, e.g. 80/TCP`);
  const port = Number(m[1]);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`port ${port} is out of range 1-65535`);
  const protocol = (m[2] ?? 'TCP').toUpperCase();
  if (!PROTOCOLS.includes(protocol as Protocol)) {
    throw new InvalidArgumentError(`unknown protocol "${m[2]}": use TCP, UDP or SCTP`);
  }
  return { port, protocol: protocol as Protocol };
}

export function collectProbe(text: string, acc: Probe[] | undefined): Probe[] {
  return [...(acc ?? []), parseProbe(text)];
}

export function parseIPArg(text: string): string {
  const ip = canonicalIP(text.trim());
  if (ip === undefined) throw new InvalidArgumentError(`"${text}" is not an IP address`);
  return ip;
}

export function collectIP(text: string, acc: string[] | undefined): string[] {
  return [...(acc ?? []), parseIPArg(text)];
}

/** An endpoint as typed: a pod key ("ns/name") or a canonical address. */
export type EndpointArg =
  { readonly kind: 'pod'; readonly key: string } | { readonly kind: 'ip'; readonly ip: string };

export function parseEndpointArg(text: string): EndpointArg {
  const t = text.trim();
  const ip = canonicalIP(t);
  if (ip !== undefined) return { kind: 'ip', ip };
  if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(t))
    return { kind: 'pod', key: t };
  throw new InvalidArgumentError(`"${text}" is neither NAMESPACE/POD nor an IP address`);
}

export function formatProbe(p: Probe): string {
  return `${p.port}/${p.protocol}`;
}
