/**
 * The capture on a real kernel: NFLOG rules with Palisade's prefixes in a network namespace of its
 * own, real packets of every protocol the rules match (TCP, UDP, SCTP, IPv4 and IPv6, a mark set
 * on one), read through a real tcpdump child and parsed. The bytes it reads are the fixture the
 * parser's unit tests use (testdata/nflog-capture.pcap; UPDATE_FIXTURES=1 rewrites it), and the
 * fixture must still parse to what the kernel produces now.
 */
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import {
  addNetns,
  deleteNetns,
  describeKernel,
  inNs,
  must,
  uniqueId,
} from '../../../dataplane/testutil/netns';
import { formatPrefix, LOG_COPY_BYTES, logPoint } from '../../../dataplane/verdict-log';
import { systemClock } from '../clock';
import { silentLogger } from '../logger';
import { NflogCapture, spawnCapture, type CapturedMessage } from './capture';
import { readFixtureSummaries, summarize, type MessageSummary, FIXTURE } from './testutil/fixture';

const GROUP = 20556;
const isolation = logPoint({
  verdict: 'denied',
  direction: 'ingress',
  tier: 'networkpolicy',
  cause: 'isolation',
  policies: ['shop/deny-all'],
  pod: 'shop/db',
});
const accepted = logPoint({
  verdict: 'allowed',
  direction: 'egress',
  tier: 'admin',
  cause: 'rule',
  policy: { kind: 'ClusterNetworkPolicy', key: 'ops' },
  rule: { index: 0, name: 'dns' },
});
const wouldDeny = logPoint({
  verdict: 'would-deny',
  direction: 'egress',
  tier: 'baseline',
  cause: 'rule',
  policy: { kind: 'ClusterNetworkPolicy', key: 'default-deny' },
  rule: { index: 1, name: '' },
});
const pending = logPoint({ verdict: 'denied', direction: 'egress', tier: 'default', cause: 'pending' });

/** Sends one packet of each kind from inside the namespace (Node for TCP/UDP, Python for raw SCTP). */
const NODE_SENDER = `
const dgram = require('node:dgram'), net = require('node:net');
const udp = (type, host, port) => new Promise((r) => { const s = dgram.createSocket(type); s.send(Buffer.alloc(1000, 112), port, host, () => { s.close(); r(); }); });
const tcp = (host, port) => new Promise((r) => { const c = net.connect({ host, port, timeout: 300 }); c.on('error', r); c.on('timeout', () => { c.destroy(); r(); }); c.on('connect', () => { c.destroy(); r(); }); });
(async () => { await udp('udp4', '10.1.0.6', 9001); await tcp('10.1.0.6', 9002); await tcp('fd01::6', 9004); await udp('udp6', 'fd01::6', 9005); })();
`;
const PYTHON_SCTP = `
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
chunk = struct.pack("!BBHIIHHI", 1, 0, 20, 7, 65535, 1, 1, 7)
try:
    s.sendto(struct.pack("!HHII", 40000, 9003, 0, 0) + chunk, ("10.1.0.6", 0))
except PermissionError:
    pass  # the namespace's DROP rule refuses it after the NFLOG rule logged it
`;

