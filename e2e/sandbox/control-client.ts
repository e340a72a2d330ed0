/**
 * The sandbox side of the control protocol: one connection per endpoint, requests multiplexed
 * by id, each with a deadline.
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { ControlAnswer, ControlRequest, ControlResultOf } from './control-protocol';

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What probing needs of an endpoint: a node's or external host's process, or a pod's view of its node's pod host. */
export interface EndpointClient {
  request<R extends ControlRequest>(request: R, timeoutMs?: number): Promise<ControlResultOf<R>>;
}

/** One pod of a node's pod endpoint host (live/pod-endpoints.py): every request names the pod. */
export class PodEndpointView implements EndpointClient {
  constructor(
    private readonly host: ControlClient,
    readonly uid: string,
  ) {}

  request<R extends ControlRequest>(request: R, timeoutMs = 30_000): Promise<ControlResultOf<R>> {
    return this.host.send({ ...request, pod: this.uid }, timeoutMs) as Promise<ControlResultOf<R>>;
  }
}

export class ControlClient implements EndpointClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly name: string,
  ) {
    createInterface({ input: socket }).on('line', (line) => {
      const a = JSON.parse(line) as ControlAnswer;
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      clearTimeout(p.timer);
      if (a.ok) p.resolve(a.result);
      else p.reject(new Error(`${name}: ${a.error}`));
    });
    const fail = (e: Error): void => {
      this.closed ??= e;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(e);
      }
      this.pending.clear();
    };
    socket.on('error', (e) => fail(new Error(`${name}: control connection failed: ${e.message}`)));
    socket.on('close', () => fail(new Error(`${name}: control connection closed`)));
  }

  /**
   * Connects to `path`, retrying while the endpoint starts (ENOENT, ECONNREFUSED) until
   * `deadlineMs`; `alive` lets the caller stop early when the process is known to be dead.
   */
  static async connect(
    path: string,
    name: string,
    deadlineMs: number,
    alive: () => boolean = () => true,
  ): Promise<ControlClient> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => {
            s.off('error', reject);
            resolve(s);
          });
          s.once('error', reject);
        });
        return new ControlClient(socket, name);
      } catch (e) {
        if (!alive()) throw new Error(`${name}: process exited before serving its control socket`);
        if (Date.now() > deadline)
          throw new Error(`${name}: no control socket at ${path}: ${(e as Error).message}`);
        await sleep(15);
      }
    }
  }

  request<R extends ControlRequest>(request: R, timeoutMs = 30_000): Promise<ControlResultOf<R>> {
    return this.send(request, timeoutMs) as Promise<ControlResultOf<R>>;
  }

  /** Any request of the JSON-lines protocol (the pod endpoint host adds its own ops). */
  send(request: { readonly op: string } & Record<string, unknown>, timeoutMs = 30_000): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${request.op} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(JSON.stringify({ id, request }) + '\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
