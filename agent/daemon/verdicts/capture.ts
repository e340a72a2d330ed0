/**
 * Reads an NFLOG group through a long-lived `tcpdump -i nflog:GROUP -U -w -` child and hands every
 * message to a sink: no native addon, and tcpdump is a Debian package every node image can carry.
 *
 *   kernel ──nfnetlink_log (group G)──▶ tcpdump ──pcap on stdout (-U: a record per packet)──▶
 *   PcapStreamReader ──DLT_NFLOG records──▶ parseNflog ──▶ sink
 *
 * What it promises:
 * - **Never fatal.** A missing tcpdump (ENOENT) makes the state `unavailable` with the reason; a
 *   child that exits (the group is taken by another listener, a corrupt stream, a crash) is
 *   restarted after a backoff (0.5 s doubling to 30 s, reset once a child has run for a minute).
 *   Both keep being retried, so a tcpdump installed later is picked up. `status()` says which.
 * - **Loss is counted.** When this process reads too slowly, the kernel cannot queue NFLOG
 *   messages to tcpdump's socket (ENOBUFS); libpcap counts each such overflow as "dropped by
 *   kernel". The child is asked for its counters every `statsIntervalMs` (SIGUSR1: tcpdump
 *   prints them on stderr) and at exit; increases go to `onQueueDrops`. Each overflow loses at
 *   least one message: the count is a lower bound.
 * - **No message lost to a short read.** nfnetlink_log batches messages (up to ~4-8 KiB, flushed
 *   after 1 s or 100 messages) and libpcap reads with a buffer of 128 + snapshot-length bytes: a
 *   snapshot length below a batch's size truncates the read and loses the rest of the batch. So
 *   tcpdump runs with `-s 8192`, and Palisade's rules cap what the kernel copies per packet
 *   instead (`--nflog-size` / `snaplen`, LOG_COPY_BYTES in dataplane/verdict-log.ts): a flood
 *   costs the pipe and the parser a couple of hundred bytes per logged packet, whatever its size.
 *   The batching also means a record can reach the agent up to a second after its packet.
 */
import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { diesWithParent } from '../../../dataplane/child-lifetime';
import { Backoff, type BackoffOptions } from '../backoff';
import type { Clock, Timer } from '../clock';
import type { Logger } from '../logger';
import { NflogFormatError, parseNflog, type NflogMessage } from './nflog';
import { LINKTYPE_NFLOG, PcapFormatError, PcapStreamReader } from './pcap';

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the child could not be started: the spawn error's code (ENOENT, EACCES) and message. */
  readonly error?: { readonly code?: string; readonly message: string };
}

/** A started capture child: binary stdout, text stderr, one exit report. */
export interface CaptureChild {
  readonly pid: number | undefined;
  onStdout(listener: (chunk: Buffer) => void): void;
  onStderr(listener: (text: string) => void): void;
  /** Called exactly once, whether the child exited, was killed or never started. */
  onExit(listener: (exit: ChildExit) => void): void;
  kill(signal: NodeJS.Signals): void;
}

/** The seam tests replace: starts a child from an argv array (never a shell). */
export type CaptureStarter = (argv: readonly string[]) => CaptureChild;

export const spawnCapture: CaptureStarter = (argv) => {
  const full = diesWithParent(argv);
  const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited: ChildExit | undefined;
  const listeners: ((e: ChildExit) => void)[] = [];
  const finish = (e: ChildExit): void => {
    if (exited) return;
    exited = e;
    for (const l of listeners) l(e);
  };
  let startError: ChildExit['error'];
  child.on('error', (e: NodeJS.ErrnoException) => {
    startError = { ...(e.code ? { code: e.code } : {}), message: e.message };
    if (child.pid === undefined) finish({ code: null, signal: null, error: startError });
  });
  child.on('close', (code, signal) => finish({ code, signal, ...(startError ? { error: startError } : {}) }));
  child.stderr.setEncoding('utf8');
  return {
    pid: child.pid,
    onStdout: (l) => child.stdout.on('data', l),
    onStderr: (l) => child.stderr.on('data', l),
    onExit: (l) => (exited ? l(exited) : listeners.push(l)),
    kill: (signal) => {
      if (!exited) child.kill(signal);
    },
  };
};

