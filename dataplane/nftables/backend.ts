/**
 * The nftables backend: Palisade's own inet table, written one transaction per apply through a
 * persistent `nft -i` session (session.ts) and read back through the same session as JSON.
 * SyncEngine (../engine.ts) decides what to write; this file writes it.
 */
import type { DataplaneLogger, IPFamily, LogCounterSample } from '../api';
import type { Renderer } from '../desired';
import type { Changes, Kept } from '../diff';
import type { Backend, Meter, WritePurpose } from '../engine';
import type { Binaries, Kernel } from '../kernel';
import type { TablesState } from '../model';
import { LIST_COUNTERS, parseLogCounters } from './log-counters';
import { TABLE_REF } from './names';
import { planChanges, removeAll, rewriteAll } from './plan';
import { parseTable } from './readback';
import { type NftRenderOptions, nftablesRenderer } from './render';
import { NftError, NftSession } from './session';

export interface NftablesBackendOptions extends NftRenderOptions {
  readonly kernel: Kernel;
  readonly families: readonly IPFamily[];
  readonly binaries: Binaries;
  readonly logger: DataplaneLogger;
  /** Transactions per nft child before it is replaced (session.ts); default 1000. */
  readonly recycleAfter?: number;
}

export class NftablesBackend implements Backend {
  readonly kind = 'nftables' as const;
  readonly renderer: Renderer;
  readonly session: NftSession;
  private readonly log: DataplaneLogger;
  /** Whether the table exists, as far as the last read-back or transaction says. */
  private tableExists = false;
  /**
   * The last read-back found flags on the table that Palisade did not set, or printed JSON that
   * does not parse (what nft 1.0.6 prints for a table with flags), so what the table holds or does
   * is unknown: the next write replaces the whole table in one transaction, which also drops the
   * flags, instead of writing a difference.
   */
  private replaceTable = false;
  private readonly logsVerdicts: boolean;

  constructor(opts: NftablesBackendOptions) {
    const kernel = opts.kernel;
    this.logsVerdicts = opts.verdictLog !== undefined;
    if (!kernel.start)
      throw new Error('the nftables backend needs a kernel that can start long-lived processes');
    this.renderer = nftablesRenderer(opts.families, {
      markBit: opts.markBit,
      ...(opts.verdictLog ? { verdictLog: opts.verdictLog } : {}),
      ...(opts.failClosed ? { failClosed: true } : {}),
    });
    this.log = opts.logger;
    this.session = new NftSession({
      starter: { start: (argv, o) => kernel.start!(argv, o) },
      binary: opts.binaries.nft,
      logger: opts.logger,
      ...(opts.recycleAfter !== undefined ? { recycleAfter: opts.recycleAfter } : {}),
    });
  }

  async readKernel(meter: Meter): Promise<TablesState> {
    const json = await this.timed(meter, async () => {
      try {
        return await this.session.list(`list table ${TABLE_REF}`);
      } catch (e) {
        if (e instanceof NftError && e.missing && !e.lost) return '';
        throw e;
      }
    });
    let parsed: ReturnType<typeof parseTable>;
    try {
      parsed = parseTable(json);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
      parsed = { ...parseTable(''), exists: true, flagged: true };
    }
    if (parsed.flagged) {
      // Read as empty, every object shows as missing (so a drift check reports it), and the next
      // write replaces the table.
      this.log.warn(
        'nftables: the table has flags another process set (owner or dormant?); the next write replaces the whole table',
        { readBack: json.slice(0, 160) },
      );
      this.tableExists = true;
      this.replaceTable = true;
      return parseTable('').state;
    }
    this.tableExists = parsed.exists;
    this.replaceTable = false;
    return parsed.state;
  }

  /**
   * The rate-limit counters, through the session (no process started). A missing table, or a
   * session that fails the request, contributes nothing.
   */
  async readLogCounters(): Promise<LogCounterSample[]> {
    if (!this.logsVerdicts) return [];
    try {
      return parseLogCounters(await this.session.list(LIST_COUNTERS));
    } catch (e) {
      if (!(e instanceof NftError && e.missing && !e.lost))
        this.log.debug('nftables: verdict log counters not read', { error: (e as Error).message });
      return [];
    }
  }

  async write(
    changes: Changes,
    desired: TablesState,
    _applied: TablesState,
    meter: Meter,
    purpose: WritePurpose,
  ): Promise<Kept> {
    if (this.replaceTable) {
      await this.transact(rewriteAll(desired), meter);
      this.replaceTable = false;
      return {};
    }
    const plan = planChanges(changes, purpose, !this.tableExists);
    await this.transact(plan.lines, meter);
    return plan.kept;
  }

  async rewriteAll(desired: TablesState, _applied: TablesState, meter: Meter): Promise<void> {
    await this.transact(rewriteAll(desired), meter);
  }

  async removeAll(_applied: TablesState, meter: Meter): Promise<void> {
    await this.transact(removeAll(), meter);
    this.tableExists = false;
  }

  close(): Promise<void> {
    return this.session.close();
  }

  // -------------------------------------------------------------------------------------------

  private async transact(lines: readonly string[], meter: Meter): Promise<void> {
    if (lines.length === 0) return;
    const script = `${lines.join('\n')}\n`;
    meter.nftLines += lines.length;
    meter.bytes += Buffer.byteLength(script);
    meter.transactions++;
    try {
      await this.timed(meter, () => this.session.transact(script));
    } catch (e) {
      if (e instanceof NftError) {
        this.log.error('dataplane: nft refused the transaction', {
          stderr: e.stderr.trim(),
          lines: e.lines,
          lost: e.lost,
        });
      }
      throw e;
    }
    this.tableExists = lines[lines.length - 1] !== `delete table ${TABLE_REF}`;
  }

  private async timed<T>(meter: Meter, fn: () => Promise<T>): Promise<T> {
    const starts = this.session.stats.starts;
    const t = performance.now();
    try {
      return await fn();
    } finally {
      meter.applyMs += performance.now() - t;
      meter.spawns += this.session.stats.starts - starts;
    }
  }
}
