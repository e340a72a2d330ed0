import type { NodeWiring } from './pod-network';
import { PodSlots, type SlotActions } from './pod-slots';

const node: NodeWiring = {
  ns: 'psab12-node-a',
  ipv4: '172.18.0.2',
  ipv6Pods: false,
  onLink: ['10.244.1.0/24'],
  offLink: [],
};

function fake(failing: (what: string) => boolean = () => false): { act: SlotActions; calls: string[] } {
  const calls: string[] = [];
  const step = async (what: string): Promise<void> => {
    calls.push(what);
    if (failing(what)) throw new Error(`${what} failed`);
  };
  return {
    calls,
    act: {
      host: (lines) => step(`host: ${lines.join('; ')}`),
      node: (lines) => step(`node: ${lines.join('; ')}`),
      inSlot: (netns, lines) => step(`${netns}: ${lines.join('; ')}`),
      sysctl: (netns, settings) =>
        step(`sysctl ${netns}: ${settings.map(([k, v]) => `${k}=${v}`).join(' ')}`),
      alias: (netns, alias) => step(`alias ${netns} as ${alias}`),
      unalias: (alias) => step(`unalias ${alias}`),
    },
  };
}

const names = { netns: (n: number) => `psab12-slot-1-${n}`, hostIf: (n: number) => `psab12v00001-0${n}` };
const slots = (act: SlotActions, idleMs = 60_000, maxIdle = 64) =>
  new PodSlots(node, 'routed', names, act, () => undefined, { idleMs, maxIdle });

describe('PodSlots', () => {
  test('the first pod gets a new namespace and veth; the next one gets them back, cleaned, under its own name', async () => {
    const { act, calls } = fake();
    const s = slots(act);
    const a = await s.attach('psab12-pod-x.a-1', { ipv4: '10.244.1.10' });
    expect(calls).toEqual([
      'host: netns add psab12-slot-1-0',
      'node: link add psab12v00001-00 type veth peer name eth0 netns psab12-slot-1-0; link set psab12v00001-00 up',
      'sysctl psab12-node-a: net.ipv4.neigh.psab12v00001-00.proxy_delay=0',
      'alias psab12-slot-1-0 as psab12-pod-x.a-1',
      'psab12-slot-1-0: link set lo up; link set eth0 up; addr add 10.244.1.10/32 dev eth0; route add 169.254.1.1 dev eth0 scope link; route add default via 169.254.1.1 dev eth0',
      'node: route add 10.244.1.10/32 dev psab12v00001-00 src 172.18.0.2',
    ]);
    calls.length = 0;
    await s.detach(a, () => true);
    expect(calls).toEqual([
      'node: route del 10.244.1.10/32 dev psab12v00001-00; neigh flush to 10.244.1.10 dev psab12v00001-00',
      'unalias psab12-pod-x.a-1',
      'psab12-slot-1-0: route del default via 169.254.1.1 dev eth0; route del 169.254.1.1 dev eth0 scope link; addr del 10.244.1.10/32 dev eth0; neigh flush dev eth0',
    ]);
    expect([s.slotCount, s.idleCount]).toEqual([1, 1]);
    calls.length = 0;
    const b = await s.attach('psab12-pod-x.b-2', { ipv4: '10.244.1.11' });
    expect(b.slot).toEqual(a.slot);
    expect(calls).toEqual([
      'alias psab12-slot-1-0 as psab12-pod-x.b-2',
      'psab12-slot-1-0: addr add 10.244.1.11/32 dev eth0; route add 169.254.1.1 dev eth0 scope link; route add default via 169.254.1.1 dev eth0',
      'node: route add 10.244.1.11/32 dev psab12v00001-00 src 172.18.0.2',
    ]);
  });

  test('a namespace something was exec’d into is destroyed, not kept', async () => {
    const { act, calls } = fake();
    const s = slots(act);
    const a = await s.attach('psab12-pod-x.a-1', { ipv4: '10.244.1.10' });
    calls.length = 0;
    await s.detach(a, () => false);
    expect(calls.slice(-2)).toEqual(['unalias psab12-pod-x.a-1', 'host: netns del psab12-slot-1-0']);
    expect([s.slotCount, s.idleCount]).toEqual([0, 0]);
  });

  test('a slot whose cleaning fails is destroyed; so is one whose pod could not be wired, and the pod gets the error', async () => {
    const { act, calls } = fake(
      (what) => what.includes('addr del') || what.includes('10.244.1.11/32 dev eth0'),
    );
    const s = slots(act);
    const a = await s.attach('psab12-pod-x.a-1', { ipv4: '10.244.1.10' });
    await s.detach(a, () => true);
    expect(calls.at(-1)).toBe('host: netns del psab12-slot-1-0');
    calls.length = 0;
    await expect(s.attach('psab12-pod-x.b-2', { ipv4: '10.244.1.11' })).rejects.toThrow(/failed/);
    expect(calls.slice(-3)).toEqual([
      'node: route del 10.244.1.11/32 dev psab12v00001-01; neigh flush to 10.244.1.11 dev psab12v00001-01',
      'unalias psab12-pod-x.b-2',
      'host: netns del psab12-slot-1-1',
    ]);
    expect(s.slotCount).toBe(0);
  });

  test('idle slots beyond maxIdle are destroyed at once, the rest once idle for idleMs', async () => {
    const { act, calls } = fake();
    const s = slots(act, 50, 1);
    const pods = await Promise.all(
      ['a', 'b'].map((x, i) => s.attach(`psab12-pod-x.${x}-${i}`, { ipv4: `10.244.1.${10 + i}` })),
    );
    for (const p of pods) await s.detach(p, () => true);
    await new Promise((r) => setImmediate(r));
    expect([s.slotCount, s.idleCount]).toEqual([1, 1]);
    await new Promise((r) => setTimeout(r, 200));
    expect([s.slotCount, s.idleCount]).toEqual([0, 0]);
    expect(calls.filter((c) => c.startsWith('host: netns del')).sort()).toEqual([
      'host: netns del psab12-slot-1-0',
      'host: netns del psab12-slot-1-1',
    ]);
  });

  test('a slot is destroyed idleMs after it became idle, also when cleaning it took longer than that', async () => {
    const { act } = fake();
    const slow: SlotActions = {
      ...act,
      inSlot: async (netns, lines) => {
        if (lines.some((l) => l.includes(' del '))) await new Promise((r) => setTimeout(r, 150));
        await act.inSlot(netns, lines);
      },
    };
    const s = slots(slow, 50);
    await s.detach(await s.attach('psab12-pod-x.a-1', { ipv4: '10.244.1.10' }), () => true);
    expect(s.idleCount).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.slotCount).toBe(0);
  });
});
