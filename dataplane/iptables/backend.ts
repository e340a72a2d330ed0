/**
 * The iptables backend: ipsets and iptables chains written with `ipset restore` and
 * `iptables-restore --noflush` (one per family), read back with `iptables-save -t filter` and
 * `ipset save`. SyncEngine (../engine.ts) decides what to write; this file writes it.
 *
 * Each plan (plan.ts) moves the kernel towards the new state and never past it: ipset (pre),
 * iptables-restore per family (atomic per table), ipset (post). See README.md.
 */
import type { IPFamily, LogCounterSample } from '../api';
import type { Changes, Kept } from '../diff';
import type { Backend, Meter } from '../engine';
import { ApplyError, type Binaries, type Kernel } from '../kernel';
import type { TableState, TablesState } from '../model';
import type { DataplaneLogger } from '../api';
import { IpsetSession } from './ipset-session';
import { LOG_LIMIT_LIST_ARGS, parseLogLimitChain } from './log-counters';
import { type Plan, planChanges, planIsEmpty, removeAll, rewriteAll } from './plan';
import { parseIpsetSave, parseIptablesSave } from './readback';
import { type RenderOptions, iptablesRenderer } from './render';
import type { Renderer } from '../desired';

export interface IptablesBackendOptions extends RenderOptions {
  readonly kernel: Kernel;
  readonly families: readonly IPFamily[];
  readonly binaries: Binaries;
  readonly logger: DataplaneLogger;
  /** Send small ipset batches through a long-lived `ipset -` (when the kernel can start one); default true. */
  readonly ipsetSession?: boolean;
}

/**
 * Batches up to this many ipset lines go through the session (a netlink round trip per line);
 * larger ones (first syncs, full mode) through `ipset restore`, which batches its messages.
 */
export const SESSION_MAX_LINES = 256;

export class IptablesBackend implements Backend {
  readonly kind = 'iptables' as const;
  readonly renderer: Renderer;
  private readonly kernel: Kernel;
  private readonly families: readonly IPFamily[];
  private readonly bin: Binaries;
  private readonly log: DataplaneLogger;
  private readonly ipset: IpsetSession | undefined;
  private readonly logsVerdicts: boolean;

  constructor(opts: IptablesBackendOptions) {
    this.kernel = opts.kernel;
    this.logsVerdicts = opts.verdictLog !== undefined;
    this.families = opts.families;
    this.bin = opts.binaries;
    this.log = opts.logger;
    this.renderer = iptablesRenderer(opts.families, {
      markBit: opts.markBit,
      ...(opts.verdictLog ? { verdictLog: opts.verdictLog } : {}),
      ...(opts.failClosed ? { failClosed: true } : {}),
    });
    const kernel = opts.kernel;
    this.ipset =
      kernel.start && opts.ipsetSession !== false
        ? new IpsetSession({
            starter: { start: (argv, o) => kernel.start!(argv, o) },
            binary: opts.binaries.ipset,
            logger: opts.logger,
          })
        : undefined;
  }

  /** Our objects as the kernel holds them: one iptables-save per family, one ipset save. */
  async readKernel(meter: Meter): Promise<TablesState> {
    const tables = new Map<IPFamily, TableState>();
    for (const f of this.families) {
      const text = await this.run([this.bin.iptablesSave[f], '-t', 'filter'], undefined, meter);
      tables.set(f, parseIptablesSave(text, f));
    }
    const sets = parseIpsetSave(await this.run([this.bin.ipset, 'save'], undefined, meter));
    return { tables, sets };
  }

  /**
   * The rate-limit counters: one `iptables -S PALISADE-LOG-LIMIT -v` per family. A family whose
   * chain is missing (not written yet, or removed) or whose tool fails contributes nothing.
   */
  async readLogCounters(): Promise<LogCounterSample[]> {
    if (!this.logsVerdicts) return [];
    const out: LogCounterSample[] = [];
    for (const f of this.families) {
      const argv = [this.bin.iptables[f], ...LOG_LIMIT_LIST_ARGS];
      const r = await this.kernel.run(argv);
      if (r.code !== 0) {
        this.log.debug('iptables: verdict log counters not read', {
          argv: argv.join(' '),
          code: r.code,
          stderr: r.stderr.trim(),
        });
        continue;
      }
      out.push(...parseLogLimitChain(r.stdout, f));
    }
    return out;
  }

  async write(changes: Changes, _desired: TablesState, _applied: TablesState, meter: Meter): Promise<Kept> {
    await this.execute(planChanges(changes, this.families), meter);
    return {};
  }

  async rewriteAll(desired: TablesState, applied: TablesState, meter: Meter): Promise<void> {
    await this.execute(rewriteAll(desired, applied), meter);
  }

  async removeAll(applied: TablesState, meter: Meter): Promise<void> {
    await this.execute(removeAll(applied), meter);
  }

  async close(): Promise<void> {
    await this.ipset?.close();
  }

  // -------------------------------------------------------------------------------------------

  private async run(argv: readonly string[], input: string | undefined, meter: Meter): Promise<string> {
    const t = performance.now();
    const result = await this.kernel.run(argv, input);
    meter.applyMs += performance.now() - t;
    meter.spawns++;
    if (result.code !== 0) {
      const err = new ApplyError(argv, result, input);
      this.log.error('dataplane: kernel tool failed', {
        argv: argv.join(' '),
        code: result.code,
        stderr: result.stderr.trim(),
        lines: err.lines,
      });
      throw err;
    }
    return result.stdout;
  }

  private async restoreIpset(lines: readonly string[], meter: Meter): Promise<void> {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    meter.ipsetLines += lines.length;
    meter.bytes += Buffer.byteLength(text);
    if (this.ipset && lines.length <= SESSION_MAX_LINES) {
      const starts = this.ipset.stats.starts;
      const t = performance.now();
      try {
        await this.ipset.run(lines);
      } finally {
        meter.applyMs += performance.now() - t;
        meter.spawns += this.ipset.stats.starts - starts;
      }
      return;
    }
    await this.run([this.bin.ipset, 'restore', '-exist'], text, meter);
  }

  private async execute(plan: Plan, meter: Meter): Promise<void> {
    if (planIsEmpty(plan)) return;
    await this.restoreIpset(plan.ipsetPre, meter);
    for (const f of this.families) {
      const lines = plan.iptables.get(f) ?? [];
      if (lines.length === 0) continue;
      const text = `*filter\n${lines.join('\n')}\nCOMMIT\n`;
      meter.iptablesLines += lines.length + 2;
      meter.bytes += Buffer.byteLength(text);
      await this.run([this.bin.iptablesRestore[f], '--noflush', '--wait'], text, meter);
    }
    await this.restoreIpset(plan.ipsetPost, meter);
  }
}
