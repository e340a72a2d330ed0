/**
 * The soak's transition windows: a change excuses disagreements only of the cells it can affect,
 * only from the window before a probe round to the round's end, and a lasting fault until it is
 * over (then for one more window).
 */
import { TransitionLog, type CellEnd } from './transitions';

const cell = (key: string, node: string): CellEnd => ({ key, namespace: key.split('/')[0], node });
const webA = cell('a/web', 'node-1');
const dbA = cell('a/db', 'node-2');
const clientB = cell('b/client', 'node-1');

describe('TransitionLog', () => {
  test('a pod change excuses the cells of that pod, within the window', () => {
    const log = new TransitionLog(5000);
    log.change({ kind: 'pod', key: 'a/web' }, 10_000);
    expect(log.excused(clientB, webA, 12_000, 13_000)).toBe(true);
    expect(log.excused(webA, dbA, 14_000, 15_000)).toBe(true);
    expect(log.excused(clientB, dbA, 12_000, 13_000)).toBe(false);
    // The round starts more than a window after the change: nothing is excused.
    expect(log.excused(clientB, webA, 15_001, 16_000)).toBe(false);
    // A change during the round excuses it.
    expect(log.excused(clientB, webA, 9_000, 10_000)).toBe(true);
    expect(log.excused(clientB, webA, 9_000, 9_999)).toBe(false);
  });

  test('namespace, node and cluster-wide scopes', () => {
    const log = new TransitionLog(1000);
    log.change({ kind: 'namespace', name: 'b' }, 0);
    log.change({ kind: 'node', name: 'node-2' }, 5000);
    log.change({ kind: 'all' }, 10_000);
    expect(log.excused(clientB, webA, 500, 600)).toBe(true);
    expect(log.excused(webA, webA, 500, 600)).toBe(false);
    expect(log.excused(webA, dbA, 5500, 5600)).toBe(true);
    expect(log.excused(webA, clientB, 5500, 5600)).toBe(false);
    expect(log.excused(webA, clientB, 10_500, 10_600)).toBe(true);
  });

  test('a lasting fault excuses its cells until it ends, then for one window', () => {
    const log = new TransitionLog(1000);
    const done = log.begin({ kind: 'node', name: 'node-1' }, 0);
    expect(log.excused(webA, dbA, 60_000, 61_000)).toBe(true);
    done(70_000);
    expect(log.excused(webA, dbA, 70_900, 71_000)).toBe(true);
    expect(log.excused(webA, dbA, 71_001, 72_000)).toBe(false);
  });

  test('prune forgets only what can no longer excuse anything', () => {
    const log = new TransitionLog(1000);
    log.change({ kind: 'all' }, 0);
    const done = log.begin({ kind: 'node', name: 'node-1' }, 0);
    log.prune(120_000);
    expect(log.excused(webA, dbA, 119_000, 119_500)).toBe(true);
    expect(log.excused(dbA, dbA, 119_000, 119_500)).toBe(false);
    done(120_000);
    log.prune(200_000);
    expect(log.excused(webA, dbA, 119_000, 119_500)).toBe(false);
  });

  test('a measured window is asked at each question: a longer p99 excuses more', () => {
    let windowMs = 1000;
    const log = new TransitionLog(() => windowMs);
    log.change({ kind: 'pod', key: 'a/web' }, 10_000);
    expect(log.excused(clientB, webA, 11_500, 12_000)).toBe(false);
    windowMs = 2000;
    expect(log.excused(clientB, webA, 11_500, 12_000)).toBe(true);
  });
});
