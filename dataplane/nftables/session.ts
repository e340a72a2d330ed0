/**
 * NftSession: one long-lived `nft -i` process fed transaction after transaction, so an apply
 * costs the kernel's commit and not a process start and teardown (a fresh `nft -f` that deleted
 * anything waits ~16 ms for nf_tables' deferred destroy work when it closes its netlink socket;
 * a process that stays open does not). `bench/nft-floors.ts` measures both on this machine.
 *
 * How a request works (one in flight at a time; callers queue):
 *   transaction: the script is written to `tx` in a private directory that is the child's cwd,
 *     then `include "./tx"` is sent: nft reads the file with buffered reads (it reads its stdin
 *     one byte per read(2)), parses it and commits it as one batch: all of it or nothing.
 *   list: the command line itself (`list table inet palisade`); nft runs with -j, so the answer is
 *     one line of JSON on stdout.
 *   Each request is followed by a sentinel line `}<seq>`: a syntax error nft answers on stderr
 *   with `Error: syntax error, ...`, the line echoed, and a caret line, without touching the
 *   kernel. Everything on stderr before that echo belongs to the request: empty means success.
 *   A list's JSON line on stdout is complete once its sentinel came back (nft flushes stdout).
 *
 * Why the process is recycled: nft -i adds every input line to libedit's in-memory history, which
 * grows without bound and whose duplicate check walks it (measured: 0.29 ms per transaction when
 * fresh, 0.55 ms after 10,000). After `recycleAfter` transactions a replacement is started in
 * the background and swapped in between two requests; the old one exits on its own. HOME points
 * at /dev/null so no history file is read or written.
 *
 * Failure: a request that nft refuses rejects with NftError (the failing line of the script and a
 * few around it); a child that dies or does not answer within `timeoutMs` is killed, the request
 * rejects (its outcome is unknown: callers re-read the kernel), and the next request starts a
 * new child. Scripts hold only names Palisade generated and values it validated (render.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataplaneLogger } from '../api';
import { extractLines } from '../kernel';
import type { LongLivedProcess, ProcessExit, ProcessStarter } from '../process';

export interface NftSessionOptions {
  readonly starter: ProcessStarter;
  /** The nft binary; default `nft`. */
  readonly binary?: string;
  /** Transactions served by one child before it is replaced; default 1000. */
  readonly recycleAfter?: number;
  /** A request not answered in this time kills the child; default 60 s. */
  readonly timeoutMs?: number;
  /** Parent of the session's private directory; default the OS temp directory. */
  readonly tmpDir?: string;
  readonly logger?: DataplaneLogger;
}

export interface SessionStats {
  /** Transactions committed (successful ones). */
  readonly transactions: number;
  /** Transactions nft refused. */
  readonly refused: number;
  readonly lists: number;
  /** Children started, recycled (replaced after recycleAfter), and lost (died or timed out). */
  readonly starts: number;
  readonly recycles: number;
  readonly deaths: number;
}

/** The name of the script file inside the session directory, as the include line names it. */
const SCRIPT_FILE = 'tx';
const INCLUDE_LINE = `include "./${SCRIPT_FILE}"`;

/** A request nft refused, or a child that died or hung while serving it. */
export class NftError extends Error {
  /** What nft printed on stderr for the request (empty when the child died). */
  readonly stderr: string;
  /** Line of the script nft blamed first, when it named one. */
  readonly lineNumber: number | undefined;
  /** That line with a few around it (see extractLines). */
  readonly lines: readonly string[];
  /** True when the outcome is unknown (the child died or timed out mid-request). */
  readonly lost: boolean;

  constructor(message: string, stderr: string, script: string | undefined, lost: boolean) {
    const m = new RegExp(`/${SCRIPT_FILE}:(\\d+):`).exec(stderr);
    const lineNumber = m ? Number(m[1]) : undefined;
    const lines = script !== undefined && lineNumber !== undefined ? extractLines(script, lineNumber) : [];
    const detail = stderr.trim().split('\n').slice(0, 6).join(' | ');
    super(`${message}${detail ? `: ${detail}` : ''}${lines.length ? `\n${lines.join('\n')}` : ''}`);
    this.name = 'NftError';
    this.stderr = stderr;
    this.lineNumber = lineNumber;
    this.lines = lines;
    this.lost = lost;
  }

  /** nft said an object named in the request does not exist (ENOENT). */
  get missing(): boolean {
    return /No such file or directory/.test(this.stderr);
  }
}

