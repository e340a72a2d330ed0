/**
 * The pcap, NFLOG and packet parsers on real bytes: testdata/nflog-capture.pcap was written by
 * capture.kernel.test.ts from packets a kernel logged through Palisade-style NFLOG rules. Edge
 * cases the kernel test cannot produce on demand (the other byte order, extension headers,
 * fragments, truncation, corruption) are made from those bytes or built by hand.
 */
import { LOG_COPY_BYTES } from '../../../dataplane/verdict-log';
import { parseNflog, NflogFormatError } from './nflog';
import { decodePacket } from './packet';
import { LINKTYPE_NFLOG, PcapFormatError, PcapStreamReader } from './pcap';
import { readFixture, readFixtureMessages, readFixtureSummaries } from './testutil/fixture';

const FIXTURE_SUMMARIES = [
  {
    prefix: 'pl1:DNI:AZFO3G2ZXL',
    group: 20556,
    mark: 0,
    family: 4,
    src: '10.1.0.5',
    dst: '10.1.0.6',
    protocol: 'UDP',
    srcPort: 46406,
    dstPort: 9001,
  },
  {
    prefix: 'pl1:AAE:I666RWDV3W',
    group: 20556,
    mark: 0x100000,
    family: 4,
    src: '10.1.0.5',
    dst: '10.1.0.6',
    protocol: 'TCP',
    srcPort: 46022,
    dstPort: 9002,
  },
  {
    prefix: 'pl1:DXE:JEU3GYXLDM',
    group: 20556,
    mark: 0,
    family: 6,
    src: 'fd01::5',
    dst: 'fd01::6',
    protocol: 'TCP',
    srcPort: 54630,
    dstPort: 9004,
  },
  {
    prefix: 'another tool',
    group: 20556,
    mark: 0,
    family: 6,
    src: 'fd01::5',
    dst: 'fd01::6',
    protocol: 'UDP',
    srcPort: 52969,
    dstPort: 9005,
  },
  {
    prefix: 'pl1:dBE:BVADLPK5KM',
    group: 20556,
    mark: 0,
    family: 4,
    src: '10.1.0.5',
    dst: '10.1.0.6',
    protocol: 'SCTP',
    srcPort: 40000,
    dstPort: 9003,
  },
];

describe('the recorded capture', () => {
  test('parses to the five logged packets: prefix, mark, family, addresses, protocol, ports', () => {
    expect(readFixtureSummaries()).toEqual(FIXTURE_SUMMARIES);
  });

  test('has the file header tcpdump writes: little-endian microseconds, NFLOG, the snapshot length', () => {
    const reader = new PcapStreamReader();
    reader.push(readFixture());
    expect(reader.header).toEqual({
      littleEndian: true,
      nanoseconds: false,
      snapLength: 8192,
      linkType: LINKTYPE_NFLOG,
    });
    expect(reader.buffered).toBe(0);
  });

  test('every message is the OUTPUT hook (3) of IPv4 or IPv6 with the copy the rule asked for', () => {
    for (const m of readFixtureMessages()) {
      expect(m.hook).toBe(3);
      expect(m.outIfindex).toBeGreaterThan(0);
      expect(m.payload.length).toBeLessThanOrEqual(LOG_COPY_BYTES);
    }
    expect(readFixtureMessages().map((m) => m.family)).toEqual([4, 4, 6, 6, 4]);
  });
});

describe('PcapStreamReader', () => {
  test('a stream cut anywhere gives the same records: byte by byte, and in odd chunks', () => {
    const bytes = readFixture();
    const whole = new PcapStreamReader().push(bytes);
    for (const size of [1, 3, 17, 100]) {
      const reader = new PcapStreamReader();
      const records = [];
      for (let i = 0; i < bytes.length; i += size) records.push(...reader.push(bytes.subarray(i, i + size)));
      expect(records).toEqual(whole);
      expect(reader.buffered).toBe(0);
    }
    // Seconds and microseconds of the first record header, as milliseconds.
    expect(whole[0].timeMs).toBe(bytes.readUInt32LE(24) * 1000 + bytes.readUInt32LE(28) / 1000);
  });

  test('reads a big-endian writer’s stream (headers and NFLOG TLVs in its order) to the same messages', () => {
    const big = toBigEndian(readFixture());
    const reader = new PcapStreamReader();
    const records = reader.push(big);
    expect(reader.header?.littleEndian).toBe(false);
    const messages = records.map((r) => parseNflog(r.data, false));
    expect(messages.map((m) => [m.prefix, m.mark, decodePacket(m.payload)?.dstPort])).toEqual(
      FIXTURE_SUMMARIES.map((s) => [s.prefix, s.mark, s.dstPort]),
    );
  });

  test('refuses what is not pcap, and a record longer than any snapshot', () => {
    expect(() => new PcapStreamReader().push(Buffer.alloc(24, 0x41))).toThrow(PcapFormatError);
    const bytes = Buffer.from(readFixture());
    bytes.writeUInt32LE(10_000_000, 24 + 8); // the first record's captured length
    expect(() => new PcapStreamReader().push(bytes)).toThrow(/exceeds the snapshot length/);
  });
});

