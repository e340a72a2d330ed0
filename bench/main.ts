/**
 * `npm run bench -- [--size tiny|S|M|L] [--json] [options]`: the benchmark harness (issue "Scale").
 *
 * For each size it starts one child process per sync mode (run-mode.ts), one after the other so
 * they never compete for the two cores, each in network namespaces of its own and with memory
 * figures of its own. It then compares the two final kernel states, computes full/incremental
 * ratios and the targets, prints a table (or, with --json, one JSON object per size — an array
 * when several sizes ran), saves each size's report to <out-dir>/results/<size>-<backend>.json and redraws
 * <out-dir>/chart.svg from every saved report.
 *
 * Without --size it runs S then M. Options:
 *   --seed N             cluster and event seed (default 1)
 *   --repetitions N      repetitions of each single event (default 20)
 *   --churn-seconds N    length of each churn phase (default 30; shorten for smoke runs)
 *   --backend iptables|nftables  the dataplane backend measured (default iptables); the report
 *                        says which, and is saved as results/<size>-<backend>.json
 *   --ipset-session on|off  iptables: member changes through the long-lived `ipset -` session
 *                        (on, the agent's way) or an `ipset restore` process each (off: the before)
 *   --rates A,B,C        churn rates in events per second (default 200,1000,5000)
 *   --kernel netns|fake  real iptables/ipset in a network namespace (default) or the FakeKernel
 *   --out-dir DIR        where results/ and chart.svg go (default: the repository's bench/)
 *   --no-save            write nothing
 *   --cold-start empty|adopt  empty (default): the first apply programs an empty kernel; adopt:
 *                        another process programs the cluster first and the measured agent adopts it
 *                        (a restart); both modes alike
 *   --node-flag F        pass F to the measured Node processes (repeatable), e.g.
 *                        --node-flag=--max-semi-space-size=16 to measure with an agent's runtime flags
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { renderChart } from './chart';
import { firstDifferences } from './kernel-state';
import { type Machine, type SizeReport, buildReport, formatReport } from './report';
import { BenchNetns, kernelAvailable, runCommand } from './netns';
import type { BackendKind } from '../dataplane/api';
import type { ColdStartKind, KernelKind, ModeResult } from './run-mode';
import { type SizeName, isSizeName } from './sizes';

interface MainOptions {
  readonly sizes: readonly SizeName[];
  readonly backend: BackendKind;
  readonly ipsetSession: boolean;
  readonly json: boolean;
  readonly seed: number;
  readonly repetitions: number;
  readonly churnSeconds: number;
  readonly rates: readonly number[];
  readonly kernel: KernelKind;
  readonly outDir: string;
  readonly save: boolean;
  readonly nodeFlags: readonly string[];
  readonly coldStart: ColdStartKind;
}

function positiveNumber(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number, got "${v}"`);
  return n;
}

export function parseMainArgs(argv: readonly string[]): MainOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      size: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      repetitions: { type: 'string', default: '20' },
      'churn-seconds': { type: 'string', default: '30' },
      backend: { type: 'string', default: 'iptables' },
      'ipset-session': { type: 'string', default: 'on' },
      rates: { type: 'string', default: '200,1000,5000' },
      kernel: { type: 'string', default: 'netns' },
      'out-dir': { type: 'string', default: resolve(__dirname, '..', '..', 'bench') },
      'no-save': { type: 'boolean', default: false },
      'node-flag': { type: 'string', multiple: true },
      'cold-start': { type: 'string', default: 'empty' },
    },
    strict: true,
  });
  const sizes = (values.size ?? ['S', 'M']).flatMap((s) => s.split(','));
  for (const s of sizes) if (!isSizeName(s)) throw new Error(`--size: unknown size "${s}" (tiny, S, M, L)`);
  if (values.kernel !== 'netns' && values.kernel !== 'fake') throw new Error('--kernel: netns or fake');
  const backend = values.backend;
  if (backend !== 'iptables' && backend !== 'nftables') throw new Error('--backend: iptables or nftables');
  const ipsetSession = values['ipset-session'];
  if (ipsetSession !== 'on' && ipsetSession !== 'off') throw new Error('--ipset-session: on or off');
  const coldStart = values['cold-start'];
  if (coldStart !== 'empty' && coldStart !== 'adopt') throw new Error('--cold-start: empty or adopt');
  if (coldStart === 'adopt' && values.kernel === 'fake')
    throw new Error('--cold-start adopt needs --kernel netns');
  return {
    sizes: sizes as SizeName[],
    backend,
    ipsetSession: ipsetSession === 'on',
    json: values.json,
    seed: Math.floor(positiveNumber('--seed', values.seed)),
    repetitions: Math.floor(positiveNumber('--repetitions', values.repetitions)),
    churnSeconds: positiveNumber('--churn-seconds', values['churn-seconds']),
    rates: values.rates.split(',').map((r) => positiveNumber('--rates', r)),
    kernel: values.kernel,
    outDir: resolve(values['out-dir']),
    save: !values['no-save'],
    nodeFlags: values['node-flag'] ?? [],
    coldStart,
  };
}

async function machine(): Promise<Machine> {
  const firstLine = async (argv: string[]) => (await runCommand(argv)).stdout.split('\n')[0].trim();
  return {
    nproc: availableParallelism(),
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    iptables: await firstLine(['iptables', '--version']),
    ipset: await firstLine(['ipset', '--version']),
    nft: await firstLine(['nft', '--version']),
    node: process.version,
  };
}

/** Starts `node run-mode.js args…`; progress goes to our stderr. */
function spawnRunMode(opts: MainOptions, args: readonly string[]): Promise<void> {
  const argv = ['--expose-gc', ...opts.nodeFlags, join(__dirname, 'run-mode.js'), ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`bench run ${args.join(' ')} exited with ${code}`)),
    );
  });
}

