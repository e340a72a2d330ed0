import { parseMainArgs, resultName } from './main';

describe('npm run bench arguments', () => {
  test('defaults: iptables with its ipset session, churn at 200, 1,000 and 5,000 events/s', () => {
    const o = parseMainArgs([]);
    expect(o).toMatchObject({ backend: 'iptables', ipsetSession: true, rates: [200, 1000, 5000] });
    expect(o.sizes).toEqual(['S', 'M']);
  });

  test('--backend nftables; --ipset-session off', () => {
    expect(parseMainArgs(['--backend', 'nftables', '--size', 'M']).backend).toBe('nftables');
    expect(parseMainArgs(['--ipset-session', 'off']).ipsetSession).toBe(false);
  });

  test.each([
    [['--backend', 'ebpf'], '--backend: iptables or nftables'],
    [['--ipset-session', 'maybe'], '--ipset-session: on or off'],
  ])('rejects %j', (args, message) => {
    expect(() => parseMainArgs(args)).toThrow(message);
  });

  test('each backend (and iptables without its session) is saved under its own name', () => {
    expect(resultName('M', { backend: 'nftables', ipsetSession: true })).toBe('M-nftables');
    expect(resultName('M', { backend: 'iptables', ipsetSession: true })).toBe('M-iptables');
    expect(resultName('L', { backend: 'iptables', ipsetSession: false })).toBe('L-iptables-no-ipset-session');
  });
});
