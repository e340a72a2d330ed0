/**
 * The drift watch's reading of `nft monitor`: commits grouped by their generation line, the
 * session's own and other tables' dropped, unresolved events reported as uncertain (and not too
 * often), a dead monitor restarted and its gap reported. Over FakeNft and over a scripted stream.
 */
import { type ForeignChange, createDataplane } from '../api';
import type { LongLivedProcess, ProcessExit } from '../process';
import {
  fullDelta,
  pod,
  policy,
  state,
  withMembers,
  deltaBetween,
  podsSet,
  rule,
} from '../testutil/fixtures';
import { FakeNft } from './fake-nft';
import { TableMonitor } from './monitor';

const s0 = state({
  pods: [pod('a/web', { ips: ['10.1.0.5'], ingress: ['a/allow'] })],
  policies: [policy('a/allow', { ingress: [rule(0, ['pods:db'], 'any')] })],
  peerSets: [podsSet('pods:db', ['10.2.0.1'], { namespace: 'a' })],
});

const silent = { debug() {}, info() {}, warn() {}, error() {} };

test('over FakeNft: only foreign commits to the table are reported, and a repair restores it', async () => {
  const k = new FakeNft();
  const dp = createDataplane({ kernel: k, backend: 'nftables' });
  const seen: ForeignChange[] = [];
  expect(dp.driftWatch()).toBeNull();
  dp.watchDrift((c) => seen.push(c));
  await dp.sync(s0, fullDelta(s0));
  const s1 = withMembers(s0, 'pods:db', ['10.2.0.2']);
  await dp.sync(s1, deltaBetween(s0, s1));
  k.foreign('add table ip other\nadd chain ip other c');
  expect(seen).toEqual([]);
  k.foreign('flush chain inet palisade forward-4');
  expect(seen).toHaveLength(1);
  expect(seen[0]).toMatchObject({
    certain: true,
    pid: 4242,
    events: ['flush chain inet palisade forward-4'],
  });
  expect(dp.driftWatch()).toMatchObject({ running: true, foreignChanges: 1 });
  await dp.repairDrift();
  expect((await dp.checkDrift()).differences).toEqual([]);
  // The repair is Palisade's own commit: not reported.
  expect(seen).toHaveLength(1);
  await dp.close();
});

class Stream implements LongLivedProcess {
  readonly pid = 7;
  out: ((t: string) => void)[] = [];
  exits: ((e: ProcessExit) => void)[] = [];
  write(): void {}
  end(): void {}
  kill(): void {}
  onStdout(l: (t: string) => void): void {
    this.out.push(l);
  }
  onStderr(): void {}
  onExit(l: (e: ProcessExit) => void): void {
    this.exits.push(l);
  }
  say(text: string): void {
    for (const l of this.out) l(text);
  }
}

test('over a scripted stream: grouping, own pids, unresolved events, restarts', async () => {
  const streams: Stream[] = [];
  const seen: ForeignChange[] = [];
  const m = new TableMonitor({
    starter: {
      start: (argv) => {
        expect(argv).toEqual(['nft', 'monitor']);
        const s = new Stream();
        streams.push(s);
        return s;
      },
    },
    binary: 'nft',
    ownPids: () => [100],
    onForeignChange: (c) => seen.push(c),
    logger: silent,
    restartDelayMs: 5,
    uncertainIntervalMs: 60_000,
  });
  m.start();
  const s = streams[0];
  // Ours: dropped, whatever it touched. Split mid-line on purpose.
  s.say('add rule inet palisade pod-in4-x handle 3 drop\n# new generation 5 by pro');
  s.say('cess 100 (nft)\n');
  // Another table's: dropped.
  s.say(
    'add rule inet kube-proxy services handle 9 accept\n# new generation 6 by process 200 (kube-proxy)\n',
  );
  expect(seen).toEqual([]);
  // Foreign and ours: reported with the events that concern us.
  s.say(
    'add table inet kube-proxy\ndelete rule inet palisade forward-4 handle 7\n# new generation 7 by process 300 (nft)\n',
  );
  expect(seen).toEqual([
    {
      generation: 7,
      pid: 300,
      comm: 'nft',
      events: ['delete rule inet palisade forward-4 handle 7'],
      certain: true,
    },
  ]);
  // Unresolved events: reported once, then not again within the interval.
  s.say('W: Received event for an unknown set.\n# new generation 8 by process 300 (nft)\n');
  s.say('W: Received event for an unknown set.\n# new generation 9 by process 300 (nft)\n');
  expect(seen.slice(1)).toEqual([
    {
      generation: 8,
      pid: 300,
      comm: 'nft',
      events: ['W: Received event for an unknown set.'],
      certain: false,
    },
  ]);
  // A dead monitor is restarted, and the gap reported.
  for (const l of s.exits) l({ code: 1, signal: null });
  await new Promise((r) => setTimeout(r, 30));
  expect(streams).toHaveLength(2);
  expect(seen[seen.length - 1]).toMatchObject({
    generation: 0,
    certain: false,
    events: ['nft monitor restarted'],
  });
  expect(m.status).toMatchObject({ running: true, restarts: 1, foreignChanges: 3 });
  m.stop();
  expect(m.status.running).toBe(false);
});
