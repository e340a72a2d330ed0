/**
 * What the soak's tampering faults touch in a node's kernel, and the argv that touches it, for
 * either backend: one of Palisade's ingress chains (a pod's, a NetworkPolicy's or a
 * ClusterNetworkPolicy's) to flush, and one member of one of its pod peer sets to delete.
 *
 *   iptables: chains PALISADE-{P,W,C}I-… in the filter table (`iptables-save -t filter`), sets
 *             PALISADE-P4-… / PALISADE-P6-… (`ipset list`); the iptables binaries are the ones the
 *             agent writes with (its status says nft or legacy).
 *   nftables: chains pod-in4-…, np-in6-…, cnp-in4-… and sets pods4-… / pods6-… in `inet palisade`
 *             (`nft -j list table inet palisade`).
 *
 * Pure: parsing what the tools print and building argv. The names come from the kernel, so they
 * are checked against the shapes Palisade generates before they go back into an argv, and a set
 * member must be an IP address.
 */
import { isIP } from 'node:net';

export type Backend = 'iptables' | 'nftables';

/** The iptables variant the agent writes with (its status' `iptablesBackend`). */
export type IptablesVariant = 'nft' | 'legacy';

const IPT_INGRESS_CHAIN = /^PALISADE-[WCP]I-[A-Za-z0-9_.-]+$/;
const IPT_POD_SET = /^PALISADE-P[46]-[A-Za-z0-9_.-]+$/;
const NFT_INGRESS_CHAIN = /^(pod|np|cnp)-in[46]-[A-Za-z0-9-]+$/;
const NFT_POD_SET = /^pods[46]-[A-Za-z0-9-]+$/;

export const NFT_TABLE = ['inet', 'palisade'] as const;

export function iptablesBinary(
  tool: 'iptables' | 'iptables-save',
  variant: IptablesVariant | undefined,
): string {
  if (variant === undefined) return tool;
  return tool.replace('iptables', variant === 'legacy' ? 'iptables-legacy' : 'iptables-nft');
}

/**
 * Palisade's ingress chains that hold rules, in `iptables-save -t filter` output (flushing an
 * empty one would change nothing).
 */
export function iptablesIngressChains(save: string): string[] {
  const withRules = new Set([...save.matchAll(/^-A (\S+) /gm)].map((m) => m[1]));
  return [...save.matchAll(/^:(\S+)/gm)]
    .map((m) => m[1])
    .filter((c) => IPT_INGRESS_CHAIN.test(c) && withRules.has(c));
}

/** Palisade's pod peer sets in `ipset list -n` output. */
export function ipsetPodSets(names: string): string[] {
  return names.split('\n').filter((n) => IPT_POD_SET.test(n));
}

/** The members of one set in `ipset list SET` output (addresses only). */
export function ipsetMembers(list: string): string[] {
  const members = list.split('Members:\n')[1] ?? '';
  return members
    .split('\n')
    .map((l) => l.trim().split(' ')[0])
    .filter((m) => isIP(m) !== 0);
}

interface NftListing {
  readonly chains: string[];
  /** Pod peer sets with their (address) elements. */
  readonly podSets: { name: string; elements: string[] }[];
}

/**
 * Ingress chains that hold rules, and pod peer sets, of Palisade's table in `nft -j list table
 * inet palisade` output.
 */
export function nftListing(json: string): NftListing {
  const doc = JSON.parse(json) as { nftables?: Record<string, unknown>[] };
  const chains: string[] = [];
  const podSets: { name: string; elements: string[] }[] = [];
  const withRules = new Set(
    (doc.nftables ?? []).map((item) => (item.rule as { chain?: unknown } | undefined)?.chain),
  );
  for (const item of doc.nftables ?? []) {
    const chain = item.chain as { name?: unknown } | undefined;
    if (
      chain &&
      typeof chain.name === 'string' &&
      NFT_INGRESS_CHAIN.test(chain.name) &&
      withRules.has(chain.name)
    )
      chains.push(chain.name);
    const set = item.set as { name?: unknown; elem?: unknown } | undefined;
    if (set && typeof set.name === 'string' && NFT_POD_SET.test(set.name)) {
      const elements = (Array.isArray(set.elem) ? (set.elem as unknown[]) : [])
        .map((e) =>
          typeof e === 'string' ? e : ((e as { elem?: { val?: unknown } } | null)?.elem?.val as unknown),
        )
        .filter((e): e is string => typeof e === 'string' && isIP(e) !== 0);
      podSets.push({ name: set.name, elements });
    }
  }
  return { chains, podSets };
}

export function nftListArgv(): string[] {
  return ['nft', '-j', 'list', 'table', ...NFT_TABLE];
}

export function nftFlushChainArgv(chain: string): string[] {
  if (!NFT_INGRESS_CHAIN.test(chain)) throw new Error(`not one of Palisade's ingress chains: ${chain}`);
  return ['nft', 'flush', 'chain', ...NFT_TABLE, chain];
}

export function nftDeleteElementArgv(set: string, address: string): string[] {
  if (!NFT_POD_SET.test(set)) throw new Error(`not one of Palisade's pod sets: ${set}`);
  if (isIP(address) === 0) throw new Error(`not an address: ${address}`);
  return ['nft', 'delete', 'element', ...NFT_TABLE, set, '{', address, '}'];
}

export function iptablesFlushChainArgv(chain: string, variant: IptablesVariant | undefined): string[] {
  if (!IPT_INGRESS_CHAIN.test(chain)) throw new Error(`not one of Palisade's ingress chains: ${chain}`);
  return [iptablesBinary('iptables', variant), '-t', 'filter', '-F', chain];
}

export function ipsetDeleteArgv(set: string, address: string): string[] {
  if (!IPT_POD_SET.test(set)) throw new Error(`not one of Palisade's pod sets: ${set}`);
  if (isIP(address) === 0) throw new Error(`not an address: ${address}`);
  return ['ipset', 'del', set, address];
}
