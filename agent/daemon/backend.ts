/**
 * The iptables binaries for a backend. nft and legacy are named explicitly
 * (iptables-nft-restore, iptables-legacy-restore, ...) so the agent writes to the backend it
 * chose whatever the host's `iptables` alternative points to; a host that ships only the plain
 * names (an nft-only distribution) gets the plain names for nft.
 */
import { DEFAULT_BINARIES, LEGACY_BINARIES, type Binaries, type Kernel } from '../../dataplane/api';
import type { IptablesBackend } from './iptables-mode';

export const NFT_BINARIES: Binaries = {
  iptablesRestore: { 4: 'iptables-nft-restore', 6: 'ip6tables-nft-restore' },
  iptablesSave: { 4: 'iptables-nft-save', 6: 'ip6tables-nft-save' },
  iptables: { 4: 'iptables-nft', 6: 'ip6tables-nft' },
  ipset: 'ipset',
  nft: 'nft',
};

export async function binariesFor(backend: IptablesBackend, kernel: Kernel): Promise<Binaries> {
  if (backend === 'legacy') return LEGACY_BINARIES;
  const probe = await kernel.run([NFT_BINARIES.iptablesRestore[4], '--version']);
  return probe.code === 0 ? NFT_BINARIES : DEFAULT_BINARIES;
}
