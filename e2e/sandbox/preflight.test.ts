import { preflight } from './preflight';

const NEEDS = { topology: 'routed' as const, commandLine: 'palisade sandbox s.yaml' };

describe('preflight', () => {
  afterEach(() => jest.restoreAllMocks());

  test('not root: one line saying to run it with sudo', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(1000);
    expect(await preflight(NEEDS, () => '/usr/sbin/x')).toBe(
      'palisade sandbox needs root (network namespaces, iptables): run `sudo palisade sandbox s.yaml`',
    );
  });

  test('missing tools: one line naming them and the packages to install', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(0);
    const present = new Set(['ip', 'iptables', 'sysctl', 'nsenter']);
    expect(await preflight(NEEDS, (c) => (present.has(c) ? `/usr/sbin/${c}` : undefined))).toBe(
      'palisade sandbox needs ip6tables, ipset, openssl, python3: run `sudo apt-get install -y iptables ipset openssl python3`',
    );
  });

  test('the nftables backend also needs nft', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(0);
    const find = (c: string): string | undefined => (c === 'nft' ? undefined : `/usr/sbin/${c}`);
    expect(await preflight(NEEDS, find)).toBeUndefined();
    expect(await preflight({ ...NEEDS, backend: 'nftables' }, find)).toBe(
      'palisade sandbox needs nft: run `sudo apt-get install -y nftables`',
    );
  });

  test('everything there: nothing to say', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(0);
    expect(await preflight(NEEDS, (c) => `/usr/bin/${c}`)).toBeUndefined();
  });
});
