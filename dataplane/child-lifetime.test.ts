import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { diesWithParent } from './child-lifetime';

/** Starts a parent process that spawns `argv` and prints the child's pid; resolves both pids. */
function parentWithChild(argv: readonly string[]): Promise<{ parent: number; child: number }> {
  const script =
    "const { spawn } = require('node:child_process');" +
    `const c = spawn(${JSON.stringify(argv[0])}, ${JSON.stringify(argv.slice(1))}, { stdio: 'ignore' });` +
    "process.stdout.write(String(c.pid) + '\\n'); setInterval(() => undefined, 1000);";
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    parent.stdout.once('data', (d: Buffer) =>
      resolve({ parent: parent.pid!, child: Number(String(d).trim()) }),
    );
    parent.once('error', reject);
  });
}

/** Running or sleeping: not exited, and not a zombie waiting for init to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  for (let waited = 0; waited < withinMs; waited += 50) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('diesWithParent', () => {
  it('prefixes setpriv --pdeathsig KILL where setpriv exists (util-linux: every Debian image)', () => {
    expect(diesWithParent(['tcpdump', '-i', 'nflog:5'])).toEqual([
      expect.stringMatching(/\/setpriv$/),
      '--pdeathsig',
      'KILL',
      '--',
      'tcpdump',
      '-i',
      'nflog:5',
    ]);
  });

  it('leaves a tool that is not there alone, so spawn reports ENOENT', () => {
    expect(diesWithParent(['/nonexistent/tcpdump', '-i', 'nflog:5'])).toEqual([
      '/nonexistent/tcpdump',
      '-i',
      'nflog:5',
    ]);
  });

  it('a child started through it dies when its parent is SIGKILLed; a plain child lingers', async () => {
    const guarded = await parentWithChild(diesWithParent(['sleep', '30']));
    const plain = await parentWithChild(['sleep', '30']);
    try {
      process.kill(guarded.parent, 'SIGKILL');
      process.kill(plain.parent, 'SIGKILL');
      expect(await gone(guarded.child, 5000)).toBe(true);
      // The control: without the parent-death signal the child outlives its parent.
      expect(await gone(plain.child, 300)).toBe(false);
    } finally {
      for (const pid of [guarded.child, plain.child])
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
    }
  }, 30_000);
});
