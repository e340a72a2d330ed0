/**
 * The recorded NFLOG capture (testdata/nflog-capture.pcap, written by capture.kernel.test.ts from
 * real packets) and the compact summary tests compare messages by.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CapturedMessage } from '../capture';
import { parseNflog, type NflogMessage } from '../nflog';
import { decodePacket } from '../packet';
import { PcapStreamReader } from '../pcap';

export const FIXTURE = 'testdata/nflog-capture.pcap';

export interface MessageSummary {
  readonly prefix: string;
  readonly group: number;
  readonly mark: number;
  readonly family?: 4 | 6;
  readonly src?: string;
  readonly dst?: string;
  readonly protocol?: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
}

export function summarize(m: NflogMessage | CapturedMessage): MessageSummary {
  const p = decodePacket(m.payload);
  return {
    prefix: m.prefix,
    group: m.group,
    mark: m.mark,
    ...(p
      ? {
          family: p.family,
          src: p.src,
          dst: p.dst,
          ...(p.protocol ? { protocol: p.protocol } : {}),
          ...(p.srcPort !== undefined ? { srcPort: p.srcPort } : {}),
          ...(p.dstPort !== undefined ? { dstPort: p.dstPort } : {}),
        }
      : {}),
  };
}

export function readFixture(): Buffer {
  return readFileSync(join(__dirname, '..', FIXTURE));
}

/**
 * The fixture with every record stamped `atMs` (epoch ms), as a live capture would stamp packets
 * it reads now: tests that filter by time (`--since`) must not depend on when it was recorded.
 */
export function readFixtureStampedAt(atMs: number): Buffer {
  const buf = Buffer.from(readFixture());
  const magic = buf.readUInt32LE(0);
  const littleEndian = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nanoseconds = magic === 0xa1b23c4d || buf.readUInt32BE(0) === 0xa1b23c4d;
  const seconds = Math.floor(atMs / 1000);
  const fraction = nanoseconds ? (atMs % 1000) * 1e6 : (atMs % 1000) * 1e3;
  const write = (v: number, o: number): number =>
    littleEndian ? buf.writeUInt32LE(v, o) : buf.writeUInt32BE(v, o);
  for (let at = 24; at + 16 <= buf.length;) {
    const included = littleEndian ? buf.readUInt32LE(at + 8) : buf.readUInt32BE(at + 8);
    write(seconds, at);
    write(fraction, at + 4);
    at += 16 + included;
  }
  return buf;
}

export function readFixtureMessages(): NflogMessage[] {
  const reader = new PcapStreamReader();
  const records = reader.push(readFixture());
  return records.map((r) => parseNflog(r.data, reader.header!.littleEndian));
}

export function readFixtureSummaries(): MessageSummary[] {
  return readFixtureMessages().map(summarize);
}
