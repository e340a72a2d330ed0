/**
 * A Kernel wrapper that times every process the dataplane starts, by tool, so a report can say
 * where apply time goes (ipset restore vs iptables-restore vs ip6tables-restore vs read-backs)
 * rather than only how much there is.
 */
import type { Kernel, ProcessResult } from '../dataplane/api';
import type { LongLivedProcess, StartOptions } from '../dataplane/process';
import { nowMs, quantile, round } from './stats';

export interface ToolTiming {
  readonly tool: string;
  readonly runs: number;
  readonly msP50: number;
  readonly msP99: number;
  readonly msTotal: number;
  readonly inputBytes: number;
}

/** "ipset restore", "iptables-restore", "ip6tables-save", ... */
function toolOf(argv: readonly string[]): string {
  const bin = argv[0].split('/').pop() ?? argv[0];
  return bin === 'ipset' && argv[1] ? `ipset ${argv[1]}` : bin;
}

export class TimingKernel implements Kernel {
  private samples = new Map<string, { ms: number[]; bytes: number }>();

  constructor(private readonly inner: Kernel) {
    // Long-lived tools (the nft session, the ipset session) pass through untimed: each apply's
    // ApplyStats.applyMs holds the time spent in them.
    if (inner.start) this.start = (argv, options) => inner.start!(argv, options);
  }

  start?: (argv: readonly string[], options?: StartOptions) => LongLivedProcess;

  async run(argv: readonly string[], stdin?: string): Promise<ProcessResult> {
    const t = nowMs();
    const r = await this.inner.run(argv, stdin);
    const tool = toolOf(argv);
    let s = this.samples.get(tool);
    if (!s) this.samples.set(tool, (s = { ms: [], bytes: 0 }));
    s.ms.push(nowMs() - t);
    s.bytes += stdin === undefined ? 0 : Buffer.byteLength(stdin);
    return r;
  }

  /** Timings since the last call, by tool; resets the record. */
  take(): ToolTiming[] {
    const out: ToolTiming[] = [];
    for (const [tool, s] of [...this.samples].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out.push({
        tool,
        runs: s.ms.length,
        msP50: round(quantile(s.ms, 0.5), 2),
        msP99: round(quantile(s.ms, 0.99), 2),
        msTotal: round(
          s.ms.reduce((a, b) => a + b, 0),
          1,
        ),
        inputBytes: s.bytes,
      });
    }
    this.samples = new Map();
    return out;
  }
}
