/**
 * The nftables agent's equivalent of restore-stub.ts (tool-stub.ts). The agent applies through one long-lived
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
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { eventually } from '../../kube/testutil/eventually';
import { type StubFlag, ToolStub, hangLines } from './tool-stub';

const TOOL = 'nft';

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

export class NftStub extends ToolStub {
  constructor(dir: string) {
    super(
      dir,
      TOOL,
      (flags) => `if [ "$1" = '-j' ] && [ "$2" = '-i' ]; then
${hangLines(flags)}
  if [ -e '${flags}/fail' ]; then
    echo 'stub: nft session cannot start' >&2
    exit 1
  fi
fi`,
    );
  }

  /** Turns a flag on (and makes the agent's next request start a stubbed child) or off. */
  async set(flag: StubFlag, on: boolean, agentPid: number): Promise<void> {
    this.setFlag(flag, on);
    if (on) await killNftSession(agentPid);
  }
}
