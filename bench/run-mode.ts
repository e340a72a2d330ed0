/**
 * One measured run: one cluster size in one sync mode, in a process of its own so its memory
 * figures are its own (main.ts starts one per size and mode).
 *
 *   generate(size, seed) ─▶ load into the agent's Compilation (incremental | full)
 *     ─▶ SyncRunner.markSynced() … whenReady()                          cold start
 *     ─▶ floors (trivial restores in the same netns)
 *     ─▶ single events × repetitions (runner idle, compile + sync direct) per-event costs
 *     ─▶ churn at each rate through the runner                          latency, no event lost
 *     ─▶ read the kernel back; render the final cluster from scratch into a second netns and
 *        compare the two read-backs                                     every effect enforced
 *
 * Writes its result as JSON to --out; the normal form of the final kernel state to --state-out
 * (main.ts compares the incremental and the full run's).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { IncrementalCompiler } from '../compiler';
import { createCompilation, type Compilation } from '../agent/daemon/compilation';
import type { SyncMode } from '../agent/daemon/config';
import {
  type BackendKind,
  FakeKernel,
  ProcessKernel,
  createDataplane,
  type Kernel,
  type KernelCounts,
} from '../dataplane/api';
import { FakeNft } from '../dataplane/nftables/fake-nft';
import { LOCAL_NODE, generateCluster } from './cluster';
import { type ChurnResult, RunnerHarness } from './churn';
import { ChurnStream, type EventType, SingleEvents, loadWorld } from './events';
import { type Floors, measureFloors, measureNftFloors } from './floors';
import { type KernelSnapshot, firstDifferences, readOwnState } from './kernel-state';
import { BenchNetns } from './netns';
import { TimingKernel, type ToolTiming } from './timing-kernel';
import { type EventCost, measureSingleEvents } from './single-events';
import { SIZES, type SizeName, isSizeName } from './sizes';
import { nowMs, round } from './stats';

export type KernelKind = 'netns' | 'fake';

/**
 * empty: the first apply programs an empty kernel (a node's first agent).
 * adopt: another process has already programmed the same cluster (a restarted agent, a rolling
 * update); the first apply reads the kernel back and writes only differences.
 */
export type ColdStartKind = 'empty' | 'adopt';

export interface RunOptions {
  readonly size: SizeName;
  readonly mode: SyncMode;
  readonly backend: BackendKind;
  /** iptables: member changes through the long-lived ipset session (default) or ipset restore. */
  readonly ipsetSession: boolean;
  readonly seed: number;
  readonly repetitions: number;
  readonly rates: readonly number[];
  readonly churnSeconds: number;
  readonly kernel: KernelKind;
  readonly coldStartKind: ColdStartKind;
  /** Run in this existing network namespace (created and removed by the caller). */
  readonly netns?: string;
}

export interface ColdStart {
  readonly ms: number;
  readonly compileMs: number;
  readonly diffMs: number;
  readonly applyMs: number;
  readonly restoreBytes: number;
  readonly restoreLines: number;
}

export interface ModeResult {
  readonly size: SizeName;
  readonly mode: SyncMode;
  readonly backend: BackendKind;
  readonly ipsetSession: boolean;
  /** netns: real iptables and ipset in a network namespace; fake: the in-memory FakeKernel. */
  readonly kernelKind: KernelKind;
  readonly seed: number;
  readonly pods: number;
  readonly namespaces: number;
  readonly policies: number;
  readonly localPods: number;
  readonly floors: Floors;
  /** Feeding every object to the model, as the informers' initial lists do (before cold start). */
  readonly loadMs: number;
  readonly coldStartMs: number;
  readonly coldStartKind: ColdStartKind;
  readonly coldStart: ColdStart;
  /** Highest resident set size of the process through load, cold start, events and churn. */
  readonly peakRssMb: number;
  /** Heap used after a full GC, cluster loaded and applied. */
  readonly heapMb: number;
  /** Resident set size after that GC. */
  readonly rssLoadedMb: number;
  /** V8 heap reserved after that GC (RSS minus this is code, stacks and malloc). */
  readonly heapTotalMb: number;
  /** Own objects in the kernel after cold start, from a read-back. */
  readonly kernel: KernelCounts;
  /** The dataplane's own count of the same (must agree). */
  readonly dataplaneCounts: KernelCounts;
  readonly events: Record<EventType, EventCost>;
  readonly churn: readonly ChurnResult[];
  readonly final: {
    readonly digest: string;
    /** The kernel equals a from-scratch render of the final cluster in a fresh namespace. */
    readonly matchesFromScratch: boolean;
    readonly differences: readonly string[];
    readonly counts: KernelCounts;
  };
  /** Time in each kernel tool, per phase (coldStart, singleEvents, churn<rate>, final). */
  readonly kernelTimes: Readonly<Record<string, readonly ToolTiming[]>>;
  readonly durationMs: number;
}

