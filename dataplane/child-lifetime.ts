/**
 * Long-lived children die with the agent. The agent's readers (`tcpdump` on the NFLOG group,
 * `nft monitor`) only write when the kernel has something to say, so after a SIGKILLed agent
 * they would never notice their reader is gone: they lingered, holding their network namespace
 * and NFLOG group, and a restarted agent started a second set beside them. (The session children,
 * `nft -i` and `ipset -`, exit at end of input anyway.)
 *
 * The kernel's parent-death signal does this without a native addon: `setpriv --pdeathsig KILL`
 * (util-linux, in every Debian-based image) sets it and execs the tool in place, so the pid stays
 * the tool's own (the drift watch tells its own commits apart by pid). Node spawns children from
 * its main thread, whose exit is the process's. Where setpriv is missing, the tool runs as before.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/bin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** argv prefixed so the child is SIGKILLed when this process dies (unchanged without setpriv). */
export function diesWithParent(argv: readonly string[]): readonly string[] {
  if (setprivPath === undefined) setprivPath = findSetpriv();
  return setprivPath === null ? argv : [setprivPath, '--pdeathsig', 'KILL', '--', ...argv];
}
