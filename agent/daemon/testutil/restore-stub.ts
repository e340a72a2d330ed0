/**
 * A stand-in for iptables-nft-restore (tool-stub.ts) that the test switches between three
 * behaviours:
 *   (no flag)  exec the real binary: the agent works normally
 *   fail       read the input, print an error like the real tool, exit 1: the apply fails
 *   hang       block until the flag goes, then exit 1 without applying anything: an apply stuck
 *              in the kernel step (to kill the agent mid-apply)
 */
import { type StubFlag, ToolStub, hangLines } from './tool-stub';

export class RestoreStub extends ToolStub {
  constructor(dir: string) {
    super(
      dir,
      'iptables-nft-restore',
      (flags) => `${hangLines(flags)}
if [ -e '${flags}/fail' ]; then
  cat >/dev/null
  echo 'iptables-restore: line 2 failed' >&2
  exit 1
fi`,
    );
  }

  set(flag: StubFlag, on: boolean): void {
    this.setFlag(flag, on);
  }
}
