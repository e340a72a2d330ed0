#!/usr/bin/env python3
"""Raw SCTP INIT sender and receiver for the Palisade sandbox (one per network namespace).

Why raw packets: the kernel here has no SCTP sockets (CONFIG_IP_SCTP off) but netfilter still
parses and matches SCTP, and Node has no raw sockets. So the sandbox decides an SCTP probe by
whether a crafted INIT chunk reaches the destination's namespace.

Protocol (newline-delimited JSON on stdin/stdout, driven by the endpoint process):
  start:  {"ready": true, "v4": bool, "v6": bool}
  {"id": N, "op": "send", "inits": [{"ip", "port", "srcPort", "tag"}]}
      -> {"id": N, "failures": [{"tag", "error"}]}
  {"id": N, "op": "take"}  -> {"id": N, "arrivals": [{"src", "dport", "tag"}]}  (and forgets them)

Receiving: one raw socket per family (protocol 132) gets a copy of every SCTP packet delivered
locally in this namespace; INIT chunks (type 1) are recorded with their initiate tag. Since no
SCTP stack exists, nothing else answers them. One thread, one select loop: a "take" first reads
everything the kernel has queued, so a packet that arrived before the question is counted,
however busy the machine. Sending: the kernel adds the IP header (routing
picks the source address); the packet is a common header plus one INIT chunk with a correct
CRC32c checksum (conntrack validates it).

live/pod-endpoints.py imports this file for the same packets (send, init_arrival).
"""
import json
import os
import select
import socket
import struct
import sys

IPPROTO_SCTP = 132


def _crc32c_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def init_packet(src_port, dst_port, tag):
    # INIT chunk: type 1, flags 0, length 20, initiate tag, a_rwnd, out/in streams, initial TSN.
    chunk = struct.pack("!BBHIIHHI", 1, 0, 20, tag, 65535, 1, 1, tag)
    # Common header: ports, verification tag 0 (INIT), checksum 0 while computing.
    header = struct.pack("!HHII", src_port, dst_port, 0, 0)
    packet = header + chunk
    checksum = crc32c(packet)
    # RFC 4960 appendix B: the CRC32c goes on the wire least significant byte first.
    return packet[:8] + struct.pack("<I", checksum) + packet[12:]


def init_arrival(family, data, addr):
    """What a raw socket's packet says if it is an INIT: {"src", "dport", "tag"}; else None."""
    # IPv4 raw sockets deliver the IP header too.
    sctp = data[(data[0] & 0x0F) * 4:] if family == socket.AF_INET else data
    if len(sctp) < 32 or sctp[12] != 1:
        return None
    return {
        "src": addr[0].split("%")[0],
        "dport": struct.unpack("!H", sctp[2:4])[0],
        "tag": struct.unpack("!I", sctp[16:20])[0],
    }


class Receiver:
    """Raw SCTP sockets, read only when asked: `drain` takes what the kernel has queued."""

    def __init__(self):
        self.socks = {}
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock = socket.socket(family, socket.SOCK_RAW, IPPROTO_SCTP)
                sock.setblocking(False)
                self.socks[family] = sock
            except OSError:
                pass
        self.arrivals = []

    def drain(self):
        for family, sock in self.socks.items():
            while True:
                try:
                    data, addr = sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                arrival = init_arrival(family, data, addr)
                if arrival is not None:
                    self.arrivals.append(arrival)

    def take(self):
        self.drain()
        out, self.arrivals = self.arrivals, []
        return out


def send(socks, inits):
    """Sends each INIT from the raw socket of its family (`socks`: family -> socket); returns the failures."""
    failures = []
    for init in inits:
        family = socket.AF_INET6 if ":" in init["ip"] else socket.AF_INET
        sock = socks.get(family)
        try:
            if sock is None:
                raise OSError("no raw socket for this address family")
            packet = init_packet(init["srcPort"], init["port"], init["tag"])
            dest = (init["ip"], 0, 0, 0) if family == socket.AF_INET6 else (init["ip"], 0)
            sock.sendto(packet, dest)
        except BlockingIOError:
            failures.append({"tag": init["tag"], "error": "send buffer full"})
        except OSError as e:
            failures.append({"tag": init["tag"], "error": e.strerror or str(e)})
    return failures


def main():
    receiver = Receiver()
    out = sys.stdout
    out.write(json.dumps({"ready": True, "v4": socket.AF_INET in receiver.socks,
                          "v6": socket.AF_INET6 in receiver.socks}) + "\n")
    out.flush()
    stdin = sys.stdin.buffer
    pending = b""
    watched = [stdin, *receiver.socks.values()]
    while True:
        readable, _, _ = select.select(watched, [], [])
        # Keep the socket queues short; arrivals wait in memory until taken.
        receiver.drain()
        if stdin not in readable:
            continue
        chunk = os.read(stdin.fileno(), 65536)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if not line.strip():
                continue
            req = json.loads(line)
            if req["op"] == "send":
                reply = {"id": req["id"], "failures": send(receiver.socks, req["inits"])}
            elif req["op"] == "take":
                reply = {"id": req["id"], "arrivals": receiver.take()}
            else:
                reply = {"id": req["id"], "error": "unknown op " + str(req["op"])}
            out.write(json.dumps(reply) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
