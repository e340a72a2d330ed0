/**
 * The measured event-to-enforcement and the window it gives: nearest-rank percentiles, the floor,
 * the fixed override, and which agents a sample leaves out because a fault touched them.
 */
import { FaultSpans, LatencyRecorder, percentile, transitionWindow } from './latency';

describe('latency', () => {
  test('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(percentile(xs, 99)).toBe(198);
    expect(percentile(xs, 50)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 99)).toBeUndefined();
  });

  test('the recorder keeps samples sorted whatever the order they come in', () => {
    const r = new LatencyRecorder();
    for (const v of [30, 10, 500, 20, 40]) r.record(v);
    expect(r.summary()).toEqual({ samples: 5, p50Ms: 30, p99Ms: 500, maxMs: 500 });
    r.record(-3);
    expect(r.percentile(1)).toBe(0);
    expect(new LatencyRecorder().summary()).toEqual({ samples: 0, p50Ms: null, p99Ms: null, maxMs: null });
  });

  test('writes still waiting count with the time they waited: a slow spell shows at once', () => {
    const r = new LatencyRecorder();
    for (const v of [10, 20, 30]) r.record(v);
    expect(r.percentileWith(99, [])).toBe(30);
    expect(r.percentileWith(99, [4000, 15])).toBe(4000);
    expect(r.percentileWith(50, [15, 5])).toBe(15);
    expect(r.count).toBe(3);
  });

  test('window: max(p99, floor), or the fixed one', () => {
    expect(transitionWindow(undefined, 1000, undefined)).toBe(1000);
    expect(transitionWindow(undefined, 1000, 250)).toBe(1000);
    expect(transitionWindow(undefined, 1000, 2400)).toBe(2400);
    expect(transitionWindow(5000, 1000, 9000)).toBe(5000);
  });

  test('fault spans: a node fault touches that node only, an API fault every node, while it lasts', () => {
    const spans = new FaultSpans();
    const endKill = spans.begin({ kind: 'node', name: 'node-1' }, 1000);
    expect(spans.touched('node-1', 5000, 6000)).toBe(true);
    endKill(2000);
    expect(spans.touched('node-1', 2500, 3000)).toBe(false);
    expect(spans.touched('node-1', 500, 1500)).toBe(true);
    expect(spans.touched('node-2', 500, 1500)).toBe(false);
    spans.begin({ kind: 'all' }, 10_000)(11_000);
    expect(spans.touched('node-2', 10_500, 12_000)).toBe(true);
    spans.prune(5000);
    expect(spans.touched('node-1', 500, 1500)).toBe(false);
  });
});
