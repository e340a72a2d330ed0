#!/usr/bin/env python3
"""The endpoints of every pod on one sandbox node, in one process.

Why one process for many pods: a pod's "container" here is a few sockets (TCP and UDP echo on
its ports, raw SCTP sockets that record INIT chunks) plus a prober that sends from the pod's
address. Starting a process per pod (Node takes ~100 ms of CPU to start) would cap the
sandbox at a few pods a second on a small machine; this process instead enters a pod's
network namespace with setns(2) just long enough to create a socket there (a socket belongs to
the namespace it was created in, whoever uses it later), then serves every pod's sockets from
one asyncio loop. Python because Node cannot setns.

Protocol: newline-delimited JSON on a Unix socket (--socket), the sandbox's control protocol
(control-protocol.ts): each line {"id": N, "request": {...}}, each answer {"id": N, "ok": true,
"result": ...} or {"id": N, "ok": false, "error": "..."}. Requests name a pod by "pod" (its uid):
  add     {pod, netns, ports, announce?: {ifname, ips}}   create the pod's sockets in
                                /run/netns/<netns>, serve ports; with announce, tell the pod's
                                link that it holds ips (gratuitous ARP, unsolicited NA)
  remove  {pod}                 close every socket of the pod (it holds its namespace alive)
  serve   {pod, ports}          serve more ports
  ping    {pod}                 {pid, serving, sctp}
  probe   {pod, targets, settings}   TCP/UDP probes from the pod (as prober.ts)
  sctp-send {pod, inits}, sctp-take {pod}   as sctp.py, per pod
  sysctl  {netns, settings}     write /proc/sys keys inside a namespace
  alias   {netns, as}           name /run/netns/<netns> also /run/netns/<as> (a bind mount, as
                                `ip netns attach` does): a kept namespace takes its pod's name
  unalias {name}                remove that second name (the namespace stays under its first)
  stats   {}                    {pods: N, sockets: N}: what is open, for leak checks
"""
import argparse
import asyncio
import ctypes
import errno
import json
import os
import secrets
import socket
import struct
import sys

# The raw SCTP INIT code is sctp.py's (e2e/sandbox, this folder's parent): both files are run
# from the source tree, also when the TypeScript runs from dist/ (source-file.ts finds them).
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sctp  # noqa: E402

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
libc = ctypes.CDLL(None, use_errno=True)
HOME_NS = os.open("/proc/self/ns/net", os.O_RDONLY)


def _setns(fd, what):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns %s: %s" % (what, os.strerror(e)))


def netns_path(netns):
    if "/" in netns or netns in ("", ".", ".."):
        raise ValueError("bad namespace name %r" % netns)
    return "/run/netns/" + netns


def in_netns(netns, make):
    """Runs make() inside /run/netns/<netns> and comes back; returns what make() returned."""
    netns_path(netns)
    fd = os.open("/run/netns/" + netns, os.O_RDONLY)
    try:
        _setns(fd, netns)
        try:
            return make()
        finally:
            _setns(HOME_NS, "home")
    finally:
        os.close(fd)


ETH_P_ARP = 0x0806
ETH_P_ALL = 0x0003


def announce(netns, ifname, ips):
    """From inside the pod, tells its link that it now holds ips: a gratuitous ARP request for
    an IPv4 address, an unsolicited neighbour advertisement (override) for an IPv6 one.

    Why: a bridged pod's neighbours keep an address's old MAC in their caches for up to 45 s
    after its pod went; a new pod that gets the address (pools wrap, and kept pod namespaces
    keep their MAC for the next pod) would meanwhile receive nothing from them. Every
    neighbour that has an entry for the address updates it on either message (arp_accept and
    unsolicited NA only govern creating entries); the bridge learns the MAC's port from it too.
    A CNI's bridge plugin sends the same gratuitous ARP."""

    def send():
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as link:
            link.bind((ifname, 0))
            mac = link.getsockname()[4]
            for ip in ips:
                if ":" in ip:
                    send_unsolicited_na(ifname, ip, mac)
                else:
                    addr = socket.inet_aton(ip)
                    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, addr, b"\0" * 6, addr)
                    link.send(b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP) + arp)

    in_netns(netns, send)


