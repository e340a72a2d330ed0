/**
 * The session protocol against a scripted stand-in for `nft -i`: answers split into arbitrary
 * chunks, stdout arriving after the sentinel, refusals with line numbers, a child that dies or
 * hangs, recycling. The real nft is exercised by session.kernel.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LongLivedProcess, ProcessExit, ProcessStarter, StartOptions } from '../process';
import { NftError, NftSession } from './session';

type Behaviour = (line: string, child: ScriptedNft) => void;

/** Speaks nft -i's stdio protocol; what a line does is up to the test. */
class ScriptedNft implements LongLivedProcess {
  static nextPid = 1000;
  readonly pid = ScriptedNft.nextPid++;
  private out: ((t: string) => void)[] = [];
  private err: ((t: string) => void)[] = [];
  private exits: ((e: ProcessExit) => void)[] = [];
  private buffer = '';
  exited = false;
  /** Reads nothing more: nft stuck in the kernel. */
  hung = false;
  /** Split every stderr write into chunks of this size (1 = byte by byte). */
  chunk = 1 << 20;

  constructor(
    readonly cwd: string,
    private readonly behaviour: Behaviour,
  ) {}

  write(text: string): void {
    if (this.exited) return;
    this.buffer += text;
    let nl: number;
    while (!this.hung && (nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.startsWith('}')) this.stderr(`Error: syntax error, unexpected '}'\n${line}\n^\n`);
      else this.behaviour(line, this);
    }
  }
  end(): void {
    this.exit({ code: 0, signal: null });
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.exit({ code: null, signal });
  }
  onStdout(l: (t: string) => void): void {
    this.out.push(l);
  }
  onStderr(l: (t: string) => void): void {
    this.err.push(l);
  }
  onExit(l: (e: ProcessExit) => void): void {
    this.exits.push(l);
  }
  stdout(text: string): void {
    for (const l of this.out) l(text);
  }
  stderr(text: string): void {
    for (let i = 0; i < text.length; i += this.chunk) {
      const part = text.slice(i, i + this.chunk);
      for (const l of this.err) l(part);
    }
  }
  exit(e: ProcessExit): void {
    if (this.exited) return;
    this.exited = true;
    for (const l of this.exits) l(e);
  }
  script(): string {
    return readFileSync(join(this.cwd, 'tx'), 'utf8');
  }
}

class ScriptedStarter implements ProcessStarter {
  readonly children: ScriptedNft[] = [];
  constructor(private readonly behaviour: Behaviour) {}
  start(argv: readonly string[], options?: StartOptions): LongLivedProcess {
    expect(argv).toEqual(['nft', '-j', '-i']);
    expect(options?.env?.HOME).toBe('/dev/null');
    const child = new ScriptedNft(options!.cwd!, this.behaviour);
    this.children.push(child);
    return child;
  }
}

/** Commits every include; refuses any script line containing "bad" with nft's include format. */
const acceptUnlessBad: Behaviour = (line, child) => {
  if (line === 'include "./tx"') {
    const lines = child.script().split('\n');
    const i = lines.findIndex((l) => l.includes('bad'));
    if (i >= 0) {
      child.stderr(
        `In file included from <cmdline>:1:1-14:\n${child.cwd}/tx:${i + 1}:5-7: Error: Could not process rule: No such file or directory\n${lines[i]}\n    ^^^\n`,
      );
    }
  } else if (line.startsWith('list ')) {
    child.stdout('{"nftables": [');
    child.stdout('{"table": {"name": "palisade"}}]}\n');
  }
};

describe('NftSession protocol', () => {
  test('answers split byte by byte are read correctly; refusals name the script line', async () => {
    const starter = new ScriptedStarter(acceptUnlessBad);
    const session = new NftSession({ starter });
    await session.transact('add table inet palisade');
    starter.children[0].chunk = 1;
    await session.transact('add chain inet palisade a');
    const err = (await session
      .transact('add chain inet palisade b\nadd rule inet palisade bad drop\nadd chain inet palisade c')
      .catch((e: unknown) => e)) as NftError;
    expect(err).toBeInstanceOf(NftError);
    expect(err.lineNumber).toBe(2);
    expect(err.lost).toBe(false);
    expect(err.missing).toBe(true);
    expect(err.lines).toEqual([
      '      1: add chain inet palisade b',
      '>     2: add rule inet palisade bad drop',
      '      3: add chain inet palisade c',
    ]);
    // The refusal's output does not leak into the next answer.
    await session.transact('add chain inet palisade d');
    expect(session.stats).toMatchObject({ transactions: 3, refused: 1, starts: 1, deaths: 0 });
    await session.close();
  });

  test('a list resolves with the JSON line even when stdout comes after the sentinel', async () => {
    let late: ScriptedNft | undefined;
    const starter = new ScriptedStarter((line, child) => {
      if (line.startsWith('list ')) late = child;
    });
    const session = new NftSession({ starter });
    const listed = session.list('list table inet palisade');
    await new Promise((r) => setTimeout(r, 10));
    expect(late).toBeDefined();
    late!.stdout('{"nftables": []}\n');
    await expect(listed).resolves.toBe('{"nftables": []}');
    await session.close();
  });

  test('a child that dies mid-request fails it as lost; the next request gets a new child', async () => {
    let die = true;
    const starter = new ScriptedStarter((line, child) => {
      if (line.startsWith('include') && die) {
        die = false;
        child.exit({ code: 139, signal: null });
      }
    });
    const session = new NftSession({ starter });
    const err = (await session.transact('add table inet palisade').catch((e: unknown) => e)) as NftError;
    expect(err.lost).toBe(true);
    expect(err.message).toMatch(/exited with 139/);
    await session.transact('add table inet palisade');
    expect(starter.children).toHaveLength(2);
    expect(session.stats).toMatchObject({ deaths: 1, transactions: 1, refused: 0 });
    await session.close();
  });

  test('a child that does not answer is killed after timeoutMs', async () => {
    const starter = new ScriptedStarter((line, child) => {
      if (line.startsWith('include')) child.hung = true;
    });
    const session = new NftSession({ starter, timeoutMs: 50 });
    const err = (await session.transact('add table inet palisade').catch((e: unknown) => e)) as NftError;
    expect(err.lost).toBe(true);
    expect(err.message).toMatch(/did not answer/);
    expect(starter.children[0].exited).toBe(true);
    await session.close();
  });

  test('after recycleAfter transactions a spare takes over between two requests', async () => {
    const starter = new ScriptedStarter(acceptUnlessBad);
    const session = new NftSession({ starter, recycleAfter: 2 });
    for (let i = 0; i < 7; i++) await session.transact(`add chain inet palisade c${i}`);
    expect(session.stats.recycles).toBe(3);
    // Retired children were told to exit (stdin closed); only the serving one and a spare live.
    expect(starter.children.filter((c) => !c.exited).length).toBeLessThanOrEqual(2);
    expect(session.pids()).toContain(starter.children[3].pid);
    await session.close();
    expect(starter.children.every((c) => c.exited)).toBe(true);
  });
});