interface Pending {
  readonly seq: string;
  readonly wantStdout: boolean;
  readonly script: string | undefined;
  readonly what: string;
  readonly resolve: (stdout: string) => void;
  readonly reject: (e: NftError) => void;
  readonly timer: NodeJS.Timeout | undefined;
}

/** One nft -i child and the request it is serving. */
class Child {
  readonly proc: LongLivedProcess;
  transactions = 0;
  exit: ProcessExit | undefined;
  ready = false;
  readonly whenReady: Promise<void>;
  private stdout = '';
  private stderr = '';
  private pending: Pending | undefined;
  private nextSeq = 0;

  constructor(
    starter: ProcessStarter,
    argv: readonly string[],
    cwd: string,
    private readonly timeoutMs: number,
    private readonly onLost: (child: Child) => void,
  ) {
    this.proc = starter.start(argv, { cwd, env: { HOME: '/dev/null' } });
    this.proc.onStdout((t) => {
      this.stdout += t;
      this.check();
    });
    this.proc.onStderr((t) => {
      this.stderr += t;
      this.check();
    });
    this.proc.onExit((e) => {
      this.exit = e;
      const why = e.error ?? (e.signal ? `killed by ${e.signal}` : `exited with ${e.code}`);
      this.fail(`nft session (pid ${this.proc.pid ?? '-'}) ${why}`, true);
      this.onLost(this);
    });
    this.whenReady = this.request('', false, undefined, 'start').then(() => {
      this.ready = true;
    });
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Send `body` (lines, or nothing) then the sentinel; resolves with stdout when asked for. */
  request(body: string, wantStdout: boolean, script: string | undefined, what: string): Promise<string> {
    if (this.pending)
      return Promise.reject(new NftError(`nft session busy (${this.pending.what})`, '', undefined, false));
    if (!this.alive) return Promise.reject(new NftError('nft session has exited', '', undefined, true));
    const seq = (this.nextSeq++).toString(36);
    return new Promise<string>((resolve, reject) => {
      const timer =
        this.timeoutMs > 0
          ? setTimeout(() => {
              this.fail(`nft session did not answer ${what} within ${this.timeoutMs} ms`, true);
              this.proc.kill('SIGKILL');
            }, this.timeoutMs)
          : undefined;
      this.pending = { seq, wantStdout, script, what, resolve, reject, timer };
      this.proc.write(`${body}}${seq}\n`);
    });
  }

  private fail(message: string, lost: boolean): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    if (p.timer) clearTimeout(p.timer);
    p.reject(new NftError(message, this.stderr, p.script, lost));
    this.stderr = '';
    this.stdout = '';
  }

  /** Is the pending request answered? Its sentinel's echo, then the caret line, end its stderr. */
  private check(): void {
    const p = this.pending;
    if (!p) return;
    const echo = `}${p.seq}\n`;
    let at = 0;
    if (!this.stderr.startsWith(echo)) {
      const i = this.stderr.indexOf(`\n${echo}`);
      if (i < 0) return;
      at = i + 1;
    }
    const afterEcho = at + echo.length;
    const caretEnd = this.stderr.indexOf('\n', afterEcho);
    if (caretEnd < 0) return;
    // What precedes the echo is the request's own output plus the sentinel's "Error:" line.
    const before = this.stderr.slice(0, at);
    const lines = before.split('\n');
    lines.pop(); // '' after the last newline
    if (lines.length > 0 && lines[lines.length - 1].startsWith('Error:')) lines.pop();
    const errors = lines.length ? `${lines.join('\n')}\n` : '';
    if (errors === '' && p.wantStdout && !this.stdout.includes('\n')) return;
    this.stderr = this.stderr.slice(caretEnd + 1);
    this.pending = undefined;
    if (p.timer) clearTimeout(p.timer);
    if (errors !== '') {
      this.stdout = '';
      p.reject(new NftError(`nft refused ${p.what}`, errors, p.script, false));
      return;
    }
    let out = '';
    if (p.wantStdout) {
      const nl = this.stdout.indexOf('\n');
      out = this.stdout.slice(0, nl);
      this.stdout = this.stdout.slice(nl + 1);
    }
    p.resolve(out);
  }
}

const silentLogger: DataplaneLogger = { debug() {}, info() {}, warn() {}, error() {} };

