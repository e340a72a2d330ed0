/**
 * The bench's network namespaces: created for one run, removed at its end (also on SIGINT and
 * SIGTERM), never the host's. Names are `plb` + a random id, well under the 15-character limit.
 * Every command is an argv array run with spawn, never through a shell.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCommand(argv: readonly string[], stdin?: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let failure = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => (failure = e.message));
    child.stdin.on('error', () => undefined);
    child.on('close', (code) =>
      resolve({
        code: code ?? 127,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + failure,
      }),
    );
    child.stdin.end(stdin ?? '');
  });
}

async function runChecked(argv: readonly string[]): Promise<CommandResult> {
  const r = await runCommand(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/** Namespaces this process created and has not removed yet: all go on SIGINT / SIGTERM. */
const live = new Set<BenchNetns>();

function onSignal(sig: NodeJS.Signals): void {
  void Promise.allSettled([...live].map((ns) => ns.remove())).finally(() =>
    process.exit(sig === 'SIGINT' ? 130 : 143),
  );
}

/** A network namespace owned by this process. */
export class BenchNetns {
  private removed = false;

  private constructor(readonly name: string) {
    if (live.size === 0) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    live.add(this);
  }

  /** Creates `plb<tag><id>` (at most 15 characters) with its loopback up. */
  static async create(tag = ''): Promise<BenchNetns> {
    const name = `plb${tag}${randomBytes(4).toString('hex')}`.slice(0, 15);
    await runChecked(['ip', 'netns', 'add', name]);
    const ns = new BenchNetns(name);
    try {
      await runChecked(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    } catch (e) {
      await ns.remove();
      throw e;
    }
    return ns;
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    live.delete(this);
    if (live.size === 0) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    await runCommand(['ip', 'netns', 'del', this.name]);
  }
}

/** Root can create network namespaces and the restore tools are installed. */
export async function kernelAvailable(
  backend: 'iptables' | 'nftables' = 'iptables',
): Promise<{ ok: boolean; why: string }> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, why: 'not root' };
  // The floors measure iptables and ipset on either backend, so both are always needed.
  const probes: readonly (readonly string[])[] = [
    ['ip', '-V'],
    ['ipset', '--version'],
    ['iptables-restore', '--version'],
    ['iptables-save', '--version'],
    ...(backend === 'nftables' ? [['nft', '--version']] : []),
  ];
  for (const argv of probes) {
    const r = await runCommand(argv);
    if (r.code !== 0) return { ok: false, why: `${argv[0]} is not installed or does not run` };
  }
  return { ok: true, why: '' };
}
