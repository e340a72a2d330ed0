/**
 * The agent as a real process in a node network namespace, pods as network namespaces, the
 * test API server in this process (reached over a veth; see testutil/node-sandbox.ts). Each step
 * changes the cluster, waits until the agent has applied everything it received, then checks
 * real connections (and that the agent's own verdict agrees with them) and the kernel state.
 * Faults: API server restart, expired watches, a failing apply, SIGKILL mid-apply, rules deleted
 * by hand, SIGTERM, and finally `palisade cleanup`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Verdict } from '../../compiler';
import { describeKernel, run } from '../../dataplane/testutil/netns';
import { startApiServer, type KubeObject, type TestApiServer } from '../../e2e/apiserver';
import { delay, eventually } from '../kube/testutil/eventually';
import { namespace, pod, policy } from '../kube/testutil/objects';
import { AGENT_MAIN, AgentProcess, metricSum, metricValue } from './testutil/agent-process';
import { NodeSandbox } from './testutil/node-sandbox';
import { RestoreStub } from './testutil/restore-stub';

jest.setTimeout(180_000);

/** [from, to, port, allowed] */
type Case = readonly [string, string, number, boolean];

const PODS: Array<{ key: string; ip: string; node: string; labels: Record<string, string> }> = [
  { key: 'x/a', ip: '10.244.0.10', node: 'node-a', labels: { app: 'web' } },
  { key: 'x/b', ip: '10.244.0.11', node: 'node-a', labels: { app: 'db' } },
  { key: 'y/c', ip: '10.244.0.12', node: 'node-a', labels: { app: 'client' } },
  { key: 'z/s', ip: '10.244.0.13', node: 'node-a', labels: { app: 'stranger' } },
  // Scheduled on another node: a peer here, never a subject.
  { key: 'y/r', ip: '10.244.0.20', node: 'node-b', labels: { app: 'client' } },
];

const DENY_X = policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] });
const ALLOW_WEB = policy('x/allow-web', {
  podSelector: { matchLabels: { app: 'web' } },
  ingress: [
    { from: [{ namespaceSelector: { matchLabels: { team: 'y' } } }], ports: [{ protocol: 'TCP', port: 80 }] },
  ],
});
const ALLOW_DB = policy('x/allow-db', {
  podSelector: { matchLabels: { app: 'db' } },
  ingress: [
    { from: [{ namespaceSelector: { matchLabels: { team: 'y' } } }], ports: [{ protocol: 'TCP', port: 80 }] },
  ],
});

/** The cases that hold once x/deny and x/allow-web are in place (the steady state of the fault tests). */
const STEADY: Case[] = [
  ['y/c', 'x/a', 80, true],
  ['y/r', 'x/a', 80, true],
  ['y/c', 'x/a', 81, false],
  ['z/s', 'x/a', 80, false],
  ['y/c', 'x/b', 80, false],
  ['x/a', 'y/c', 80, true],
];

