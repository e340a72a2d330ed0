/**
 * NflogCapture with a fake child: the bytes it writes are the recorded capture, and the test
 * drives its stderr, its exit and the clock.
 */
import { userInfo } from 'node:os';
import { FakeClock, settle } from '../testutil/fake-clock';
import { silentLogger } from '../logger';
import {
  NflogCapture,
  spawnCapture,
  type CaptureChild,
  type CapturedMessage,
  type ChildExit,
} from './capture';
import { readFixture } from './testutil/fixture';

class FakeChild implements CaptureChild {
  readonly signals: NodeJS.Signals[] = [];
  private out: ((c: Buffer) => void)[] = [];
  private err: ((t: string) => void)[] = [];
  private exits: ((e: ChildExit) => void)[] = [];
  exited: ChildExit | undefined;

  constructor(
    readonly argv: readonly string[],
    readonly pid = 4242,
  ) {}
  onStdout(l: (c: Buffer) => void): void {
    this.out.push(l);
  }
  onStderr(l: (t: string) => void): void {
    this.err.push(l);
  }
  onExit(l: (e: ChildExit) => void): void {
    if (this.exited) l(this.exited);
    else this.exits.push(l);
  }
  kill(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') this.exit({ code: null, signal });
  }
  stdout(b: Buffer): void {
    for (const l of this.out) l(b);
  }
  stderr(t: string): void {
    for (const l of this.err) l(t);
  }
  listening(): void {
    this.stderr(
      'tcpdump: listening on nflog:20556, link-type NFLOG (Linux netfilter log messages), snapshot length 8192 bytes\n',
    );
  }
  exit(e: ChildExit): void {
    if (this.exited) return;
    this.exited = e;
    for (const l of this.exits) l(e);
  }
}

function setup(opts: { backoff?: { initialMs: number; maxMs: number } } = {}) {
  const clock = new FakeClock();
  const children: FakeChild[] = [];
  const messages: CapturedMessage[] = [];
  const drops: number[] = [];
  const capture = new NflogCapture({
    group: 20556,
    clock,
    log: silentLogger(),
    sink: (m) => messages.push(m),
    onQueueDrops: (n) => drops.push(n),
    start: (argv) => {
      const c = new FakeChild(argv, 4242 + children.length);
      children.push(c);
      return c;
    },
    backoff: { initialMs: 500, maxMs: 30_000, jitter: 0, ...opts.backoff },
    statsIntervalMs: 5000,
  });
  return { clock, children, messages, drops, capture };
}

test('runs tcpdump on the group with an argv array, and is running once tcpdump listens', () => {
  const { capture, children } = setup();
  capture.start();
  expect(children[0].argv).toEqual([
    'tcpdump',
    '-i',
    'nflog:20556',
    '-U',
    '-n',
    '-s',
    '8192',
    '-B',
    '2048',
    '-Z',
    userInfo().username,
    '-w',
    '-',
  ]);
  expect(capture.status().state).toBe('starting');
  children[0].listening();
  expect(capture.status()).toMatchObject({ state: 'running', pid: 4242, starts: 1, messages: 0 });
});

test('every NFLOG record of the stream reaches the sink, however the pipe cuts it', () => {
  const { capture, children, messages } = setup();
  capture.start();
  children[0].listening();
  const bytes = readFixture();
  for (let i = 0; i < bytes.length; i += 7) children[0].stdout(bytes.subarray(i, i + 7));
  expect(messages.map((m) => m.prefix)).toEqual([
    'pl1:DNI:AZFO3G2ZXL',
    'pl1:AAE:I666RWDV3W',
    'pl1:DXE:JEU3GYXLDM',
    'another tool',
    'pl1:dBE:BVADLPK5KM',
  ]);
  expect(messages[0].timeMs).toBe(bytes.readUInt32LE(24) * 1000 + bytes.readUInt32LE(28) / 1000);
  expect(capture.status().messages).toBe(5);
});

