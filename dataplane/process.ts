/**
 * The seam for long-lived kernel tools: a process started once and fed input for as long as it
 * lives (the nft session, `nft monitor`, the ipset session), beside `Kernel.run` for one-shot
 * tools.
 *
 * What it models: a child started from an argv array (never a shell), optionally inside a network
 * namespace (`ip netns exec NAME` prefixed, which execs in place, so the pid is the tool's own),
 * whose stdout and stderr arrive as decoded text and whose exit is reported once.
 *
 * Promise: `write` after the child died is ignored (the exit listener says what happened); exit
 * listeners run exactly once, whether the child exited, was killed, or could not be started.
 */
import { spawn } from 'node:child_process';
import { diesWithParent } from './child-lifetime';

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Why it could not be started (binary missing, ...), when that is what happened. */
  readonly error?: string;
}

export interface LongLivedProcess {
  /** The tool's process id (undefined when it could not be started). */
  readonly pid: number | undefined;
  write(text: string): void;
  /** Close stdin: a tool reading commands exits on its own. */
  end(): void;
  kill(signal?: NodeJS.Signals): void;
  onStdout(listener: (text: string) => void): void;
  onStderr(listener: (text: string) => void): void;
  onExit(listener: (exit: ProcessExit) => void): void;
  /**
   * Whether the child keeps this Node process alive (default: it does). A session lets go of it
   * while idle, so a program that never closes its dataplane can still end.
   */
  hold?(held: boolean): void;
}

export interface StartOptions {
  /** Extra environment variables for the child (on top of this process's environment). */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory of the child (default: this process's). */
  readonly cwd?: string;
}

export interface ProcessStarter {
  start(argv: readonly string[], options?: StartOptions): LongLivedProcess;
}

export interface SpawnStarterOptions {
  /** Start every tool inside this network namespace (`ip netns exec NAME ...`). */
  readonly netns?: string;
  readonly ipBinary?: string;
}

/** The real starter: child_process.spawn with an argv array. */
export class SpawnStarter implements ProcessStarter {
  private readonly prefix: readonly string[];

  constructor(opts: SpawnStarterOptions = {}) {
    this.prefix = opts.netns ? [opts.ipBinary ?? 'ip', 'netns', 'exec', opts.netns] : [];
  }

  start(argv: readonly string[], options: StartOptions = {}): LongLivedProcess {
    const full = [...this.prefix, ...diesWithParent(argv)];
    const child = spawn(full[0], full.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.cwd ? { cwd: options.cwd } : {}),
      env: options.env ? { ...process.env, ...options.env } : process.env,
    });
    const exitListeners: ((e: ProcessExit) => void)[] = [];
    let exited: ProcessExit | undefined;
    let startError: string | undefined;
    const finish = (e: ProcessExit): void => {
      if (exited) return;
      exited = e;
      for (const l of exitListeners) l(e);
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    // A write racing the child's death fails with EPIPE; the exit listener reports the death.
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => {
      startError = e.message;
      // 'close' may never come for a child that was not spawned.
      if (child.pid === undefined) finish({ code: null, signal: null, error: e.message });
    });
    child.on('close', (code, signal) =>
      finish({ code, signal, ...(startError ? { error: startError } : {}) }),
    );
    return {
      pid: child.pid,
      write(text: string): void {
        if (!exited && child.stdin.writable) child.stdin.write(text);
      },
      end(): void {
        if (child.stdin.writable) child.stdin.end();
      },
      kill(signal: NodeJS.Signals = 'SIGKILL'): void {
        if (!exited) child.kill(signal);
      },
      onStdout(listener): void {
        child.stdout.on('data', listener);
      },
      onStderr(listener): void {
        child.stderr.on('data', listener);
      },
      onExit(listener): void {
        if (exited) listener(exited);
        else exitListeners.push(listener);
      },
      hold(held: boolean): void {
        // The pipes are sockets: each holds the event loop on its own, as does the child.
        const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as Array<{
          ref(): void;
          unref(): void;
        }>;
        for (const h of handles)
          if (held) h.ref();
          else h.unref();
      },
    };
  }
}
