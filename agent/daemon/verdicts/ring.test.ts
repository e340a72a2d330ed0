import type { EventDraft } from './event';
import { VerdictRing } from './ring';

const draft = (n: number): EventDraft => ({
  time: new Date(1_700_000_000_000 + n).toISOString(),
  node: 'node-1',
  direction: 'ingress',
  verdict: 'denied',
  tier: 'networkpolicy',
  src: { ip: `10.2.0.${n % 250}` },
  dst: { ip: '10.1.0.5' },
  protocol: 'TCP',
  dstPort: 80,
  point: 'AAAAAAAAAA',
  known: false,
});

test('numbers events from 1 and reads them back from any position', () => {
  const ring = new VerdictRing(4);
  expect(ring.read(1)).toEqual({ events: [], missed: 0, next: 1 });
  for (let i = 1; i <= 3; i++) expect(ring.push(draft(i)).seq).toBe(i);
  expect(ring.read(2).events.map((e) => e.seq)).toEqual([2, 3]);
  expect(ring.read(1, 2)).toMatchObject({ missed: 0, next: 3 });
  expect(ring.size).toBe(3);
});

test('holds at most its capacity; a reader overtaken learns how many it missed, and resumes at the oldest', () => {
  const ring = new VerdictRing(4);
  for (let i = 1; i <= 10; i++) ring.push(draft(i));
  expect(ring.size).toBe(4);
  expect(ring.oldestSeq).toBe(7);
  const r = ring.read(3);
  expect(r.missed).toBe(4);
  expect(r.events.map((e) => e.seq)).toEqual([7, 8, 9, 10]);
  expect(r.next).toBe(11);
  // A reader exactly at the oldest event missed nothing.
  expect(ring.read(7).missed).toBe(0);
});

test('tells listeners of each push until they unsubscribe', () => {
  const ring = new VerdictRing(2);
  let calls = 0;
  const off = ring.onPush(() => calls++);
  ring.push(draft(1));
  off();
  ring.push(draft(2));
  expect(calls).toBe(1);
  expect(() => new VerdictRing(0)).toThrow(/capacity/);
});