function mb(bytes: number): number {
  return round(bytes / 1048576, 1);
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc: heap figures need a full collection');
  g();
  g();
}

interface KernelHandle {
  readonly kernel: Kernel;
  release(): Promise<void>;
}

async function openKernel(
  kind: KernelKind,
  tag: string,
  existing?: string,
  backend: BackendKind = 'iptables',
): Promise<KernelHandle> {
  if (existing) return { kernel: new ProcessKernel({ netns: existing }), release: async () => undefined };
  if (kind === 'fake' && backend === 'nftables') {
    const kernel = new FakeNft();
    // Recorded transactions keep every script; a long run does not need them.
    const transact = kernel.transact.bind(kernel);
    kernel.transact = (script, pid, source) => {
      const r = transact(script, pid, source);
      kernel.transactions.length = 0;
      return r;
    };
    return { kernel, release: async () => undefined };
  }
  if (kind === 'fake') {
    const kernel = new FakeKernel();
    // Recorded operations keep every input; a long run does not need them.
    const run = kernel.run.bind(kernel);
    kernel.run = async (argv, stdin) => {
      const r = await run(argv, stdin);
      kernel.ops.length = 0;
      return r;
    };
    return { kernel, release: async () => undefined };
  }
  const ns = await BenchNetns.create(tag);
  return { kernel: new ProcessKernel({ netns: ns.name }), release: () => ns.remove() };
}

/**
 * The final cluster compiled and applied from scratch into a fresh kernel: the reference. Written
 * by a fresh dataplane in full mode (a whole render and rewrite, the path that does not depend on
 * any delta); the incremental run is thus checked against the other code path, and the full run
 * against the incremental run's kernel by main.ts.
 */
async function fromScratch(
  kind: KernelKind,
  backend: BackendKind,
  snapshotOf: (c: IncrementalCompiler) => void,
): Promise<KernelSnapshot> {
  const handle = await openKernel(kind, 'r', undefined, backend);
  try {
    const compiler = new IncrementalCompiler({ nodeName: LOCAL_NODE });
    snapshotOf(compiler);
    const dataplane = createDataplane({ kernel: handle.kernel, mode: 'full', backend });
    try {
      await dataplane.sync(compiler.state(), compiler.flush());
    } finally {
      await dataplane.close();
    }
    return await readOwnState(handle.kernel, backend);
  } finally {
    await handle.release();
  }
}

/**
 * Programs the cluster of `size` and `seed` into the namespace `netns` and returns: run in a
 * process of its own before an `adopt` run, so the measured process's memory is its own. Uses a
 * full-mode dataplane (a whole rewrite into the empty kernel).
 */
export async function prime(
  size: SizeName,
  seed: number,
  netns: string,
  backend: BackendKind,
): Promise<number> {
  const t = nowMs();
  const world = generateCluster(SIZES[size], seed);
  const compiler = new IncrementalCompiler({ nodeName: LOCAL_NODE });
  loadWorld(compiler, world);
  const dataplane = createDataplane({ kernel: new ProcessKernel({ netns }), mode: 'full', backend });
  try {
    await dataplane.sync(compiler.state(), compiler.flush());
  } finally {
    await dataplane.close();
  }
  return nowMs() - t;
}

