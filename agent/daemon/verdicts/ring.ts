/**
 * The agent's bounded memory of recent verdict events: a ring of `capacity` events numbered by a
 * sequence, with readers that each keep their own position.
 *
 * A reader that falls more than `capacity` events behind (a watcher whose socket is slow) finds
 * its position overwritten: `read` moves it to the oldest event still held and says how many it
 * missed. Memory is bounded whatever the readers do; no reader slows the ring down.
 */
import type { EventDraft, VerdictEvent } from './event';

export class VerdictRing {
  private readonly slots: (VerdictEvent | undefined)[];
  /** The sequence number the next event gets (the first is 1). */
  private next = 1;
  private readonly listeners = new Set<() => void>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error(`ring capacity ${capacity} is not a positive integer`);
    this.slots = new Array<VerdictEvent | undefined>(capacity);
  }

  /** The sequence number of the oldest event held (= nextSeq when empty). */
  get oldestSeq(): number {
    return Math.max(1, this.next - this.capacity);
  }

  get nextSeq(): number {
    return this.next;
  }

  get size(): number {
    return this.next - this.oldestSeq;
  }

  push(draft: EventDraft): VerdictEvent {
    const event: VerdictEvent = { seq: this.next, ...draft };
    this.slots[this.next % this.capacity] = event;
    this.next++;
    for (const l of this.listeners) l();
    return event;
  }

  /**
   * Events from sequence `from` on, at most `max`; `missed` counts those overwritten before they
   * could be read, and `next` is where to read from next time.
   */
  read(from: number, max = Infinity): { events: VerdictEvent[]; missed: number; next: number } {
    const start = Math.max(from, this.oldestSeq);
    const missed = start - from;
    const end = Math.min(this.next, start + max);
    const events: VerdictEvent[] = [];
    for (let s = start; s < end; s++) events.push(this.slots[s % this.capacity]!);
    return { events, missed: Math.max(0, missed), next: end };
  }

  /** Calls `listener` after every push; returns the unsubscribe function. */
  onPush(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
