/**
 * Probing a built sandbox: every trial (probe × ordered pair × address family) with real
 * packets, sent from the source's own namespace by its endpoint process.
 *
 * - TCP and UDP: each source host gets its whole batch in one `probe` request and runs it with
 *   bounded concurrency; all sources run at once. Worst case time ≈ the probe timeouts.
 * - SCTP (no SCTP sockets in this kernel, see sctp.py): one round for all SCTP trials. Every
 *   trial gets a unique INIT tag; sources send their INITs (twice, a short gap apart, in case
 *   of loss), then, after a settling delay, every destination host reports the tags that
 *   arrived. A trial passes iff its tag arrived at the destination's namespace from the
 *   source's address. Arrivals are cleared before the round, so stale packets cannot count.
 */
import { randomInt } from 'node:crypto';
import type { EndpointClient } from './control-client';
import type { ProbeSettings, SctpInit } from './control-protocol';
import type { ProbeEndpoint } from './endpoints';
import {
  assembleMatrix,
  pairTrials,
  trialKey,
  type FamilyDisagreement,
  type ReachabilityMatrix,
  type Trial,
} from './matrix';
import type { PlanProbe } from './plan';

export interface ProbeRunSettings extends ProbeSettings {
  readonly sctpAttempts: number;
  readonly sctpGapMs: number;
  readonly sctpSettleMs: number;
}

export const DEFAULT_PROBE_SETTINGS: ProbeRunSettings = {
  tcpTimeoutMs: 1000,
  udpTimeoutMs: 500,
  udpAttempts: 2,
  concurrency: 64,
  sctpAttempts: 2,
  sctpGapMs: 150,
  sctpSettleMs: 500,
};

export interface ProbeReport {
  readonly matrix: ReachabilityMatrix;
  readonly disagreements: FamilyDisagreement[];
  readonly unprobeable: { src: string; dst: string }[];
  /** Why each failed trial failed ("80/TCP x/a x/b v4" → "timeout"), for diagnostics. */
  readonly failures: Map<string, string>;
  readonly trials: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function client(clients: ReadonlyMap<string, EndpointClient>, host: string): EndpointClient {
  const c = clients.get(host);
  if (!c) throw new Error(`no control connection to endpoint host ${host}`);
  return c;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    if (!out.has(k)) out.set(k, []);
    out.get(k)!.push(t);
  }
  return out;
}

async function ensureServing(
  clients: ReadonlyMap<string, EndpointClient>,
  probes: readonly PlanProbe[],
): Promise<void> {
  const ports = probes.flatMap((p) =>
    p.protocol === 'SCTP' ? [] : [{ port: p.port, protocol: p.protocol }],
  );
  await Promise.all([...clients.values()].map((c) => c.request({ op: 'serve', ports })));
}

async function runSocketTrials(
  trials: readonly Trial[],
  clients: ReadonlyMap<string, EndpointClient>,
  settings: ProbeRunSettings,
  passed: Set<string>,
  failures: Map<string, string>,
): Promise<void> {
  const perTrialMs = Math.max(settings.tcpTimeoutMs, settings.udpTimeoutMs * settings.udpAttempts);
  await Promise.all(
    [...groupBy(trials, (t) => t.src.host)].map(async ([host, batch]) => {
      const targets = batch.map((t, id) => ({
        id,
        ip: t.dstIp,
        port: t.probe.port,
        protocol: t.probe.protocol as 'TCP' | 'UDP',
      }));
      const waves = Math.ceil(batch.length / Math.max(1, settings.concurrency));
      const answer = await client(clients, host).request(
        { op: 'probe', targets, settings },
        waves * perTrialMs + 10_000,
      );
      for (const o of answer.outcomes) {
        const key = trialKey(batch[o.id]);
        if (o.ok) passed.add(key);
        else failures.set(key, o.detail);
      }
    }),
  );
}

async function runSctpTrials(
  trials: readonly Trial[],
  clients: ReadonlyMap<string, EndpointClient>,
  settings: ProbeRunSettings,
  passed: Set<string>,
  failures: Map<string, string>,
): Promise<void> {
  const base = randomInt(1, 2 ** 31);
  const byTag = new Map<number, Trial>();
  trials.forEach((t, i) => byTag.set(base + i, t));
  await Promise.all([...clients.values()].map((c) => c.request({ op: 'sctp-take' })));
  const bySource = groupBy([...byTag.entries()], ([, t]) => t.src.host);
  for (let attempt = 0; attempt < settings.sctpAttempts; attempt++) {
    if (attempt > 0) await sleep(settings.sctpGapMs);
    await Promise.all(
      [...bySource].map(async ([host, batch]) => {
        const inits = batch.map(([tag, t]): SctpInit => ({
          ip: t.dstIp,
          port: t.probe.port,
          tag,
          srcPort: 20000 + ((tag + attempt * 7919) % 40000),
        }));
        const { failures: sendFailures } = await client(clients, host).request({ op: 'sctp-send', inits });
        for (const f of sendFailures) failures.set(trialKey(byTag.get(f.tag)!), `send: ${f.error}`);
      }),
    );
  }
  await sleep(settings.sctpSettleMs);
  const destinations = new Set(trials.map((t) => t.dst.host));
  await Promise.all(
    [...destinations].map(async (host) => {
      const { arrivals } = await client(clients, host).request({ op: 'sctp-take' });
      for (const a of arrivals) {
        const t = byTag.get(a.tag);
        if (t && t.dst.host === host && t.srcIp === a.src && t.probe.port === a.dport)
          passed.add(trialKey(t));
      }
    }),
  );
  for (const t of trials) {
    const key = trialKey(t);
    if (!passed.has(key) && !failures.has(key)) failures.set(key, 'INIT did not arrive');
  }
}

export async function probeEndpointsNow(
  endpoints: readonly ProbeEndpoint[],
  probes: readonly PlanProbe[],
  clients: ReadonlyMap<string, EndpointClient>,
  settings: ProbeRunSettings = DEFAULT_PROBE_SETTINGS,
): Promise<ProbeReport> {
  const { trials, unprobeable } = pairTrials(endpoints, probes);
  await ensureServing(clients, probes);
  const passed = new Set<string>();
  const failures = new Map<string, string>();
  await Promise.all([
    runSocketTrials(
      trials.filter((t) => t.probe.protocol !== 'SCTP'),
      clients,
      settings,
      passed,
      failures,
    ),
    trials.some((t) => t.probe.protocol === 'SCTP')
      ? runSctpTrials(
          trials.filter((t) => t.probe.protocol === 'SCTP'),
          clients,
          settings,
          passed,
          failures,
        )
      : Promise.resolve(),
  ]);
  const { matrix, disagreements } = assembleMatrix(endpoints, probes, trials, passed);
  return { matrix, disagreements, unprobeable, failures, trials: trials.length };
}
