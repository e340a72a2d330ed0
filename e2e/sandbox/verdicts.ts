/**
 * The verdict events of a sandbox's agents, read from their debug sockets (the sockets live in the
 * sandbox's state directory, so the host reaches them whatever namespace the agent runs in).
 *
 * `verdictCursor` notes where each agent's stream is; `readVerdicts` returns what each agent
 * logged after that (its ring's events with a higher sequence number): the events of one probe
 * run, without a stream held open during it. `deniedCells` pairs a probed matrix's denied cells
 * with the drops the kernels reported for them (what `palisade sandbox` prints, and what the
 * conformance run's attribution check compares with explain).
 */
import { request } from 'node:http';
import type { VerdictEvent } from '../../agent/daemon/verdicts/event';
import type { ProbeEndpoint } from './endpoints';
import type { ReachabilityMatrix } from './matrix';
import type { PlanProbe } from './plan';

export interface AgentSocket {
  readonly node: string;
  readonly socket: string;
}

/** Per node, the sequence number of the last event its agent has logged. */
export type VerdictCursor = ReadonlyMap<string, number>;

function getText(socket: string, path: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(body)
          : reject(new Error(`GET ${path}: HTTP ${res.statusCode} ${body.slice(0, 200)}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function verdictCursor(
  agents: readonly AgentSocket[],
  timeoutMs = 5000,
): Promise<VerdictCursor> {
  const out = new Map<string, number>();
  for (const a of agents) {
    const status = JSON.parse(await getText(a.socket, '/v1/status', timeoutMs)) as {
      verdictLog?: { events?: number };
    };
    out.set(a.node, status.verdictLog?.events ?? 0);
  }
  return out;
}

/** Every agent's events after `cursor` (all it holds without one), in node then sequence order. */
export async function readVerdicts(
  agents: readonly AgentSocket[],
  cursor?: VerdictCursor,
  timeoutMs = 10_000,
): Promise<VerdictEvent[]> {
  const out: VerdictEvent[] = [];
  for (const a of agents) {
    const after = cursor?.get(a.node) ?? 0;
    const body = await getText(a.socket, '/v1/verdicts?follow=0', timeoutMs);
    for (const line of body.split('\n')) {
      if (line.trim() === '') continue;
      const record = JSON.parse(line) as { type: string } & VerdictEvent;
      if (record.type !== 'verdict' || record.seq <= after) continue;
      const { type: _type, ...event } = record;
      out.push(event);
    }
  }
  return out;
}

/** A denied cell of a probed matrix and the drops the nodes' kernels reported for it. */
export interface DeniedCell {
  readonly probe: PlanProbe;
  readonly from: string;
  readonly to: string;
  /** Denied events with the cell's addresses (either family), protocol and port. */
  readonly events: readonly VerdictEvent[];
}

/** Every denied cell of `matrix` with the denied events that match it. */
export function deniedCells(
  matrix: ReachabilityMatrix,
  endpoints: readonly ProbeEndpoint[],
  events: readonly VerdictEvent[],
): DeniedCell[] {
  const addresses = new Map(
    endpoints.map((e) => [e.label, [e.ipv4, e.ipv6].filter((a): a is string => a !== undefined)]),
  );
  const byCell = new Map<string, VerdictEvent[]>();
  for (const e of events) {
    if (e.verdict !== 'denied' || e.dstPort === undefined) continue;
    // By address, and by the pods the agent named (a live pod's address is not in the plan).
    const keys = new Set([
      `${e.src.ip} ${e.dst.ip} ${e.dstPort}/${e.protocol}`,
      `${e.src.pod ?? e.src.ip} ${e.dst.pod ?? e.dst.ip} ${e.dstPort}/${e.protocol}`,
    ]);
    for (const k of keys) {
      if (!byCell.has(k)) byCell.set(k, []);
      byCell.get(k)!.push(e);
    }
  }
  const out: DeniedCell[] = [];
  for (const p of matrix.probes) {
    for (const [from, row] of Object.entries(p.allowed)) {
      for (const [to, allowed] of Object.entries(row)) {
        if (allowed) continue;
        const matched = new Set<VerdictEvent>(byCell.get(`${from} ${to} ${p.port}/${p.protocol}`) ?? []);
        for (const s of addresses.get(from) ?? [])
          for (const d of addresses.get(to) ?? [])
            for (const e of byCell.get(`${s} ${d} ${p.port}/${p.protocol}`) ?? []) matched.add(e);
        out.push({ probe: { port: p.port, protocol: p.protocol }, from, to, events: [...matched] });
      }
    }
  }
  return out;
}
