/**
 * The headers of a logged packet: addresses, protocol, ports. The payload NFLOG hands over starts
 * at the network header and may be cut short (the capture's snapshot length), so every read is
 * bounds-checked: what is missing is left out, never guessed.
 *
 * IPv6 extension headers (hop-by-hop, routing, destination options, fragment, AH) are walked to
 * reach the transport header; a fragment other than the first carries none. Palisade's rules see
 * packets after conntrack's defragmentation, so fragments are rare here, but a packet is never
 * misread because of one.
 */
import { canonicalIP } from '../../../compiler/validate/ip';

export type TransportProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'ICMPv6';

export interface PacketSummary {
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** The transport protocol's number (IPv4 protocol, or the IPv6 header chain's last next-header). */
  readonly protocolNumber: number;
  /** Its name, for the protocols Palisade's rules match on and ICMP. */
  readonly protocol?: TransportProtocol;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

const NAMES: Readonly<Record<number, TransportProtocol>> = {
  1: 'ICMP',
  6: 'TCP',
  17: 'UDP',
  58: 'ICMPv6',
  132: 'SCTP',
};

/** IPv6 extension headers whose length is (hdr[1] + 1) * 8. */
const V6_OPTION_HEADERS = new Set([0, 43, 60]);
const V6_FRAGMENT = 44;
const V6_AH = 51;
const V6_NO_NEXT = 59;

function v4Text(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function v6Text(b: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i).toString(16));
  return canonicalIP(groups.join(':'))!;
}

function transport(
  b: Buffer,
  at: number,
  protocolNumber: number,
  firstFragment: boolean,
): Pick<PacketSummary, 'protocol' | 'srcPort' | 'dstPort' | 'icmpType' | 'icmpCode'> {
  const protocol = NAMES[protocolNumber];
  if (!protocol) return {};
  if (!firstFragment) return { protocol };
  if (protocol === 'ICMP' || protocol === 'ICMPv6') {
    return b.length >= at + 2 ? { protocol, icmpType: b[at], icmpCode: b[at + 1] } : { protocol };
  }
  // TCP, UDP and SCTP all begin with the source and destination ports.
  return b.length >= at + 4
    ? { protocol, srcPort: b.readUInt16BE(at), dstPort: b.readUInt16BE(at + 2) }
    : { protocol };
}

/** The packet's headers; undefined when even the network header is incomplete or not IP. */
export function decodePacket(b: Buffer): PacketSummary | undefined {
  if (b.length < 1) return undefined;
  const version = b[0] >> 4;
  if (version === 4) {
    if (b.length < 20) return undefined;
    const headerLength = (b[0] & 0x0f) * 4;
    if (headerLength < 20) return undefined;
    const protocolNumber = b[9];
    const fragmentOffset = b.readUInt16BE(6) & 0x1fff;
    return {
      family: 4,
      src: v4Text(b, 12),
      dst: v4Text(b, 16),
      protocolNumber,
      ...transport(b, headerLength, protocolNumber, fragmentOffset === 0),
    };
  }
  if (version === 6) {
    if (b.length < 40) return undefined;
    let next = b[6];
    let at = 40;
    let firstFragment = true;
    // Walk the extension headers while they are there to read; at most a handful in practice.
    for (let hops = 0; hops < 16; hops++) {
      if (V6_OPTION_HEADERS.has(next)) {
        if (b.length < at + 2) return summary6(b, next, at, false);
        const length = (b[at + 1] + 1) * 8;
        next = b[at];
        at += length;
      } else if (next === V6_FRAGMENT) {
        if (b.length < at + 8) return summary6(b, next, at, false);
        firstFragment = (b.readUInt16BE(at + 2) & 0xfff8) === 0;
        next = b[at];
        at += 8;
      } else if (next === V6_AH) {
        if (b.length < at + 2) return summary6(b, next, at, false);
        const length = (b[at + 1] + 2) * 4;
        next = b[at];
        at += length;
      } else {
        break;
      }
    }
    return summary6(b, next, at, firstFragment && next !== V6_NO_NEXT);
  }
  return undefined;
}

function summary6(b: Buffer, next: number, at: number, readable: boolean): PacketSummary {
  return {
    family: 6,
    src: v6Text(b, 8),
    dst: v6Text(b, 24),
    protocolNumber: next,
    ...transport(b, at, next, readable),
  };
}
