/**
 * --iptables-mode auto: which iptables backend the host uses.
 *
 * Rules written with the wrong backend exist but do not filter what the host's other
 * components (kube-proxy, the CNI) filter, so the agent must use the one they use. As
 * kube-proxy's iptables-wrapper does:
 *   1. kubelet leaves a hint chain (KUBE-IPTABLES-HINT, or the older KUBE-KUBELET-CANARY) in the
 *      mangle table of the backend it uses: if exactly one backend has it, that backend wins;
 *   2. otherwise the backend holding more rules (lines starting with "-", IPv4 and IPv6 together)
 *      wins; a tie, including an empty host, goes to nft (the default of current distributions).
 * A missing binary counts as zero rules. Every process runs through the dataplane's Kernel.
 */
import type { Kernel } from '../../dataplane/kernel';
import type { IptablesMode } from './config';

export type IptablesBackend = 'nft' | 'legacy';

const HINT_CHAINS = [':KUBE-IPTABLES-HINT ', ':KUBE-KUBELET-CANARY '];

export interface BackendDetection {
  readonly backend: IptablesBackend;
  readonly reason: string;
  readonly ruleCounts: Readonly<Record<IptablesBackend, number>>;
  readonly hints: Readonly<Record<IptablesBackend, boolean>>;
}

async function saveOutput(kernel: Kernel, argv: string[]): Promise<string> {
  const r = await kernel.run(argv);
  return r.code === 0 ? r.stdout : '';
}

async function survey(kernel: Kernel, backend: IptablesBackend): Promise<{ rules: number; hint: boolean }> {
  const v4 = `iptables-${backend}-save`;
  const v6 = `ip6tables-${backend}-save`;
  const [all4, all6, mangle4, mangle6] = await Promise.all([
    saveOutput(kernel, [v4]),
    saveOutput(kernel, [v6]),
    saveOutput(kernel, [v4, '-t', 'mangle']),
    saveOutput(kernel, [v6, '-t', 'mangle']),
  ]);
  const rules = (all4 + all6).split('\n').filter((l) => l.startsWith('-')).length;
  const mangle = `${mangle4}\n${mangle6}`;
  const hint = mangle.split('\n').some((l) => HINT_CHAINS.some((h) => `${l} `.startsWith(h)));
  return { rules, hint };
}

export async function detectIptablesBackend(kernel: Kernel): Promise<BackendDetection> {
  const [nft, legacy] = await Promise.all([survey(kernel, 'nft'), survey(kernel, 'legacy')]);
  const ruleCounts = { nft: nft.rules, legacy: legacy.rules };
  const hints = { nft: nft.hint, legacy: legacy.hint };
  if (nft.hint !== legacy.hint) {
    const backend: IptablesBackend = nft.hint ? 'nft' : 'legacy';
    return { backend, reason: `kubelet hint chain found in the ${backend} mangle table`, ruleCounts, hints };
  }
  if (legacy.rules > nft.rules) {
    return {
      backend: 'legacy',
      reason: `legacy holds more rules (${legacy.rules} > ${nft.rules})`,
      ruleCounts,
      hints,
    };
  }
  return {
    backend: 'nft',
    reason:
      nft.rules > legacy.rules
        ? `nft holds more rules (${nft.rules} > ${legacy.rules})`
        : `no backend holds more rules (${nft.rules} each): nft by default`,
    ruleCounts,
    hints,
  };
}

/** The backend for `mode`: as given, or detected for auto. */
export async function resolveIptablesBackend(
  mode: IptablesMode,
  kernel: Kernel,
): Promise<{ backend: IptablesBackend; detection?: BackendDetection }> {
  if (mode !== 'auto') return { backend: mode };
  const detection = await detectIptablesBackend(kernel);
  return { backend: detection.backend, detection };
}
