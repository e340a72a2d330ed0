/**
 * A stand-in for iptables-nft-restore, put first on the agent's PATH, that the test switches
 * between three behaviours with flag files:
 *   (no flag)  exec the real binary: the agent works normally
 *   fail       read the input, print an error like the real tool, exit 1: the apply fails
 *   hang       block until the flag goes, then exit 1 without applying anything: an apply stuck
 *              in the kernel step (to kill the agent mid-apply)
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TOOL = 'iptables-nft-restore';

function realBinary(): string {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    const p = join(dir, TOOL);
    if (existsSync(p)) return p;
  }
  throw new Error(`${TOOL} not found`);
}

export class RestoreStub {
  readonly pathPrefix: string;
  private readonly flags: string;

  constructor(dir: string) {
    this.pathPrefix = join(dir, 'stub-bin');
    this.flags = join(dir, 'stub-flags');
    mkdirSync(this.pathPrefix, { recursive: true });
    mkdirSync(this.flags, { recursive: true });
    const script = `#!/bin/sh
if [ -e '${this.flags}/hang' ]; then
  while [ -e '${this.flags}/hang' ]; do sleep 0.05; done
  echo 'stub: released without applying' >&2
  exit 1
fi
if [ -e '${this.flags}/fail' ]; then
  cat >/dev/null
  echo 'iptables-restore: line 2 failed' >&2
  exit 1
fi
exec '${realBinary()}' "$@"
`;
    writeFileSync(join(this.pathPrefix, TOOL), script);
    chmodSync(join(this.pathPrefix, TOOL), 0o755);
  }

  set(flag: 'fail' | 'hang', on: boolean): void {
    const p = join(this.flags, flag);
    if (on) writeFileSync(p, '');
    else rmSync(p, { force: true });
  }
}
