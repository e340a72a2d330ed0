/**
 * Failing kernel tools for one agent: its PATH starts with a directory of its own (see
 * LiveAgents.toolShimDirs), normally empty. Arming it puts there, under the name of every tool
 * an apply may run, a link to `false`: the agent's next apply (and every retry while armed) runs
 * a tool that exits 1 without touching the kernel, as a restore that refuses its input does.
 * Disarming removes the links, so the agent reaches the real tools again. Nothing goes through a
 * shell; the stand-in reads no input and says nothing.
 *
 * A tool the agent keeps running (the nft session, the ipset session) is unaffected until it is
 * started again: the soak kills those first, so the next apply has to start them.
 */
import { lstatSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { findCommand } from '../tools';

/** Every binary name an apply may run, on either backend and either iptables variant. */
export const APPLY_TOOLS: readonly string[] = [
  'iptables-restore',
  'ip6tables-restore',
  'iptables-nft-restore',
  'ip6tables-nft-restore',
  'iptables-legacy-restore',
  'ip6tables-legacy-restore',
  'ipset',
  'nft',
];

export function armFailingTools(dir: string, tools: readonly string[] = APPLY_TOOLS): void {
  const fail = findCommand('false');
  if (!fail) throw new Error('no `false` binary to stand in for the kernel tools');
  for (const tool of tools) {
    rmSync(join(dir, tool), { force: true });
    symlinkSync(fail, join(dir, tool));
  }
}

/** Removes every stand-in (the directory holds nothing else). */
export function disarmTools(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (lstatSync(path).isSymbolicLink()) rmSync(path, { force: true });
  }
}
