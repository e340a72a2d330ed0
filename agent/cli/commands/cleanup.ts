/**
 * `palisade cleanup [--iptables-mode auto|nft|legacy]`: removes every kernel object Palisade
 * created (hook rules in built-in chains, PALISADE-* chains, PALISADE-* ipsets) and nothing else,
 * through the dataplane's cleanup. Run it after removing the DaemonSet.
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

Exit status: 0 when everything Palisade created is gone, 1 if a kernel tool refused.
`;

async function installed(kernel: Kernel, backend: IptablesBackend): Promise<boolean> {
  const r = await kernel.run([`iptables-${backend}-save`, '--version']);
  return r.code === 0;
}

async function cleanupBackend(kernel: Kernel, backend: IptablesBackend): Promise<CleanupReport> {
  const dataplane = createDataplane({ kernel, binaries: await binariesFor(backend, kernel) });
  return dataplane.cleanup();
}

function describe(r: CleanupReport): string {
  if (r.chains + r.hooks + r.ipsets === 0) return 'nothing to remove';
  return `removed ${r.chains} chains, ${r.hooks} hook rules, ${r.ipsets} ipsets`;
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
    .description('remove every iptables chain, hook rule and ipset Palisade created, and nothing else')
    .addOption(
      new Option('--iptables-mode <mode>', 'iptables backend: nft, legacy, or auto (every installed backend)')
        .env('PALISADE_IPTABLES_MODE')
        .default('auto'),
    )
    .addHelpText('after', EXAMPLES)
    .action(async (opts: { iptablesMode: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const mode = opts.iptablesMode;
      if (!(IPTABLES_MODES as readonly string[]).includes(mode)) {
        throw new InputError(`--iptables-mode: "${mode}" is not one of ${IPTABLES_MODES.join(', ')}`);
      }
      const { reports, failures } = await cleanup(mode as IptablesMode, new ProcessKernel());
      const merged = new Map<IptablesBackend, CleanupReport>();
      for (const [b, r] of reports) {
        const m = merged.get(b);
        merged.set(
          b,
          m ? { chains: m.chains + r.chains, hooks: m.hooks + r.hooks, ipsets: m.ipsets + r.ipsets } : r,
        );
      }
      ctx.stdout([...merged].map(([b, r]) => `${b}: ${describe(r)}\n`).join(''));
      if (failures.length > 0) {
        throw new CliError(
          'cleanup incomplete',
          1,
          failures.map(([b, msg]) => `${b}: ${msg}`),
        );
      }
    });
}
