/**
 * createDataplane's `ipsetSession` reaches the iptables backend: by default a member change goes
 * to a long-lived `ipset -` (started through Kernel.start); with `ipsetSession: false` it is an
 * `ipset restore` process, and no long-lived process is started (the bench's before/after).
 */
import type { LongLivedProcess, StartOptions } from '../process';
import { createDataplane } from '../api';
import {
  deltaBetween,
  fullDelta,
  pod,
  podsSet,
  policy,
  rule,
  state,
  tcp,
  withMembers,
} from '../testutil/fixtures';
import { FakeKernel } from './fake-kernel';

const base = state({
  pods: [pod('a/web', { ips: ['10.1.0.5'], ingress: ['a/allow-db'] })],
  policies: [policy('a/allow-db', { ingress: [rule(0, ['pods:db'], [tcp(80)])] })],
  peerSets: [
    podsSet('pods:db', ['10.2.0.1'], { namespace: 'a', podSelector: { matchLabels: { app: 'db' } } }),
  ],
});

/** A FakeKernel that records the long-lived processes asked of it (and cannot run any). */
class StartRecordingKernel extends FakeKernel {
  readonly started: string[][] = [];
  start = (argv: readonly string[], _options?: StartOptions): LongLivedProcess => {
    this.started.push([...argv]);
    throw new Error('this fake runs no long-lived process');
  };
}

test.each([
  [undefined, true],
  [true, true],
  [false, false],
])('ipsetSession %s: a member change through the session: %s', async (ipsetSession, viaSession) => {
  const k = new StartRecordingKernel();
  const dp = createDataplane({ kernel: k, ...(ipsetSession !== undefined ? { ipsetSession } : {}) });
  try {
    // A first sync this small sends its ipset lines through the session too.
    const first = dp.sync(base, fullDelta(base));
    if (viaSession) await expect(first).rejects.toThrow('this fake runs no long-lived process');
    else await first;
    const next = withMembers(base, 'pods:db', ['10.2.0.1', '10.2.0.2']);
    const from = k.ops.length;
    const change = dp.sync(next, deltaBetween(base, next));
    if (viaSession) {
      await expect(change).rejects.toThrow('this fake runs no long-lived process');
      expect(k.started.every((argv) => argv[0] === 'ipset' && argv[1] === '-')).toBe(true);
      expect(k.started.length).toBeGreaterThan(0);
    } else {
      await change;
      expect(k.started).toEqual([]);
      const ipset = k.opsSince(from).filter((o) => o.tool === 'ipset');
      expect(ipset.map((o) => o.argv.slice(1))).toEqual([['restore', '-exist']]);
      expect(ipset[0].input).toContain('10.2.0.2');
    }
  } finally {
    await dp.close();
  }
});
