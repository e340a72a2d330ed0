/**
 * Property test, both backends: with verdict logs on, on random tiered clusters (a quarter of the
 * policies in audit mode), every connection traced through the fake kernel
 *   - meets the fate verdict() gives it, whether the node's rate limit lets logs through or not
 *     (logging and audit mode never change a packet's fate; an allowed packet leaves with its mark);
 *   - is logged with exactly the prefixes the compiler's decision implies, in the order the kernel
 *     meets them: per direction (egress at the source, then ingress at the destination if egress let
 *     it through) the shadow evaluation's point where the audited outcome differs
 *     (`expectedAuditLogPoint`), then the enforced decision's (`expectedLogPoint`);
 *   - is logged at points the agent's table (LogPointIndex) knows;
 *   - logs nothing when the bucket is empty.
 * This is the fake-kernel form of the sandbox's check that the policy and rule the kernel reports
 * are the ones explain names.
 */
import fc from 'fast-check';
import { compileSnapshot } from '../compiler/incremental';
import type { Protocol } from '../compiler/model';
import { verdict } from '../compiler/verdict';
import type { Endpoint } from '../compiler/verdict-types';
import { type BackendKind, createDataplane } from './api';
import { FakeKernel } from './iptables/fake-kernel';
import { trace as traceIptables } from './iptables/tracer';
import { expectedAuditLogPoint, expectedLogPoint, LogPointIndex } from './log-points';
import { FakeNft } from './nftables/fake-nft';
import { trace as traceNft } from './nftables/tracer';
import { fullDelta } from './testutil/fixtures';
import { clusterArb, EXTERNAL, NODE_ADDRESSES, PROBES } from './testutil/tier-clusters';
import { DEFAULT_VERDICT_LOG, formatPrefix, parsePrefix } from './verdict-log';

const SEED = Number(process.env.PALISADE_PROPERTY_SEED ?? 20261202);
const RUNS = Number(process.env.PALISADE_PROPERTY_RUNS ?? 300);

interface Traced {
  readonly accepted: boolean;
  readonly mark: number;
  readonly prefixes: readonly string[];
}

type Tracer = (
  src: string,
  dst: string,
  probe: { port: number; protocol: Protocol },
  limited: boolean,
) => Traced;

async function programmed(
  backend: BackendKind,
  state: Parameters<ReturnType<typeof createDataplane>['sync']>[0],
  allowed: boolean,
): Promise<Tracer> {
  const verdictLog = { ...DEFAULT_VERDICT_LOG, allowed };
  const packet = (src: string, dst: string, probe: { port: number; protocol: Protocol }) => ({
    src,
    dst,
    proto: probe.protocol.toLowerCase() as 'tcp' | 'udp',
    dport: probe.port,
    ctstate: 'NEW' as const,
  });
  if (backend === 'iptables') {
    const kernel = new FakeKernel();
    await createDataplane({ kernel, families: [4], verdictLog }).sync(state, fullDelta(state));
    return (src, dst, probe, limited) => {
      const r = traceIptables(kernel, 4, 'FORWARD', packet(src, dst, probe), {
        ...(limited ? { limit: () => false } : {}),
      });
      return { accepted: r.verdict === 'ACCEPT', mark: r.mark, prefixes: r.logged.map((l) => l.prefix) };
    };
  }
  const kernel = new FakeNft();
  const dp = createDataplane({ kernel, backend: 'nftables', families: [4], verdictLog });
  await dp.sync(state, fullDelta(state));
  await dp.close();
  return (src, dst, probe, limited) => {
    const r = traceNft(kernel, packet(src, dst, probe), 'forward', {
      ...(limited ? { limit: () => false } : {}),
    });
    return { accepted: r.verdict === 'ACCEPT', mark: r.mark, prefixes: r.logged.map((l) => l.prefix) };
  };
}

describe.each(['iptables', 'nftables'] as const)('%s', (backend) => {
  test('logs every decision at the point explain implies, and never changes a fate', async () => {
    const seen = { denied: 0, allowed: 0, wouldDeny: 0, wouldAllow: 0 };
    await fc.assert(
      fc.asyncProperty(clusterArb, fc.boolean(), async (cluster, allowed) => {
        const view = compileSnapshot(cluster, { nodeName: 'node-1' });
        const state = view.state();
        const opts = { allowed };
        const index = new LogPointIndex(opts);
        index.update(state, fullDelta(state));
        const trace = await programmed(backend, state, allowed);
        const ends: { endpoint: Endpoint; ip: string; local: boolean }[] = [
          ...cluster.pods.map((p) => ({
            endpoint: { kind: 'pod' as const, key: `${p.namespace}/${p.name}` },
            ip: p.ips[0],
            local: p.nodeName === 'node-1',
          })),
          { endpoint: { kind: 'ip', ip: EXTERNAL }, ip: EXTERNAL, local: false },
          {
            endpoint: { kind: 'ip', ip: NODE_ADDRESSES['node-2'] },
            ip: NODE_ADDRESSES['node-2'],
            local: false,
          },
        ];
        for (const from of ends) {
          for (const to of ends) {
            if (from === to || (!from.local && !to.local)) continue;
            for (const probe of PROBES) {
              const v = verdict(view, from.endpoint, to.endpoint, probe);
              if (v.node) continue; // pod <-> own node never crosses FORWARD
              const expected: string[] = [];
              for (const dir of ['egress', 'ingress'] as const) {
                const dv = v[dir];
                const shadow = v.audited && expectedAuditLogPoint(state, dv, v.audited[dir], opts);
                if (shadow) expected.push(formatPrefix(shadow));
                const point = expectedLogPoint(state, dv, opts);
                if (point) expected.push(formatPrefix(point));
                if (!dv.allowed) break; // dropped here: the other end's evaluation never runs
              }
              const where = `${from.ip} -> ${to.ip} ${probe.port}/${probe.protocol}`;
              const got = trace(from.ip, to.ip, probe, false);
              if (got.accepted !== v.allowed)
                throw new Error(`${where}: kernel ${got.accepted ? 'allows' : 'denies'}, verdict() does not`);
              if (got.accepted) expect(got.mark).toBe(0);
              if (got.prefixes.join(' ') !== expected.join(' '))
                throw new Error(
                  `${where}: logged [${got.prefixes.join(' ')}], expected [${expected.join(' ')}]`,
                );
              for (const prefix of got.prefixes) {
                const p = parsePrefix(prefix)!;
                expect(index.get(p.id)).toBeDefined();
                const kind = {
                  denied: 'denied',
                  allowed: 'allowed',
                  'would-deny': 'wouldDeny',
                  'would-allow': 'wouldAllow',
                } as const;
                seen[kind[p.verdict]]++;
              }
              // An empty bucket: the same fate, nothing logged.
              const limited = trace(from.ip, to.ip, probe, true);
              expect(limited.accepted).toBe(got.accepted);
              expect(limited.prefixes).toEqual([]);
              if (limited.accepted) expect(limited.mark).toBe(0);
            }
          }
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // Every kind of log point is reached (a property over nothing proves nothing).
    expect(seen.denied).toBeGreaterThan(100);
    expect(seen.allowed).toBeGreaterThan(100);
    expect(seen.wouldDeny).toBeGreaterThan(10);
    expect(seen.wouldAllow).toBeGreaterThan(10);
  });
});
