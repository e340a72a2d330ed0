/**
 * The agent as a real process in a node network namespace, pods as network namespaces, the
 * test API server in this process (reached over a veth; see testutil/agent-scenario.ts), once
 * per backend. Each step changes the cluster, waits until the agent has applied everything it
 * received, then checks real connections (and that the agent's own verdict agrees with them)
 * and the kernel state.
 * Faults, on both backends: API server restart, expired watches, a failing apply, SIGKILL
 * mid-apply, rules changed by hand, SIGTERM, and finally `palisade cleanup`. Applies are made to
 * fail or hang by a stand-in for the kernel tool on the agent's PATH (iptables-nft-restore,
 * testutil/restore-stub.ts; the `nft -i` session child, testutil/nft-stub.ts).
 * nftables only: a foreign change seen by `nft monitor` and repaired with no periodic check,
 * the session child killed while events arrive, a transaction the kernel refuses (the table
 * taken over by a foreign owner), and a restart that adopts the table without a transaction.
 */
import { spawn } from 'node:child_process';
import { describeKernel, run } from '../../dataplane/testutil/netns';
import { delay, eventually } from '../kube/testutil/eventually';
import { pod, policy } from '../kube/testutil/objects';
import { AGENT_MAIN, metricSum, metricValue } from './testutil/agent-process';
import {
  AgentScenario,
  BACKENDS,
  testWithAgentLog,
  type Backend,
  type Case,
  type ScenarioPod,
} from './testutil/agent-scenario';
import { killNftSession, nftSessionPids, NftStub } from './testutil/nft-stub';
import { RestoreStub } from './testutil/restore-stub';

jest.setTimeout(180_000);

const PODS: ScenarioPod[] = [
  { key: 'x/a', ip: '10.244.0.10', labels: { app: 'web' } },
  { key: 'x/b', ip: '10.244.0.11', labels: { app: 'db' } },
  { key: 'y/c', ip: '10.244.0.12', labels: { app: 'client' } },
  { key: 'z/s', ip: '10.244.0.13', labels: { app: 'stranger' } },
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

/** STEADY with x/allow-db added. */
const WITH_DB: Case[] = [
  ...STEADY.filter(([, to]) => to !== 'x/b'),
  ['y/c', 'x/b', 80, true],
  ['z/s', 'x/b', 80, false],
];

/**
 * How each backend's agent runs here. iptables: a 2 s resync, so the periodic check repairs
 * what was deleted by hand. nftables: the periodic check an hour away, so a repair can only be
 * the drift watch's (`nft monitor`).
 */
const RESYNC: Record<Backend, string> = { iptables: '2s', nftables: '1h' };

/** A stand-in for the backend's kernel tool that makes applies fail or hang (see the stubs). */
interface ApplyFaults {
  readonly pathPrefix: string;
  set(flag: 'fail' | 'hang', on: boolean, agentPid: number): Promise<void>;
}

function applyFaults(backend: Backend, dir: string): ApplyFaults {
  if (backend === 'nftables') return new NftStub(dir);
  const stub = new RestoreStub(dir);
  return {
    pathPrefix: stub.pathPrefix,
    set: async (flag, on) => stub.set(flag, on),
  };
}

/** nft -j output without what differs between equal rulesets (handles, counter values), sorted. */
function normalizedTable(json: string): unknown[] {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k === 'handle' || k === 'packets' || k === 'bytes') continue;
        // Hash sets list their elements in hash order, which depends on the set's history.
        out[k] = k === 'elem' && Array.isArray(x) ? x.map(strip).sort(byJson) : strip(x);
      }
      return out;
    }
    return v;
  };
  const items = (JSON.parse(json) as { nftables: Array<Record<string, unknown>> }).nftables.filter(
    (o) => !('metainfo' in o),
  );
  // Rules keep their order within a chain; everything else is compared as a set.
  return items.map(strip).sort((a, b) => {
    const ra = (a as { rule?: { chain: string } }).rule;
    const rb = (b as { rule?: { chain: string } }).rule;
    if (ra && rb) return ra.chain < rb.chain ? -1 : ra.chain > rb.chain ? 1 : 0;
    return byJson(a, b);
  });
}

function byJson(a: unknown, b: unknown): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

