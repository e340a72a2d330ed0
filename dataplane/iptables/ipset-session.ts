/**
 * IpsetSession: one long-lived `ipset -` (interactive mode) for the ipset changes of the event
 * path — member changes, most events — so they cost a netlink round trip each instead of an
 * `ipset restore` process (~3 ms here, see BENCHMARKS.md).
 *
 * How a batch works: each restore-format line is sent (with `-exist` on add, del and create, as
 * `ipset restore -exist` would apply it), then a sentinel line `create PALISADE-S s<seq>-<i>`:
 * a syntax error ipset reports on stderr without touching the kernel ("Syntax error: typename
 * 's7-3' is unknown"), naming its own token. ipset runs each line before reading the next and
 * writes errors unbuffered, so whatever stderr holds between two sentinels is the error of the
 * line between them. (Its stdout — prompts — is block-buffered and read only to be discarded.)
 *
 * Like `ipset restore`, a batch is not atomic: the lines before a failing one stay applied (the
 * engine re-reads the kernel after any failure). Unlike it, the lines after one still run.
 * A child that dies or does not answer within `timeoutMs` is killed; the batch fails; the next
 * batch starts a new child.
 */
import type { DataplaneLogger } from '../api';
import { ApplyError } from '../kernel';
import type { LongLivedProcess, ProcessStarter } from '../process';

export interface IpsetSessionOptions {
  readonly starter: ProcessStarter;
  readonly binary: string;
  readonly timeoutMs?: number;
  readonly logger: DataplaneLogger;
}

/** Commands that `ipset restore -exist` applies with -exist. */
const WITH_EXIST = /^(add|del|create) /;

interface Pending {
  readonly seq: string;
  readonly lines: readonly string[];
  readonly errors: string[];
  done: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout | undefined;
}

export class IpsetSession {
  private readonly opts: IpsetSessionOptions;
  private proc: LongLivedProcess | undefined;
  private stderr = '';
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextSeq = 0;
  private counters = { batches: 0, lines: 0, starts: 0, deaths: 0 };

  constructor(opts: IpsetSessionOptions) {
    this.opts = opts;
  }

  /** The child's pid, while one runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get stats(): {
    readonly batches: number;
    readonly lines: number;
    readonly starts: number;
    readonly deaths: number;
  } {
    return { ...this.counters };
  }

  /** Run restore-format lines; throws ApplyError naming the first line ipset refused. */
  run(lines: readonly string[]): Promise<void> {
    const next = this.queue.then(
      () => this.runNow(lines),
      () => this.runNow(lines),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    // Held while it ends: the caller awaits its exit, and may have nothing else keeping it alive.
    p.hold?.(true);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
      timer.unref();
      p.onExit(() => {
        clearTimeout(timer);
        resolve();
      });
      p.end();
    });
  }

  private child(): LongLivedProcess {
    if (this.proc) return this.proc;
    const proc = this.opts.starter.start([this.opts.binary, '-']);
    this.counters.starts++;
    this.proc = proc;
    // Idle, the session does not keep the program alive (a CLI or test that never closes it).
    proc.hold?.(false);
    this.stderr = '';
    proc.onStdout(() => undefined);
    proc.onStderr((t) => {
      this.stderr += t;
      this.check();
    });
    proc.onExit((e) => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.counters.deaths++;
      const why = e.error ?? (e.signal ? `killed by ${e.signal}` : `exited with ${e.code}`);
      this.fail(`ipset session ${why}`);
    });
    return proc;
  }

  private runNow(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    const proc = this.child();
    const seq = (this.nextSeq++).toString(36);
    const timeoutMs = this.opts.timeoutMs ?? 60_000;
    return new Promise<void>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.fail(`ipset session did not answer within ${timeoutMs} ms`);
              proc.kill('SIGKILL');
            }, timeoutMs)
          : undefined;
      this.pending = { seq, lines, errors: [], done: 0, resolve, reject, timer };
      proc.hold?.(true);
      const text = lines
        .map((l, i) => `${WITH_EXIST.test(l) ? `${l} -exist` : l}\ncreate PALISADE-S s${seq}-${i}\n`)
        .join('');
      proc.write(text);
    });
  }

  private fail(message: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    this.proc?.hold?.(false);
    if (p.timer) clearTimeout(p.timer);
    p.reject(new Error(message));
  }

  /** Consume sentinel-delimited answers: each ends the line before it. */
  private check(): void {
    const p = this.pending;
    if (!p) return;
    for (;;) {
      const marker = `typename 's${p.seq}-${p.done}' is unknown\n`;
      const at = this.stderr.indexOf(marker);
      if (at < 0) return;
      // The sentinel's own line starts with "ipset vX: Syntax error: …": drop it with the marker.
      const lineStart = this.stderr.lastIndexOf('\n', at) + 1;
      const before = this.stderr.slice(0, lineStart).trim();
      if (before) p.errors[p.done] = before;
      this.stderr = this.stderr.slice(at + marker.length);
      p.done++;
      if (p.done < p.lines.length) continue;
      this.pending = undefined;
      this.proc?.hold?.(false);
      if (p.timer) clearTimeout(p.timer);
      this.counters.batches++;
      this.counters.lines += p.lines.length;
      const first = p.errors.findIndex((e) => e !== undefined);
      if (first < 0) {
        p.resolve();
      } else {
        const input = `${p.lines.join('\n')}\n`;
        const stderr = `Error in line ${first + 1}: ${p.errors[first]}\n`;
        this.opts.logger.error('ipset session refused a line', {
          line: p.lines[first],
          stderr: p.errors[first],
        });
        p.reject(new ApplyError([this.opts.binary, '-'], { code: 1, stdout: '', stderr }, input));
      }
      return;
    }
  }
}
