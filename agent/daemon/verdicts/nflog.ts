/**
 * One NFLOG message as libpcap records it (link type DLT_NFLOG, 239; the format is documented at
 * tcpdump.org/linktypes/LINKTYPE_NFLOG.html): a 4-byte header (address family, version 0, the
 * group in network order), then TLVs. Each TLV is a 16-bit length (header included) and a 16-bit
 * type in the *capturing host's* byte order, which is the pcap writer's (the file header tells);
 * TLVs are padded to 4 bytes. The values are what nfnetlink_log sent, in network byte order.
 *
 * Only what a verdict event needs is read: the prefix (NFULA_PREFIX), the mark (NFULA_MARK, absent
 * when zero), the packet header's hook (NFULA_PACKET_HDR), the in/out interfaces and the payload
 * (NFULA_PAYLOAD: the packet from its network header, cut to the snapshot length).
 */

const NFULA_PACKET_HDR = 1;
const NFULA_MARK = 2;
const NFULA_IFINDEX_INDEV = 4;
const NFULA_IFINDEX_OUTDEV = 5;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

const AF_INET = 2;
const AF_INET6 = 10;

export interface NflogMessage {
  /** IP family from the header's address family (AF_INET, AF_INET6); undefined for others (bridge). */
  readonly family: 4 | 6 | undefined;
  readonly group: number;
  /** The rule's prefix, without its terminating NUL; '' when the rule set none. */
  readonly prefix: string;
  /** The packet mark (0 when the message carried none). */
  readonly mark: number;
  /** Netfilter hook number (NF_INET_FORWARD = 2, ...), when the message carried a packet header. */
  readonly hook?: number;
  readonly inIfindex?: number;
  readonly outIfindex?: number;
  /** The packet from its network header (possibly truncated); empty when absent. */
  readonly payload: Buffer;
}

export class NflogFormatError extends Error {}

export function parseNflog(data: Buffer, littleEndian: boolean): NflogMessage {
  if (data.length < 4) throw new NflogFormatError(`NFLOG record of ${data.length} bytes has no header`);
  if (data[1] !== 0) throw new NflogFormatError(`NFLOG version ${data[1]} is not 0`);
  const af = data[0];
  const group = data.readUInt16BE(2);
  const u16 = (o: number): number => (littleEndian ? data.readUInt16LE(o) : data.readUInt16BE(o));
  let prefix = '';
  let mark = 0;
  let hook: number | undefined;
  let inIfindex: number | undefined;
  let outIfindex: number | undefined;
  let payload: Buffer = Buffer.alloc(0);
  let at = 4;
  while (at + 4 <= data.length) {
    const length = u16(at);
    const type = u16(at + 2) & 0x7fff; // the top bit is NLA_F_NESTED
    if (length < 4 || at + length > data.length) {
      throw new NflogFormatError(
        `NFLOG TLV of type ${type} at ${at} has length ${length} (record ${data.length})`,
      );
    }
    const value = data.subarray(at + 4, at + length);
    switch (type) {
      case NFULA_PACKET_HDR:
        if (value.length >= 3) hook = value[2];
        break;
      case NFULA_MARK:
        if (value.length >= 4) mark = value.readUInt32BE(0);
        break;
      case NFULA_IFINDEX_INDEV:
        if (value.length >= 4) inIfindex = value.readUInt32BE(0);
        break;
      case NFULA_IFINDEX_OUTDEV:
        if (value.length >= 4) outIfindex = value.readUInt32BE(0);
        break;
      case NFULA_PAYLOAD:
        payload = Buffer.from(value);
        break;
      case NFULA_PREFIX: {
        const nul = value.indexOf(0);
        prefix = value.subarray(0, nul < 0 ? value.length : nul).toString('latin1');
        break;
      }
    }
    at += (length + 3) & ~3;
  }
  return {
    family: af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined,
    group,
    prefix,
    mark,
    ...(hook !== undefined ? { hook } : {}),
    ...(inIfindex !== undefined ? { inIfindex } : {}),
    ...(outIfindex !== undefined ? { outIfindex } : {}),
    payload,
  };
}