describeKernel('palisade agent in a node namespace', () => {
  describe.each(BACKENDS.map((b) => [b]))('%s backend', (backend) => {
    let s: AgentScenario;
    let faults: ApplyFaults;

    const startAgent = () =>
      s.startAgent({
        backend,
        resyncInterval: RESYNC[backend],
        pathPrefix: faults.pathPrefix,
        logLevel: 'debug',
      });
    const agent = () => s.running;
    const e2eTest = (name: string, fn: () => Promise<void>) => testWithAgentLog(name, () => s?.agent, fn);
    const nftablesTest = (name: string, fn: () => Promise<void>) => {
      if (backend === 'nftables') e2eTest(name, fn);
    };
    const iptablesTest = (name: string, fn: () => Promise<void>) => {
      if (backend === 'iptables') e2eTest(name, fn);
    };

    beforeAll(async () => {
      s = await AgentScenario.create({
        prefix: `palisade-agent-e2e-${backend}-`,
        namespaces: { x: { team: 'x' }, y: { team: 'y' }, z: { team: 'z' } },
        pods: PODS,
      });
      faults = applyFaults(backend, s.dir);
    });

    afterAll(async () => {
      await s?.destroy();
    });

    const iptablesSave = () => s.sandbox.inNode(['iptables-nft-save', '-t', 'filter']);
    const ipsetNames = async () =>
      (await s.sandbox.inNode(['ipset', 'list', '-n'])).split('\n').filter(Boolean);
    const nftTables = async (): Promise<string[]> =>
      (await s.sandbox.inNode(['nft', 'list', 'tables'])).split('\n').filter(Boolean);
    const nftTable = () => s.sandbox.inNode(['nft', 'list', 'table', 'inet', 'palisade']);
    const nftTableJson = () => s.sandbox.inNode(['nft', '-j', 'list', 'table', 'inet', 'palisade']);

    /** Palisade's rules are in the kernel (with no agent running, too). */
    async function expectOwnRulesInKernel(): Promise<void> {
      if (backend === 'iptables') expect(await iptablesSave()).toMatch(/^-A PALISADE-/m);
      else expect(await nftTable()).toMatch(/ip daddr vmap @ingress-4/);
    }

    /** How many of Palisade's kernel objects hold `ip` (set members, map keys, rules). */
    async function kernelMentions(ip: string): Promise<number> {
      if (backend === 'iptables') {
        const out = await s.sandbox.inNode(['ipset', 'save']);
        return out.split('\n').filter((l) => l.startsWith('add ') && l.includes(` ${ip}`)).length;
      }
      const out = await nftTable();
      return out.split('\n').filter((l) => new RegExp(`\\b${ip.replace(/\./g, '\\.')}\\b`).test(l)).length;
    }

    e2eTest('waits for its caches, then programs; nothing isolated yet', async () => {
      startAgent();
      await agent().waitReady();
      const status = await agent().status();
      expect(status.synced).toBe(true);
      // The ClusterNetworkPolicy CRD is not installed here: that watch is absent, and synced.
      expect(status.watches.map((w) => w.state)).toEqual([
        'watching',
        'watching',
        'watching',
        'watching',
        'absent',
      ]);
      const log = agent().logEntries();
      const synced = log.findIndex((e) => e.msg === 'all caches synced; programming starts');
      const firstApply = log.findIndex((e) => e.msg === 'applied' || e.msg === 'apply skipped: no change');
      expect(synced).toBeGreaterThanOrEqual(0);
      expect(firstApply).toBeGreaterThan(synced);
      await s.step([
        ['y/c', 'x/a', 80, true],
        ['z/s', 'x/a', 81, true],
        ['y/r', 'x/a', 80, true],
        ['x/a', 'y/c', 80, true],
        ['y/c', 'x/b', 80, true],
      ]);
      if (backend === 'iptables') {
        expect(await iptablesSave()).toMatch(/^:PALISADE-FORWARD /m);
      } else {
        // Its own table and nothing else: no iptables rules, no other table.
        expect(await nftTables()).toEqual(['table inet palisade']);
        expect(await iptablesSave()).not.toMatch(/PALISADE/);
      }
    });

    e2eTest('a default deny, then an allow rule by namespace and port', async () => {
      s.server.create(DENY_X);
      await s.step([
        ['y/c', 'x/a', 80, false],
        ['z/s', 'x/a', 80, false],
        ['y/r', 'x/a', 80, false],
        ['y/c', 'x/b', 80, false],
        ['x/a', 'y/c', 80, true],
        ['y/c', 'z/s', 80, true],
      ]);
      s.server.create(ALLOW_WEB);
      await s.step(STEADY);
      const applied = agent()
        .logEntries()
        .filter((e) => e.msg === 'applied');
      expect(applied.at(-1)).toMatchObject({ events: expect.any(Number), restoreBytes: expect.any(Number) });
    });

    e2eTest('namespace and pod relabels', async () => {
      s.server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'q' } } });
      await s.step([
        ['y/c', 'x/a', 80, false],
        ['y/r', 'x/a', 80, false],
      ]);
      s.server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'y' } } });
      await s.step(STEADY);
      s.server.patch({ kind: 'Pod', namespace: 'x', name: 'b' }, 'merge', {
        metadata: { labels: { app: 'web' } },
      });
      await s.step([
        ['y/c', 'x/b', 80, true],
        ['y/c', 'x/b', 81, false],
      ]);
      s.server.patch({ kind: 'Pod', namespace: 'x', name: 'b' }, 'merge', {
        metadata: { labels: { app: 'db' } },
      });
      await s.step(STEADY);
    });

    e2eTest('pods added and deleted', async () => {
      await s.sandbox.addPod('y/d', '10.244.0.14');
      s.server.create(pod('y/d', { labels: { app: 'client' }, ip: '10.244.0.14', node: 'node-a' }));
      await s.step([
        ['y/d', 'x/a', 80, true],
        ['y/d', 'x/a', 81, false],
        ['z/s', 'y/d', 80, true],
      ]);
      expect(await kernelMentions('10.244.0.14')).toBeGreaterThan(0);
      s.server.delete({ kind: 'Pod', namespace: 'y', name: 'd' });
      await eventually(
        async () => (await kernelMentions('10.244.0.14')) === 0,
        'the deleted pod to leave every set',
      );
      await s.sandbox.removePod('y/d');
      await s.step(STEADY);
    });

    e2eTest('only pods of its own node are subjects', async () => {
      s.server.create(policy('y/deny', { podSelector: {}, policyTypes: ['Ingress'] }));
      await s.step([
        ['x/a', 'y/c', 80, false],
        // y/r is on node-b: its ingress is the other agent's job.
        ['x/a', 'y/r', 80, true],
      ]);
      s.server.delete({ kind: 'NetworkPolicy', namespace: 'y', name: 'deny' });
      await s.step(STEADY);
    });

    e2eTest('egress isolation; replies to allowed connections still flow', async () => {
      s.server.create(policy('z/no-egress', { podSelector: {}, policyTypes: ['Egress'] }));
      await s.step([
        ['z/s', 'y/c', 80, false],
        ['y/c', 'z/s', 80, true],
      ]);
      s.server.delete({ kind: 'NetworkPolicy', namespace: 'z', name: 'no-egress' });
      await s.step([...STEADY, ['z/s', 'y/c', 80, true]]);
    });

    e2eTest('API server restarted mid-run: reconnects and catches up on what changed meanwhile', async () => {
      const before = metricValue(await agent().metrics(), 'palisade_watch_restarts_total', {
        resource: 'pods',
        reason: 'error',
      });
      await s.server.stop();
      await eventually(
        async () =>
          metricValue(await agent().metrics(), 'palisade_watch_restarts_total', {
            resource: 'pods',
            reason: 'error',
          }) > before,
        'a failed reconnect',
      );
      s.server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'q' } } });
      await s.server.restart({ keepState: true });
      await s.step([['y/c', 'x/a', 80, false]]);
      s.server.patch({ kind: 'Namespace', name: 'y' }, 'merge', { metadata: { labels: { team: 'y' } } });
      await s.step(STEADY);
      expect((await agent().status()).healthy).toBe(true);
    });

    e2eTest('watches expired (410): relists and notices what was deleted in the gap', async () => {
      const metrics = await agent().metrics();
      const expiredBefore = metricSum(metrics, 'palisade_watch_restarts_total');
      s.server.expireWatches();
      s.server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'allow-web' });
      await s.step([
        ['y/c', 'x/a', 80, false],
        ['y/r', 'x/a', 80, false],
      ]);
      const after = await agent().metrics();
      expect(metricSum(after, 'palisade_watch_restarts_total')).toBeGreaterThan(expiredBefore);
      expect(
        metricValue(after, 'palisade_watch_restarts_total', {
          resource: 'networkpolicies',
          reason: 'expired',
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        metricValue(after, 'palisade_events_received_total', {
          resource: 'networkpolicies',
          type: 'relist_deleted',
        }),
      ).toBe(1);
      s.server.create(ALLOW_WEB);
      await s.step(STEADY);
    });

    e2eTest(
      'an apply that fails keeps the old rules and the desired state, and succeeds on retry',
      async () => {
        const errorsBefore = metricValue(await agent().metrics(), 'palisade_apply_errors_total');
        await faults.set('fail', true, agent().pid);
        s.server.create(ALLOW_DB);
        await eventually(
          async () => (await agent().status()).runner.consecutiveFailures >= 2,
          'two failed applies',
        );
        const status = await agent().status();
        expect(status.runner.pendingEvents).toBeGreaterThan(0);
        if (backend === 'iptables') {
          expect(status.runner.lastError?.error).toContain('line 2 failed');
          expect(status.runner.lastError?.details).toMatchObject({ errorType: 'ApplyError', lineNumber: 2 });
        } else {
          // The session child could not start: the request's outcome is unknown ("lost").
          expect(status.runner.lastError?.error).toMatch(/nft session \(pid \d+\) exited with 1/);
          expect(status.runner.lastError?.details).toMatchObject({ errorType: 'NftError', lost: true });
        }
        expect(metricValue(await agent().metrics(), 'palisade_apply_errors_total')).toBeGreaterThan(
          errorsBefore,
        );
        // The kernel still holds the last good state.
        await s.expectConnectivity(STEADY);
        const failure = agent()
          .logEntries()
          .find((e) => e.msg === 'apply failed; desired state kept, will retry');
        if (backend === 'iptables')
          expect(failure).toMatchObject({ lineNumber: 2, lines: expect.any(Array) });
        else expect(failure).toMatchObject({ lost: true, retryInMs: expect.any(Number) });
        await faults.set('fail', false, agent().pid);
        await s.step(WITH_DB);
        s.server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'allow-db' });
        await s.step(STEADY);
      },
    );

    e2eTest('SIGKILL mid-apply and restart: the rules never leave the kernel', async () => {
      // Everything in STEADY but y/c -> x/b, which the change under way allows.
      const watch = s.monitor(STEADY.filter(([from, to]) => !(from === 'y/c' && to === 'x/b')));
      await faults.set('hang', true, agent().pid);
      s.server.create(ALLOW_DB);
      await eventually(
        async () => (await agent().status()).runner.running === 'apply',
        'an apply stuck in the kernel step',
      );
      agent().kill('SIGKILL');
      expect((await agent().exit).signal).toBe('SIGKILL');
      // No agent: the rules are still there and still enforce.
      await expectOwnRulesInKernel();
      const roundsAtKill = watch.rounds();
      await eventually(() => watch.rounds() >= roundsAtKill + 2, 'probes while no agent runs');
      await faults.set('hang', false, 0);
      startAgent();
      await agent().waitReady();
      await s.step([['y/c', 'x/b', 80, true]]);
      const wrong = await watch.stop();
      expect(wrong).toEqual([]);
      expect(watch.rounds()).toBeGreaterThan(roundsAtKill + 2);
      s.server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'allow-db' });
      await s.step(STEADY);
    });

    iptablesTest('chains and set members deleted by hand are repaired by the periodic resync', async () => {
      const repairsBefore = metricValue(await agent().metrics(), 'palisade_drift_repairs_total');
      // Remove every PALISADE chain and hook from the filter table, keeping everything else.
      const saved = await iptablesSave();
      const stripped = saved
        .split('\n')
        .filter(
          (l) => !l.startsWith(':PALISADE-') && !l.startsWith('-A PALISADE-') && !/-j PALISADE-/.test(l),
        )
        .join('\n');
      await s.sandbox.inNode(['iptables-nft-restore'], stripped);
      expect(await iptablesSave()).not.toMatch(/PALISADE-/);
      // And take y/c out of the peer set that lets it reach x/a.
      const peerSet = (await ipsetNames()).find((n) => n.startsWith('PALISADE-P4-pods-'));
      expect(peerSet).toBeDefined();
      await s.sandbox.inNode(['ipset', 'del', peerSet!, '10.244.0.12']);
      await eventually(
        async () => metricValue(await agent().metrics(), 'palisade_drift_repairs_total') > repairsBefore,
        'a drift repair',
        30_000,
      );
      await s.step(STEADY);
      const status = await agent().status();
      expect(status.runner.repairs).toBeGreaterThan(0);
    });

    nftablesTest(
      'a foreign change to the table is seen by nft monitor and repaired, with no periodic check',
      async () => {
        const before = metricSum(await agent().metrics(), 'palisade_foreign_changes_total');
        // Someone flushes the IPv4 base chain: every isolated pod loses its dispatch.
        await s.sandbox.inNode(['nft', 'flush chain inet palisade forward-4']);
        await eventually(
          async () => (await agent().debug<{ differences: string[] }>('/v1/drift')).differences.length === 0,
          'the repair',
          20_000,
          20,
        );
        expect(metricSum(await agent().metrics(), 'palisade_foreign_changes_total')).toBeGreaterThan(before);
        const status = await agent().debug<{
          driftWatch: { foreignChanges: number; running: boolean };
          runner: { repairs: number };
        }>('/v1/status');
        expect(status.driftWatch).toMatchObject({ running: true });
        expect(status.driftWatch.foreignChanges).toBeGreaterThanOrEqual(1);
        expect(status.runner.repairs).toBeGreaterThanOrEqual(1);
        await s.step(STEADY);
      },
    );

    nftablesTest(
      'the table switched off by another process (flags dormant) is seen and replaced whole',
      async () => {
        const logBefore = agent().logEntries().length;
        // A dormant table's chains see no packet: every pod would be open. nft 1.0.6 also prints
        // the JSON of a table with flags cut short, so the read-back cannot say what it holds.
        await s.sandbox.inNode(['nft', 'add table inet palisade { flags dormant; }']);
        await eventually(
          async () => !/flags dormant/.test(await nftTable()),
          'the table replaced without the flag',
          20_000,
          20,
        );
        expect(
          agent()
            .logEntries()
            .slice(logBefore)
            .some((e) => /the table has flags another process set/.test(String(e.msg))),
        ).toBe(true);
        await s.step(STEADY);
      },
    );

    nftablesTest(
      'the nft session child killed while events arrive: the error is reported, retried, and the kernel ends as a from-scratch render',
      async () => {
        const errorsBefore = metricValue(await agent().metrics(), 'palisade_apply_errors_total');
        const applyErrorsBefore = (await agent().status()).runner.applyErrors;
        const logBefore = agent().logEntries().length;
        // Stop the child, so that the apply of the next events is in flight when it dies.
        const [pid] = nftSessionPids(agent().pid);
        expect(pid).toBeDefined();
        process.kill(pid, 'SIGSTOP');
        s.server.patch({ kind: 'Pod', namespace: 'x', name: 'b' }, 'merge', {
          metadata: { labels: { app: 'web' } },
        });
        await eventually(
          async () => (await agent().status()).runner.running === 'apply',
          'an apply waiting on the stopped session child',
        );
        // More events while it waits, then the child dies mid-transaction.
        s.server.create(ALLOW_DB);
        s.server.patch({ kind: 'Namespace', name: 'z' }, 'merge', { metadata: { labels: { team: 'y' } } });
        process.kill(pid, 'SIGKILL');
        await eventually(
          async () => (await agent().status()).runner.applyErrors > applyErrorsBefore,
          'the failed apply',
        );
        // Events keep coming, and the session child is killed again between requests.
        for (let i = 0; i < 6; i++) {
          s.server.patch({ kind: 'Pod', namespace: 'x', name: 'b' }, 'merge', {
            metadata: { labels: { app: i % 2 === 0 ? 'db' : 'web' } },
          });
          if (i === 2) await killNftSession(agent().pid);
          await delay(30);
        }
        s.server.patch({ kind: 'Namespace', name: 'z' }, 'merge', { metadata: { labels: { team: 'z' } } });
        // x/b ends as app=web (i = 5): x/allow-web selects it, x/allow-db selects nothing.
        const expected: Case[] = [
          ['y/c', 'x/a', 80, true],
          ['z/s', 'x/a', 80, false],
          ['y/c', 'x/b', 80, true],
          ['y/c', 'x/b', 81, false],
          ['z/s', 'x/b', 80, false],
          ['x/a', 'y/c', 80, true],
        ];
        await s.step(expected);
        const status = await agent().status();
        expect(status.runner.lastError?.error).toMatch(/nft session \(pid \d+\) killed by SIGKILL/);
        expect(status.runner.lastError?.details).toMatchObject({ errorType: 'NftError', lost: true });
        expect(metricValue(await agent().metrics(), 'palisade_apply_errors_total')).toBeGreaterThan(
          errorsBefore,
        );
        const log = agent().logEntries().slice(logBefore);
        const failed = log.find((e) => e.msg === 'apply failed; desired state kept, will retry');
        expect(failed).toMatchObject({ lost: true, retryInMs: expect.any(Number) });
        expect(failed!.retryInMs).toBeGreaterThan(0);
        // Both deaths were noticed, and the retry recovered.
        expect(
          log.filter((e) => e.msg === 'nft session lost; the next request starts a new one').length,
        ).toBe(2);
        expect(log.some((e) => e.msg === 'applied' && e.recovered === true)).toBe(true);
        // The same kernel state as a from-scratch render: wait until kept objects are collected
        // (the table's chains and sets are the desired ones), then delete the table, let the
        // drift watch rewrite it from nothing, and compare.
        const desired = await agent().debug<{
          chains: Array<{ name: string }>;
          ipsets: Array<{ name: string }>;
        }>('/v1/dataplane/desired');
        const names = (json: string, kinds: string[]) =>
          (JSON.parse(json) as { nftables: Array<Record<string, { name?: string }>> }).nftables
            .flatMap((o) => kinds.filter((k) => k in o).map((k) => o[k].name!))
            .sort();
        await eventually(
          async () =>
            JSON.stringify(names(await nftTableJson(), ['chain'])) ===
            JSON.stringify(desired.chains.map((c) => c.name).sort()),
          'unused chains to be collected',
        );
        const converged = normalizedTable(await nftTableJson());
        await s.sandbox.inNode(['nft', 'delete table inet palisade']);
        await eventually(
          async () =>
            (await run(['ip', 'netns', 'exec', s.sandbox.node, 'nft', 'list', 'table', 'inet', 'palisade']))
              .code === 0 &&
            (await agent().debug<{ differences: string[] }>('/v1/drift')).differences.length === 0,
          'the table rewritten from nothing',
        );
        expect(normalizedTable(await nftTableJson())).toEqual(converged);
        await s.step(expected);
        // Back to the steady state.
        s.server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'allow-db' });
        s.server.patch({ kind: 'Pod', namespace: 'x', name: 'b' }, 'merge', {
          metadata: { labels: { app: 'db' } },
        });
        await s.step(STEADY);
      },
    );

    nftablesTest(
      'a transaction the kernel refuses (the table taken over by a foreign owner): reported, retried with backoff, rewritten once the owner is gone',
      async () => {
        const errorsBefore = metricValue(await agent().metrics(), 'palisade_apply_errors_total');
        const logBefore = agent().logEntries().length;
        // A foreign nft process replaces the table with one it owns (NFT_TABLE_F_OWNER): the
        // kernel refuses every change to it from any other process while that process lives.
        const owner = spawn('ip', ['netns', 'exec', s.sandbox.node, 'nft', '-i'], {
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        const ownerExit = new Promise((resolve) => owner.on('exit', resolve));
        try {
          owner.stdin.write('delete table inet palisade; add table inet palisade { flags owner; }\n');
          await eventually(async () => /flags owner/.test(await nftTable()), 'the foreign owner');
          s.server.create(ALLOW_DB);
          const refusals = () =>
            agent()
              .logEntries()
              .slice(logBefore)
              .filter((e) => e.msg === 'apply failed; desired state kept, will retry' && e.lost === false);
          // The drift watch's own refused repairs grow the backoff too, so two refused applies can
          // take well over the default bound on a loaded machine (17.8 s seen at load ~10).
          await eventually(() => refusals().length >= 2, 'two refused applies', 60_000);
          const status = await agent().status();
          expect(status.runner.consecutiveFailures).toBeGreaterThanOrEqual(2);
          expect(status.runner.pendingEvents).toBeGreaterThan(0);
          expect(status.runner.lastError?.error).toMatch(
            /^nft refused the transaction: .*Operation not permitted/,
          );
          expect(status.runner.lastError?.details).toMatchObject({
            errorType: 'NftError',
            lost: false,
            lineNumber: expect.any(Number),
          });
          expect(metricValue(await agent().metrics(), 'palisade_apply_errors_total')).toBeGreaterThan(
            errorsBefore,
          );
          // Retried with backoff: each retry waits longer than the one before.
          const [first, second] = refusals().map((e) => e.retryInMs as number);
          expect(second).toBeGreaterThan(first);
        } finally {
          owner.stdin.end();
          await ownerExit;
        }
        // The owner gone, its table goes with it; the next retry writes Palisade's table again.
        await s.step(WITH_DB);
        expect((await nftTable()).includes('flags owner')).toBe(false);
        s.server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'allow-db' });
        await s.step(STEADY);
      },
    );

    nftablesTest(
      'SIGKILL leaves the rules enforcing; a restart adopts them without a transaction',
      async () => {
        agent().kill('SIGKILL');
        await agent().exit;
        await s.expectConnectivity(STEADY);
        // The log file is appended to: the new process's entries come after these.
        const earlier = agent().logEntries().length;
        startAgent();
        await agent().waitReady();
        const first = agent()
          .logEntries()
          .slice(earlier)
          .find((e) => e.msg === 'applied' || e.msg === 'apply skipped: no change');
        expect(first).toMatchObject({ transactions: 0, restoreBytes: 0 });
        await s.step(STEADY);
      },
    );

    e2eTest('SIGTERM stops cleanly and leaves the rules in place', async () => {
      const { code } = await agent().stop('SIGTERM');
      expect(code).toBe(0);
      const log = agent().logEntries();
      expect(log.at(-1)).toMatchObject({ msg: 'agent stopped' });
      const r = await run(['test', '-e', agent().socket]);
      expect(r.code).not.toBe(0);
      await expectOwnRulesInKernel();
      await s.expectConnectivity(STEADY);
    });

    iptablesTest('palisade cleanup removes what Palisade created and nothing else', async () => {
      await s.sandbox.inNode(['iptables-nft', '-A', 'FORWARD', '-s', '203.0.113.7/32', '-j', 'DROP']);
      await s.sandbox.inNode(['ipset', 'create', 'custom-keep', 'hash:ip']);
      expect((await ipsetNames()).some((n) => n.startsWith('PALISADE-'))).toBe(true);
      const out = await s.sandbox.inNode([process.execPath, AGENT_MAIN, 'cleanup']);
      expect(out).toMatch(/^nft: removed \d+ chains/m);
      const saved = await iptablesSave();
      expect(saved).not.toMatch(/PALISADE/);
      expect(saved).toMatch(/^-A FORWARD -s 203\.0\.113\.7\/32 -j DROP$/m);
      expect(await ipsetNames()).toEqual(['custom-keep']);
      await s.expectConnectivity([
        ['z/s', 'x/a', 80, true],
        ['y/c', 'x/b', 81, true],
      ]);
      // Idempotent.
      const again = await s.sandbox.inNode([process.execPath, AGENT_MAIN, 'cleanup']);
      expect(again).toMatch(/^nft: nothing to remove$/m);
      await delay(0);
    });

    nftablesTest('palisade cleanup --backend nftables removes the table and nothing else', async () => {
      await s.sandbox.inNode(['nft', 'add table ip keep-me; add chain ip keep-me c']);
      const out = await s.sandbox.inNode([process.execPath, AGENT_MAIN, 'cleanup', '--backend', 'nftables']);
      expect(out).toMatch(/^nftables: removed table inet palisade \(\d+ chains, \d+ sets and maps\)$/m);
      expect(await nftTables()).toEqual(['table ip keep-me']);
      await s.expectConnectivity([
        ['z/s', 'x/a', 80, true],
        ['y/c', 'x/b', 81, true],
      ]);
      const again = await s.sandbox.inNode([
        process.execPath,
        AGENT_MAIN,
        'cleanup',
        '--backend',
        'nftables',
      ]);
      expect(again).toMatch(/^nftables: nothing to remove$/m);
    });
  });
});
