/**
 * Teardown is certain: a sandbox process that gets SIGTERM (or SIGINT) at any point of its life
 * (while creating namespaces, while starting its endpoint processes, after it is built) tears
 * everything down and exits 128+signal; and `teardownSandbox` alone cleans up after a process
 * that was SIGKILLed, from the state file and the namespace/process markers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { StateStore, stateRoot, type SandboxState } from './state';
import { teardownSandbox } from './teardown';
import { describeKernel, endpointScript, leftovers } from './testutil/kernel';
import { smallPlan } from './testutil/plans';
import { transpileForChild } from './testutil/transpile';

jest.setTimeout(90_000);

interface Driver {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first output line matching `re`. */
  waitFor(re: RegExp): Promise<string>;
  exit: Promise<number | null>;
}

function startDriver(planFile: string, endpoint: string, hold: boolean): Driver {
  const driver = transpileForChild(join(__dirname, 'testutil', 'session-main.ts'));
  const child = spawn(process.execPath, [driver, planFile, 'routed', endpoint, ...(hold ? ['--hold'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters.filter((w) => w.re.test(line))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exit,
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((l) => re.test(l));
        if (seen) return resolve(seen);
        waiters.push({ re, resolve });
        void exit.then((code) =>
          reject(new Error(`driver exited (${code}) before printing ${re}: ${lines.join(' | ')}`)),
        );
      }),
  };
}

/** Sandbox ids whose state file the driver's process owns. */
function idsOwnedBy(pid: number): string[] {
  return StateStore.list().filter((id) => {
    try {
      return (
        (JSON.parse(readFileSync(join(stateRoot(), id, 'state.json'), 'utf8')) as SandboxState).owner.pid ===
        pid
      );
    } catch {
      return false;
    }
  });
}

async function until<T>(what: string, probe: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describeKernel('sandbox teardown on signals and after a crash', () => {
  let dir: string;
  let planFile: string;
  let endpoint: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-sandbox-test-'));
    planFile = join(dir, 'plan.json');
    writeFileSync(planFile, JSON.stringify(smallPlan({ dualStack: true })));
    endpoint = endpointScript();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('SIGTERM while namespaces are being created', async () => {
    const d = startDriver(planFile, endpoint, false);
    const id = await until('the state file', () => idsOwnedBy(d.child.pid!)[0]);
    d.child.kill('SIGTERM');
    expect(await d.exit).toBe(128 + 15);
    expect(d.lines.some((l) => l.includes('network built'))).toBe(false);
    expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
    expect(existsSync(join(stateRoot(), id))).toBe(false);
  });

  test('SIGTERM while endpoint processes start', async () => {
    const d = startDriver(planFile, endpoint, false);
    const line = await d.waitFor(/network built/);
    d.child.kill('SIGTERM');
    const id = /sandbox (\w{4})/.exec(line)![1];
    expect(await d.exit).toBe(128 + 15);
    expect(d.lines.some((l) => l.includes('endpoints serving'))).toBe(false);
    expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
  });

  test('SIGINT after the sandbox is built', async () => {
    const d = startDriver(planFile, endpoint, true);
    const line = await d.waitFor(/endpoints serving/);
    await d.waitFor(/holding/);
    const id = /sandbox (\w{4})/.exec(line)![1];
    expect((await leftovers(id)).processes.length).toBeGreaterThan(0);
    d.child.kill('SIGINT');
    expect(await d.exit).toBe(128 + 2);
    expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
  });

  test('after SIGKILL, teardown from the state file removes everything', async () => {
    const d = startDriver(planFile, endpoint, true);
    const line = await d.waitFor(/holding/).then(() => d.lines.find((l) => /endpoints serving/.test(l))!);
    const id = /sandbox (\w{4})/.exec(line)![1];
    d.child.kill('SIGKILL');
    await d.exit;
    const left = await leftovers(id);
    expect(left.namespaces.length).toBeGreaterThan(0);
    expect(left.processes.length).toBeGreaterThan(0);
    expect(StateStore.listUnowned()).toContain(id);
    await teardownSandbox(StateStore.open(id));
    expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
  });
});