def send_unsolicited_na(ifname, ip, mac):
    """An ICMPv6 neighbour advertisement to all nodes, override set (RFC 4861 7.2.6); the
    kernel fills in the checksum of raw ICMPv6 sockets."""
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(ifname))
        s.bind((ip, 0, 0, socket.if_nametoindex(ifname)))
        target = socket.inet_pton(socket.AF_INET6, ip)
        # type 136, code 0, checksum 0 (kernel), flags: override; target; option 2: our MAC
        na = struct.pack("!BBHI16sBB6s", 136, 0, 0, 0x20000000, target, 2, 1, mac)
        s.sendto(na, ("ff02::1", 0, 0, socket.if_nametoindex(ifname)))


def code_of(e):
    if isinstance(e, asyncio.TimeoutError):
        return "timeout"
    if isinstance(e, OSError) and e.errno in errno.errorcode:
        return errno.errorcode[e.errno]
    return str(e) or type(e).__name__


class EchoTcp(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(10, transport.close)

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.timer.cancel()


class EchoUdp(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)

    def error_received(self, exc):
        pass


class Pod:
    def __init__(self, uid, netns):
        self.uid = uid
        self.netns = netns
        self.tcp = {}
        self.udp = {}
        self.raw = {}
        self.arrivals = []

    def sockets(self):
        return len(self.tcp) + len(self.udp) + len(self.raw)

    def socket(self, family, kind, proto=0):
        return in_netns(self.netns, lambda: socket.socket(family, kind, proto))

    async def serve(self, ports):
        loop = asyncio.get_running_loop()
        for p in ports:
            port, proto = int(p["port"]), p["protocol"]
            if proto == "TCP" and port not in self.tcp:
                s = self.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("::", port))
                s.listen(128)
                s.setblocking(False)
                self.tcp[port] = await loop.create_server(EchoTcp, sock=s)
            elif proto == "UDP" and port not in self.udp:
                s = self.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                s.bind(("::", port))
                s.setblocking(False)
                transport, _ = await loop.create_datagram_endpoint(EchoUdp, sock=s)
                self.udp[port] = transport

    def open_raw(self):
        loop = asyncio.get_running_loop()
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                s = self.socket(family, socket.SOCK_RAW, sctp.IPPROTO_SCTP)
            except OSError:
                continue
            s.setblocking(False)
            self.raw[family] = s
            loop.add_reader(s.fileno(), self.drain, family, s)

    def drain(self, family, s):
        while True:
            try:
                data, addr = s.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            arrival = sctp.init_arrival(family, data, addr)
            if arrival is not None:
                self.arrivals.append(arrival)

    def serving(self):
        return [{"port": p, "protocol": "TCP"} for p in sorted(self.tcp)] + \
               [{"port": p, "protocol": "UDP"} for p in sorted(self.udp)]

    def close(self):
        loop = asyncio.get_running_loop()
        for server in self.tcp.values():
            server.close()
        for transport in self.udp.values():
            transport.close()
        for s in self.raw.values():
            loop.remove_reader(s.fileno())
            s.close()
        self.tcp, self.udp, self.raw = {}, {}, {}


async def probe_tcp(pod, ip, port, timeout):
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = pod.socket(family, socket.SOCK_STREAM)
    s.setblocking(False)
    expected = ("palisade-probe-" + secrets.token_hex(8)).encode()
    try:
        async def exchange():
            await loop.sock_connect(s, (ip, port))
            await loop.sock_sendall(s, expected)
            got = b""
            while len(got) < len(expected):
                chunk = await loop.sock_recv(s, 4096)
                if not chunk:
                    return "closed"
                got += chunk
            return "echoed" if got.startswith(expected) else "mismatch"
        return await asyncio.wait_for(exchange(), timeout)
    except Exception as e:  # noqa: BLE001 -- every failure is an outcome
        return code_of(e)
    finally:
        s.close()


async def probe_udp(pod, ip, port, timeout, attempts):
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    detail = "timeout"
    for _ in range(attempts):
        s = pod.socket(family, socket.SOCK_DGRAM)
        s.setblocking(False)
        expected = ("palisade-probe-" + secrets.token_hex(8)).encode()
        try:
            s.connect((ip, port))

            async def exchange():
                await loop.sock_sendall(s, expected)
                while True:
                    if await loop.sock_recv(s, 4096) == expected:
                        return "echoed"
            detail = await asyncio.wait_for(exchange(), timeout)
        except Exception as e:  # noqa: BLE001
            detail = code_of(e)
        finally:
            s.close()
        if detail == "echoed":
            return detail
    return detail


