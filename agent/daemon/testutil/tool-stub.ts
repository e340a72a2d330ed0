/**
 * What the agent's tool stand-ins share (restore-stub.ts, nft-stub.ts): a shell script named as the
 * real tool, in a folder the test puts first on the agent's PATH, whose behaviour the test switches
 * with flag files. With no flag set the script execs the real binary, so the agent works normally.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type StubFlag = 'fail' | 'hang';

/** The system's own binary of `tool` (the stub's folder comes first on PATH, so not through it). */
export function systemBinary(tool: string): string {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    const p = join(dir, tool);
    if (existsSync(p)) return p;
  }
  throw new Error(`${tool} not found`);
}

/** Shell lines that block while the hang flag is set, then exit 1 without running the tool. */
export function hangLines(flags: string): string {
  return `if [ -e '${flags}/hang' ]; then
  while [ -e '${flags}/hang' ]; do sleep 0.05; done
  echo 'stub: released without applying' >&2
  exit 1
fi`;
}

export class ToolStub {
  /** Put this first on the agent's PATH. */
  readonly pathPrefix: string;
  protected readonly flags: string;

  /** `body`: the script's lines before the final exec, given the flag folder. */
  constructor(dir: string, tool: string, body: (flags: string) => string) {
    this.pathPrefix = join(dir, `${tool}-stub-bin`);
    this.flags = join(dir, `${tool}-stub-flags`);
    mkdirSync(this.pathPrefix, { recursive: true });
    mkdirSync(this.flags, { recursive: true });
    const script = `#!/bin/sh\n${body(this.flags)}\nexec '${systemBinary(tool)}' "$@"\n`;
    writeFileSync(join(this.pathPrefix, tool), script);
    chmodSync(join(this.pathPrefix, tool), 0o755);
  }

  protected setFlag(flag: StubFlag, on: boolean): void {
    const p = join(this.flags, flag);
    if (on) writeFileSync(p, '');
    else rmSync(p, { force: true });
  }
}
