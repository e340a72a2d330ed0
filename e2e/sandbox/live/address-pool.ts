/**
 * Pod addresses of one node, from its pod CIDRs (the CNI's IPAM): an IPv4 address from the
 * first IPv4 CIDR and, in dual-stack, the IPv6 address with the same host digits (10.244.1.13
 * pairs with fd00:10:244:1::13, as the scenario loader pairs them). Host offsets start at 10,
 * as the loader's, and go round robin, so an address just released is the last to be reused
 * (conntrack entries and agents' caches of a deleted pod age out first). Addresses reserved for
 * scenario pods are handed only to the pod they belong to. Pure.
 */
import { formatIP, parseCIDR, type ParsedCIDR } from '../../../compiler/validate/ip';

const FIRST_HOST = 10;

export class AddressPool {
  private readonly v4: ParsedCIDR | undefined;
  private readonly v6: ParsedCIDR | undefined;
  private readonly used = new Set<string>();
  private readonly reserved: ReadonlyMap<string, string>;
  private next = FIRST_HOST;
  private readonly lastHost: number;

  /** `reserved`: address → the key ("ns/name") of the scenario pod it belongs to. */
  constructor(podCIDRs: readonly string[], reserved: ReadonlyMap<string, string> = new Map()) {
    const parsed = podCIDRs.map((c) => parseCIDR(c)).filter((c): c is ParsedCIDR => c !== undefined);
    this.v4 = parsed.find((c) => c.family === 4);
    this.v6 = parsed.find((c) => c.family === 6);
    this.reserved = reserved;
    const hostBits = this.v4 ? 32 - this.v4.prefix : 8;
    this.lastHost = Math.min(2 ** Math.min(hostBits, 16) - 2, 65_000);
  }

  get families(): (4 | 6)[] {
    return [...(this.v4 ? [4 as const] : []), ...(this.v6 ? [6 as const] : [])];
  }

  /** Marks addresses as taken (a pod wired before this process started, a scenario pod). */
  take(ips: readonly string[]): void {
    for (const ip of ips) this.used.add(ip);
  }

  release(ips: readonly string[]): void {
    for (const ip of ips) this.used.delete(ip);
  }

  isUsed(ip: string): boolean {
    return this.used.has(ip);
  }

  /** The next free pair for pod `key`; undefined when the CIDR is exhausted. */
  allocate(key: string): string[] | undefined {
    const span = this.lastHost - FIRST_HOST + 1;
    for (let i = 0; i < span; i++) {
      const host = FIRST_HOST + ((this.next - FIRST_HOST + i) % span);
      const candidate = this.candidate(host);
      const free = candidate.every((ip) => {
        const owner = this.reserved.get(ip);
        return !this.used.has(ip) && (owner === undefined || owner === key);
      });
      if (candidate.length > 0 && free) {
        this.next = host + 1 > this.lastHost ? FIRST_HOST : host + 1;
        this.take(candidate);
        return candidate;
      }
    }
    return undefined;
  }

  private candidate(host: number): string[] {
    const out: string[] = [];
    if (this.v4) out.push(formatIP({ family: 4, value: this.v4.network + BigInt(host) }));
    if (this.v6)
      out.push(formatIP({ family: 6, value: this.v6.network + BigInt(parseInt(String(host), 16)) }));
    return out;
  }
}
