/**
 * The operator commands against an agent running the nftables backend, in-process over FakeNft
 * (no root): the same cluster as operator.test.ts, read through nftables eyes — status names
 * the backend and the drift watch, rules shows the pod's dispatch map element, explain walks the
 * packet through the table's base chain, chains / ipsets / diff show the table's objects, and a
 * foreign change is seen by the watch and repaired at once (no periodic check involved).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type TestApiServer } from '../../../e2e/apiserver';
import { FakeNft } from '../../../dataplane/nftables/fake-nft';
import { Agent } from '../../daemon/agent';
import { parseConfig } from '../../daemon/config';
import { silentLogger } from '../../daemon/logger';
import { eventually } from '../../kube/testutil/eventually';
import type { StatusReport } from './status';
import { cli, clusterObjects, NODE } from '../live/testutil/scenario';

jest.setTimeout(60_000);

let dir: string;
let socket: string;
let server: TestApiServer;
let kernel: FakeNft;
let agent: Agent;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-operator-nft-'));
  socket = join(dir, 'palisade.sock');
  server = await startApiServer({ objects: clusterObjects() });
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  kernel = new FakeNft();
  const { config, problems } = parseConfig({
    nodeName: NODE,
    kubeconfig: join(dir, 'kubeconfig'),
    metricsAddress: '',
    debugSocket: socket,
    backend: 'nftables',
    // The periodic check is far away: any repair below is the drift watch's.
    resyncInterval: '1h',
  });
  expect(problems).toEqual([]);
  agent = new Agent(config, {
    kernel,
    log: silentLogger(),
    reflectorBackoff: { initialMs: 20, maxMs: 200 },
    retryBackoff: { initialMs: 20, maxMs: 200 },
  });
  await agent.start();
  await agent.whenReady();
});

afterAll(async () => {
  await agent?.stop('test over');
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const live = (...args: string[]) => cli([...args, '--agent', socket]);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async <T = Record<string, any>>(...args: string[]): Promise<T> => {
  const r = await live(...args, '-o', 'json');
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as T;
};

test('status names the backend, counts the table, and shows the drift watch', async () => {
  const s = await json<StatusReport>('status');
  expect(s).toMatchObject({ backend: 'nftables', synced: true, ready: true, applyErrors: 0 });
  expect(s.drift.watch).toMatchObject({ running: true, foreignChanges: 0 });
  expect(s.counts.chains).toBe(kernel.table()!.chains.size);
  // Sets and the named objects of the verdict log (its limit and counters) count together.
  expect(s.counts.ipsets).toBe(kernel.table()!.sets.size + kernel.table()!.objects.size);
  const h = await live('status');
  expect(h.out).toMatch(/sync mode incremental, nftables \(table inet palisade\)/);
  expect(h.out).toMatch(/watching \(nft monitor\): 0 foreign changes seen/);
  expect(h.out).toMatch(/^ {2}elements +\d+ {2}in those sets and maps$/m);
});

test("rules: the pod's chains in the table and its dispatch map element", async () => {
  const r = await json('rules', 'x/a');
  expect(r.backend).toBe('nftables');
  expect(r.kernel.dispatch).toEqual([
    expect.objectContaining({
      chain: 'map ingress-4',
      spec: expect.stringMatching(/^10\.244\.0\.10 : jump pod-in4-a-/),
      state: 'in kernel',
    }),
  ]);
  const kinds = r.kernel.chains.map((c: { kind: string }) => c.kind).sort();
  expect(kinds).toEqual(['pod', 'policy', 'policy']);
  const h = await live('rules', 'x/a');
  expect(h.out).toContain('Kernel objects (IPv4, table inet palisade, as the kernel holds them now):');
});

test('explain: the kernel path through the forward-4 base chain, allowed and denied', async () => {
  const ok = await json('explain', '--from', 'y/c', '--to', 'x/a', '--port', '80/TCP');
  expect(ok.allowed).toBe(true);
  expect(ok.kernelPath).toMatchObject({ family: 4, result: 'allowed' });
  const notes = ok.kernelPath.steps.map((s: { note: string }) => s.note);
  expect(notes.indexOf('x/allow-web ingress rule 0')).toBeGreaterThan(
    notes.indexOf('y/egress egress rule 0'),
  );
  expect(ok.kernelPath.steps[0].chain).toBe('forward-4');
  expect(ok.kernelPath.decidedBy.chain).toMatch(/^np-in4-allow-web-/);
  expect(ok.kernelPath.decidedBy.sets).toEqual([
    expect.objectContaining({ element: '10.244.0.12', member: true }),
    expect.objectContaining({ element: '10.244.0.10 . 80', member: true }),
  ]);
  expect(ok.kernelAgrees).toBe(true);
  const no = await json('explain', '--from', 'y/c', '--to', 'x/b', '--port', '80');
  expect(no.allowed).toBe(false);
  expect(no.kernelPath.result).toBe('dropped');
  expect(no.kernelPath.decidedBy).toMatchObject({ spec: 'drop', note: 'pod x/b: no policy allows ingress' });
  expect(no.kernelPath.decidedBy.chain).toMatch(/^pod-in4-b-/);
  expect(no.kernelAgrees).toBe(true);
});

test('chains, ipsets and diff read the table', async () => {
  await eventually(async () => (await live('diff')).code === 0, 'the kernel to match');
  const c = await json('chains', '--family', '4');
  const names = c.chains.map((x: { name: string }) => x.name);
  expect(names).toEqual(expect.arrayContaining(['forward-4', 'accepted-4']));
  expect(c.hooks).toEqual([]);
  const sets = await json('ipsets');
  const types = new Set(sets.ipsets.map((s: { type: string }) => s.type));
  expect(types).toEqual(
    new Set([
      'ipv4_addr',
      'ipv6_addr',
      'ipv4_addr . inet_service',
      'ipv6_addr . inet_service',
      'ipv4_addr : verdict',
      'ipv6_addr : verdict',
      // Fail closed for new pods: the node's pod ranges.
      'ipv4_addr interval',
      'ipv6_addr interval',
      // The verdict log's named objects.
      'counter',
      'limit rate 100/second burst 200 packets',
    ]),
  );
});

test('a foreign change is seen by the drift watch and repaired at once', async () => {
  const rules = await json('rules', 'x/b');
  const podChain = rules.kernel.chains.find((c: { kind: string }) => c.kind === 'pod').name;
  // Another process flushes x/b's chain.
  kernel.foreign(`flush chain inet palisade ${podChain}`);
  await eventually(async () => (await live('diff')).code === 0, 'the drift repair', 15_000, 20);
  const s = await json<StatusReport>('status');
  expect(s.drift.watch).toMatchObject({
    foreignChanges: 1,
    last: { pid: 4242, events: [`flush chain inet palisade ${podChain}`] },
  });
  expect(s.drift.repairs).toBe(1);
  expect(s.drift.lastRepair?.differences).toEqual([`chain ${podChain} (inet) differs`]);
});
