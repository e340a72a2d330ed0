/**
 * The kernel seam: every process the dataplane starts goes through `Kernel.run` (one-shot tools)
 * or `Kernel.start` (long-lived ones: the nft session, `nft monitor`, the ipset session).
 *
 * What it models: running one binary with an argv array and optional stdin, and getting its
 * exit code and output back; or starting one and talking to it (process.ts). The real
 * implementation spawns (never through a shell), optionally inside a network namespace
 * (`ip netns exec NAME` prefixed to the argv); FakeKernel (iptables/fake-kernel.ts) and FakeNft
 * (nftables/fake-nft.ts) interpret the same argv and input in memory.
 *
 * Promise: `run` never throws for a non-zero exit; callers turn failures into ApplyError, which
 * carries the few input lines around the line the tool reported, never the whole input.
 */
import { spawn } from 'node:child_process';
import type { IPFamily } from './api';
import { type LongLivedProcess, SpawnStarter, type StartOptions } from './process';

export interface ProcessResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Kernel {
  run(argv: readonly string[], stdin?: string): Promise<ProcessResult>;
  /** Start a long-lived tool; kernels that cannot (FakeKernel) leave it out. */
  start?(argv: readonly string[], options?: StartOptions): LongLivedProcess;
  /**
   * Pids of the tools `run` started lately (they may still be committing): a drift watch tells
   * Palisade's own commits from others' by them. Kernels that cannot tell leave it out.
   */
  recentPids?(): Iterable<number>;
}

/** How many of the latest `run` children ProcessKernel remembers (an apply runs a few). */
const RECENT_PIDS = 64;

/** Binary names, configurable for hosts where the legacy or nft variants must be named. */
export interface Binaries {
  readonly iptablesRestore: Readonly<Record<IPFamily, string>>;
  readonly iptablesSave: Readonly<Record<IPFamily, string>>;
  /** The plain tools, for reading one chain's counters (`iptables -S CHAIN -v`). */
  readonly iptables: Readonly<Record<IPFamily, string>>;
  readonly ipset: string;
  readonly nft: string;
}

export const DEFAULT_BINARIES: Binaries = {
  iptablesRestore: { 4: 'iptables-restore', 6: 'ip6tables-restore' },
  iptablesSave: { 4: 'iptables-save', 6: 'ip6tables-save' },
  iptables: { 4: 'iptables', 6: 'ip6tables' },
  ipset: 'ipset',
  nft: 'nft',
};

export const LEGACY_BINARIES: Binaries = {
  iptablesRestore: { 4: 'iptables-legacy-restore', 6: 'ip6tables-legacy-restore' },
  iptablesSave: { 4: 'iptables-legacy-save', 6: 'ip6tables-legacy-save' },
  iptables: { 4: 'iptables-legacy', 6: 'ip6tables-legacy' },
  ipset: 'ipset',
  nft: 'nft',
};

/** Lines shown on each side of the failing line in an ApplyError. */
export const ERROR_CONTEXT_LINES = 3;

/**
 * The line number a restore tool blames, from its stderr:
 * ipset "Error in line N:", iptables-nft "Error occurred at line: N", iptables-legacy "line N failed".
 */
export function failingLineNumber(stderr: string): number | undefined {
  const m =
    /Error in line (\d+)/.exec(stderr) ??
    /Error occurred at line: (\d+)/.exec(stderr) ??
    /line (\d+) failed/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/**
 * The lines around `lineNumber` (1-based) of `input`, numbered, the failing one marked — as
 * kube-proxy's ExtractLines does, so a log shows the cause without dumping megabytes.
 */
export function extractLines(input: string, lineNumber: number, context = ERROR_CONTEXT_LINES): string[] {
  const lines = input.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const from = Math.max(1, lineNumber - context);
  const to = Math.min(lines.length, lineNumber + context);
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    out.push(`${n === lineNumber ? '>' : ' '}${String(n).padStart(6)}: ${lines[n - 1]}`);
  }
  return out;
}

/** A kernel tool refused its input or could not run. */
export class ApplyError extends Error {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  /** Line of the input the tool blamed, when it said. */
  readonly lineNumber: number | undefined;
  /** That line with a few around it (see extractLines); empty when no line was named. */
  readonly lines: readonly string[];

  constructor(argv: readonly string[], result: ProcessResult, input: string | undefined) {
    const lineNumber = failingLineNumber(result.stderr);
    const lines = input !== undefined && lineNumber !== undefined ? extractLines(input, lineNumber) : [];
    const detail = result.stderr.trim().split('\n').slice(0, 4).join(' | ');
    super(
      `${argv.join(' ')} exited with ${result.code}: ${detail}` +
        (lines.length ? `\n${lines.join('\n')}` : ''),
    );
    this.name = 'ApplyError';
    this.argv = argv;
    this.exitCode = result.code;
    this.stderr = result.stderr;
    this.lineNumber = lineNumber;
    this.lines = lines;
  }
}

export interface ProcessKernelOptions {
  /** Run every command inside this network namespace (`ip netns exec NAME ...`). */
  readonly netns?: string;
  /** Name of the iproute2 binary used for `netns exec`. */
  readonly ipBinary?: string;
  /** Kill a command that runs longer than this; 0 = no limit. */
  readonly timeoutMs?: number;
}

/** The real kernel: child_process.spawn with an argv array, never a shell. */
export class ProcessKernel implements Kernel {
  private readonly prefix: readonly string[];
  private readonly timeoutMs: number;
  private readonly starter: SpawnStarter;
  private readonly recent: number[] = [];

  constructor(opts: ProcessKernelOptions = {}) {
    this.prefix = opts.netns ? [opts.ipBinary ?? 'ip', 'netns', 'exec', opts.netns] : [];
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.starter = new SpawnStarter({
      ...(opts.netns ? { netns: opts.netns } : {}),
      ...(opts.ipBinary ? { ipBinary: opts.ipBinary } : {}),
    });
  }

  start(argv: readonly string[], options?: StartOptions): LongLivedProcess {
    return this.starter.start(argv, options);
  }

  recentPids(): Iterable<number> {
    return this.recent;
  }

  run(argv: readonly string[], stdin?: string): Promise<ProcessResult> {
    const full = [...this.prefix, ...argv];
    return new Promise((resolve) => {
      const child = spawn(full[0], full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      // `ip netns exec` execs in place: the pid is the tool's own.
      if (child.pid !== undefined) {
        this.recent.push(child.pid);
        if (this.recent.length > RECENT_PIDS) this.recent.shift();
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let spawnError: Error | undefined;
      let timedOut = false;
      // Our own timer: spawn's `timeout` is left armed when the binary is missing.
      const timer = this.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, this.timeoutMs)
        : undefined;
      timer?.unref();
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => {
        spawnError = e;
      });
      // A tool that exits before reading all of stdin makes the pipe fail; its exit code says why.
      child.stdin.on('error', () => undefined);
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8');
        const why = spawnError
          ? spawnError.message
          : timedOut
            ? `killed after ${this.timeoutMs} ms`
            : signal
              ? `killed by ${signal}`
              : '';
        resolve({
          code: spawnError ? 127 : (code ?? 128),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: why ? `${stderr}${why}` : stderr,
        });
      });
      child.stdin.end(stdin ?? '');
    });
  }
}
