/**
 * The nftables agent's equivalent of restore-stub.ts. The agent applies through one long-lived
 * `nft -j -i` child (dataplane/nftables/session.ts), started by name from PATH; this stand-in,
 * put first on the agent's PATH, decides what a NEW session child does, switched with flag files:
 *   (no flag)  exec the real nft: the session works normally
 *   fail       exit 1 at once, as a child that cannot start: every apply fails until the flag goes
 *   hang       block until the flag goes, then exit 1 without applying anything: an apply stuck
 *              in the kernel step (to kill the agent mid-apply)
 * Only `nft -j -i` is stubbed; `nft monitor` and every other use run the real binary.
 *
 * A flag changes only children started after it, so set() kills the agent's current session
 * child (SIGKILL, as a crash would) and waits until the agent has reaped it: the next request
 * starts a new child through this stub.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../../kube/testutil/eventually';

const TOOL = 'nft';

function realBinary(): string {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    const p = join(dir, TOOL);
    if (existsSync(p)) return p;
  }
  throw new Error(`${TOOL} not found`);
}

/** The pids of `parent`'s children whose command line is `... nft -j -i` (the session). */
export function nftSessionPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const at = argv.findIndex((a) => a === TOOL || a.endsWith(`/${TOOL}`));
      if (at >= 0 && argv[at + 1] === '-j' && argv[at + 2] === '-i') pids.push(Number(entry));
    } catch {
      // The process ended while being read.
    }
  }
  return pids;
}

/** SIGKILLs the agent's session child and waits until the agent has reaped it. */
export async function killNftSession(agentPid: number): Promise<number> {
  const [pid] = await eventually(() => {
    const pids = nftSessionPids(agentPid);
    return pids.length === 1 ? pids : undefined;
  }, "the agent's nft session child");
  process.kill(pid, 'SIGKILL');
  await eventually(() => !existsSync(`/proc/${pid}`), `nft session child ${pid} to be reaped`);
  return pid;
}

export class NftStub {
  readonly pathPrefix: string;
  private readonly flags: string;

  constructor(dir: string) {
    this.pathPrefix = join(dir, 'nft-stub-bin');
    this.flags = join(dir, 'nft-stub-flags');
    mkdirSync(this.pathPrefix, { recursive: true });
    mkdirSync(this.flags, { recursive: true });
    const script = `#!/bin/sh
if [ "$1" = '-j' ] && [ "$2" = '-i' ]; then
  if [ -e '${this.flags}/hang' ]; then
    while [ -e '${this.flags}/hang' ]; do sleep 0.05; done
    echo 'stub: released without applying' >&2
    exit 1
  fi
  if [ -e '${this.flags}/fail' ]; then
    echo 'stub: nft session cannot start' >&2
    exit 1
  fi
fi
exec '${realBinary()}' "$@"
`;
    writeFileSync(join(this.pathPrefix, TOOL), script);
    chmodSync(join(this.pathPrefix, TOOL), 0o755);
  }

  /** Turns a flag on (and makes the agent's next request start a stubbed child) or off. */
  async set(flag: 'fail' | 'hang', on: boolean, agentPid: number): Promise<void> {
    const p = join(this.flags, flag);
    if (!on) {
      rmSync(p, { force: true });
      return;
    }
    writeFileSync(p, '');
    await killNftSession(agentPid);
  }
}
