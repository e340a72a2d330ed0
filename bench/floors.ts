/**
 * Floors: what spawning one trivial `ipset restore` and one trivial `iptables-restore --noflush`
 * costs in the bench's network namespace, through the same Kernel (and so the same
 * `ip netns exec` prefix) the dataplane uses. No apply can be cheaper than the processes it
 * starts, so per-event apply times are reported against these.
 *
 * The inputs touch only objects that are not Palisade's (`bench-floor`), so they never show up
 * in a read-back of our state, and they are removed at the end.
 */
import type { Kernel } from '../dataplane/api';
import { NftSession } from '../dataplane/nftables/session';
import { median, nowMs, round } from './stats';

export interface Floors {
  readonly ipsetRestoreMs: number;
  readonly iptablesRestoreMs: number;
  /**
   * One iptables-restore that replaces the single rule of a chain (flush + append). With the
   * nf_tables backend, removing a rule makes the kernel's commit wait for an RCU grace period,
   * so this is the true floor of any apply that changes or deletes rules.
   */
  readonly iptablesReplaceRuleMs: number;
  /** nftables backend runs: the session and per-process floors (measureNftFloors). */
  readonly nft?: NftFloors;
}

const FLOOR_SET = 'bench-floor';
const FLOOR_CHAIN = 'bench-floor';

async function timed(kernel: Kernel, argv: readonly string[], stdin: string): Promise<number> {
  const t = nowMs();
  const r = await kernel.run(argv, stdin);
  const ms = nowMs() - t;
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}: ${r.stderr.trim()}`);
  return ms;
}

export async function measureFloors(kernel: Kernel, repetitions = 20): Promise<Floors> {
  const ipset: number[] = [];
  const iptables: number[] = [];
  const replace: number[] = [];
  // One element toggled in a set of our own making: the smallest ipset restore that does work.
  await timed(kernel, ['ipset', 'restore', '-exist'], `create ${FLOOR_SET} hash:ip\n`);
  for (let i = 0; i < repetitions; i++) {
    const op = i % 2 === 0 ? 'add' : 'del';
    ipset.push(await timed(kernel, ['ipset', 'restore', '-exist'], `${op} ${FLOOR_SET} 192.0.2.1\n`));
    // Declaring (and so flushing) one empty chain: the smallest iptables-restore transaction.
    iptables.push(
      await timed(
        kernel,
        ['iptables-restore', '--noflush', '--wait'],
        `*filter\n:${FLOOR_CHAIN} - [0:0]\nCOMMIT\n`,
      ),
    );
  }
  for (let i = 0; i < repetitions; i++) {
    const rule = `-A ${FLOOR_CHAIN} -s 192.0.2.${1 + (i % 2)}/32 -j RETURN`;
    replace.push(
      await timed(
        kernel,
        ['iptables-restore', '--noflush', '--wait'],
        `*filter\n:${FLOOR_CHAIN} - [0:0]\n${rule}\nCOMMIT\n`,
      ),
    );
  }
  await timed(
    kernel,
    ['iptables-restore', '--noflush', '--wait'],
    `*filter\n:${FLOOR_CHAIN} - [0:0]\nCOMMIT\n`,
  );
  await timed(kernel, ['iptables-restore', '--noflush', '--wait'], `*filter\n-X ${FLOOR_CHAIN}\nCOMMIT\n`);
  await timed(kernel, ['ipset', 'restore', '-exist'], `destroy ${FLOOR_SET}\n`);
  return {
    ipsetRestoreMs: round(median(ipset), 2),
    iptablesRestoreMs: round(median(iptables), 2),
    iptablesReplaceRuleMs: round(median(replace), 2),
  };
}

/**
 * The nftables floors, in the same namespace and through the same Kernel: one small transaction
 * through a long-lived `nft -i` session (as the nftables backend writes) and through a new
 * `nft -f -` each time, for an element add and for a rule replacement (flush + add, which makes
 * nf_tables' deferred destroy work). The objects are a scratch table of their own, removed after.
 */
export interface NftFloors {
  readonly sessionAddElementMs: number;
  readonly sessionReplaceRuleMs: number;
  readonly processAddElementMs: number;
  readonly processReplaceRuleMs: number;
}

const NFT_FLOOR_TABLE = 'inet bench-floor';

export async function measureNftFloors(kernel: Kernel, repetitions = 20): Promise<NftFloors> {
  if (!kernel.start) throw new Error('the nft floors need a kernel that can start a session');
  const k = kernel;
  const session = new NftSession({ starter: { start: (argv, o) => k.start!(argv, o) } });
  const viaProcess = async (script: string): Promise<number> =>
    timed(kernel, ['nft', '-f', '-'], `${script}\n`);
  const viaSession = async (script: string): Promise<number> => {
    const t = nowMs();
    await session.transact(`${script}\n`);
    return nowMs() - t;
  };
  try {
    await viaSession(
      `add table ${NFT_FLOOR_TABLE}\nadd set ${NFT_FLOOR_TABLE} s { type ipv4_addr; }\nadd chain ${NFT_FLOOR_TABLE} c\nadd rule ${NFT_FLOOR_TABLE} c drop`,
    );
    const sAdd: number[] = [];
    const sReplace: number[] = [];
    const pAdd: number[] = [];
    const pReplace: number[] = [];
    for (let i = 0; i < repetitions; i++) {
      sAdd.push(await viaSession(`add element ${NFT_FLOOR_TABLE} s { 192.0.2.${i + 1} }`));
      pAdd.push(await viaProcess(`add element ${NFT_FLOOR_TABLE} s { 198.51.100.${i + 1} }`));
      const rule = `add rule ${NFT_FLOOR_TABLE} c ip saddr 192.0.2.${1 + (i % 2)} drop`;
      sReplace.push(await viaSession(`flush chain ${NFT_FLOOR_TABLE} c\n${rule}`));
      pReplace.push(await viaProcess(`flush chain ${NFT_FLOOR_TABLE} c\n${rule}`));
    }
    return {
      sessionAddElementMs: round(median(sAdd), 2),
      sessionReplaceRuleMs: round(median(sReplace), 2),
      processAddElementMs: round(median(pAdd), 2),
      processReplaceRuleMs: round(median(pReplace), 2),
    };
  } finally {
    await session
      .transact(`add table ${NFT_FLOOR_TABLE}\ndelete table ${NFT_FLOOR_TABLE}\n`)
      .catch(() => undefined);
    await session.close();
  }
}
