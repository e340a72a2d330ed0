import type { Kernel, ProcessResult } from '../../dataplane/kernel';
import { detectIptablesBackend, resolveIptablesBackend } from './iptables-mode';

/** A Kernel answering save commands from a table; anything else "is not installed". */
function kernelWith(outputs: Record<string, string>): Kernel & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run(argv: readonly string[]): Promise<ProcessResult> {
      calls.push([...argv]);
      const out = outputs[argv.join(' ')];
      return out === undefined
        ? { code: 127, stdout: '', stderr: `${argv[0]}: not found` }
        : { code: 0, stdout: out, stderr: '' };
    },
  };
}

const rules = (n: number, chain = 'FORWARD') =>
  `*filter\n:${chain} ACCEPT [0:0]\n${Array.from({ length: n }, (_, i) => `-A ${chain} -s 10.0.0.${i}/32 -j ACCEPT`).join('\n')}\nCOMMIT\n`;

describe('detectIptablesBackend', () => {
  test('the backend with more rules wins (v4 and v6 together)', async () => {
    const k = kernelWith({
      'iptables-legacy-save': rules(3),
      'ip6tables-legacy-save': rules(4),
      'iptables-nft-save': rules(5),
      'ip6tables-nft-save': rules(0),
    });
    const d = await detectIptablesBackend(k);
    expect(d).toMatchObject({ backend: 'legacy', ruleCounts: { legacy: 7, nft: 5 } });
  });

  test('nft wins a tie, including an empty host', async () => {
    expect((await detectIptablesBackend(kernelWith({}))).backend).toBe('nft');
    const k = kernelWith({ 'iptables-legacy-save': rules(2), 'iptables-nft-save': rules(2) });
    expect((await detectIptablesBackend(k)).backend).toBe('nft');
  });

  test("kubelet's hint chain decides over rule counts", async () => {
    const k = kernelWith({
      'iptables-legacy-save': rules(50),
      'iptables-nft-save': rules(1),
      'iptables-nft-save -t mangle': '*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n',
    });
    const d = await detectIptablesBackend(k);
    expect(d).toMatchObject({ backend: 'nft', hints: { nft: true, legacy: false } });
  });

  test('a chain merely named like the hint does not count', async () => {
    const k = kernelWith({
      'iptables-legacy-save': rules(5),
      'iptables-nft-save -t mangle': '*mangle\n:KUBE-IPTABLES-HINTS - [0:0]\nCOMMIT\n',
    });
    expect((await detectIptablesBackend(k)).backend).toBe('legacy');
  });

  test('explicit modes do not probe the host', async () => {
    const k = kernelWith({});
    expect(await resolveIptablesBackend('legacy', k)).toEqual({ backend: 'legacy' });
    expect(k.calls).toEqual([]);
  });
});
