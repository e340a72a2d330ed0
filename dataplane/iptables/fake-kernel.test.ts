import { FakeKernel } from './fake-kernel';
import { parseIpsetSave, parseIptablesSave } from './readback';

const restore = (k: FakeKernel, text: string, family: 4 | 6 = 4) =>
  k.run([family === 4 ? 'iptables-restore' : 'ip6tables-restore', '--noflush', '--counters'], text);

describe('FakeKernel iptables', () => {
  test('interprets chain declarations, -A -I -D -F -X and keeps counters', async () => {
    const k = new FakeKernel();
    expect(
      (
        await restore(
          k,
          '*filter\n:A - [0:0]\n[3:90] -A A -j RETURN\n-I FORWARD 1 -j A\n-A A -s 10.0.0.1/32 -j DROP\nCOMMIT\n',
        )
      ).code,
    ).toBe(0);
    expect(k.chain(4, 'A')!.rules.map((r) => [r.spec, r.packets])).toEqual([
      ['-j RETURN', 3],
      ['-s 10.0.0.1/32 -j DROP', 0],
    ]);
    // Declaring an existing chain with --noflush flushes that chain only.
    await restore(k, '*filter\n:A - [0:0]\n-A A -j ACCEPT\n-D FORWARD -j A\n-I FORWARD 1 -j A\nCOMMIT\n');
    expect(k.chain(4, 'A')!.rules.map((r) => r.spec)).toEqual(['-j ACCEPT']);
    expect(k.chain(4, 'FORWARD')!.rules).toHaveLength(1);
  });

  test('is atomic per table and reports the failing line', async () => {
    const k = new FakeKernel();
    await restore(k, '*filter\n:A - [0:0]\n-A FORWARD -j A\nCOMMIT\n');
    const r = await restore(k, '*filter\n:B - [0:0]\n-A B -j RETURN\n-X A\nCOMMIT\n');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error occurred at line: 4');
    expect(k.chain(4, 'B')).toBeUndefined();
    expect((await restore(k, '*filter\n-A FORWARD -j NOPE\nCOMMIT\n')).stderr).toContain(
      "Chain 'NOPE' does not exist",
    );
    expect(
      (await restore(k, '*filter\n-A FORWARD -m set --match-set nope src -j DROP\nCOMMIT\n')).code,
    ).not.toBe(0);
    expect((await restore(k, '*filter\n-D FORWARD -j B\nCOMMIT\n')).code).not.toBe(0);
  });

  test('a restore without --noflush wipes the table, and is counted', async () => {
    const k = new FakeKernel();
    await restore(k, '*filter\n-A INPUT -j ACCEPT\nCOMMIT\n');
    await k.run(['iptables-restore'], '*filter\nCOMMIT\n');
    expect(k.chain(4, 'INPUT')!.rules).toEqual([]);
    expect(k.wholeTableRestores).toBe(1);
  });

  test('save output parses back through readback', async () => {
    const k = new FakeKernel();
    await restore(
      k,
      '*filter\n:PALISADE-X - [0:0]\n-A PALISADE-X -m comment --comment "pl:ABCDEFGHIJ x" -j RETURN\n-I INPUT 1 -j PALISADE-X\nCOMMIT\n',
      6,
    );
    const t = parseIptablesSave((await k.run(['ip6tables-save', '-t', 'filter'])).stdout, 6);
    expect(t.chains.get('PALISADE-X')!.rules.map((r) => r.hash)).toEqual(['ABCDEFGHIJ']);
    expect(t.hooks).toMatchObject([{ builtin: 'INPUT', target: 'PALISADE-X', position: 1 }]);
  });
});

describe('FakeKernel ipset', () => {
  test('creates, adds with nomatch, normalises, swaps and refuses bad input', async () => {
    const k = new FakeKernel();
    const r = await k.run(
      ['ipset', 'restore'],
      'create s hash:net family inet\nadd s 10.9.9.9/8\nadd s 10.1.0.0/16 nomatch\ncreate t hash:net family inet\nswap s t\n',
    );
    expect(r.code).toBe(0);
    const saved = parseIpsetSave(
      (await k.run(['ipset', 'save'])).stdout.replace(/ s /g, ' PALISADE-s ').replace(/ t /g, ' PALISADE-t '),
    );
    expect([...saved.get('PALISADE-t')!.members]).toEqual(['10.0.0.0/8', '10.1.0.0/16 nomatch']);
    expect((await k.run(['ipset', 'restore'], 'add s 0.0.0.0/0\n')).stderr).toContain('Error in line 1');
    expect((await k.run(['ipset', 'restore'], 'add s fd00::1\n')).code).not.toBe(0);
    expect((await k.run(['ipset', 'restore'], 'create s hash:ip family inet\n')).code).not.toBe(0);
    expect((await k.run(['ipset', 'restore', '-exist'], 'create s hash:net family inet\n')).code).toBe(0);
  });

  test('refuses to destroy a set a rule uses, in either family', async () => {
    const k = new FakeKernel();
    await k.run(['ipset', 'restore'], 'create s6 hash:ip family inet6\n');
    await restore(k, '*filter\n-A INPUT -m set --match-set s6 src -j DROP\nCOMMIT\n', 6);
    expect((await k.run(['ipset', 'restore'], 'destroy s6\n')).stderr).toContain('in use');
  });

  test('an injected failure leaves the lines before it applied, as ipset does', async () => {
    const k = new FakeKernel();
    k.failNextRestore({ tool: 'ipset', afterLines: 2 });
    const r = await k.run(
      ['ipset', 'restore'],
      'create s hash:ip family inet\nadd s 10.0.0.1\nadd s 10.0.0.2\n',
    );
    expect(r.stderr).toContain('Error in line 3');
    expect([...k.ipsets.get('s')!.members.keys()]).toEqual(['10.0.0.1']);
    expect(k.counts()).toMatchObject({ ipsetRestores: 1, ipsetLines: 3 });
  });
});
