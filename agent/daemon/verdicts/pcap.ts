/**
 * A streaming reader of the classic pcap format, as `tcpdump -w -` writes it: a 24-byte file
 * header, then records of a 16-byte header and the captured bytes.
 *
 * Chunks arrive as the pipe delivers them (a record may span chunks, a chunk may hold many), so
 * the reader keeps the unread tail and hands out every complete record. The byte order is the
 * writer's, read from the magic number; nanosecond files (magic a1b23c4d) are read too. Nothing
 * is trusted: a bad magic or a record longer than the file's snapshot length (a corrupt or
 * desynchronised stream) throws, and the caller restarts the capture.
 */

/** Link types this reader's callers understand. */
export const LINKTYPE_NFLOG = 239;

export interface PcapHeader {
  readonly littleEndian: boolean;
  readonly nanoseconds: boolean;
  readonly snapLength: number;
  readonly linkType: number;
}

export interface PcapRecord {
  /** Capture time, milliseconds since the epoch (fractional: microsecond or nanosecond precision). */
  readonly timeMs: number;
  /** Bytes on the wire (the record may hold fewer: the snapshot length). */
  readonly originalLength: number;
  readonly data: Buffer;
}

export class PcapFormatError extends Error {}

const FILE_HEADER = 24;
const RECORD_HEADER = 16;
/** libpcap's largest snapshot length; a record claiming more is garbage whatever the header says. */
const MAX_RECORD = 262_144;

export class PcapStreamReader {
  private pending: Buffer = Buffer.alloc(0);
  private fileHeader: PcapHeader | undefined;

  get header(): PcapHeader | undefined {
    return this.fileHeader;
  }

  /** Bytes received and not yet returned as part of a record. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Feeds a chunk; returns the records it completed, in order. */
  push(chunk: Buffer): PcapRecord[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: PcapRecord[] = [];
    let at = 0;
    const buf = this.pending;
    if (!this.fileHeader) {
      if (buf.length < FILE_HEADER) return out;
      this.fileHeader = parseFileHeader(buf);
      at = FILE_HEADER;
    }
    const h = this.fileHeader;
    const u32 = (o: number): number => (h.littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const limit = Math.min(MAX_RECORD, Math.max(h.snapLength, 65_535)) + 1024;
    while (buf.length - at >= RECORD_HEADER) {
      const seconds = u32(at);
      const fraction = u32(at + 4);
      const included = u32(at + 8);
      const original = u32(at + 12);
      if (included > limit) {
        throw new PcapFormatError(
          `pcap record of ${included} bytes exceeds the snapshot length ${h.snapLength}`,
        );
      }
      if (buf.length - at - RECORD_HEADER < included) break;
      const start = at + RECORD_HEADER;
      out.push({
        timeMs: seconds * 1000 + (h.nanoseconds ? fraction / 1e6 : fraction / 1e3),
        originalLength: original,
        // A copy: the pending buffer is reused and concatenated, and records outlive it.
        data: Buffer.from(buf.subarray(start, start + included)),
      });
      at = start + included;
    }
    this.pending = at === 0 ? buf : buf.subarray(at);
    return out;
  }
}

function parseFileHeader(buf: Buffer): PcapHeader {
  const magicLE = buf.readUInt32LE(0);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    littleEndian = true;
    nanoseconds = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = buf.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) {
      throw new PcapFormatError(`not a pcap stream (magic 0x${magicBE.toString(16).padStart(8, '0')})`);
    }
    littleEndian = false;
    nanoseconds = magicBE === 0xa1b23c4d;
  }
  const u16 = (o: number): number => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  if (u16(4) !== 2) throw new PcapFormatError(`pcap major version ${u16(4)} is not 2`);
  // The link type shares its word with FCS bits in newer writers: the low 16 bits are the type.
  return { littleEndian, nanoseconds, snapLength: u32(16), linkType: u32(20) & 0xffff };
}