export async function runMode(
  opts: RunOptions,
  progress: (msg: string) => void,
): Promise<{ result: ModeResult; state: string }> {
  const started = nowMs();
  const size = SIZES[opts.size];
  const world = generateCluster(size, opts.seed);
  gc();
  progress(`${opts.size}/${opts.mode}: cluster generated`);

  const compilation: Compilation = createCompilation(opts.mode, LOCAL_NODE);
  let t = nowMs();
  loadWorld(compilation, world);
  const loadMs = nowMs() - t;

  const handle = await openKernel(opts.kernel, opts.mode === 'full' ? 'f' : 'i', opts.netns, opts.backend);
  const timing = new TimingKernel(handle.kernel);
  const kernelTimes: Record<string, ToolTiming[]> = {};
  const dataplane = createDataplane({
    kernel: timing,
    mode: opts.mode,
    backend: opts.backend,
    ipsetSession: opts.ipsetSession,
  });
  try {
    const harness = new RunnerHarness(compilation, dataplane);
    const coldStartMs = await harness.coldStart();
    const first = harness.syncs[0];
    const coldStart: ColdStart = {
      ms: round(coldStartMs, 2),
      compileMs: round(harness.compileMs, 2),
      diffMs: round(first.diffMs, 2),
      applyMs: round(first.applyMs, 2),
      restoreBytes: first.restoreBytes,
      restoreLines: first.restoreLines,
    };
    progress(`${opts.size}/${opts.mode}: cold start ${round(coldStartMs, 0)} ms`);
    kernelTimes.coldStart = timing.take();

    gc();
    const heapMb = mb(process.memoryUsage().heapUsed);
    const rssLoadedMb = mb(process.memoryUsage().rss);
    const heapTotalMb = mb(process.memoryUsage().heapTotal);
    const loaded = await readOwnState(handle.kernel, opts.backend);
    const dataplaneCounts = dataplane.counts();

    const floors: Floors =
      opts.kernel === 'fake'
        ? { ipsetRestoreMs: 0, iptablesRestoreMs: 0, iptablesReplaceRuleMs: 0 }
        : {
            ...(await measureFloors(handle.kernel)),
            ...(opts.backend === 'nftables' ? { nft: await measureNftFloors(handle.kernel) } : {}),
          };

    t = nowMs();
    const single = new SingleEvents(world);
    const events = await measureSingleEvents(single, compilation, dataplane, opts.repetitions);
    kernelTimes.singleEvents = timing.take();
    progress(`${opts.size}/${opts.mode}: single events measured in ${round((nowMs() - t) / 1000, 1)} s`);

    const stream = new ChurnStream(world);
    const churn: ChurnResult[] = [];
    for (const rate of opts.rates) {
      const r = await harness.churn(stream, rate, opts.churnSeconds);
      churn.push(r);
      kernelTimes[`churn${rate}`] = timing.take();
      progress(
        `${opts.size}/${opts.mode}: churn ${rate}/s: p50 ${r.latencyMsP50} ms, p99 ${r.latencyMsP99} ms, ` +
          `${r.applies} applies, lost ${r.lost}`,
      );
    }
    await harness.stop();
    // Unused objects kept off the event path are collected before the final comparison.
    await dataplane.collectGarbage();
    const peakRssMb = round(process.resourceUsage().maxRSS / 1024, 1);

    const final = await readOwnState(handle.kernel, opts.backend);
    const reference = await fromScratch(opts.kernel, opts.backend, (c) => loadWorld(c, world));
    const differences = firstDifferences(reference.text, final.text);
    progress(
      `${opts.size}/${opts.mode}: final kernel ${differences.length === 0 ? 'matches' : 'DIFFERS FROM'} from-scratch`,
    );

    const result: ModeResult = {
      size: opts.size,
      mode: opts.mode,
      backend: opts.backend,
      ipsetSession: opts.ipsetSession,
      kernelKind: opts.kernel,
      seed: opts.seed,
      pods: size.pods,
      namespaces: size.namespaces,
      policies: size.policies,
      localPods: size.localPods,
      floors,
      loadMs: round(loadMs, 1),
      coldStartMs: round(coldStartMs, 1),
      coldStartKind: opts.coldStartKind,
      coldStart,
      peakRssMb,
      heapMb,
      rssLoadedMb,
      heapTotalMb,
      kernel: loaded.counts,
      dataplaneCounts,
      events,
      churn,
      final: {
        digest: final.digest,
        matchesFromScratch: differences.length === 0,
        differences,
        counts: final.counts,
      },
      kernelTimes,
      durationMs: round(nowMs() - started, 0),
    };
    return { result, state: final.text };
  } finally {
    await dataplane.close();
    await handle.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Entry point of the child process (node --expose-gc dist/bench/run-mode.js ...)

interface ChildArgs extends RunOptions {
  readonly out: string;
  readonly stateOut: string;
  /** Only program the cluster into --netns and exit (see prime()). */
  readonly primeOnly: boolean;
}

function parseRunArgs(argv: readonly string[]): ChildArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      size: { type: 'string' },
      mode: { type: 'string' },
      backend: { type: 'string', default: 'iptables' },
      'ipset-session': { type: 'string', default: 'on' },
      seed: { type: 'string', default: '1' },
      repetitions: { type: 'string', default: '20' },
      rates: { type: 'string', default: '200,1000,5000' },
      'churn-seconds': { type: 'string', default: '30' },
      kernel: { type: 'string', default: 'netns' },
      out: { type: 'string' },
      'state-out': { type: 'string' },
      'cold-start': { type: 'string', default: 'empty' },
      netns: { type: 'string' },
      prime: { type: 'boolean', default: false },
    },
  });
  const size = values.size ?? '';
  if (!isSizeName(size)) throw new Error(`--size: unknown size "${size}"`);
  const mode = values.mode ?? (values.prime ? 'full' : '');
  if (mode !== 'incremental' && mode !== 'full') throw new Error('--mode: incremental or full');
  if (values.kernel !== 'netns' && values.kernel !== 'fake') throw new Error('--kernel: netns or fake');
  const backend = values.backend;
  if (backend !== 'iptables' && backend !== 'nftables') throw new Error('--backend: iptables or nftables');
  const ipsetSession = values['ipset-session'];
  if (ipsetSession !== 'on' && ipsetSession !== 'off') throw new Error('--ipset-session: on or off');
  const coldStart = values['cold-start'];
  if (coldStart !== 'empty' && coldStart !== 'adopt') throw new Error('--cold-start: empty or adopt');
  if (coldStart === 'adopt' && !values.netns) throw new Error('--cold-start adopt needs --netns (primed)');
  if (values.prime && !values.netns) throw new Error('--prime needs --netns');
  if (!values.prime && (!values.out || !values['state-out']))
    throw new Error('--out and --state-out are required');
  return {
    size,
    mode,
    backend,
    ipsetSession: ipsetSession === 'on',
    seed: Number(values.seed),
    repetitions: Number(values.repetitions),
    rates: values.rates.split(',').map(Number),
    churnSeconds: Number(values['churn-seconds']),
    kernel: values.kernel,
    coldStartKind: coldStart,
    ...(values.netns ? { netns: values.netns } : {}),
    out: values.out ?? '',
    stateOut: values['state-out'] ?? '',
    primeOnly: values.prime,
  };
}

if (require.main === module) {
  const opts = parseRunArgs(process.argv.slice(2));
  // The runner's clock unrefs its timers (an agent is kept alive by its servers): hold the loop.
  const keepAlive = setInterval(() => undefined, 60_000);
  const work = opts.primeOnly
    ? prime(opts.size, opts.seed, opts.netns!, opts.backend).then((ms) =>
        process.stderr.write(`  ${opts.size}: kernel primed by another process in ${round(ms, 0)} ms\n`),
      )
    : runMode(opts, (msg) => process.stderr.write(`  ${msg}\n`)).then(({ result, state }) => {
        writeFileSync(opts.stateOut, state);
        writeFileSync(opts.out, JSON.stringify(result, null, 2));
      });
  work
    .catch((e: unknown) => {
      process.stderr.write(`bench run failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    })
    .finally(() => clearInterval(keepAlive));
}