/**
 * Runs one mode of one size in a child process. With --cold-start adopt, a first child programs
 * the cluster into a namespace this process owns, then the measured child starts on it.
 */
async function runChild(
  opts: MainOptions,
  size: SizeName,
  mode: 'incremental' | 'full',
  dir: string,
): Promise<ModeResult & { stateFile: string }> {
  const out = join(dir, `${size}-${mode}.json`);
  const stateFile = join(dir, `${size}-${mode}.state`);
  const common = [
    `--size=${size}`,
    `--seed=${opts.seed}`,
    `--backend=${opts.backend}`,
    `--ipset-session=${opts.ipsetSession ? 'on' : 'off'}`,
  ];
  const args = [
    ...common,
    `--mode=${mode}`,
    `--repetitions=${opts.repetitions}`,
    `--churn-seconds=${opts.churnSeconds}`,
    `--rates=${opts.rates.join(',')}`,
    `--kernel=${opts.kernel}`,
    `--cold-start=${opts.coldStart}`,
    `--out=${out}`,
    `--state-out=${stateFile}`,
  ];
  if (opts.coldStart === 'empty') {
    await spawnRunMode(opts, args);
  } else {
    const ns = await BenchNetns.create('a');
    try {
      await spawnRunMode(opts, [...common, '--prime', `--netns=${ns.name}`]);
      await spawnRunMode(opts, [...args, `--netns=${ns.name}`]);
    } finally {
      await ns.remove();
    }
  }
  const result = JSON.parse(readFileSync(out, 'utf8')) as ModeResult;
  return { ...result, stateFile };
}

/** The saved report's name: M-nftables, M-iptables, M-iptables-no-ipset-session. */
export function resultName(size: SizeName, opts: Pick<MainOptions, 'backend' | 'ipsetSession'>): string {
  return `${size}-${opts.backend}${opts.backend === 'iptables' && !opts.ipsetSession ? '-no-ipset-session' : ''}`;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function loadSavedReports(dir: string): SizeReport[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return (
    names
      .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as SizeReport)
      // Only size reports (other benches save elsewhere, but an older layout may have left one here).
      .filter((r) => (r as Partial<SizeReport>).incremental !== undefined)
  );
}

/** Restore input of one pod relabel at every saved size: the target is under 1 KB and flat. */
function flatness(all: readonly SizeReport[]): string | undefined {
  const real = chartReports(all).sort((a, b) => a.pods - b.pods);
  if (real.length < 2) return undefined;
  const cells = real.map((r) => `${r.size} ${r.incremental.events.podRelabel.restoreBytes} B`);
  const bytes = real.map((r) => r.incremental.events.podRelabel.restoreBytes);
  const spread = Math.max(...bytes) - Math.min(...bytes);
  return `pod relabel restore input by size (saved results): ${cells.join(', ')}; spread ${spread} B`;
}

/** The chart shows the real sizes; tiny only when nothing else was ever saved. */
function chartReports(all: readonly SizeReport[]): SizeReport[] {
  const real = all.filter((r) => r.size !== 'tiny');
  return real.length > 0 ? real : [...all];
}

export async function main(argv: readonly string[]): Promise<SizeReport[]> {
  const opts = parseMainArgs(argv);
  if (opts.kernel === 'netns') {
    const k = await kernelAvailable(opts.backend);
    if (!k.ok)
      throw new Error(
        `the bench needs root, iproute2, ipset, iptables and (for --backend nftables) nft (${k.why}); or use --kernel fake`,
      );
  }
  const info = await machine();
  const command = argv.length > 0 ? `npm run bench -- ${argv.join(' ')}` : 'npm run bench';
  const work = mkdtempSync(join(tmpdir(), 'palisade-bench-'));
  const reports: SizeReport[] = [];
  try {
    for (const size of opts.sizes) {
      const loadBefore = loadavg()[0];
      process.stderr.write(
        `bench ${size} ${opts.backend}: incremental run (load average ${loadBefore.toFixed(2)})\n`,
      );
      const inc = await runChild(opts, size, 'incremental', work);
      process.stderr.write(`bench ${size} ${opts.backend}: full (baseline) run\n`);
      const full = await runChild(opts, size, 'full', work);
      const incState = readFileSync(inc.stateFile, 'utf8');
      const fullState = readFileSync(full.stateFile, 'utf8');
      const load = { before: round2(loadBefore), after: round2(loadavg()[0]) };
      const report = buildReport(
        inc,
        full,
        incState,
        fullState,
        { ...info, loadAverage: load },
        command,
        firstDifferences(incState, fullState),
      );
      reports.push(report);
      if (!opts.json) process.stdout.write(`${formatReport(report)}\n\n`);
      else process.stderr.write(`${formatReport(report)}\n\n`);
      if (opts.save) {
        const results = join(opts.outDir, 'results');
        mkdirSync(results, { recursive: true });
        writeFileSync(
          join(results, `${resultName(size, opts)}.json`),
          `${JSON.stringify(report, null, 2)}\n`,
        );
        writeFileSync(join(opts.outDir, 'chart.svg'), renderChart(chartReports(loadSavedReports(results))));
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (opts.save) {
    const flat = flatness(loadSavedReports(join(opts.outDir, 'results')));
    if (flat) process.stderr.write(`${flat}\n`);
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
  }
  return reports;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