test('a child that exits is restarted after a growing backoff, reset once a child ran for a minute', async () => {
  const { capture, children, clock } = setup();
  capture.start();
  children[0].listening();
  children[0].stderr("tcpdump: pcap_loop: Can't receive packet: Bad address\n");
  children[0].exit({ code: 1, signal: null });
  expect(capture.status()).toMatchObject({
    state: 'backoff',
    retryInMs: 500,
    lastError: "tcpdump exited (status 1): tcpdump: pcap_loop: Can't receive packet: Bad address",
  });
  await clock.advance(499);
  expect(children).toHaveLength(1);
  await clock.advance(1);
  expect(children).toHaveLength(2);
  children[1].exit({ code: 1, signal: null });
  expect(capture.status().retryInMs).toBe(1000);
  await clock.advance(1000);
  children[2].listening();
  expect(capture.status()).toMatchObject({ state: 'running', starts: 3 });
  expect(capture.status().lastError).toBeUndefined();
  await clock.advance(60_000);
  children[2].exit({ code: null, signal: 'SIGSEGV' });
  expect(capture.status()).toMatchObject({ retryInMs: 500, lastError: 'tcpdump exited (SIGSEGV)' });
});

test('tcpdump missing: unavailable, said why, never fatal, and looked for again', async () => {
  const { capture, children, clock } = setup();
  capture.start();
  children[0].exit({ code: null, signal: null, error: { code: 'ENOENT', message: 'spawn tcpdump ENOENT' } });
  expect(capture.status()).toMatchObject({
    state: 'unavailable',
    lastError:
      'tcpdump not found: install tcpdump to read verdict logs (the agent enforces policy without it)',
  });
  await clock.advance(500);
  expect(children).toHaveLength(2);
});

test('the real spawn of a missing binary reports ENOENT the same way', async () => {
  const child = spawnCapture(['/nonexistent/palisade-tcpdump', '-i', 'nflog:1']);
  const exit = await new Promise<ChildExit>((r) => child.onExit(r));
  expect(exit.error?.code).toBe('ENOENT');
});

test('a corrupt stream kills the child and starts a new one', async () => {
  const { capture, children, clock, messages } = setup();
  capture.start();
  children[0].listening();
  children[0].stdout(Buffer.from('this is not a pcap stream at all'));
  expect(children[0].signals).toEqual(['SIGKILL']);
  expect(capture.status()).toMatchObject({
    state: 'backoff',
    lastError: expect.stringMatching(/not a pcap stream/),
  });
  await clock.advance(500);
  children[1].listening();
  children[1].stdout(readFixture());
  expect(messages).toHaveLength(5);
});

test('a record that is not an NFLOG message Palisade can read is counted and skipped', () => {
  const { capture, children, messages } = setup();
  capture.start();
  children[0].listening();
  const bytes = Buffer.from(readFixture());
  bytes.writeUInt16LE(4000, 24 + 16 + 4); // the first record's first TLV runs past its end
  children[0].stdout(bytes);
  expect(capture.status()).toMatchObject({ messages: 4, malformed: 1, state: 'running' });
  expect(messages).toHaveLength(4);
});

test('asks the running child for its counters and reports overflows as they grow, and at exit', async () => {
  const { capture, children, clock, drops } = setup();
  capture.start();
  await clock.advance(5000);
  expect(children[0].signals).toEqual([]); // not before tcpdump listens: SIGUSR1 would end it
  children[0].listening();
  await clock.advance(5000);
  expect(children[0].signals).toEqual(['SIGUSR1']);
  children[0].stderr(
    'tcpdump: 10 packets captured, 12 packets received by filter, 3 packets dropped by kernel\n',
  );
  children[0].stderr(
    'tcpdump: 20 packets captured, 25 packets received by filter, 3 packets dropped by kernel\n',
  );
  await clock.advance(5000);
  expect(children[0].signals).toEqual(['SIGUSR1', 'SIGUSR1']);
  children[0].stderr('30 packets captured\n31 packets received by filter\n7 packets dropped by kernel\n');
  children[0].exit({ code: 0, signal: null });
  expect(drops).toEqual([3, 4]);
  expect(capture.status().queueDrops).toBe(7);
  // A new child counts from zero again.
  await clock.advance(500);
  children[1].listening();
  children[1].stderr(
    'tcpdump: 1 packet captured, 1 packet received by filter, 2 packets dropped by kernel\n',
  );
  expect(drops).toEqual([3, 4, 2]);
});

test('stop() ends the child with SIGTERM and nothing restarts', async () => {
  const { capture, children, clock } = setup();
  capture.start();
  children[0].listening();
  await capture.stop();
  expect(children[0].signals).toEqual(['SIGTERM']);
  expect(capture.status().state).toBe('stopped');
  await clock.advance(120_000);
  expect(children).toHaveLength(1);
  await settle();
});
