/**
 * The process behind an exec: the command as given (argv, never a shell), prefixed by what the
 * backend needs to put it inside a pod (e.g. `nsenter --net=/run/netns/X --`), with pipes for
 * stdin, stdout and stderr, or, for a TTY, on a pseudo-terminal made by pty-runner.py (see
 * there why python3 and not script(1)), with resizes through its file descriptor 3.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { KubeObject } from '../types';

export interface ExecRequest {
  readonly pod: KubeObject;
  readonly container: string;
  readonly command: readonly string[];
  readonly tty: boolean;
}

/** Where an exec runs: the API server asks the backend, which may refuse with an ApiError. */
export interface ExecBackend {
  /** argv to put before the command (e.g. entering the pod's network namespace). */
  prefix(request: ExecRequest): string[];
  /** Environment of the command; default: the server's own. */
  env?(request: ExecRequest): NodeJS.ProcessEnv;
}

export interface ExecProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Absent with a TTY: the terminal merges stderr into stdout. */
  readonly stderr: Readable | undefined;
  resize(width: number, height: number): void;
  kill(signal: NodeJS.Signals): void;
  /** The exit code (128 + signal number for a signal), once stdout and stderr are drained. */
  readonly exited: Promise<number>;
}

/** pty-runner.py, beside this file in the sources (dist/ holds no .py files). */
function ptyRunner(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    for (const candidate of [
      join(dir, 'pty-runner.py'),
      join(dir, 'e2e', 'apiserver', 'exec', 'pty-runner.py'),
    ])
      if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir)
      throw new Error(`cannot find e2e/apiserver/exec/pty-runner.py above ${__dirname}`);
  }
}

function python(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };

export function startExecProcess(backend: ExecBackend, request: ExecRequest): ExecProcess {
  const inner = request.tty ? [python(), ptyRunner(), ...request.command] : [...request.command];
  const argv = [...backend.prefix(request), ...inner];
  const child: ChildProcess = spawn(argv[0], argv.slice(1), {
    stdio: request.tty ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
    env: backend.env?.(request) ?? process.env,
  });
  const control = request.tty ? (child.stdio[3] as Writable) : undefined;
  control?.on('error', () => undefined);
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<number>((resolve) => {
    child.on('error', (e) => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve((e as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126);
    });
    // 'close' comes after stdout and stderr have ended, so nothing is lost.
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 0) : 1)));
  });
  return {
    stdin: child.stdin!,
    stdout: child.stdout!,
    // With a TTY the runner's own stderr carries only its failures; the command's goes to the terminal.
    stderr: request.tty ? undefined : child.stderr!,
    resize(width, height) {
      control?.write(JSON.stringify({ Width: width, Height: height }) + '\n');
    },
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    exited,
  };
}
