/**
 * Flood: what a flood of denied connection attempts costs when the kernel logs verdicts.
 *
 * The datapath bench's topology (datapath.ts: a node namespace holding the bench cluster's rules
 * for its node, a local server pod that NetworkPolicies isolate, a remote client they admit and a
 * remote pod they deny, routed /32 veths). The node runs flood-agent.js: the real dataplane with
 * verdict logs on, and the agent's own VerdictLog reading the NFLOG group through a tcpdump child.
 *
 *   quiet   iperf3 from the client to the server (one TCP stream, `seconds` long)
 *   flood   the same iperf3 while the denied pod opens connections to the server as fast as one
 *           Python process can (flood-client.ts: each attempt exactly one SYN, dropped at the
 *           NetworkPolicy tier's log point), for the same `seconds`
 *   control (unless --no-control) the flood again in fresh namespaces with verdict logs off: the
 *           throughput the flood leaves without any logging
 *
 * What it reports: allowed-traffic throughput quiet, under the flood, and under the flood without
 * logs; the CPU of the agent process (utime + stime from /proc/PID/stat, with its reaped children:
 * the counter reads' tools) and of its tcpdump child, quiet and under the flood, as a percentage of
 * one core over the window; attempts made, packets that reached a log point and were logged (the
 * kernel's counters beside the bucket), whether the bucket held (logged ≤ burst + rate × (window
 * + 1 s)), events the agent read, and what it counted lost to the rate limit against what the
 * kernel's counters say. On a 2-core machine the flood client, iperf3 and the agent share the
 * cores: the control separates the cost of logging from the cost of the flood itself.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { IncrementalCompiler } from '../compiler';
import type { BackendKind } from '../dataplane/api';
import { DEFAULT_VERDICT_LOG } from '../dataplane/verdict-log';
import { FLOOD_CLIENT, PYTHON_CANDIDATES } from './flood-client';
import { LOCAL_NODE, generateCluster } from './cluster';
import {
  RoutedPath,
  choosePair,
  datapathToolsAvailable,
  deniedConnects,
  throughput,
  type DatapathPair,
} from './datapath';
import { loadWorld } from './events';
import { runCommand } from './netns';
import { SIZES, type SizeName } from './sizes';
import { round } from './stats';

export interface FloodOptions {
  readonly backend: BackendKind;
  readonly size: SizeName;
  readonly seed: number;
  /** Length of each window (default 10 s). */
  readonly seconds?: number;
  /** The node's verdict log rate and burst (default the agent's: 100/s, 200). */
  readonly ratePerSecond?: number;
  readonly burst?: number;
  /** Measure the flood again with verdict logs off (default true). */
  readonly control?: boolean;
  readonly progress?: (msg: string) => void;
}

export interface CpuPercent {
  readonly agent: number;
  readonly tcpdump: number;
}

export interface FloodResult {
  readonly backend: BackendKind;
  readonly seconds: number;
  readonly pair: DatapathPair;
  readonly rateLimit: { readonly ratePerSecond: number; readonly burst: number };
  readonly throughputMbps: {
    readonly quiet: number;
    readonly flood: number;
    /** Under the same flood with verdict logs off (null without the control). */
    readonly floodWithoutLogs: number | null;
  };
  /** Under the flood over quiet. */
  readonly throughputRatio: number;
  /** Percent of one core over each window. */
  readonly cpu: { readonly quiet: CpuPercent; readonly flood: CpuPercent & { readonly floodClient: number } };
  readonly flood: {
    readonly attempts: number;
    readonly attemptsPerSecond: number;
    /** connect() calls that failed outright (no SYN sent). */
    readonly errors: number;
    /** The kernel's counters over the window: packets that reached a log point, and were logged. */
    readonly seen: number;
    readonly logged: number;
    readonly loggedPerSecond: number;
    /** logged ≤ burst + rate × (window + 1 s). */
    readonly rateLimitHolds: boolean;
    /** Events the agent read from the NFLOG group over the window (capture messages). */
    readonly events: number;
    /** What the agent counted lost to the rate limit, and what the kernel's counters say (seen − logged). */
    readonly lostCounted: number;
    readonly lostByKernel: number;
    readonly queueOverflows: number;
    /** Attempts the control's flood made (null without the control). */
    readonly controlAttempts: number | null;
  };
  readonly windowSeconds: { readonly quiet: number; readonly flood: number };
}

