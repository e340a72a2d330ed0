/**
 * `palisade watch` against an agent's debug socket, in-process and without root: the real test API
 * server, the agent (FakeKernel dataplane), and a fake tcpdump child whose output is the recorded
 * capture. The log point the kernel wrote for shop/db's isolation is the one this agent derives
 * from its own compiled state, so the event names the policy. Events lost to the rate limit come
 * from the fake kernel's counters.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../cli/program';
import type { CliContext } from '../../cli/context';
import { FakeKernel } from '../../../dataplane/api';
import { startApiServer, type TestApiServer } from '../../../e2e/apiserver';
import { eventually } from '../../kube/testutil/eventually';
import { namespace, pod, policy } from '../../kube/testutil/objects';
import { Agent } from '../agent';
import { parseConfig } from '../config';
import { silentLogger } from '../logger';
import { get } from '../testutil/http-client';
import type { CaptureChild, ChildExit } from './capture';
import { readFixtureStampedAt } from './testutil/fixture';

class Child implements CaptureChild {
  pid = 99;
  out: ((c: Buffer) => void)[] = [];
  err: ((t: string) => void)[] = [];
  exits: ((e: ChildExit) => void)[] = [];
  onStdout(l: (c: Buffer) => void): void {
    this.out.push(l);
  }
  onStderr(l: (t: string) => void): void {
    this.err.push(l);
  }
  onExit(l: (e: ChildExit) => void): void {
    this.exits.push(l);
  }
  kill(): void {
    for (const l of this.exits) l({ code: null, signal: 'SIGTERM' });
  }
  emit(bytes: Buffer): void {
    for (const l of this.out) l(bytes);
  }
}

let dir: string;
let server: TestApiServer;
let agent: Agent;
const kernel = new FakeKernel();
const children: Child[] = [];
const sock = () => join(dir, 'palisade.sock');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-watch-'));
  server = await startApiServer({
    objects: [
      namespace('shop'),
      pod('shop/web', { labels: { app: 'web' }, ip: '10.1.0.5', node: 'node-1' }),
      pod('shop/db', { labels: { app: 'db' }, ip: '10.1.0.6', node: 'node-1' }),
      policy('shop/deny-all', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] }),
    ],
  });
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  const { config, problems } = parseConfig({
    nodeName: 'node-1',
    kubeconfig: join(dir, 'kubeconfig'),
    metricsAddress: '',
    debugSocket: sock(),
    resyncInterval: '1m',
  });
  expect(problems).toEqual([]);
  agent = new Agent(config, {
    kernel,
    log: silentLogger(),
    logCounterPeriodMs: 20,
    reflectorBackoff: { initialMs: 20, maxMs: 200 },
    retryBackoff: { initialMs: 20, maxMs: 200 },
    captureStarter: () => {
      const c = new Child();
      children.push(c);
      return c;
    },
  });
  await agent.start();
  await agent.whenReady();
  children[0].err.forEach((l) => l('tcpdump: listening on nflog:20556\n'));
});

afterAll(async () => {
  await agent?.stop('test over');
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function context(): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    isTTY: false,
    env: {},
    readFile: () => '',
  };
}

async function watchers(): Promise<number> {
  const r = await get({ socketPath: sock() }, '/v1/status');
  return r.json<{ verdictLog: { watchers: number } }>().verdictLog.watchers;
}

test('streams events as the kernel logs them, filtered, until --count; JSON lines name the deciding policy', async () => {
  const ctx = context();
  const done = runCli(['watch', '--agent', sock(), '--pod', 'shop/db', '--count', '2', '-o', 'json'], ctx);
  await eventually(async () => (await watchers()) === 1, 'the watch to connect');
  children[0].emit(readFixtureStampedAt(Date.now()));
  expect(await done).toBe(0);
  const events = ctx.out
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(events).toHaveLength(2);
  expect(events[0]).toMatchObject({
    seq: 1,
    node: 'node-1',
    direction: 'ingress',
    verdict: 'denied',
    tier: 'networkpolicy',
    cause: 'isolation',
    policies: ['shop/deny-all'],
    subject: 'shop/db',
    src: { ip: '10.1.0.5', pod: 'shop/web' },
    dst: { ip: '10.1.0.6', pod: 'shop/db' },
    protocol: 'UDP',
    dstPort: 9001,
    known: true,
  });
  // The second record's log point (a ClusterNetworkPolicy this cluster does not have) is unknown
  // here: the prefix still says verdict, tier and direction.
  expect(events[1]).toMatchObject({
    verdict: 'allowed',
    tier: 'admin',
    direction: 'egress',
    known: false,
    dstPort: 9002,
  });
  expect(ctx.err).toEqual([]);
  await eventually(async () => (await watchers()) === 0, 'the agent to notice the watch left');
});

test('--since replays the buffer; --no-follow ends; the table says who decided', async () => {
  const ctx = context();
  expect(
    await runCli(['watch', '--agent', sock(), '--since', '1h', '--no-follow', '--verdict', 'denied'], ctx),
  ).toBe(0);
  const lines = ctx.out
    .join('')
    .split('\n')
    .filter((l) => l !== '');
  expect(lines[0]).toMatch(/^TIME\s+NODE\s+VERDICT\s+DIR\s+FROM\s+TO\s+PORT\s+DECIDED BY$/);
  expect(lines.slice(1)).toHaveLength(2);
  expect(lines[1]).toMatch(
    /node-1\s+denied\s+in\s+shop\/web\s+shop\/db\s+9001\/UDP\s+NetworkPolicy shop\/deny-all: isolates shop\/db, no rule admits$/,
  );
  expect(lines[2]).toMatch(
    /denied\s+eg\s+fd01::5\s+fd01::6\s+9004\/TCP\s+isolated, its pod's rules not written yet$/,
  );
});

test('the status reports the reader and the counters; bad filters are usage errors', async () => {
  const r = await get({ socketPath: sock() }, '/v1/status');
  expect(r.json<{ verdictLog: unknown }>().verdictLog).toMatchObject({
    mode: 'denied',
    group: 20556,
    capture: { state: 'running', messages: 5 },
    events: 4,
    foreignRecords: 1,
    lost: { rate_limit: 0, queue_overflow: 0, slow_reader: 0 },
  });
  const bad = await get({ socketPath: sock() }, '/v1/verdicts?verdict=dropped');
  expect(bad.status).toBe(400);
  const ctx = context();
  expect(await runCli(['watch', '--agent', sock(), '--verdict', 'dropped'], ctx)).toBe(2);
  const st = context();
  expect(await runCli(['status', '--agent', sock()], st)).toBe(0);
  expect(st.out.join('')).toMatch(/Verdict logs:\s+running: drops, NFLOG group 20556; 4 events, 0 watchers/);
});

test('events lost to the rate limit: what the kernel counters add up to since the agent began reading them', async () => {
  type RateLimit = { reads: number; seen: number; logged: number };
  const verdictLog = async () =>
    (await get({ socketPath: sock() }, '/v1/status')).json<{
      verdictLog: { lost: { rate_limit: number }; rateLimit: RateLimit };
    }>().verdictLog;
  await eventually(async () => (await verdictLog()).rateLimit.reads > 0, 'a first read of the counters');
  // The kernel counted a flood on IPv4: 700 packets reached a log point, the bucket let 200 through.
  const rules = kernel.tables.get(4)!.get('filter')!.get('PALISADE-LOG-LIMIT')!.rules;
  rules[0].packets += 700;
  rules[1].packets += 200;
  await eventually(async () => (await verdictLog()).lost.rate_limit === 500, '500 events lost');
  expect((await verdictLog()).rateLimit).toMatchObject({ seen: 700, logged: 200 });
  const st = context();
  expect(await runCli(['status', '--agent', sock()], st)).toBe(0);
  expect(st.out.join('')).toContain('lost: 500 to the rate limit, 0 queue overflows, 0 to slow watchers');
  expect(st.out.join('')).toContain(
    'rate limit counters: 700 reached a log point, 200 logged since this agent began reading them',
  );
});
