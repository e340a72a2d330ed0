import { incarnations, longestLived, peakByPeriod, type RssSample } from './memory';

const s = (atMs: number, pid: number, kb: number): RssSample => ({ atMs, pid, kb });

test('the peak of each period, null where no sample fell, the last instant in the last period', () => {
  const samples = [s(0, 1, 100), s(10, 1, 150), s(25, 1, 120), s(60, 2, 300), s(60, 2, 90)];
  expect(peakByPeriod(samples, 60, 3)).toEqual([150, 120, 300]);
  expect(peakByPeriod(samples, 60, 6)).toEqual([100, 150, 120, null, null, 300]);
  expect(peakByPeriod([], 60, 2)).toEqual([null, null]);
});

test('incarnations split by pid, in time order; the longest-lived is the widest span, not the most samples', () => {
  const samples = [s(30, 2, 210), s(0, 1, 100), s(10, 1, 130), s(20, 1, 120), s(70, 2, 200), s(40, 3, 400)];
  expect(incarnations(samples)).toEqual([
    { pid: 1, fromMs: 0, toMs: 20, firstKb: 100, lastKb: 120, maxKb: 130, samples: 3 },
    { pid: 2, fromMs: 30, toMs: 70, firstKb: 210, lastKb: 200, maxKb: 210, samples: 2 },
    { pid: 3, fromMs: 40, toMs: 40, firstKb: 400, lastKb: 400, maxKb: 400, samples: 1 },
  ]);
  expect(longestLived(samples)?.pid).toBe(2);
  expect(longestLived([])).toBeUndefined();
});
