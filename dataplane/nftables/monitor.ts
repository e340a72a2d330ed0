/**
 * TableMonitor: watches nf_tables for commits that touch Palisade's table and that Palisade did
 * not make, as they happen, through a long-lived `nft monitor`.
 *
 * How: `nft monitor` prints each commit's events ("add rule inet palisade pod-in4-… handle 7 …",
 * "delete table inet palisade", …) followed by the commit's generation line, "# new generation N
 * by process PID (COMM)". The monitor groups lines by commit and drops the commits of the
 * session's own children (`ownPids`). A foreign commit is reported when one of its events names
 * the table, or when nft could not resolve one of its events ("W: Received event for an unknown
 * set."; element events on sets created after the monitor started read like that) — the latter
 * at most once per `uncertainIntervalMs`, so another tool's busy table cannot flood us with
 * checks. (JSON monitoring, `nft -j monitor`, names tables but prints no generation line in
 * nft 1.0.6, so it cannot tell whose commit it was.)
 *
 * Promise: a monitor that dies is restarted after `restartDelayMs`, and its restart is reported
 * as a possible change (commits may have been missed meanwhile).
 */
import type { DataplaneLogger } from '../api';
import type { ProcessStarter } from '../process';
import { TABLE_REF } from './names';

export interface ForeignChange {
  /** The kernel's ruleset generation after the commit (0 for a monitor restart). */
  readonly generation: number;
  /** Who committed (0 when unknown: a monitor restart). */
  readonly pid: number;
  readonly comm: string;
  /** The commit's events that concern the table, or that nft could not resolve. */
  readonly events: readonly string[];
  /** False when only unresolved events (or a restart) suggest the table may have changed. */
  readonly certain: boolean;
}

export interface TableMonitorOptions {
  readonly starter: ProcessStarter;
  readonly binary: string;
  /** Pids whose commits are Palisade's own (the session's children, recent ones included). */
  readonly ownPids: () => Iterable<number>;
  readonly onForeignChange: (change: ForeignChange) => void;
  readonly logger: DataplaneLogger;
  readonly restartDelayMs?: number;
  readonly uncertainIntervalMs?: number;
}

export interface MonitorStatus {
  readonly running: boolean;
  readonly restarts: number;
  /** Foreign commits seen that touched (or may have touched) the table. */
  readonly foreignChanges: number;
  readonly lastForeignChange: (ForeignChange & { readonly at: number }) | null;
}

const GENERATION = /^# new generation (\d+) by process (\d+) \((.*)\)$/;
const OUR_TABLE = new RegExp(`\\b${TABLE_REF}\\b`);

export class TableMonitor {
  private readonly opts: TableMonitorOptions;
  private proc: ReturnType<ProcessStarter['start']> | undefined;
  private buffer = '';
  private pending: string[] = [];
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastUncertain = -Infinity;
  private counters = { restarts: 0, foreignChanges: 0 };
  private last: (ForeignChange & { at: number }) | null = null;

  constructor(opts: TableMonitorOptions) {
    this.opts = opts;
  }

  get status(): MonitorStatus {
    return { running: !!this.proc, ...this.counters, lastForeignChange: this.last };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.spawn();
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const p = this.proc;
    this.proc = undefined;
    p?.kill('SIGTERM');
  }

  private spawn(): void {
    const proc = this.opts.starter.start([this.opts.binary, 'monitor'], { env: { HOME: '/dev/null' } });
    this.proc = proc;
    this.buffer = '';
    this.pending = [];
    proc.onStdout((text) => this.read(text));
    proc.onStderr((text) => this.read(text));
    proc.onExit((e) => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      if (this.stopped) return;
      this.counters.restarts++;
      this.opts.logger.warn('nft monitor exited; restarting it', { exit: e });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.stopped) return;
        this.spawn();
        // Commits made while no monitor ran went unseen: report a possible change.
        this.report({ generation: 0, pid: 0, comm: '', events: ['nft monitor restarted'], certain: false });
      }, this.opts.restartDelayMs ?? 1000);
      this.restartTimer.unref();
    });
  }

  private read(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trimEnd();
      this.buffer = this.buffer.slice(nl + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    const g = GENERATION.exec(line);
    if (!g) {
      if (line !== '') this.pending.push(line);
      return;
    }
    const events = this.pending;
    this.pending = [];
    const pid = Number(g[2]);
    if ([...this.opts.ownPids()].includes(pid)) return;
    const ours = events.filter((e) => OUR_TABLE.test(e));
    const unresolved = events.filter((e) => e.startsWith('W:'));
    if (ours.length > 0) {
      this.report({ generation: Number(g[1]), pid, comm: g[3], events: ours, certain: true });
    } else if (unresolved.length > 0) {
      const now = performance.now();
      if (now - this.lastUncertain < (this.opts.uncertainIntervalMs ?? 1000)) return;
      this.lastUncertain = now;
      this.report({ generation: Number(g[1]), pid, comm: g[3], events: unresolved, certain: false });
    }
  }

  private report(change: ForeignChange): void {
    this.counters.foreignChanges++;
    this.last = { ...change, at: Date.now() };
    this.opts.onForeignChange(change);
  }
}
