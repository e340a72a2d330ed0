/**
 * One watcher of the verdict stream: NDJSON lines to a sink (an HTTP response), at the pace the
 * sink takes them.
 *
 * Lines: `{"type":"hello",...}` first (the node, the capture's state, the filter); then
 * `{"type":"verdict",...event}` per matching event; `{"type":"lost","reason":"slow_reader",
 * "count":N}` when the watcher fell so far behind that the ring overwrote N events before it could
 * look at them (they may or may not have matched its filter); `{"type":"end"}` when a watch that
 * does not follow has sent what the ring held.
 *
 * Backpressure: once the sink refuses a line (its buffer is full), nothing more is written until
 * it drains; meanwhile the ring moves on without waiting, so a slow watcher costs one buffer of
 * memory and loses what it could not keep up with, counted.
 */
import type { VerdictEvent } from './event';
import { matches, type WatchFilter } from './filter';
import type { VerdictRing } from './ring';

export interface LineSink {
  /** Writes one line; false when the sink wants no more until it drains. */
  write(line: string): boolean;
  onDrain(listener: () => void): void;
  end(): void;
}

export interface WatchOptions {
  readonly filter: WatchFilter;
  /** Keep streaming new events (true), or send what the ring holds and end. */
  readonly follow: boolean;
  /** Start with the events the ring holds (a `since` filter limits them), not only new ones. */
  readonly replay: boolean;
  readonly onLost: (count: number) => void;
}

/** Events written per pass before yielding to the event loop, so one watcher cannot starve others. */
const BATCH = 256;

export class WatchStream {
  private cursor: number;
  private waiting = false;
  private closed = false;
  private scheduled = false;
  private readonly unsubscribe: () => void;
  sent = 0;
  lost = 0;

  constructor(
    private readonly ring: VerdictRing,
    private readonly sink: LineSink,
    private readonly opts: WatchOptions,
    hello: Record<string, unknown>,
  ) {
    this.cursor = opts.replay ? ring.oldestSeq : ring.nextSeq;
    this.unsubscribe = ring.onPush(() => this.schedule());
    this.writeLine({ type: 'hello', ...hello });
    this.pump();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.sink.end();
  }

  private schedule(): void {
    if (this.waiting || this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private writeLine(doc: Record<string, unknown>): boolean {
    return this.sink.write(`${JSON.stringify(doc)}\n`);
  }

  private pump(): void {
    if (this.closed || this.waiting) return;
    const { events, missed, next } = this.ring.read(this.cursor, BATCH);
    this.cursor = next;
    let ok = true;
    if (missed > 0) {
      this.lost += missed;
      this.opts.onLost(missed);
      ok = this.writeLine({ type: 'lost', reason: 'slow_reader', count: missed });
    }
    for (const e of events) {
      if (!matches(this.opts.filter, e)) continue;
      this.sent++;
      ok = this.write(e) && ok;
    }
    const more = this.cursor < this.ring.nextSeq;
    if (!ok) {
      this.waiting = true;
      this.sink.onDrain(() => {
        this.waiting = false;
        this.pump();
      });
      return;
    }
    if (more) return this.schedule();
    if (!this.opts.follow) {
      this.writeLine({ type: 'end' });
      this.close();
    }
  }

  private write(e: VerdictEvent): boolean {
    return this.writeLine({ type: 'verdict', ...e });
  }
}