describeKernel('NFLOG capture through tcpdump', () => {
  jest.setTimeout(60_000);
  const ns = `${uniqueId()}-vlog`;
  const raw: Buffer[] = [];
  const messages: CapturedMessage[] = [];
  let capture: NflogCapture;

  beforeAll(async () => {
    await addNetns(ns);
    await must(inNs(ns, ['ip', 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']));
    await must(inNs(ns, ['ip', 'addr', 'add', '10.1.0.5/24', 'dev', 'd0']));
    await must(inNs(ns, ['ip', 'addr', 'add', 'fd01::5/64', 'dev', 'd0', 'nodad']));
    await must(inNs(ns, ['ip', 'link', 'set', 'd0', 'up']));
    await must(inNs(ns, ['ip', 'link', 'set', 'd1', 'up']));
    const nflog = (prefix: string) => [
      '-j',
      'NFLOG',
      '--nflog-group',
      String(GROUP),
      '--nflog-size',
      String(LOG_COPY_BYTES),
      '--nflog-prefix',
      prefix,
    ];
    await must(
      inNs(ns, [
        'iptables',
        '-A',
        'OUTPUT',
        '-p',
        'udp',
        '--dport',
        '9001',
        ...nflog(formatPrefix(isolation)),
      ]),
    );
    await must(
      inNs(ns, [
        'iptables',
        '-A',
        'OUTPUT',
        '-p',
        'tcp',
        '--dport',
        '9002',
        '-j',
        'MARK',
        '--set-xmark',
        '0x100000/0x100000',
      ]),
    );
    await must(
      inNs(ns, [
        'iptables',
        '-A',
        'OUTPUT',
        '-p',
        'tcp',
        '--dport',
        '9002',
        ...nflog(formatPrefix(accepted)),
      ]),
    );
    await must(
      inNs(ns, [
        'iptables',
        '-A',
        'OUTPUT',
        '-p',
        'sctp',
        '--dport',
        '9003',
        ...nflog(formatPrefix(wouldDeny)),
      ]),
    );
    await must(
      inNs(ns, [
        'ip6tables',
        '-A',
        'OUTPUT',
        '-p',
        'tcp',
        '--dport',
        '9004',
        ...nflog(formatPrefix(pending)),
      ]),
    );
    await must(
      inNs(ns, ['ip6tables', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9005', ...nflog('another tool')]),
    );
    for (const tool of ['iptables', 'ip6tables'])
      await must(
        inNs(ns, [tool, '-A', 'OUTPUT', '-d', tool === 'iptables' ? '10.1.0.6' : 'fd01::6', '-j', 'DROP']),
      );
  });

  afterAll(async () => {
    await capture?.stop();
    await deleteNetns(ns);
  });

  test('reads every logged packet with its prefix, mark, addresses, protocol and ports', async () => {
    capture = new NflogCapture({
      group: GROUP,
      clock: systemClock,
      log: silentLogger(),
      sink: (m) => messages.push(m),
      start: (argv) => {
        const child = spawnCapture(inNs(ns, [...argv]));
        child.onStdout((chunk) => raw.push(chunk));
        return child;
      },
    });
    capture.start();
    await waitFor(() => capture.status().state === 'running', 'tcpdump listening');
    await must(inNs(ns, [process.execPath, '-e', NODE_SENDER]));
    await must(inNs(ns, ['python3', '-c', PYTHON_SCTP]));
    await waitFor(() => messages.length >= 5, 'five messages');
    const live = messages.map(summarize);
    const expected: MessageSummary[] = [
      {
        prefix: formatPrefix(isolation),
        group: GROUP,
        mark: 0,
        family: 4,
        src: '10.1.0.5',
        dst: '10.1.0.6',
        protocol: 'UDP',
        dstPort: 9001,
      },
      {
        prefix: formatPrefix(accepted),
        group: GROUP,
        mark: 0x100000,
        family: 4,
        src: '10.1.0.5',
        dst: '10.1.0.6',
        protocol: 'TCP',
        dstPort: 9002,
      },
      {
        prefix: formatPrefix(pending),
        group: GROUP,
        mark: 0,
        family: 6,
        src: 'fd01::5',
        dst: 'fd01::6',
        protocol: 'TCP',
        dstPort: 9004,
      },
      {
        prefix: 'another tool',
        group: GROUP,
        mark: 0,
        family: 6,
        src: 'fd01::5',
        dst: 'fd01::6',
        protocol: 'UDP',
        dstPort: 9005,
      },
      {
        prefix: formatPrefix(wouldDeny),
        group: GROUP,
        mark: 0,
        family: 4,
        src: '10.1.0.5',
        dst: '10.1.0.6',
        protocol: 'SCTP',
        dstPort: 9003,
        srcPort: 40000,
      },
    ];
    expect(
      live.map(({ srcPort, ...rest }) => (rest.protocol === 'SCTP' ? { ...rest, srcPort } : rest)),
    ).toEqual(expected);
    expect(capture.status()).toMatchObject({
      state: 'running',
      messages: 5,
      malformed: 0,
      queueDrops: 0,
      starts: 1,
    });
    // Every record is the OUTPUT hook's (3) with the outgoing interface.
    for (const m of messages) expect(m).toMatchObject({ hook: 3 });
    // The rule's copy limit holds: the 1028-byte UDP packet arrives cut to LOG_COPY_BYTES.
    expect(messages[0].payload.length).toBe(LOG_COPY_BYTES);
    expect(messages[0].payload.readUInt16BE(2)).toBe(1028);

    if (process.env.UPDATE_FIXTURES === '1') writeFileSync(join(__dirname, FIXTURE), Buffer.concat(raw));
    // The committed fixture holds what the kernel writes now (ports chosen by the stack aside).
    const strip = (xs: MessageSummary[]) => xs.map(({ srcPort: _s, ...rest }) => rest);
    expect(strip(readFixtureSummaries())).toEqual(strip(live));
  });

  test('a child that dies is replaced and the capture goes on', async () => {
    const pid = capture.status().pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor(
      () => capture.status().starts === 2 && capture.status().state === 'running',
      'a second child',
    );
    const before = messages.length;
    await must(inNs(ns, [process.execPath, '-e', NODE_SENDER]));
    await waitFor(() => messages.length >= before + 4, 'four more messages');
    expect(capture.status().lastError).toBeUndefined();
  });

  test('a second listener on the same group fails and says why, and is retried', async () => {
    const second = new NflogCapture({
      group: GROUP,
      clock: systemClock,
      log: silentLogger(),
      sink: () => undefined,
      backoff: { initialMs: 60_000, maxMs: 60_000 },
      start: (argv) => spawnCapture(inNs(ns, [...argv])),
    });
    second.start();
    await waitFor(() => second.status().state === 'backoff', 'the second child to fail');
    expect(second.status().lastError).toMatch(/tcpdump exited \(status 1\).*(busy|group)/i);
    await second.stop();
  });

  test('tcpdump dies with the process that started it, SIGKILL included', async () => {
    // Another Node process starts a capture as the agent does (the built code), and is killed.
    const dist = (m: string) => JSON.stringify(resolve(__dirname, '../../../dist/agent/daemon', m));
    const script = `
      const { NflogCapture, spawnCapture } = require(${dist('verdicts/capture.js')});
      const { systemClock } = require(${dist('clock.js')});
      const { silentLogger } = require(${dist('logger.js')});
      const inNs = ${JSON.stringify(inNs(ns, []))};
      const c = new NflogCapture({
        group: ${GROUP + 1},
        clock: systemClock,
        log: silentLogger(),
        sink: () => undefined,
        start: (argv) => spawnCapture([...inNs, ...argv]),
      });
      c.start();
      const t = setInterval(() => {
        const s = c.status();
        if (s.state === 'running') { clearInterval(t); console.log(s.pid); }
      }, 20);`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => parent.on('exit', r));
    let out = '';
    parent.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor(() => out.includes('\n'), 'the other process to report its running tcpdump');
    const pid = Number(out.trim());
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(true);
    parent.kill('SIGKILL');
    await exited;
    try {
      await waitFor(() => !alive(), `tcpdump (pid ${pid}) to end with its parent`, 5_000);
    } finally {
      if (alive()) process.kill(pid, 'SIGKILL');
    }
  });
});

async function waitFor(done: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