/** utime, stime, cutime, cstime (clock ticks) from /proc/PID/stat; the name may hold spaces. */
export function parseProcStat(text: string): {
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
} {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state, field 3 of the line: field n is fields[n - 3].
  const at = (n: number) => Number(fields[n - 3]);
  return { utime: at(14), stime: at(15), cutime: at(16), cstime: at(17) };
}

/** CPU ticks a process used, with its reaped children when `children`. */
function ticksOf(pid: number, children: boolean): number {
  const s = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return s.utime + s.stime + (children ? s.cutime + s.cstime : 0);
}

async function ticksPerSecond(): Promise<number> {
  const r = await runCommand(['getconf', 'CLK_TCK']);
  return Number(r.stdout.trim()) || 100;
}

interface AgentStatus {
  readonly pid: number;
  readonly verdictLog: {
    readonly capture: { readonly pid?: number; readonly messages: number };
    readonly lost: { readonly rate_limit: number; readonly queue_overflow: number };
  } | null;
  readonly kernelCounters: { readonly seen: number; readonly logged: number };
}

/** flood-agent.js in the node's namespace, spoken to over its stdio. */
class FloodAgent {
  private readonly waiting: ((s: AgentStatus) => void)[] = [];

  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    readonly ready: AgentStatus,
  ) {}

  static start(node: string, args: readonly string[]): Promise<FloodAgent> {
    const argv = [process.execPath, join(__dirname, 'flood-agent.js'), ...args];
    const child = spawn('ip', ['netns', 'exec', node, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString('utf8')).slice(-4000)));
    return new Promise((resolve, reject) => {
      let agent: FloodAgent | undefined;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`flood-agent was not ready within 120 s: ${stderr.trim()}`));
      }, 120_000);
      createInterface({ input: child.stdout }).on('line', (line) => {
        const doc = JSON.parse(line) as AgentStatus & { type: string };
        if (doc.type === 'ready') {
          clearTimeout(timer);
          agent = new FloodAgent(child, doc);
          resolve(agent);
        } else if (doc.type === 'status') agent?.waiting.shift()?.(doc);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (!agent) reject(new Error(`flood-agent exited with ${code}: ${stderr.trim()}`));
      });
      child.on('error', reject);
    });
  }

  status(): Promise<AgentStatus> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin!.write('status\n');
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('close', () => {
        clearTimeout(kill);
        resolve();
      });
      this.child.stdin!.end('stop\n');
    });
  }
}

interface FloodClientReport {
  readonly attempts: number;
  readonly errors: number;
  readonly cpuMs: number;
}

/** The first Python 3 that runs. */
async function findPython(): Promise<string | undefined> {
  for (const python of PYTHON_CANDIDATES)
    if ((await runCommand([python, '--version'])).code === 0) return python;
  return undefined;
}