export class NftSession {
  private readonly starter: ProcessStarter;
  private readonly argv: readonly string[];
  private readonly recycleAfter: number;
  private readonly timeoutMs: number;
  private readonly tmpParent: string;
  private readonly log: DataplaneLogger;
  private dir: string | undefined;
  private current: Child | undefined;
  private spare: Child | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private counters = { transactions: 0, refused: 0, lists: 0, starts: 0, recycles: 0, deaths: 0 };
  private started: number[] = [];

  constructor(opts: NftSessionOptions) {
    this.starter = opts.starter;
    this.argv = [opts.binary ?? 'nft', '-j', '-i'];
    this.recycleAfter = opts.recycleAfter ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.tmpParent = opts.tmpDir ?? tmpdir();
    this.log = opts.logger ?? silentLogger;
  }

  get stats(): SessionStats {
    return { ...this.counters };
  }

  /** Pids of the children serving now. */
  pids(): number[] {
    const out: number[] = [];
    for (const c of [this.current, this.spare])
      if (c?.alive && c.proc.pid !== undefined) out.push(c.proc.pid);
    return out;
  }

  /**
   * Pids of the last children started, live or not: the monitor tells Palisade's commits from
   * foreign ones by pid, and may read a commit's line after its child was recycled.
   */
  recentPids(): readonly number[] {
    return this.started;
  }

  /** Commit `script` (nft commands, one per line) as one transaction. */
  transact(script: string): Promise<void> {
    return this.serial(async () => {
      const child = await this.acquire();
      writeFileSync(join(this.dir!, SCRIPT_FILE), script);
      try {
        await child.request(`${INCLUDE_LINE}\n`, false, script, 'the transaction');
      } catch (e) {
        if (e instanceof NftError && !e.lost) this.counters.refused++;
        throw e;
      }
      this.counters.transactions++;
      child.transactions++;
      if (child.transactions >= this.recycleAfter && !this.spare) this.spare = this.startChild();
    });
  }

  /** Run one list command (e.g. `list table inet palisade`); resolves with nft's JSON text. */
  list(command: string): Promise<string> {
    if (/[\n;{}#]/.test(command) || !command.startsWith('list ')) {
      return Promise.reject(new Error(`not a single list command: ${JSON.stringify(command)}`));
    }
    return this.serial(async () => {
      const child = await this.acquire();
      const out = await child.request(`${command}\n`, true, undefined, `"${command}"`);
      this.counters.lists++;
      return out;
    });
  }

  /** Stop the children and remove the session directory. The session can not be used again. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue.catch(() => undefined);
    const children = [this.current, this.spare].filter((c): c is Child => !!c);
    this.current = undefined;
    this.spare = undefined;
    await Promise.all(children.map((c) => retire(c)));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  // -------------------------------------------------------------------------------------------

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private startChild(): Child {
    if (!this.dir) this.dir = mkdtempSync(join(this.tmpParent, 'palisade-nft-'));
    this.counters.starts++;
    const child = new Child(this.starter, this.argv, this.dir, this.timeoutMs, (c) => this.lost(c));
    if (child.proc.pid !== undefined) this.started = [...this.started.slice(-15), child.proc.pid];
    // A spare that fails to start is simply dropped; the current child keeps serving.
    child.whenReady.catch(() => undefined);
    return child;
  }

  private lost(child: Child): void {
    if (child === this.current) {
      this.current = undefined;
      if (!this.closed) {
        this.counters.deaths++;
        this.log.warn('nft session lost; the next request starts a new one', {
          pid: child.proc.pid,
          exit: child.exit,
        });
      }
    } else if (child === this.spare) {
      this.spare = undefined;
    }
  }

  /** The child to serve the next request: a ready spare replaces the current one. */
  private async acquire(): Promise<Child> {
    if (this.closed) throw new Error('nft session is closed');
    if (this.spare?.ready && this.spare.alive) {
      const old = this.current;
      this.current = this.spare;
      this.spare = undefined;
      if (old) {
        this.counters.recycles++;
        void retire(old);
      }
    }
    if (!this.current || !this.current.alive) {
      this.current = this.spare?.alive ? this.spare : this.startChild();
      this.spare = undefined;
    }
    await this.current.whenReady;
    return this.current;
  }
}

/** Close a child's stdin so it exits on its own; kill it if it has not within 5 s. */
function retire(child: Child): Promise<void> {
  if (!child.alive) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), 5000);
    timer.unref();
    child.proc.onExit(() => {
      clearTimeout(timer);
      resolve();
    });
    child.proc.end();
  });
}
