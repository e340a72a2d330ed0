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
 *
 * tcpdump needs one more step: run as root, it switches to its own unprivileged user once its
 * device is open, and a change of user clears the parent-death signal (prctl(2)). The capture
 * tells it to become the user it already is (`-Z`), which changes nothing (capture.ts); a kernel
 * test SIGKILLs a capturing process and sees its tcpdump end.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

let setprivPath: string | null | undefined;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` resolved as spawn would (a path as is, else the first PATH entry holding it). */
function resolve(name: string, extraDirs: readonly string[] = []): string | null {
  if (name.includes('/')) return executable(name) ? name : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(extraDirs)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/**
 * argv prefixed so the child is SIGKILLed when this process dies. Unchanged without setpriv, and
 * for a tool that is not there: spawn must still fail with ENOENT (callers report a missing
 * tcpdump or nft as such), not setpriv exit with 127.
 */
export function diesWithParent(argv: readonly string[]): readonly string[] {
  if (setprivPath === undefined) setprivPath = resolve('setpriv', ['/usr/bin', '/bin']);
  if (setprivPath === null || argv.length === 0 || resolve(argv[0]) === null) return argv;
  return [setprivPath, '--pdeathsig', 'KILL', '--', ...argv];
}
