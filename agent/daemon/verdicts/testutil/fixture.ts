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

export function readFixtureMessages(): NflogMessage[] {
  const reader = new PcapStreamReader();
  const records = reader.push(readFixture());
  return records.map((r) => parseNflog(r.data, reader.header!.littleEndian));
}

export function readFixtureSummaries(): MessageSummary[] {
  return readFixtureMessages().map(summarize);
}
