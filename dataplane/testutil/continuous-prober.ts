/**
 * A prober that never stops looking: one process inside a network namespace starts a TCP
 * connection to each target every `everyMs`, each given `timeoutMs` to get the server's "ok",
 * and reports every attempt with its start and end (wall clock, ms). With a timeout well below
 * TCP's first SYN retransmission (1 s), an attempt that succeeds had its first SYN let through;
 * one that ended before a moment says what the kernel did before that moment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const PROBER = `
const net = require('node:net');
const [targetsJson, everyMs, timeoutMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const targets = JSON.parse(targetsJson);
const attempt = (i) => {
  const start = Date.now();
  let data = '';
  let done = false;
  const finish = (ok) => {
    if (done) return;
    done = true;
    s.destroy();
    process.stdout.write(i + ' ' + (ok ? 1 : 0) + ' ' + start + ' ' + Date.now() + '\\n');
  };
  const s = net.connect({ host: targets[i].host, port: targets[i].port });
  s.setTimeout(timeoutMs, () => finish(false));
  s.on('data', (d) => { data += d; if (data === 'ok') finish(true); });
  s.on('end', () => finish(data === 'ok'));
  s.on('error', () => finish(false));
};
setInterval(() => { for (let i = 0; i < targets.length; i++) attempt(i); }, everyMs);
process.stdout.write('started\\n');
`;

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

export interface ProbeAttempt {
  readonly target: number;
  readonly ok: boolean;
  /** Date.now() when the connection was started, and when it succeeded or was given up. */
  readonly start: number;
  readonly end: number;
}

export class ContinuousProber {
  readonly attempts: ProbeAttempt[] = [];

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^(\d+) ([01]) (\d+) (\d+)$/.exec(line);
      if (m)
        this.attempts.push({
          target: Number(m[1]),
          ok: m[2] === '1',
          start: Number(m[3]),
          end: Number(m[4]),
        });
    });
  }

  /** Starts probing `targets` from namespace `ns`; resolves once the prober runs. */
  static start(
    ns: string,
    targets: readonly ProbeTarget[],
    opts: { everyMs?: number; timeoutMs?: number } = {},
  ): Promise<ContinuousProber> {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        '-e',
        PROBER,
        JSON.stringify(targets),
        String(opts.everyMs ?? 25),
        String(opts.timeoutMs ?? 150),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      const onLine = (line: string): void => {
        if (line !== 'started') return;
        lines.off('line', onLine);
        resolve(new ContinuousProber(child));
      };
      lines.on('line', onLine);
      child.on('exit', (code) => reject(new Error(`prober in ${ns} exited (${code})`)));
    });
  }

  /** Attempts at `target`. */
  of(target: number): ProbeAttempt[] {
    return this.attempts.filter((a) => a.target === target);
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

/** Resolves once `check` holds (polled every 20 ms), or rejects after `limitMs`. */
export async function waitUntil(check: () => boolean, limitMs: number, what: string): Promise<void> {
  const until = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not within ${limitMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
