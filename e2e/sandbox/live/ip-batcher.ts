/**
 * One `ip -force -batch -` process for the `ip` work of many pods in one namespace: scripts
 * submitted while a batch runs (or in the same tick) go together into the next one. Under pod
 * churn this turns dozens of `ip` processes a second (each a fork of the simulator, an exec, a
 * netlink socket) into a few, and each pod's lines still run in order, as one block. With
 * `-force` a failing line does not stop the batch: `ip` names each failing line
 * ("Command failed -:N") after its error message, and the block holding line N fails alone.
 *
 *   submit(A) submit(B) ─▶ [ip -batch: A's lines, B's lines] ─▶ A ok, B failed "… at line …"
 *   submit(C) while that runs ─▶ waits ─▶ [ip -batch: C's lines …]
 */
import { run, type RunResult } from '../run';

interface Block {
  readonly lines: readonly string[];
  resolve(): void;
  reject(e: Error): void;
}

export interface LineFailure {
  /** 1-based line number in the batch. */
  readonly line: number;
  /** What `ip` printed about it (the lines before its "Command failed"). */
  readonly message: string;
}

/** The failing lines of an `ip -force -batch -` run, from its stderr. Pure. */
export function batchFailures(stderr: string): LineFailure[] {
  const out: LineFailure[] = [];
  let pending: string[] = [];
  for (const text of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(text.trim());
    if (m) {
      out.push({ line: Number(m[1]), message: pending.join('; ') });
      pending = [];
    } else if (text.trim() !== '') pending.push(text.trim());
  }
  return out;
}

/**
 * Which block each failure belongs to: `sizes[i]` is the number of lines of block i, in batch
 * order. Returns block index → its failures. Pure.
 */
export function failuresByBlock(
  sizes: readonly number[],
  failures: readonly LineFailure[],
): Map<number, LineFailure[]> {
  const out = new Map<number, LineFailure[]>();
  for (const f of failures) {
    let first = 1;
    for (let i = 0; i < sizes.length; i++) {
      if (f.line < first + sizes[i]) {
        out.set(i, [...(out.get(i) ?? []), { line: f.line - first + 1, message: f.message }]);
        break;
      }
      first += sizes[i];
    }
  }
  return out;
}

export class IpBatcher {
  private queue: Block[] = [];
  private running = false;

  /**
   * @param argv the `ip` command up to (not including) `-force -batch -`: `[ip]` for the
   *   host's namespace list (netns add/del), `[ip, '-n', ns]` for links inside a namespace
   * @param maxBlocks at most this many scripts in one process (bounds one batch's latency)
   */
  constructor(
    private readonly argv: readonly string[],
    private readonly describe: string,
    private readonly maxBlocks = 64,
    private readonly runner: (argv: readonly string[], input: string) => Promise<RunResult> = run,
  ) {}

  /** Runs `lines` (in order) in the next batch; rejects naming the first failing line. */
  submit(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ lines, resolve, reject });
      if (!this.running) {
        this.running = true;
        // The rest of this tick's submissions join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const blocks = this.queue.slice(0, this.maxBlocks);
      this.queue = this.queue.slice(blocks.length);
      await this.runBatch(blocks);
    }
    this.running = false;
  }

  private async runBatch(blocks: readonly Block[]): Promise<void> {
    const input = blocks.map((b) => b.lines.join('\n') + '\n').join('');
    let result: RunResult;
    try {
      result = await this.runner([...this.argv, '-force', '-batch', '-'], input);
    } catch (e) {
      for (const b of blocks) b.reject(new Error(`ip ${this.describe}: ${(e as Error).message}`));
      return;
    }
    const failed =
      result.code === 0
        ? new Map<number, LineFailure[]>()
        : failuresByBlock(
            blocks.map((b) => b.lines.length),
            batchFailures(result.stderr),
          );
    if (result.code !== 0 && failed.size === 0) {
      // It failed without naming a line (killed, say): every block is in doubt.
      const why = new Error(`ip ${this.describe} failed (exit ${result.code}): ${result.stderr.trim()}`);
      for (const b of blocks) b.reject(why);
      return;
    }
    blocks.forEach((b, i) => {
      const f = failed.get(i);
      if (!f) b.resolve();
      else
        b.reject(
          new Error(
            `ip ${this.describe} failed at "${b.lines[f[0].line - 1]}": ${f[0].message || 'no message'}`,
          ),
        );
    });
  }
}
