/**
 * Pod churn in a live sandbox with agents: pods are created at 20 per second for 30 s through
 * the API (the scheduler spreads them over both nodes); every new pod is probed once its node's
 * agent has applied it, from a pod the policy admits (must get through) and from one it does
 * not (must not), and deleted right after (so pods are deleted as fast as the sandbox brings
 * them up). Afterwards nothing is left of the churned pods: no network namespace (once the
 * kubelets have destroyed the namespaces they kept for reuse, 2 s after the last pod went), veth,
 * route (address) or endpoint socket, no process beyond those before the churn. Both topologies.
 *
 * "Applied the pod": the agent's pod watch has passed the revision at which the pod got its
 * address (from then on the event is pending or applied: a reflector hands it to the runner in
 * the same tick), and an apply that started after that moment has ended, or nothing was pending.
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest e2e/sandbox/live/churn.kernel
 *
 * PALISADE_CHURN_SECONDS shortens the churn (default 30) at the same rate of API requests: the
 * run time follows the number of pods, as the kubelets wire them at a few a second on a busy
 * 2-core machine (e2e/sandbox/README.md has the figures).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugGet } from '../../conformance/agent-sync';
import { agentDebugSocket } from '../enforcement';
import { listNamespaces, inNetns } from '../netns';
import type { Topology } from '../plan';
import { findMarkedProcesses } from '../processes';
import { run } from '../run';
import { describeKernel, leftovers } from '../testutil/kernel';
import { Informer, keyOf } from './informer';
import type { Json } from './kube-rest';
import { withLiveSandbox } from './testutil/live-sandbox';

jest.setTimeout(600_000);

const RATE_PER_SECOND = 20;
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ').slice(0, 200);
  } catch {
    return '(gone)';
  }
}

const DURATION_MS = Number(process.env.PALISADE_CHURN_SECONDS ?? '30') * 1000;

const SCENARIO = `apiVersion: v1
kind: Namespace
metadata: {name: stable, labels: {access: granted}}
---
apiVersion: v1
kind: Namespace
metadata: {name: churn}
---
apiVersion: v1
kind: Pod
metadata: {name: allowed, namespace: stable, labels: {app: allowed}}
spec: {nodeName: node-1, containers: [{name: main, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: denied, namespace: stable, labels: {app: denied}}
spec: {nodeName: node-2, containers: [{name: main, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-allowed, namespace: churn}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {access: granted}}, podSelector: {matchLabels: {app: allowed}}}]
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface AgentStatus {
  readonly watches: readonly { resource: string; resourceVersion: string }[];
  readonly runner: {
    pendingEvents: number;
    consecutiveFailures: number;
    running: string | null;
    lastApply: { at: number; durationMs: number } | null;
  } | null;
}

/**
 * Tells when an agent has applied everything up to a revision (see the header). One poller per
 * agent, shared by every pod waiting on it, so that checking many pods costs the agent one
 * status request every 50 ms, not one per pod.
 */
class AppliedWatcher {
  private readonly waiters: { rv: number; seenAt?: number; deadline: number; done: (ok: boolean) => void }[] =
    [];
  private polling = false;

  constructor(private readonly socket: string) {}

  applied(rv: number, timeoutMs: number): Promise<boolean> {
    return new Promise((done) => {
      this.waiters.push({ rv, deadline: Date.now() + timeoutMs, done });
      if (!this.polling) void this.poll();
    });
  }

