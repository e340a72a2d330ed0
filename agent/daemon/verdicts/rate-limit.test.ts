/**
 * RateLimitTracker: only increases this process observed are counted, counter by counter; a
 * counter created anew (a new key, or a count that went down) counts from zero; the total never
 * goes down.
 */
import type { LogCounterSample } from '../../../dataplane/api';
import { RateLimitTracker } from './rate-limit';

/** A reading of one family's pair (iptables keys). */
function pair(
  seen: number,
  logged: number,
  family = 4,
  seenKey = 'S1',
  loggedKey = 'L1',
): LogCounterSample[] {
  return [
    { key: `ipv${family}:${seenKey}`, role: 'seen', packets: seen },
    { key: `ipv${family}:${loggedKey}`, role: 'logged', packets: logged },
  ];
}

test('the first reading is the baseline: what an earlier agent left is not counted', () => {
  const t = new RateLimitTracker();
  expect(t.observe(pair(5000, 1000))).toBe(0);
  expect(t.observe(pair(5600, 1100))).toBe(500);
  expect(t.observe(pair(5600, 1100))).toBe(0);
  expect(t.totals()).toEqual({ seen: 600, logged: 100, lost: 500 });
});

test('counters that restart (a chain or table written anew) count from zero', () => {
  const t = new RateLimitTracker();
  t.observe(pair(900, 300));
  // Both counts went down: the objects were created again and have counted 40 and 10 since.
  expect(t.observe(pair(40, 10))).toBe(30);
  expect(t.observe(pair(100, 20))).toBe(50);
  expect(t.totals()).toEqual({ seen: 100, logged: 20, lost: 80 });
});

test('a counter first seen after the baseline is new: counted from zero (iptables: a new rate, a new rule)', () => {
  const t = new RateLimitTracker();
  t.observe(pair(900, 300));
  // The chain was rewritten with a new bucket rule: seen restarted, logged is another rule.
  expect(t.observe(pair(70, 20, 4, 'S1', 'L2'))).toBe(50);
});

test('an empty baseline (rules not written yet): every counter that appears is new', () => {
  const t = new RateLimitTracker();
  expect(t.observe([])).toBe(0);
  expect(t.observe(pair(30, 20))).toBe(10);
});

test('families add up; a family missing from a reading keeps its last count', () => {
  const t = new RateLimitTracker();
  t.observe([...pair(10, 10, 4), ...pair(10, 10, 6)]);
  expect(t.observe([...pair(50, 20, 4), ...pair(15, 12, 6)])).toBe(33);
  // The IPv6 read failed this time: nothing about it changes.
  expect(t.observe(pair(60, 25, 4))).toBe(5);
  expect(t.observe([...pair(60, 25, 4), ...pair(25, 12, 6)])).toBe(10);
  expect(t.totals()).toEqual({ seen: 65, logged: 17, lost: 48 });
});

test('never negative: a reading that caught packets between the two rules is made up for later', () => {
  const t = new RateLimitTracker();
  t.observe(pair(0, 0));
  // 3 packets counted as seen, not yet as logged: 3 seem lost.
  expect(t.observe(pair(103, 100))).toBe(3);
  // They were logged after all: lost goes back to 0 in truth; the counter does not go down...
  expect(t.observe(pair(103, 103))).toBe(0);
  // ...and moves again only past its highest value.
  expect(t.observe(pair(110, 105))).toBe(2);
  expect(t.totals().lost).toBe(5);
});
