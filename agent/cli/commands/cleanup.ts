/**
 * `palisade cleanup [--backend all|iptables|nftables] [--iptables-mode auto|nft|legacy]`: removes
 * every kernel object Palisade created (iptables: hook rules in built-in chains, PALISADE-*
 * chains, PALISADE-* ipsets; nftables: the table inet palisade) and nothing else, through the
 * dataplane's cleanup. Run it after removing the DaemonSet. By default both backends are
 * cleaned: an agent may have run with either.
 *
 * With auto it cleans every backend installed on the host, not only the detected one: rules left
 * by an agent that once ran with the other backend are ours too. An ipset still referenced by the
 * other backend's rules cannot be destroyed yet, so a backend that fails is retried once after
 * the others.
 */
import { Option, type Command } from 'commander';
import { createDataplane, ProcessKernel, type CleanupReport, type Kernel } from '../../../dataplane/api';
import { binariesFor } from '../../daemon/backend';
import { IPTABLES_MODES, type IptablesMode } from '../../daemon/config';
import type { IptablesBackend } from '../../daemon/iptables-mode';
import { contextOf } from '../context';
import { CliError, InputError } from '../errors';

const EXAMPLES = `
Examples:
  $ palisade cleanup
  nft: removed 14 chains, 2 hook rules, 9 ipsets
  legacy: nothing to remove
  nftables: removed table inet palisade (16 chains, 12 sets and maps)
  $ palisade cleanup --backend nftables

Exit status: 0 when everything Palisade created is gone, 1 if a kernel tool refused.
`;

async function installed(kernel: Kernel, backend: IptablesBackend): Promise<boolean> {
  const r = await kernel.run([`iptables-${backend}-save`, '--version']);
  return r.code === 0;
}

async function cleanupBackend(kernel: Kernel, backend: IptablesBackend): Promise<CleanupReport> {
  const dataplane = createDataplane({ kernel, binaries: await binariesFor(backend, kernel) });
  try {
    return await dataplane.cleanup();
  } finally {
    // The ipset session's child would otherwise keep the CLI's process alive.
    await dataplane.close();
  }
}

function describe(r: CleanupReport): string {
  if (r.chains + r.hooks + r.ipsets === 0) return 'nothing to remove';
  return `removed ${r.chains} chains, ${r.hooks} hook rules, ${r.ipsets} ipsets`;
}

/** The nftables backend's cleanup: the table, if nft is installed. */
export async function cleanupNftables(kernel: Kernel): Promise<CleanupReport | undefined> {
  if ((await kernel.run(['nft', '--version'])).code !== 0) return undefined;
  const dataplane = createDataplane({ kernel, backend: 'nftables' });
  try {
    return await dataplane.cleanup();
  } finally {
    await dataplane.close();
  }
}

function describeNftables(r: CleanupReport): string {
  if (r.chains + r.ipsets === 0) return 'nothing to remove';
  return `removed table inet palisade (${r.chains} chains, ${r.ipsets} sets and maps)`;
}

export async function cleanup(
  mode: IptablesMode,
  kernel: Kernel,
): Promise<{ reports: Array<[IptablesBackend, CleanupReport]>; failures: Array<[IptablesBackend, string]> }> {
  let pending: IptablesBackend[];
  if (mode !== 'auto') pending = [mode];
  else {
    pending = [];
    for (const b of ['nft', 'legacy'] as const) if (await installed(kernel, b)) pending.push(b);
    // A host with only the plain iptables binaries: clean through them.
    if (pending.length === 0) pending = ['nft'];
  }
  const reports: Array<[IptablesBackend, CleanupReport]> = [];
  let failures: Array<[IptablesBackend, string]> = [];
  for (let round = 0; round < 2 && pending.length > 0; round++) {
    failures = [];
    for (const backend of pending) {
      try {
        reports.push([backend, await cleanupBackend(kernel, backend)]);
      } catch (err) {
        failures.push([backend, err instanceof Error ? err.message : String(err)]);
      }
    }
    pending = failures.map(([b]) => b);
  }
  return { reports, failures };
}

export function register(program: Command): void {
  program
    .command('cleanup')
    .description(
      'remove every iptables chain, hook rule and ipset, and the nftables table, that Palisade created, and nothing else',
    )
    .addOption(
      new Option('--backend <backend>', 'which backend to clean: all, iptables or nftables')
        .choices(['all', 'iptables', 'nftables'])
        .default('all'),
    )
    .addOption(
      new Option('--iptables-mode <mode>', 'iptables backend: nft, legacy, or auto (every installed backend)')
        .env('PALISADE_IPTABLES_MODE')
        .default('auto'),
    )
    .addHelpText('after', EXAMPLES)
    .action(async (opts: { iptablesMode: string; backend: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const mode = opts.iptablesMode;
      if (!(IPTABLES_MODES as readonly string[]).includes(mode)) {
        throw new InputError(`--iptables-mode: "${mode}" is not one of ${IPTABLES_MODES.join(', ')}`);
      }
      const kernel = new ProcessKernel();
      const nftFailures: string[] = [];
      if (opts.backend !== 'iptables') {
        try {
          const r = await cleanupNftables(kernel);
          ctx.stdout(`nftables: ${r ? describeNftables(r) : 'nft is not installed: nothing to remove'}\n`);
        } catch (err) {
          nftFailures.push(`nftables: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const { reports, failures } =
        opts.backend === 'nftables'
          ? { reports: [], failures: [] }
          : await cleanup(mode as IptablesMode, kernel);
      const merged = new Map<IptablesBackend, CleanupReport>();
      for (const [b, r] of reports) {
        const m = merged.get(b);
        merged.set(
          b,
          m ? { chains: m.chains + r.chains, hooks: m.hooks + r.hooks, ipsets: m.ipsets + r.ipsets } : r,
        );
      }
      ctx.stdout([...merged].map(([b, r]) => `${b}: ${describe(r)}\n`).join(''));
      if (failures.length + nftFailures.length > 0) {
        throw new CliError('cleanup incomplete', 1, [
          ...failures.map(([b, msg]) => `${b}: ${msg}`),
          ...nftFailures,
        ]);
      }
    });
}
