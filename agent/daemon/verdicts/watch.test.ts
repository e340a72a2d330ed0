/**
 * Watch filters and streams: what a watcher asks for, what it gets, and what a slow one loses.
 */
import { settle } from '../testutil/fake-clock';
import type { EventDraft } from './event';
import { FilterError, matches, parseWatchFilter } from './filter';
import { VerdictRing } from './ring';
import { WatchStream, type LineSink } from './watch';

const T0 = Date.parse('2026-12-02T10:00:00Z');

function draft(over: Partial<EventDraft> = {}): EventDraft {
  return {
    time: new Date(T0).toISOString(),
    node: 'node-1',
    direction: 'ingress',
    verdict: 'denied',
    tier: 'networkpolicy',
    src: { ip: '10.2.0.7', pod: 'web/front' },
    dst: { ip: '10.1.0.5', pod: 'shop/db' },
    protocol: 'TCP',
    dstPort: 5432,
    point: 'AAAAAAAAAA',
    known: true,
    ...over,
  };
}

/** A sink that accepts `room` lines, then refuses until drain() is called. */
class Sink implements LineSink {
  lines: string[] = [];
  ended = false;
  private drains: (() => void)[] = [];
  constructor(public room = Infinity) {}
  write(line: string): boolean {
    this.lines.push(line);
    return this.lines.length < this.room;
  }
  onDrain(l: () => void): void {
    this.drains.push(l);
  }
  end(): void {
    this.ended = true;
  }
  drain(room: number): void {
    this.room = this.lines.length + room;
    const ds = this.drains;
    this.drains = [];
    for (const d of ds) d();
  }
  docs(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l));
  }
}

describe('filters', () => {
  const q = (s: string) => parseWatchFilter(new URLSearchParams(s), T0);

  test('parse every flag, and say what is wrong', () => {
    expect(q('pod=shop/db&namespace=web&verdict=denied,would-deny&since=5m')).toEqual({
      pod: 'shop/db',
      namespace: 'web',
      verdicts: new Set(['denied', 'would-deny']),
      sinceMs: T0 - 300_000,
    });
    expect(() => q('pod=db')).toThrow(FilterError);
    expect(() => q('verdict=dropped')).toThrow(
      'verdict: "dropped" is not one of denied, allowed, would-deny, would-allow',
    );
    expect(() => q('since=5')).toThrow(/not a duration/);
    expect(() => q('namespace=Bad_NS')).toThrow(/namespace/);
  });

  test('a pod or a namespace matches either end; a verdict and a time bound narrow', () => {
    const e = { seq: 1, ...draft() };
    expect(matches(q('pod=shop/db'), e)).toBe(true);
    expect(matches(q('pod=web/front'), e)).toBe(true);
    expect(matches(q('pod=shop/other'), e)).toBe(false);
    expect(matches(q('namespace=web'), e)).toBe(true);
    expect(matches(q('namespace=ops'), e)).toBe(false);
    expect(matches(q('verdict=allowed'), e)).toBe(false);
    expect(matches(q('since=1s'), { ...e, time: new Date(T0 - 2000).toISOString() })).toBe(false);
    expect(matches(q('since=1s'), { ...e, time: new Date(T0 - 500).toISOString() })).toBe(true);
    // An address without a pod matches no pod or namespace filter.
    expect(matches(q('namespace=shop'), { ...e, dst: { ip: '192.0.2.1' } })).toBe(false);
  });
});

describe('WatchStream', () => {
  test('says hello, then streams the matching new events only, as they come', async () => {
    const ring = new VerdictRing(16);
    ring.push(draft()); // before the watch: not replayed without `since`
    const sink = new Sink();
    new WatchStream(
      ring,
      sink,
      { filter: { pod: 'shop/db' }, follow: true, replay: false, onLost: () => undefined },
      { node: 'node-1' },
    );
    ring.push(draft({ dst: { ip: '10.1.0.9', pod: 'shop/cache' } }));
    ring.push(draft({ verdict: 'would-deny' }));
    await settle();
    expect(sink.docs().map((d) => [d.type, d.seq, d.verdict])).toEqual([
      ['hello', undefined, undefined],
      ['verdict', 3, 'would-deny'],
    ]);
    expect(sink.docs()[0]).toEqual({ type: 'hello', node: 'node-1' });
    expect(sink.ended).toBe(false);
  });

  test('replays what the ring holds within `since`, and without follow ends after it', () => {
    const ring = new VerdictRing(16);
    ring.push(draft({ time: new Date(T0 - 60_000).toISOString() }));
    ring.push(draft({ time: new Date(T0 - 1000).toISOString() }));
    const sink = new Sink();
    new WatchStream(
      ring,
      sink,
      { filter: { sinceMs: T0 - 5000 }, follow: false, replay: true, onLost: () => undefined },
      {},
    );
    expect(sink.docs().map((d) => [d.type, d.seq])).toEqual([
      ['hello', undefined],
      ['verdict', 2],
      ['end', undefined],
    ]);
    expect(sink.ended).toBe(true);
  });

  test('a slow watcher stops at a full sink, loses what the ring overwrote meanwhile, counted, and goes on', async () => {
    const ring = new VerdictRing(4);
    const sink = new Sink(3); // hello + 2 events, then full
    const lost: number[] = [];
    const w = new WatchStream(
      ring,
      sink,
      { filter: {}, follow: true, replay: false, onLost: (n) => lost.push(n) },
      {},
    );
    ring.push(draft());
    ring.push(draft());
    await settle();
    expect(sink.docs().map((d) => d.seq ?? d.type)).toEqual(['hello', 1, 2]);
    for (let i = 0; i < 10; i++) ring.push(draft());
    await settle();
    expect(sink.lines).toHaveLength(3); // nothing written while the sink is full
    // Ten more events arrived while it waited; the ring holds the last four (9..12).
    sink.drain(100);
    await settle();
    expect(sink.docs().slice(3)).toEqual([
      { type: 'lost', reason: 'slow_reader', count: 6 },
      ...[9, 10, 11, 12].map((seq) => expect.objectContaining({ type: 'verdict', seq })),
    ]);
    expect(lost).toEqual([6]);
    expect({ sent: w.sent, lost: w.lost }).toEqual({ sent: 6, lost: 6 });
    w.close();
    expect(sink.ended).toBe(true);
    ring.push(draft());
    await settle();
    expect(sink.lines).toHaveLength(8);
  });

  test('a burst larger than one batch is written in several passes, in order', async () => {
    const ring = new VerdictRing(2000);
    const sink = new Sink();
    new WatchStream(ring, sink, { filter: {}, follow: true, replay: false, onLost: () => undefined }, {});
    for (let i = 0; i < 1000; i++) ring.push(draft());
    await settle(50);
    const seqs = sink
      .docs()
      .slice(1)
      .map((d) => d.seq);
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });
});
