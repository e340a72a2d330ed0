/**
 * The endpoint's handle on sctp.py: starts it as a child (so it shares the endpoint's network
 * namespace and process group) and exchanges JSON lines with it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { SctpArrival, SctpInit, SctpSendFailure } from './control-protocol';

interface Pending {
  resolve(v: Record<string, unknown>): void;
  reject(e: Error): void;
}

export class SctpHelper {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited: Error | undefined;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  /** Starts the helper and waits for its ready line. */
  static start(python: string, script: string, timeoutMs = 10_000): Promise<SctpHelper> {
    return new Promise((resolve, reject) => {
      const child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
      const helper = new SctpHelper(child);
      let stderr = '';
      let ready = false;
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`sctp helper did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        helper.exited = new Error(`sctp helper exited (${code ?? signal}): ${stderr.trim()}`);
        for (const p of helper.pending.values()) p.reject(helper.exited);
        helper.pending.clear();
        if (!ready) reject(helper.exited);
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (msg.ready === true) {
          ready = true;
          clearTimeout(timer);
          resolve(helper);
          return;
        }
        const p = helper.pending.get(msg.id as number);
        if (!p) return;
        helper.pending.delete(msg.id as number);
        if (typeof msg.error === 'string') p.reject(new Error(msg.error));
        else p.resolve(msg);
      });
    });
  }

  private request(op: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(JSON.stringify({ id, op, ...body }) + '\n');
    });
  }

  async send(inits: readonly SctpInit[]): Promise<SctpSendFailure[]> {
    return (await this.request('send', { inits })).failures as SctpSendFailure[];
  }

  async take(): Promise<SctpArrival[]> {
    return (await this.request('take', {})).arrivals as SctpArrival[];
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}