/** The flood client in the denied pod's namespace, for `seconds`; it reports its own CPU time. */
async function runFloodClient(
  python: string,
  path: RoutedPath,
  pair: DatapathPair,
  seconds: number,
): Promise<FloodClientReport> {
  const r = await runCommand([
    ...['ip', 'netns', 'exec', path.denied.name],
    ...[python, '-c', FLOOD_CLIENT, pair.serverIp, String(pair.port), String(seconds)],
  ]);
  try {
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as FloodClientReport;
  } catch {
    throw new Error(`flood client exited with ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
}

/** Percent of one core: ticks over wall seconds. */
function percent(ticks: number, hz: number, seconds: number): number {
  return round(((ticks / hz) * 100) / seconds, 1);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Window<T> {
  readonly value: T;
  readonly seconds: number;
  readonly agentTicks: number;
  readonly tcpdumpTicks: number;
}

/** Runs `fn`, counting the agent's and tcpdump's CPU ticks and the wall time around it. */
async function windowed<T>(agentPid: number, tcpdumpPid: number, fn: () => Promise<T>): Promise<Window<T>> {
  const a0 = ticksOf(agentPid, true);
  const t0 = ticksOf(tcpdumpPid, false);
  const w0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - w0) / 1000;
  return {
    value,
    seconds,
    agentTicks: ticksOf(agentPid, true) - a0,
    tcpdumpTicks: ticksOf(tcpdumpPid, false) - t0,
  };
}

type LoggedRun = Omit<FloodResult, 'throughputMbps' | 'flood'> & {
  readonly quietMbps: number;
  readonly floodMbps: number;
  readonly flood: Omit<FloodResult['flood'], 'controlAttempts'>;
};

export async function measureFlood(opts: FloodOptions): Promise<FloodResult> {
  const seconds = opts.seconds ?? 10;
  const rate = opts.ratePerSecond ?? DEFAULT_VERDICT_LOG.ratePerSecond;
  const burst = opts.burst ?? DEFAULT_VERDICT_LOG.burst;
  const progress = opts.progress ?? (() => undefined);
  const tools = await datapathToolsAvailable();
  if (!tools.ok) throw new Error(`flood: ${tools.why}`);
  if ((await runCommand(['tcpdump', '--version'])).code !== 0)
    throw new Error('flood: tcpdump is not installed (apt-get install tcpdump)');
  const python = await findPython();
  if (!python) throw new Error('flood: python3 is not installed (apt-get install python3)');
  const hz = await ticksPerSecond();

  const world = generateCluster(SIZES[opts.size], opts.seed);
  const compiler = new IncrementalCompiler({ nodeName: LOCAL_NODE });
  loadWorld(compiler, world);
  const pair = choosePair(world, compiler);
  progress(
    `flood ${opts.backend}: ${pair.client} -> ${pair.server} port ${pair.port}/TCP, flood from ${pair.denied}`,
  );
  const agentArgs = (logs: 'on' | 'off') => [
    ...['--backend', opts.backend, '--size', opts.size, '--seed', String(opts.seed)],
    ...['--verdict-log', logs, '--rate', String(rate), '--burst', String(burst)],
  ];
  const floodWindow = (path: RoutedPath) =>
    Promise.all([runFloodClient(python, path, pair, seconds), throughput(path, pair, seconds)]);

  // Verdict logs on: quiet, then the flood.
  let run: LoggedRun;
  const path = await RoutedPath.build(pair);
  try {
    const agent = await FloodAgent.start(path.node.name, agentArgs('on'));
    try {
      const tcpdumpPid = agent.ready.verdictLog?.capture.pid;
      if (tcpdumpPid === undefined) throw new Error('flood: the agent has no tcpdump child');
      if (await deniedConnects(path, pair)) throw new Error(`the denied pod ${pair.denied} connected`);
      const quiet = await windowed(agent.ready.pid, tcpdumpPid, () => throughput(path, pair, seconds));
      progress(`flood ${opts.backend}: quiet ${Math.round(quiet.value)} Mbit/s`);
      // Records of the check above reach the agent within a second (nfnetlink_log batches).
      await sleep(1500);
      const before = await agent.status();
      const flood = await windowed(agent.ready.pid, tcpdumpPid, () => floodWindow(path));
      const [client, floodMbps] = flood.value;
      // The last records arrive, and the agent reads the counters again (every 5 s, as the agent).
      await sleep(1500);
      const lostOf = (s: AgentStatus) => s.verdictLog!.lost.rate_limit;
      const kernelLost = (s: AgentStatus) => s.kernelCounters.seen - s.kernelCounters.logged;
      let after = await agent.status();
      for (
        let i = 0;
        i < 24 && lostOf(after) - lostOf(before) !== kernelLost(after) - kernelLost(before);
        i++
      ) {
        await sleep(500);
        after = await agent.status();
      }
      const seen = after.kernelCounters.seen - before.kernelCounters.seen;
      const logged = after.kernelCounters.logged - before.kernelCounters.logged;
      run = {
        backend: opts.backend,
        seconds,
        pair,
        rateLimit: { ratePerSecond: rate, burst },
        quietMbps: quiet.value,
        floodMbps,
        throughputRatio: round(floodMbps / quiet.value, 3),
        cpu: {
          quiet: {
            agent: percent(quiet.agentTicks, hz, quiet.seconds),
            tcpdump: percent(quiet.tcpdumpTicks, hz, quiet.seconds),
          },
          flood: {
            agent: percent(flood.agentTicks, hz, flood.seconds),
            tcpdump: percent(flood.tcpdumpTicks, hz, flood.seconds),
            floodClient: round(client.cpuMs / 10 / flood.seconds, 1),
          },
        },
        flood: {
          attempts: client.attempts,
          attemptsPerSecond: round(client.attempts / seconds, 0),
          errors: client.errors,
          seen,
          logged,
          loggedPerSecond: round(logged / flood.seconds, 1),
          rateLimitHolds: logged <= burst + rate * (flood.seconds + 1),
          events: after.verdictLog!.capture.messages - before.verdictLog!.capture.messages,
          lostCounted: lostOf(after) - lostOf(before),
          lostByKernel: seen - logged,
          queueOverflows: after.verdictLog!.lost.queue_overflow - before.verdictLog!.lost.queue_overflow,
        },
        windowSeconds: { quiet: round(quiet.seconds, 2), flood: round(flood.seconds, 2) },
      };
      progress(
        `flood ${opts.backend}: ${Math.round(floodMbps)} Mbit/s under ${client.attempts} attempts; ` +
          `${seen} reached the log point, ${logged} logged, ${run.flood.lostCounted} counted lost`,
      );
    } finally {
      await agent.stop();
    }
  } finally {
    await path.remove();
  }

  // The control: the same flood with verdict logs off.
  let control: { mbps: number; attempts: number } | null = null;
  if (opts.control ?? true) {
    const cpath = await RoutedPath.build(pair);
    try {
      const agent = await FloodAgent.start(cpath.node.name, agentArgs('off'));
      try {
        if (await deniedConnects(cpath, pair)) throw new Error(`the denied pod ${pair.denied} connected`);
        const [client, mbps] = await floodWindow(cpath);
        control = { mbps, attempts: client.attempts };
        progress(
          `flood ${opts.backend}, logs off: ${Math.round(mbps)} Mbit/s under ${client.attempts} attempts`,
        );
      } finally {
        await agent.stop();
      }
    } finally {
      await cpath.remove();
    }
  }

  const { quietMbps, floodMbps, flood, ...rest } = run;
  return {
    ...rest,
    throughputMbps: {
      quiet: round(quietMbps, 0),
      flood: round(floodMbps, 0),
      floodWithoutLogs: control ? round(control.mbps, 0) : null,
    },
    flood: { ...flood, controlAttempts: control?.attempts ?? null },
  };
}

/** The human summary. */
export function floodSummary(r: FloodResult): string {
  const f = r.flood;
  const c = r.cpu;
  const control =
    r.throughputMbps.floodWithoutLogs === null
      ? ''
      : `; under the flood with verdict logs off ${r.throughputMbps.floodWithoutLogs} (${f.controlAttempts} attempts)`;
  return [
    `flood (${r.backend}): ${r.pair.client} -> ${r.pair.server} ${r.pair.port}/TCP; flood from ${r.pair.denied}; ${r.seconds} s windows; rate limit ${r.rateLimit.ratePerSecond}/s burst ${r.rateLimit.burst}`,
    `allowed throughput   quiet ${r.throughputMbps.quiet} Mbit/s; under the flood ${r.throughputMbps.flood} (${r.throughputRatio})${control}`,
    `denied attempts      ${f.attempts} (${f.attemptsPerSecond}/s, one SYN each); ${f.seen} reached the log point, ${f.logged} logged (${f.loggedPerSecond}/s: the limit ${f.rateLimitHolds ? 'holds' : 'DOES NOT HOLD'})`,
    `lost to rate limit   ${f.lostCounted} counted by the agent, ${f.lostByKernel} by the kernel's counters; ${f.events} events read, ${f.queueOverflows} queue overflows`,
    `CPU, % of one core   agent ${c.quiet.agent} quiet, ${c.flood.agent} under the flood; tcpdump ${c.quiet.tcpdump} quiet, ${c.flood.tcpdump} under the flood; flood client ${c.flood.floodClient}`,
  ].join('\n');
}