/**
 * A starter for an agent whose kernel is injected (tests, the bench): there is no NFLOG group of
 * its own to read, so the capture reports itself unavailable instead of reading the host's.
 */
export const noCapture: CaptureStarter = () => {
  const exit: ChildExit = {
    code: null,
    signal: null,
    error: { code: 'ENOTSUP', message: 'no verdict log reader: the agent runs on an injected kernel' },
  };
  return {
    pid: undefined,
    onStdout: () => undefined,
    onStderr: () => undefined,
    onExit: (l) => queueMicrotask(() => l(exit)),
    kill: () => undefined,
  };
};

export type CaptureState = 'stopped' | 'starting' | 'running' | 'backoff' | 'unavailable';

export interface CaptureStatus {
  readonly state: CaptureState;
  readonly group: number;
  readonly argv: readonly string[];
  readonly pid?: number;
  /** Children started since the capture started (the first included). */
  readonly starts: number;
  /** The reason the last child ended or could not start. */
  readonly lastError?: string;
  /** NFLOG messages read. */
  readonly messages: number;
  /** Records that were not NFLOG messages Palisade could read. */
  readonly malformed: number;
  /** Queue overflows the children reported (each lost one message or more). */
  readonly queueDrops: number;
  readonly retryInMs?: number;
}

/** A message with the time libpcap stamped it (milliseconds since the epoch). */
export interface CapturedMessage extends NflogMessage {
  readonly timeMs: number;
}

export interface NflogCaptureOptions {
  readonly group: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly sink: (m: CapturedMessage) => void;
  readonly onQueueDrops?: (count: number) => void;
  readonly start?: CaptureStarter;
  /** The user tcpdump runs as (`-Z`); default this process's user, so that tcpdump keeps it. */
  readonly user?: string;
  /** The tcpdump binary; default `tcpdump` on PATH. */
  readonly tcpdump?: string;
  /** tcpdump's snapshot length, which sizes libpcap's read buffer; default 8192 (see above). */
  readonly snapLength?: number;
  /** Socket buffer in KiB (tcpdump -B); default 2048: a burst of ~10,000 messages. */
  readonly bufferKiB?: number;
  readonly backoff?: BackoffOptions;
  /** How often to ask the child for its drop counter; default 5 s. */
  readonly statsIntervalMs?: number;
  /** A child that ran this long resets the backoff; default 60 s. */
  readonly stableAfterMs?: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };
/** tcpdump's statistics line: "N packets captured, N packets received by filter, N packets dropped by kernel". */
const DROPPED = /(\d+) packets? dropped by kernel/;

export class NflogCapture {
  private state: CaptureState = 'stopped';
  private child: CaptureChild | undefined;
  private readonly backoff: Backoff;
  private timer: Timer | undefined;
  private statsTimer: Timer | undefined;
  private retryAt: number | undefined;
  private starts = 0;
  private lastError: string | undefined;
  private messages = 0;
  private malformed = 0;
  private queueDrops = 0;
  private stopping: Promise<void> | undefined;
  readonly argv: readonly string[];

  constructor(private readonly opts: NflogCaptureOptions) {
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
    this.argv = [
      opts.tcpdump ?? 'tcpdump',
      '-i',
      `nflog:${opts.group}`,
      '-U', // one write per packet: records arrive as they are logged
      '-n',
      '-s',
      String(opts.snapLength ?? 8192),
      '-B',
      String(opts.bufferKiB ?? 2048),
      // tcpdump run as root switches to its own unprivileged user once the group is open, and
      // that change of credentials clears the parent-death signal (prctl(2)): a SIGKILLed agent
      // then left its tcpdump running, holding the group, for ever. Told to become the user it
      // already is, it changes nothing and dies with the agent.
      '-Z',
      opts.user ?? userInfo().username,
      '-w',
      '-',
    ];
  }

  start(): void {
    if (this.state !== 'stopped') return;
    this.launch();
  }

  status(): CaptureStatus {
    return {
      state: this.state,
      group: this.opts.group,
      argv: this.argv,
      ...(this.child?.pid !== undefined && this.state === 'running' ? { pid: this.child.pid } : {}),
      starts: this.starts,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      messages: this.messages,
      malformed: this.malformed,
      queueDrops: this.queueDrops,
      ...(this.retryAt !== undefined
        ? { retryInMs: Math.max(0, Math.round(this.retryAt - this.opts.clock.now())) }
        : {}),
    };
  }