describe('parseNflog', () => {
  const first = (): Buffer => new PcapStreamReader().push(readFixture())[0].data;

  test('a TLV running past the record, or another header version, is an error', () => {
    const bad = Buffer.from(first());
    bad.writeUInt16LE(4000, 4); // the first TLV's length
    expect(() => parseNflog(bad, true)).toThrow(NflogFormatError);
    const v1 = Buffer.from(first());
    v1[1] = 1;
    expect(() => parseNflog(v1, true)).toThrow(/version 1/);
  });

  test('a message without prefix, mark or payload reads as empty ones', () => {
    const header = Buffer.from([2, 0, 0x50, 0x4c]);
    expect(parseNflog(header, true)).toEqual({
      family: 4,
      group: 0x504c,
      prefix: '',
      mark: 0,
      payload: Buffer.alloc(0),
    });
  });
});

describe('decodePacket', () => {
  const tcp6 = (): Buffer => readFixtureMessages()[2].payload;

  test('walks IPv6 extension headers to the transport header', () => {
    const base = tcp6();
    // Insert a hop-by-hop options header (8 bytes) and a first fragment header before TCP.
    const hop = Buffer.from([44, 0, 1, 4, 0, 0, 0, 0]); // next: fragment; PadN
    const frag = Buffer.from([6, 0, 0, 1, 0, 0, 0, 9]); // next: TCP, offset 0, more fragments
    const packet = Buffer.concat([base.subarray(0, 40), hop, frag, base.subarray(40)]);
    packet[6] = 0; // next header: hop-by-hop
    expect(decodePacket(packet)).toMatchObject({
      family: 6,
      protocol: 'TCP',
      protocolNumber: 6,
      dstPort: 9004,
    });
    // A later fragment carries no transport header: the protocol is known, the ports are not.
    const later = Buffer.from(packet);
    later.writeUInt16BE(0x0008, 48 + 2); // fragment offset 1 (8 bytes)
    const d = decodePacket(later)!;
    expect(d.protocol).toBe('TCP');
    expect(d.dstPort).toBeUndefined();
  });

  test('the UDP packet was cut to the copy limit, and reads as the 1028-byte datagram it was', () => {
    const udp = readFixtureMessages()[0].payload;
    expect(udp.length).toBe(LOG_COPY_BYTES);
    expect(udp.readUInt16BE(2)).toBe(1028);
    expect(decodePacket(udp)).toMatchObject({ protocol: 'UDP', dstPort: 9001 });
  });

  test('an IPv4 fragment after the first has no ports; ICMP has type and code', () => {
    const udp = Buffer.from(readFixtureMessages()[0].payload);
    udp.writeUInt16BE(0x0001, 6); // fragment offset 8 bytes
    expect(decodePacket(udp)).toEqual({
      family: 4,
      src: '10.1.0.5',
      dst: '10.1.0.6',
      protocolNumber: 17,
      protocol: 'UDP',
    });
    const icmp = Buffer.from(readFixtureMessages()[0].payload.subarray(0, 28));
    icmp[9] = 1;
    icmp[20] = 8; // echo request
    icmp[21] = 0;
    expect(decodePacket(icmp)).toMatchObject({ protocol: 'ICMP', icmpType: 8, icmpCode: 0 });
  });

  test('a payload cut short keeps what it holds and invents nothing', () => {
    const udp = readFixtureMessages()[0].payload;
    expect(decodePacket(udp.subarray(0, 22))).toEqual({
      family: 4,
      src: '10.1.0.5',
      dst: '10.1.0.6',
      protocolNumber: 17,
      protocol: 'UDP',
    });
    expect(decodePacket(udp.subarray(0, 19))).toBeUndefined();
    expect(decodePacket(tcp6().subarray(0, 39))).toBeUndefined();
    expect(decodePacket(Buffer.from([0x20, 0, 0, 0]))).toBeUndefined();
  });

  test('an unknown transport keeps its number', () => {
    const p = Buffer.from(readFixtureMessages()[0].payload);
    p[9] = 47; // GRE
    expect(decodePacket(p)).toEqual({ family: 4, src: '10.1.0.5', dst: '10.1.0.6', protocolNumber: 47 });
  });
});

/** The fixture as a big-endian machine would have written it. */
function toBigEndian(le: Buffer): Buffer {
  const out = Buffer.from(le);
  const swap32 = (o: number): void => void out.writeUInt32BE(le.readUInt32LE(o), o);
  const swap16 = (o: number): void => void out.writeUInt16BE(le.readUInt16LE(o), o);
  swap32(0);
  swap16(4);
  swap16(6);
  for (const o of [8, 12, 16, 20]) swap32(o);
  let at = 24;
  while (at < le.length) {
    const included = le.readUInt32LE(at + 8);
    for (const o of [0, 4, 8, 12]) swap32(at + o);
    const start = at + 16;
    let t = start + 4;
    while (t + 4 <= start + included) {
      const length = le.readUInt16LE(t);
      swap16(t);
      swap16(t + 2);
      t += (length + 3) & ~3;
    }
    at = start + included;
  }
  return out;
}