async def run_probes(pod, targets, settings):
    limit = asyncio.Semaphore(max(1, int(settings.get("concurrency", 64))))

    async def one(t):
        async with limit:
            if t["protocol"] == "TCP":
                detail = await probe_tcp(pod, t["ip"], t["port"], settings["tcpTimeoutMs"] / 1000)
            else:
                detail = await probe_udp(pod, t["ip"], t["port"], settings["udpTimeoutMs"] / 1000,
                                         int(settings["udpAttempts"]))
            return {"id": t["id"], "ok": detail == "echoed", "detail": detail}
    return list(await asyncio.gather(*(one(t) for t in targets)))


def write_sysctls(netns, settings):
    def write():
        for key, value in settings:
            if ".." in key or "/" in key:
                raise ValueError("bad sysctl key %r" % key)
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(str(value))
    in_netns(netns, write)


def alias_netns(netns, alias):
    """Names the namespace of /run/netns/<netns> also <alias>, as `ip netns attach` would."""
    source, target = netns_path(netns), netns_path(alias)
    os.close(os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    if libc.mount(source.encode(), target.encode(), b"none", MS_BIND, None) != 0:
        e = ctypes.get_errno()
        os.unlink(target)
        raise OSError(e, "naming %s %s: %s" % (netns, alias, os.strerror(e)))


def unalias_netns(alias):
    """Removes a name given by alias_netns; a name that is not there is not an error."""
    target = netns_path(alias)
    if libc.umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        if e not in (errno.EINVAL, errno.ENOENT):
            raise OSError(e, "unnaming %s: %s" % (alias, os.strerror(e)))
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass


class Host:
    def __init__(self):
        self.pods = {}

    def pod(self, req):
        p = self.pods.get(req.get("pod"))
        if p is None:
            raise KeyError("no pod %s on this node" % req.get("pod"))
        return p

    async def handle(self, req):
        op = req["op"]
        if op == "add":
            uid = req["pod"]
            if uid in self.pods:
                self.pods[uid].close()
            pod = Pod(uid, req["netns"])
            self.pods[uid] = pod
            try:
                pod.open_raw()
                await pod.serve(req.get("ports", []))
                if req.get("announce"):
                    announce(req["netns"], req["announce"]["ifname"], req["announce"]["ips"])
            except Exception:
                pod.close()
                del self.pods[uid]
                raise
            return {"serving": pod.serving()}
        if op == "remove":
            pod = self.pods.pop(req["pod"], None)
            if pod is not None:
                pod.close()
            return {}
        if op == "serve":
            pod = self.pod(req)
            await pod.serve(req["ports"])
            return {"serving": pod.serving()}
        if op == "ping":
            pod = self.pod(req)
            return {"pid": os.getpid(), "serving": pod.serving(), "sctp": len(pod.raw) > 0}
        if op == "probe":
            return {"outcomes": await run_probes(self.pod(req), req["targets"], req["settings"])}
        if op == "sctp-send":
            return {"failures": sctp.send(self.pod(req).raw, req["inits"])}
        if op == "sctp-take":
            pod = self.pod(req)
            out, pod.arrivals = pod.arrivals, []
            return {"arrivals": out}
        if op == "sysctl":
            write_sysctls(req["netns"], req["settings"])
            return {}
        if op == "alias":
            # Mount calls wait for the kernel (an RCU grace period on unmount): off the loop.
            await asyncio.get_running_loop().run_in_executor(None, alias_netns, req["netns"], req["as"])
            return {}
        if op == "unalias":
            await asyncio.get_running_loop().run_in_executor(None, unalias_netns, req["name"])
            return {}
        if op == "stats":
            return {"pods": len(self.pods), "sockets": sum(p.sockets() for p in self.pods.values())}
        raise ValueError("unknown op %r" % op)


async def serve_client(host, reader, writer):
    lock = asyncio.Lock()

    async def answer(msg_id, req):
        try:
            reply = {"id": msg_id, "ok": True, "result": await host.handle(req)}
        except Exception as e:  # noqa: BLE001 -- the error goes back to the caller
            reply = {"id": msg_id, "ok": False, "error": str(e) or type(e).__name__}
        async with lock:
            writer.write((json.dumps(reply) + "\n").encode())
            await writer.drain()

    tasks = set()
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            msg = json.loads(line)
        except ValueError as e:
            writer.write((json.dumps({"id": -1, "ok": False, "error": "bad request: %s" % e}) + "\n").encode())
            continue
        task = asyncio.create_task(answer(msg.get("id", -1), msg.get("request", {})))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    args = parser.parse_args()
    host = Host()
    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    server = await asyncio.start_unix_server(lambda r, w: serve_client(host, r, w), path=args.socket)
    sys.stdout.write("pod endpoints ready pid=%d socket=%s\n" % (os.getpid(), args.socket))
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