  /** Stops the child (SIGTERM, then SIGKILL after 2 s) and every timer; no restart follows. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.timer?.cancel();
      this.statsTimer?.cancel();
      this.retryAt = undefined;
      const child = this.child;
      this.state = 'stopped';
      if (!child) return resolve();
      const kill = this.opts.clock.setTimer(2000, () => child.kill('SIGKILL'));
      child.onExit(() => {
        kill.cancel();
        resolve();
      });
      child.kill('SIGTERM');
    });
    return this.stopping;
  }

  private launch(): void {
    this.retryAt = undefined;
    this.state = 'starting';
    this.starts++;
    const startedAt = this.opts.clock.now();
    const child = (this.opts.start ?? spawnCapture)(this.argv);
    this.child = child;
    const reader = new PcapStreamReader();
    let stderrTail = '';
    let broken: string | undefined;
    let dropsSeen = 0;
    const noteDrops = (text: string): void => {
      const m = DROPPED.exec(text);
      if (!m) return;
      const n = Number(m[1]);
      if (n > dropsSeen) {
        this.queueDrops += n - dropsSeen;
        this.opts.onQueueDrops?.(n - dropsSeen);
        dropsSeen = n;
      }
    };
    child.onStderr((text) => {
      stderrTail = (stderrTail + text).slice(-4096);
      for (const line of text.split('\n')) {
        if (line.includes('listening on') && this.child === child && this.state === 'starting') {
          this.state = 'running';
          this.lastError = undefined;
          this.opts.log.info('verdict log capture running', { group: this.opts.group, pid: child.pid });
        }
        noteDrops(line);
      }
    });
    child.onStdout((chunk) => {
      if (broken !== undefined) return;
      try {
        for (const record of reader.push(chunk)) {
          if (reader.header!.linkType !== LINKTYPE_NFLOG) {
            throw new PcapFormatError(`link type ${reader.header!.linkType} is not NFLOG (239)`);
          }
          let message: NflogMessage;
          try {
            message = parseNflog(record.data, reader.header!.littleEndian);
          } catch (err) {
            if (!(err instanceof NflogFormatError)) throw err;
            this.malformed++;
            continue;
          }
          this.messages++;
          this.opts.sink({ ...message, timeMs: record.timeMs });
        }
      } catch (err) {
        // A stream out of step cannot be resynchronised: start a new child.
        broken = err instanceof Error ? err.message : String(err);
        child.kill('SIGKILL');
      }
    });
    child.onExit((exit) => {
      if (this.child === child) this.child = undefined;
      this.statsTimer?.cancel();
      noteDrops(stderrTail);
      if (this.state === 'stopped') return;
      const ranMs = this.opts.clock.now() - startedAt;
      if (ranMs >= (this.opts.stableAfterMs ?? 60_000)) this.backoff.reset();
      if (exit.error) {
        // It could not start at all (missing, not executable, no reader on this kernel).
        this.state = 'unavailable';
        this.lastError =
          exit.error.code === 'ENOENT'
            ? `${this.argv[0]} not found: install tcpdump to read verdict logs (the agent enforces policy without it)`
            : exit.error.message;
      } else {
        this.state = 'backoff';
        const lastLine = stderrTail
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '' && !DROPPED.test(l) && !l.includes('listening on'))
          .at(-1);
        this.lastError =
          broken ??
          `${this.argv[0]} exited (${exit.signal ?? `status ${exit.code}`})${lastLine ? `: ${lastLine}` : ''}`;
      }
      const delay = this.backoff.next();
      this.retryAt = this.opts.clock.now() + delay;
      this.opts.log.warn('verdict log capture stopped; restarting after a backoff', {
        group: this.opts.group,
        reason: this.lastError,
        retryInMs: delay,
      });
      this.timer = this.opts.clock.setTimer(delay, () => this.launch());
    });
    this.armStats(child);
  }

  private armStats(child: CaptureChild): void {
    this.statsTimer = this.opts.clock.setTimer(this.opts.statsIntervalMs ?? 5000, () => {
      if (this.child !== child) return;
      // Only once tcpdump said it listens: before its handler is installed, SIGUSR1 would end it.
      if (this.state === 'running') child.kill('SIGUSR1');
      this.armStats(child);
    });
  }
}