describeKernel('palisade agent in a node namespace', () => {
  let dir: string;
  let sandbox: NodeSandbox;
  let server: TestApiServer;
  let stub: RestoreStub;
  let agent: AgentProcess;
  let kubeconfig: string;

  const startAgent = () =>
    AgentProcess.start({
      sandbox,
      kubeconfig,
      dir,
      resyncInterval: '2s',
      pathPrefix: stub.pathPrefix,
      logLevel: 'debug',
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-agent-e2e-'));
    sandbox = await NodeSandbox.create();
    stub = new RestoreStub(dir);
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
    if (process.env.PALISADE_KEEP_TEST_DIR) console.log(`test directory kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  /** A test that prints the tail of the agent's log when it fails, so a CI failure can be read. */
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

  /** Waits until the agent's model gives these verdicts and everything received is applied. */
  async function enforced(cases: readonly Case[]): Promise<void> {
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
  }

  /** Real connections match the cases; so does the agent's own verdict. */
  async function expectConnectivity(cases: readonly Case[]): Promise<void> {
    const results = await Promise.all(
      cases.map(async ([from, to, port, want]) => {
        const r = await sandbox.pod(from).prober.probe(sandbox.pod(to).ip, port, want ? 3000 : 800);
        return { c: `${from} -> ${to}:${port}`, want, got: r === 'ok', r };
      }),
    );
    expect(results.filter((x) => x.want !== x.got)).toEqual([]);
  }

  /** Applied, connections right, kernel equal to the desired state. */
  async function step(cases: readonly Case[]): Promise<void> {
    await enforced(cases);
    await expectConnectivity(cases);
    expect(await agent.debug('/v1/drift')).toEqual({ differences: [] });
  }

  /** Probes `cases` in a loop until stopped; returns every probe that disagreed. */
  function monitor(cases: readonly Case[]): { stop(): Promise<string[]>; rounds(): number } {
    const wrong: string[] = [];
    let running = true;
    let rounds = 0;
    const loop = (async () => {
      while (running) {
        await Promise.all(
          cases.map(async ([from, to, port, want]) => {
            const r = await sandbox.pod(from).prober.probe(sandbox.pod(to).ip, port, want ? 3000 : 400);
            if ((r === 'ok') !== want)
              wrong.push(`${from} -> ${to}:${port} ${r} (want ${want ? 'allowed' : 'denied'})`);
          }),
        );
        rounds++;
      }
    })();
    return {
      rounds: () => rounds,
      stop: async () => {
        running = false;
        await loop;
        return wrong;
      },
    };
  }

  const iptablesSave = () => sandbox.inNode(['iptables-nft-save', '-t', 'filter']);
  const ipsetNames = async () => (await sandbox.inNode(['ipset', 'list', '-n'])).split('\n').filter(Boolean);

  e2eTest('waits for its caches, then programs; nothing isolated yet', async () => {
    agent = startAgent();
    await agent.waitReady();
    const status = await agent.status();
    expect(status.synced).toBe(true);
    // The ClusterNetworkPolicy CRD is not installed here: that watch is absent, and synced.
    expect(status.watches.map((w) => w.state)).toEqual([
      'watching',
      'watching',
      'watching',
      'watching',
      'absent',
    ]);
    const log = agent.logEntries();
    const synced = log.findIndex((e) => e.msg === 'all caches synced; programming starts');
    const firstApply = log.findIndex((e) => e.msg === 'applied' || e.msg === 'apply skipped: no change');
    expect(synced).toBeGreaterThanOrEqual(0);
    expect(firstApply).toBeGreaterThan(synced);
    await step([
      ['y/c', 'x/a', 80, true],
      ['z/s', 'x/a', 81, true],
      ['y/r', 'x/a', 80, true],
      ['x/a', 'y/c', 80, true],
      ['y/c', 'x/b', 80, true],
    ]);
    expect(await iptablesSave()).toMatch(/^:PALISADE-FORWARD /m);
  });

  e2eTest('a default deny, then an allow rule by namespace and port', async () => {
    server.create(DENY_X);
    await step([
      ['y/c', 'x/a', 80, false],
      ['z/s', 'x/a', 80, false],
      ['y/r', 'x/a', 80, false],
      ['y/c', 'x/b', 80, false],
      ['x/a', 'y/c', 80, true],
      ['y/c', 'z/s', 80, true],
    ]);
    server.create(ALLOW_WEB);
    await step(STEADY);
    const applied = agent.logEntries().filter((e) => e.msg === 'applied');
    expect(applied.at(-1)).toMatchObject({ events: expect.any(Number), restoreBytes: expect.any(Number) });
  });

  e2eTest('namespace and pod relabels', async () => {
    server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'q' } } });
    await step([
      ['y/c', 'x/a', 80, false],
      ['y/r', 'x/a', 80, false],
    ]);
    server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'y' } } });
    await step(STEADY);
    server.patch({ kind: 'Pod', namespace: 'x', name: 'b' }, 'merge', {
      metadata: { labels: { app: 'web' } },
    });
    await step([
      ['y/c', 'x/b', 80, true],
      ['y/c', 'x/b', 81, false],
    ]);
    server.patch({ kind: 'Pod', namespace: 'x', name: 'b' }, 'merge', {
      metadata: { labels: { app: 'db' } },
    });
    await step(STEADY);
  });

  e2eTest('pods added and deleted', async () => {
    await sandbox.addPod('y/d', '10.244.0.14');
    server.create(pod('y/d', { labels: { app: 'client' }, ip: '10.244.0.14', node: 'node-a' }));
    await step([
      ['y/d', 'x/a', 80, true],
      ['y/d', 'x/a', 81, false],
      ['z/s', 'y/d', 80, true],
    ]);
    const setsWith = async (ip: string) => {
      const out = await sandbox.inNode(['ipset', 'save']);
      return out.split('\n').filter((l) => l.startsWith('add ') && l.includes(` ${ip}`)).length;
    };
    expect(await setsWith('10.244.0.14')).toBeGreaterThan(0);
    server.delete({ kind: 'Pod', namespace: 'y', name: 'd' });
    await eventually(async () => (await setsWith('10.244.0.14')) === 0, 'the deleted pod to leave every set');
    await sandbox.removePod('y/d');
    await step(STEADY);
  });

  e2eTest('only pods of its own node are subjects', async () => {
    server.create(policy('y/deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    await step([
      ['x/a', 'y/c', 80, false],
      // y/r is on node-b: its ingress is the other agent's job.
      ['x/a', 'y/r', 80, true],
    ]);
    server.delete({ kind: 'NetworkPolicy', namespace: 'y', name: 'deny' });
    await step(STEADY);
  });

  e2eTest('egress isolation; replies to allowed connections still flow', async () => {
    server.create(policy('z/no-egress', { podSelector: {}, policyTypes: ['Egress'] }));
    await step([
      ['z/s', 'y/c', 80, false],
      ['y/c', 'z/s', 80, true],
    ]);
    server.delete({ kind: 'NetworkPolicy', namespace: 'z', name: 'no-egress' });
    await step([...STEADY, ['z/s', 'y/c', 80, true]]);
  });

  e2eTest('API server restarted mid-run: reconnects and catches up on what changed meanwhile', async () => {
    const before = metricValue(await agent.metrics(), 'palisade_watch_restarts_total', {
      resource: 'pods',
      reason: 'error',
    });
    await server.stop();
    await eventually(
      async () =>
        metricValue(await agent.metrics(), 'palisade_watch_restarts_total', {
          resource: 'pods',
          reason: 'error',
        }) > before,
      'a failed reconnect',
    );
    server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'q' } } });
    await server.restart({ keepState: true });
    await step([['y/c', 'x/a', 80, false]]);
    server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'y' } } });
    await step(STEADY);
    expect((await agent.status()).healthy).toBe(true);
  });

  e2eTest('watches expired (410): relists and notices what was deleted in the gap', async () => {
    const metrics = await agent.metrics();
    const expiredBefore = metricSum(metrics, 'palisade_watch_restarts_total');
    server.expireWatches();
    server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'allow-web' });
    await step([
      ['y/c', 'x/a', 80, false],
      ['y/r', 'x/a', 80, false],
    ]);
    const after = await agent.metrics();
    expect(metricSum(after, 'palisade_watch_restarts_total')).toBeGreaterThan(expiredBefore);
    expect(
      metricValue(after, 'palisade_watch_restarts_total', { resource: 'networkpolicies', reason: 'expired' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(after, 'palisade_events_received_total', {
        resource: 'networkpolicies',
        type: 'relist_deleted',
      }),
    ).toBe(1);
    server.create(ALLOW_WEB);
    await step(STEADY);
  });

  e2eTest(
    'an apply that fails keeps the old rules and the desired state, and succeeds on retry',
    async () => {
      const errorsBefore = metricValue(await agent.metrics(), 'palisade_apply_errors_total');
      stub.set('fail', true);
      server.create(ALLOW_DB);
      await eventually(
        async () => (await agent.status()).runner.consecutiveFailures >= 2,
        'two failed applies',
      );
      const status = await agent.status();
      expect(status.runner.pendingEvents).toBeGreaterThan(0);
      expect(status.runner.lastError?.error).toContain('line 2 failed');
      expect(status.runner.lastError?.details).toMatchObject({ errorType: 'ApplyError', lineNumber: 2 });
      expect(metricValue(await agent.metrics(), 'palisade_apply_errors_total')).toBeGreaterThan(errorsBefore);
      // The kernel still holds the last good state.
      await expectConnectivity(STEADY);
      const failure = agent
        .logEntries()
        .find((e) => e.msg === 'apply failed; desired state kept, will retry');
      expect(failure).toMatchObject({ lineNumber: 2, lines: expect.any(Array) });
      stub.set('fail', false);
      await step([
        ...STEADY.filter(([, to]) => to !== 'x/b'),
        ['y/c', 'x/b', 80, true],
        ['z/s', 'x/b', 80, false],
      ]);
      server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'allow-db' });
      await step(STEADY);
    },
  );

  e2eTest('SIGKILL mid-apply and restart: the rules never leave the kernel', async () => {
    // Everything in STEADY but y/c -> x/b, which the change under way allows.
    const watch = monitor(STEADY.filter(([from, to]) => !(from === 'y/c' && to === 'x/b')));
    stub.set('hang', true);
    server.create(ALLOW_DB);
    await eventually(
      async () => (await agent.status()).runner.running === 'apply',
      'an apply stuck in iptables-restore',
    );
    agent.kill('SIGKILL');
    expect((await agent.exit).signal).toBe('SIGKILL');
    // No agent: the rules are still there and still enforce.
    expect(await iptablesSave()).toMatch(/^-A PALISADE-/m);
    const roundsAtKill = watch.rounds();
    await eventually(() => watch.rounds() >= roundsAtKill + 2, 'probes while no agent runs');
    stub.set('hang', false);
    agent = startAgent();
    await agent.waitReady();
    await step([['y/c', 'x/b', 80, true]]);
    const wrong = await watch.stop();
    expect(wrong).toEqual([]);
    expect(watch.rounds()).toBeGreaterThan(roundsAtKill + 2);
    server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'allow-db' });
    await step(STEADY);
  });

  e2eTest('chains and set members deleted by hand are repaired by the periodic resync', async () => {
    const repairsBefore = metricValue(await agent.metrics(), 'palisade_drift_repairs_total');
    // Remove every PALISADE chain and hook from the filter table, keeping everything else.
    const saved = await iptablesSave();
    const stripped = saved
      .split('\n')
      .filter((l) => !l.startsWith(':PALISADE-') && !l.startsWith('-A PALISADE-') && !/-j PALISADE-/.test(l))
      .join('\n');
    await sandbox.inNode(['iptables-nft-restore'], stripped);
    expect(await iptablesSave()).not.toMatch(/PALISADE-/);
    // And take y/c out of the peer set that lets it reach x/a.
    const peerSet = (await ipsetNames()).find((n) => n.startsWith('PALISADE-P4-pods-'));
    expect(peerSet).toBeDefined();
    await sandbox.inNode(['ipset', 'del', peerSet!, '10.244.0.12']);
    await eventually(
      async () => metricValue(await agent.metrics(), 'palisade_drift_repairs_total') > repairsBefore,
      'a drift repair',
      30_000,
    );
    await step(STEADY);
    const status = await agent.status();
    expect(status.runner.repairs).toBeGreaterThan(0);
  });

  e2eTest('SIGTERM stops cleanly and leaves the rules in place', async () => {
    const { code } = await agent.stop('SIGTERM');
    expect(code).toBe(0);
    const log = agent.logEntries();
    expect(log.at(-1)).toMatchObject({ msg: 'agent stopped' });
    const r = await run(['test', '-e', agent.socket]);
    expect(r.code).not.toBe(0);
    expect(await iptablesSave()).toMatch(/^-A PALISADE-/m);
    await expectConnectivity(STEADY);
  });

  e2eTest('palisade cleanup removes what Palisade created and nothing else', async () => {
    await sandbox.inNode(['iptables-nft', '-A', 'FORWARD', '-s', '203.0.113.7/32', '-j', 'DROP']);
    await sandbox.inNode(['ipset', 'create', 'custom-keep', 'hash:ip']);
    expect((await ipsetNames()).some((n) => n.startsWith('PALISADE-'))).toBe(true);
    const out = await sandbox.inNode([process.execPath, AGENT_MAIN, 'cleanup']);
    expect(out).toMatch(/^nft: removed \d+ chains/m);
    const saved = await iptablesSave();
    expect(saved).not.toMatch(/PALISADE/);
    expect(saved).toMatch(/^-A FORWARD -s 203\.0\.113\.7\/32 -j DROP$/m);
    expect(await ipsetNames()).toEqual(['custom-keep']);
    await expectConnectivity([
      ['z/s', 'x/a', 80, true],
      ['y/c', 'x/b', 81, true],
    ]);
    // Idempotent.
    const again = await sandbox.inNode([process.execPath, AGENT_MAIN, 'cleanup']);
    expect(again).toMatch(/^nft: nothing to remove$/m);
    await delay(0);
  });
});