  private async poll(): Promise<void> {
    this.polling = true;
    while (this.waiters.length > 0) {
      const s = await debugGet<AgentStatus>(this.socket, '/v1/status').catch(() => undefined);
      const now = Date.now();
      for (const w of [...this.waiters]) {
        let ok = false;
        if (s?.runner) {
          const watch = s.watches.find((x) => x.resource === 'pods');
          if (w.seenAt === undefined && Number(watch?.resourceVersion) >= w.rv) w.seenAt = now;
          const last = s.runner.lastApply;
          // A failed apply leaves nothing pending and nothing running: it must not count as applied.
          ok =
            w.seenAt !== undefined &&
            s.runner.consecutiveFailures === 0 &&
            ((last !== null && last.at - last.durationMs >= w.seenAt) ||
              (s.runner.pendingEvents === 0 && s.runner.running !== 'apply' && now > w.seenAt));
        }
        if (ok || now > w.deadline) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.done(ok);
        }
      }
      await sleep(50);
    }
    this.polling = false;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

describeKernel(
  `pod churn: ${RATE_PER_SECOND} pods a second for ${DURATION_MS / 1000} s, probed, and nothing leaks`,
  () => {
    describe.each(['routed', 'bridge'] as Topology[])('%s topology', (topology) => {
      test('every new pod is enforced once its agent applied it; afterwards nothing is left of the churned pods', async () => {
        const { id } = await withLiveSandbox(SCENARIO, 'churn.yaml', topology, async (live) => {
          const { sandbox, plan, api, pods: stable } = live;
          const id = sandbox.id;
          const agents = new Map(
            plan.nodes.map((n, i) => [n.name, new AppliedWatcher(agentDebugSocket(sandbox.store, i))]),
          );
          // Bridge: the gateway's MAC (br0's) must not move while pods come and go (topology.ts).
          const bridgeMacs = async (): Promise<string[]> =>
            topology !== 'bridge'
              ? []
              : Promise.all(
                  plan.nodes.map(async (n) =>
                    (
                      await run(inNetns(sandbox.names.nodeNs(n.name), ['cat', '/sys/class/net/br0/address']))
                    ).stdout.trim(),
                  ),
                );
          const bridgeMacsBefore = await bridgeMacs();
          // pid and command line: a process that ended or started says which it was.
          const markedProcesses = (): string[] =>
            findMarkedProcesses(id)
              .map((p) => `${p.pid} ${commandLine(p.pid)}`)
              .sort();
          const processesBefore = markedProcesses();

          const probe = async (from: string, ip: string, timeoutMs: number): Promise<string> =>
            (await live.probe(`stable/${from}`, ip, timeoutMs)).detail;

          const createdAt = new Map<string, number>();
          const deletingSince = new Map<string, number>();
          const readyAfter: number[] = [];
          const seen = new Set<string>();
          const violations: string[] = [];
          let checked = 0;
          let skipped = 0;
          const checks: Promise<void>[] = [];
          let inFlight = 0;

          const writes: Promise<unknown>[] = [];
          const remove = (name: string): void => {
            if (deletingSince.has(name)) return;
            deletingSince.set(name, Date.now());
            writes.push(api.delete(`/api/v1/namespaces/churn/pods/${name}`).catch(() => undefined));
          };
          const check = async (name: string, node: string, ip: string, rv: number): Promise<void> => {
            // A check lasts at least the denied probe's 2 s timeout: 64 at once keep up with 20 pods/s.
            while (inFlight >= 64) await sleep(5);
            inFlight++;
            try {
              if (!(await agents.get(node)!.applied(rv, 60_000))) {
                violations.push(`${name}: the agent of ${node} did not apply revision ${rv} within 60 s`);
                return;
              }
              const started = Date.now();
              const [admitted, refused] = await Promise.all([
                probe('allowed', ip, 2000),
                probe('denied', ip, 2000),
              ]);
              if (deletingSince.has(name)) {
                skipped++;
                return;
              }
              checked++;
              if (admitted !== 'echoed')
                violations.push(
                  `${name} (${ip}, ${node}): stable/allowed did not get through (${admitted}) ${Date.now() - started} ms after its agent applied it`,
                );
              if (refused === 'echoed')
                violations.push(
                  `${name} (${ip}, ${node}): stable/denied got through after its agent applied it`,
                );
            } finally {
              inFlight--;
              remove(name);
            }
          };

          const watchProblems: string[] = [];
          const informer = new Informer(
            api,
            '/api/v1/namespaces/churn/pods',
            (type, pod) => {
              if (type === 'DELETED') return;
              const m = pod.metadata as { name: string; resourceVersion: string; deletionTimestamp?: string };
              const status = (pod.status ?? {}) as { phase?: string; podIPs?: { ip: string }[] };
              if (
                m.deletionTimestamp ||
                status.phase !== 'Running' ||
                !status.podIPs?.length ||
                seen.has(m.name)
              )
                return;
              seen.add(m.name);
              readyAfter.push(Date.now() - (createdAt.get(m.name) ?? Date.now()));
              checks.push(
                check(
                  m.name,
                  String((pod.spec as Json).nodeName),
                  status.podIPs[0].ip,
                  Number(m.resourceVersion),
                ),
              );
            },
            (line) => watchProblems.push(line),
          );
          informer.start();
          await informer.synced();

          const total = (RATE_PER_SECOND * DURATION_MS) / 1000;
          const t0 = Date.now();
          for (let i = 0; i < total; i++) {
            const due = t0 + (i * 1000) / RATE_PER_SECOND;
            if (due > Date.now()) await sleep(due - Date.now());
            const name = `c-${i}`;
            createdAt.set(name, Date.now());
            writes.push(
              api.create('/api/v1/namespaces/churn/pods', {
                apiVersion: 'v1',
                kind: 'Pod',
                metadata: { name, labels: { role: 'churn' } },
                spec: { containers: [{ name: 'main', image: 'x', ports: [{ containerPort: 80 }] }] },
              }),
            );
          }
          const createdInMs = Date.now() - t0;
          // Every pod comes up, is checked and deleted; then none is left in the API.
          for (let i = 0; deletingSince.size < total || informer.cache.size > 0; i++) {
            if (i > 4800)
              throw new Error(
                `after 480 s: ${seen.size} of ${total} pods came up, ${deletingSince.size} deleted; still in the API: ${[
                  ...informer.cache.values(),
                ]
                  .slice(0, 10)
                  .map(
                    (p) =>
                      `${keyOf(p)} ${JSON.stringify({ node: (p.spec as Json).nodeName, ...(p.metadata as Json), ...(p.status as Json) }).slice(0, 400)}`,
                  )
                  .join('; ')}`,
              );
            await sleep(100);
          }
          await Promise.all(writes);
          await Promise.all(checks);
          informer.stop();

          readyAfter.sort((a, b) => a - b);
          process.stdout.write(
            `churn (${topology}): ${total} pods created in ${createdInMs} ms, all up, checked and gone after ${Date.now() - t0} ms; ${checked} probed after their agent applied them; API create -> Running median ${percentile(readyAfter, 50)} ms, p99 ${percentile(readyAfter, 99)} ms\n`,
          );
          expect(violations).toEqual([]);
          expect(watchProblems).toEqual([]);
          expect(seen.size).toBe(total);
          expect([checked, skipped]).toEqual([total, 0]);

          // Nothing is left of the churned pods. The kubelets keep a churned pod's namespace for
          // the next pod (live/pod-slots.ts) and destroy those left unused 2 s after the last pod
          // came or went: wait for that, then exactly the stable pods' namespaces are left.
          const slots = async (): Promise<string[]> =>
            (await listNamespaces()).filter((n) => n.startsWith(`ps${id}-slot-`));
          for (let i = 0; i < 300 && (await slots()).length > stable.length; i++) await sleep(100);
          expect((await slots()).length).toBe(stable.length);
          const podNetns = (await listNamespaces()).filter((n) => n.startsWith(`ps${id}-pod-`));
          expect(podNetns.sort()).toEqual(
            stable.map((p) => expect.stringContaining(`-pod-${p.key.replace('/', '.')}-`)),
          );
          for (const n of plan.nodes) {
            const local = stable.filter((p) => p.node === n.name);
            const links = (
              await run(inNetns(sandbox.names.nodeNs(n.name), ['ip', '-o', 'link', 'show']))
            ).stdout
              .split('\n')
              .filter((l) => l.includes(`ps${id}v`));
            expect({ node: n.name, veths: links.length }).toEqual({ node: n.name, veths: local.length });
            const routes = (await run(inNetns(sandbox.names.nodeNs(n.name), ['ip', 'route', 'show']))).stdout
              .split('\n')
              .filter((l) => /^10\.244\.\d+\.\d+ dev /.test(l));
            expect({ node: n.name, routes: routes.map((l) => l.split(' ')[0]).sort() }).toEqual({
              node: n.name,
              routes: local.map((p) => p.ipv4).sort(),
            });
            const stats = await (await sandbox.podHost(n.name)).send({ op: 'stats' });
            expect(stats).toMatchObject({ pods: local.length });
          }
          // The kubelets' pod records: the stable pods' only.
          expect(readdirSync(join(sandbox.store.dir, 'pods')).sort()).toEqual(
            stable.map((p) => `${p.uid}.json`).sort(),
          );
          expect(markedProcesses()).toEqual(processesBefore);
          expect(await bridgeMacs()).toEqual(bridgeMacsBefore);
          // The policy still holds for the pods that stayed.
          const report = await sandbox.probe(plan.probes);
          expect(report.matrix.probes[0].allowed).toEqual({
            'stable/allowed': { 'stable/denied': true },
            'stable/denied': { 'stable/allowed': true },
          });
        });
        expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
      });
    });
  },
);
