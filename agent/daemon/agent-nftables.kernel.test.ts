/**
 * The agent with the nftables backend, as a real process in a node namespace, pods as network
 * namespaces: it programs its table and nothing else, follows cluster changes with real
 * connections matching its verdicts, sees a foreign change to its table through `nft monitor`
 * and repairs it without the periodic check (set to an hour here), survives SIGKILL with its
 * rules in place, adopts them on restart without writing, and `palisade cleanup --backend
 * nftables` removes its table and nothing else. The same scenario runs with iptables in
 * agent.kernel.test.ts (with fault injection into iptables-restore).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Verdict } from '../../compiler';
import { describeKernel } from '../../dataplane/testutil/netns';
import { startApiServer, type KubeObject, type TestApiServer } from '../../e2e/apiserver';
import { eventually } from '../kube/testutil/eventually';
import { namespace, pod, policy } from '../kube/testutil/objects';
import { AGENT_MAIN, AgentProcess, metricSum } from './testutil/agent-process';
import { NodeSandbox } from './testutil/node-sandbox';

jest.setTimeout(180_000);

type Case = readonly [string, string, number, boolean];

const PODS = [
  { key: 'x/a', ip: '10.244.0.10', node: 'node-a', labels: { app: 'web' } },
  { key: 'x/b', ip: '10.244.0.11', node: 'node-a', labels: { app: 'db' } },
  { key: 'y/c', ip: '10.244.0.12', node: 'node-a', labels: { app: 'client' } },
  { key: 'z/s', ip: '10.244.0.13', node: 'node-a', labels: { app: 'stranger' } },
  { key: 'y/r', ip: '10.244.0.20', node: 'node-b', labels: { app: 'client' } },
];

const DENY_X = policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] });
const ALLOW_WEB = policy('x/allow-web', {
  podSelector: { matchLabels: { app: 'web' } },
  ingress: [
    { from: [{ namespaceSelector: { matchLabels: { team: 'y' } } }], ports: [{ protocol: 'TCP', port: 80 }] },
  ],
});

const STEADY: Case[] = [
  ['y/c', 'x/a', 80, true],
  ['y/r', 'x/a', 80, true],
  ['y/c', 'x/a', 81, false],
  ['z/s', 'x/a', 80, false],
  ['y/c', 'x/b', 80, false],
  ['x/a', 'y/c', 80, true],
];

describeKernel('palisade agent with the nftables backend in a node namespace', () => {
  let dir: string;
  let sandbox: NodeSandbox;
  let server: TestApiServer;
  let agent: AgentProcess;
  let kubeconfig: string;

  const startAgent = () =>
    AgentProcess.start({
      sandbox,
      kubeconfig,
      dir,
      resyncInterval: '1h',
      backend: 'nftables',
      logLevel: 'debug',
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-agent-nft-'));
    sandbox = await NodeSandbox.create();
    const objects: KubeObject[] = [
      namespace('x', { team: 'x' }),
      namespace('y', { team: 'y' }),
      namespace('z', { team: 'z' }),
    ];
    for (const p of PODS) {
      await sandbox.addPod(p.key, p.ip);
      objects.push(pod(p.key, { labels: p.labels, ip: p.ip, node: p.node }));
    }
    server = await startApiServer({ host: sandbox.hostIP, objects, bookmarkIntervalMs: 1000 });
    kubeconfig = join(dir, 'kubeconfig');
    server.writeKubeconfig(kubeconfig);
  });

  afterAll(async () => {
    if (agent) {
      agent.kill('SIGKILL');
      await agent.exit;
    }
    await server?.stop();
    await sandbox?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const e2eTest = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        if (agent) console.log(`agent log (tail):\n${agent.log().split('\n').slice(-80).join('\n')}`);
        throw err;
      }
    });

  async function verdictOf(from: string, to: string, port: number): Promise<boolean> {
    const r = await agent.debug<{ verdict: Verdict }>(
      `/v1/verdict?from=${from}&to=${to}&port=${port}&protocol=TCP`,
    );
    return r.verdict.allowed;
  }

  async function step(cases: readonly Case[]): Promise<void> {
    await eventually(
      async () => {
        for (const [from, to, port, want] of cases)
          if ((await verdictOf(from, to, port)) !== want) return false;
        return true;
      },
      'the agent to compile the change',
      30_000,
    );
    await agent.waitSettled();
    const results = await Promise.all(
      cases.map(async ([from, to, port, want]) => {
        const r = await sandbox.pod(from).prober.probe(sandbox.pod(to).ip, port, want ? 3000 : 800);
        return { c: `${from} -> ${to}:${port}`, want, got: r === 'ok', r };
      }),
    );
    expect(results.filter((x) => x.want !== x.got)).toEqual([]);
    expect(await agent.debug('/v1/drift')).toEqual({ differences: [] });
  }

  const tables = async (): Promise<string[]> =>
    (await sandbox.inNode(['nft', 'list', 'tables'])).split('\n').filter(Boolean);
  const iptablesSave = () => sandbox.inNode(['iptables-nft-save', '-t', 'filter']);

  e2eTest('programs its own table and nothing else; follows a default deny and an allow rule', async () => {
    agent = startAgent();
    await agent.waitReady();
    expect(await tables()).toEqual(['table inet palisade']);
    expect(await iptablesSave()).not.toMatch(/PALISADE/);
    const status = await agent.status();
    expect(status).toMatchObject({ synced: true, ready: true });
    server.create(DENY_X);
    await step([
      ['y/c', 'x/a', 80, false],
      ['y/c', 'x/b', 80, false],
      ['x/a', 'y/c', 80, true],
    ]);
    server.create(ALLOW_WEB);
    await step(STEADY);
  });

  e2eTest('relabels and pods come and go', async () => {
    server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'q' } } });
    await step([
      ['y/c', 'x/a', 80, false],
      ['y/r', 'x/a', 80, false],
    ]);
    server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'y' } } });
    await step(STEADY);
  });

  e2eTest(
    'a foreign change to the table is seen by nft monitor and repaired, with no periodic check',
    async () => {
      const before = metricSum(await agent.metrics(), 'palisade_foreign_changes_total');
      // Someone flushes the IPv4 base chain: every isolated pod loses its dispatch.
      await sandbox.inNode(['nft', 'flush chain inet palisade forward-4']);
      await eventually(
        async () => (await agent.debug<{ differences: string[] }>('/v1/drift')).differences.length === 0,
        'the repair',
        20_000,
        20,
      );
      expect(metricSum(await agent.metrics(), 'palisade_foreign_changes_total')).toBeGreaterThan(before);
      const status = await agent.debug<{
        driftWatch: { foreignChanges: number; running: boolean };
        runner: { repairs: number };
      }>('/v1/status');
      expect(status.driftWatch).toMatchObject({ running: true });
      expect(status.driftWatch.foreignChanges).toBeGreaterThanOrEqual(1);
      expect(status.runner.repairs).toBeGreaterThanOrEqual(1);
      await step(STEADY);
    },
  );

  e2eTest('SIGKILL leaves the rules enforcing; a restart adopts them without a transaction', async () => {
    agent.kill('SIGKILL');
    await agent.exit;
    const results = await Promise.all(
      STEADY.map(
        async ([from, to, port, want]) =>
          ((await sandbox.pod(from).prober.probe(sandbox.pod(to).ip, port, want ? 3000 : 800)) === 'ok') ===
          want,
      ),
    );
    expect(results.every(Boolean)).toBe(true);
    // The log file is appended to: the new process's entries come after these.
    const earlier = agent.logEntries().length;
    agent = startAgent();
    await agent.waitReady();
    const first = agent
      .logEntries()
      .slice(earlier)
      .find((e) => e.msg === 'applied' || e.msg === 'apply skipped: no change');
    expect(first).toMatchObject({ transactions: 0, restoreBytes: 0 });
    await step(STEADY);
  });

  e2eTest('palisade cleanup --backend nftables removes the table and nothing else', async () => {
    await sandbox.inNode(['nft', 'add table ip keep-me; add chain ip keep-me c']);
    const { code } = await agent.stop('SIGTERM');
    expect(code).toBe(0);
    const out = await sandbox.inNode([process.execPath, AGENT_MAIN, 'cleanup', '--backend', 'nftables']);
    expect(out).toMatch(/^nftables: removed table inet palisade \(\d+ chains, \d+ sets and maps\)$/m);
    expect(await tables()).toEqual(['table ip keep-me']);
    const again = await sandbox.inNode([process.execPath, AGENT_MAIN, 'cleanup', '--backend', 'nftables']);
    expect(again).toMatch(/^nftables: nothing to remove$/m);
  });
});
