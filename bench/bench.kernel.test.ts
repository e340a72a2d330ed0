/**
 * The harness cannot rot: run the real CLI (dist/bench/main.js, built by `npm run build`, which
 * `make test` and `npm test` do first) on the smoke size, both sync modes, for each backend (real
 * iptables and ipset, or nftables, in network namespaces it creates and removes), and check the
 * JSON it prints: the shape the issue asks for, and the facts the figures rest on (no event lost,
 * both kernels equal a from-scratch render and each other, a pod relabel costs set member lines
 * only, through the running session). No wall-time assertions: timings are only checked to be
 * measured (finite, non-negative).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_TYPES } from './events';
import type { SizeReport } from './report';

const REQUIRE_KERNEL_TESTS = process.env.PALISADE_REQUIRE_KERNEL_TESTS === '1';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const MAIN = join(__dirname, '..', 'dist', 'bench', 'main.js');
const REPETITIONS = 5;

function runBench(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', MAIN, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }),
    );
  });
}

const finiteNonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;

const describeKernel = IS_ROOT || REQUIRE_KERNEL_TESTS ? describe : describe.skip;
if (!IS_ROOT && !REQUIRE_KERNEL_TESTS) {
  console.warn('skipping bench kernel test: not root (set PALISADE_REQUIRE_KERNEL_TESTS=1 to fail instead)');
}

describeKernel.each(['iptables', 'nftables'] as const)(
  'npm run bench -- --size tiny --backend %s --json',
  (backend) => {
    let report: SizeReport;

    beforeAll(async () => {
      if (!IS_ROOT)
        throw new Error('the bench kernel test needs root (PALISADE_REQUIRE_KERNEL_TESTS=1 is set)');
      if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
      const r = await runBench([
        '--size',
        'tiny',
        '--backend',
        backend,
        '--json',
        '--churn-seconds',
        '2',
        '--repetitions',
        String(REPETITIONS),
        '--no-save',
      ]);
      if (r.code !== 0) throw new Error(`bench exited with ${r.code}:\n${r.stderr}`);
      report = JSON.parse(r.stdout) as SizeReport;
    }, 300_000);

    test('prints one object with the keys the issue asks for', () => {
      expect(report).toMatchObject({
        backend,
        size: 'tiny',
        pods: 100,
        namespaces: 8,
        policies: 16,
        localPods: 20,
      });
      expect(finiteNonNegative(report.floors.ipsetRestoreMs) && report.floors.ipsetRestoreMs > 0).toBe(true);
      expect(finiteNonNegative(report.floors.iptablesRestoreMs) && report.floors.iptablesRestoreMs > 0).toBe(
        true,
      );
      for (const mode of ['incremental', 'full'] as const) {
        const m = report[mode];
        for (const k of ['coldStartMs', 'peakRssMb', 'heapMb'] as const)
          expect(finiteNonNegative(m[k])).toBe(true);
        for (const k of ['rules', 'chains', 'ipsets', 'members'] as const)
          expect(m.kernel[k]).toBeGreaterThan(0);
        // Counted from a kernel read-back by the bench's own parser: must agree with the dataplane.
        expect(m.kernel).toEqual(m.dataplaneCounts);
        expect(Object.keys(m.events).sort()).toEqual([...EVENT_TYPES].sort());
        for (const t of EVENT_TYPES) {
          const e = m.events[t];
          for (const k of ['compileDiffMsMedian', 'applyMsMedian'] as const)
            expect(finiteNonNegative(e[k])).toBe(true);
          for (const k of ['restoreBytes', 'restoreLines', 'iptablesLines', 'ipsetLines'] as const) {
            expect(Number.isInteger(e[k]) && e[k] >= 0).toBe(true);
          }
          expect(e.repetitions).toBe(REPETITIONS);
        }
        expect(m.churn.map((c) => [c.eventsPerSecond, c.seconds])).toEqual([
          [200, 2],
          [1000, 2],
          [5000, 2],
        ]);
        for (const c of m.churn) {
          expect(finiteNonNegative(c.latencyMsP50)).toBe(true);
          expect(c.latencyMsP99).toBeGreaterThanOrEqual(c.latencyMsP50);
        }
      }
      for (const t of EVENT_TYPES) {
        expect(Object.keys(report.ratios[t]).sort()).toEqual([
          'applyMs',
          'compileDiffMs',
          'restoreBytes',
          'wallMs',
        ]);
      }
    });

    test('a pod relabel is set member lines only, through the running session: no process started', () => {
      const relabel = report.incremental.events.podRelabel;
      expect(relabel.iptablesLines).toBe(0);
      if (backend === 'nftables') {
        expect(relabel.ipsetLines).toBe(0);
        expect(relabel.nftLines).toBeGreaterThan(0);
        expect(relabel.transactions).toBe(1);
        expect(report.floors.nft).toBeDefined();
      } else {
        expect(relabel.ipsetLines).toBeGreaterThan(0);
        expect(relabel.nftLines).toBe(0);
      }
      expect(relabel.spawnsMedian).toBe(0);
    });

    test('every single event changed the kernel, and the baseline rewrote more for each', () => {
      for (const t of EVENT_TYPES) {
        expect(report.incremental.events[t].effective).toBe(REPETITIONS);
        expect(report.full.events[t].restoreBytes).toBeGreaterThan(report.incremental.events[t].restoreBytes);
      }
      // The baseline rewrites every own chain whatever changed.
      const full = report.full.events.podRelabel;
      expect(backend === 'nftables' ? full.nftLines : full.iptablesLines).toBeGreaterThan(0);
    });

    test('no churn event is lost, and every event reached the kernel', () => {
      expect(report.checks.eventsLost).toBe(0);
      for (const mode of ['incremental', 'full'] as const) {
        for (const c of report[mode].churn) {
          expect(c.lost).toBe(0);
          expect(c.enforced + c.unchangedDropped).toBe(c.events);
          expect(c.enforced).toBeGreaterThan(0);
        }
      }
      expect(report.checks.incrementalMatchesFromScratch).toBe(true);
      expect(report.checks.fullMatchesFromScratch).toBe(true);
    });

    test('the full baseline ends in the same kernel state as incremental', () => {
      expect(report.checks.stateDifferences).toEqual([]);
      expect(report.checks.fullEqualsIncremental).toBe(true);
    });

    test('reports a target list with measured values', () => {
      expect(report.targets.length).toBeGreaterThan(5);
      for (const t of report.targets) expect(typeof t.pass).toBe('boolean');
    });
  },
);
