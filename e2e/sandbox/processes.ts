/**
 * Long-lived processes of a sandbox (endpoint servers, agents, the API server): started
 * detached (own process group) with an environment marker, identified by pid plus kernel start
 * time (so a recycled pid is never killed), and stopped by signalling the whole group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { SANDBOX_ENV_MARKER } from './names';

export interface TrackedProcess {
  readonly pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22): pid plus this is unique. */
  readonly startTicks: number;
  /** What it is, for logs: "endpoint ps1a2b-node-a", "agent node-a". */
  readonly role: string;
}

interface ProcStat {
  readonly state: string;
  readonly startTicks: number;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie (a zombie holds no namespace). */
export function isRunning(p: Pick<TrackedProcess, 'pid' | 'startTicks'>): boolean {
  const s = procStat(p.pid);
  return s !== undefined && s.startTicks === p.startTicks && s.state !== 'Z' && s.state !== 'X';
}

/** This process, as a TrackedProcess (the owner of a sandbox it builds). */
export function selfProcess(role: string): TrackedProcess {
  return { pid: process.pid, startTicks: procStat(process.pid)?.startTicks ?? -1, role };
}

export interface StartedProcess {
  readonly tracked: TrackedProcess;
  readonly child: ChildProcess;
}

/** PATH plus the sbin directories (agents spawn iptables-restore and ipset by name). */
function withSbin(path: string | undefined): string {
  const dirs = (path ?? '').split(':').filter((d) => d !== '');
  for (const d of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(':');
}

/**
 * Starts argv detached with stdout and stderr appended to `logPath`. The caller must record
 * the returned process before awaiting anything, so a teardown can always find it.
 */
export function startDetached(
  argv: readonly string[],
  opts: { role: string; logPath: string; sandboxId: string },
): StartedProcess {
  const log = openSync(opts.logPath, 'a');
  try {
    const child = spawn(argv[0], argv.slice(1), {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, PATH: withSbin(process.env.PATH), [SANDBOX_ENV_MARKER]: opts.sandboxId },
    });
    if (child.pid === undefined) throw new Error(`could not start ${argv[0]} for ${opts.role}`);
    child.unref();
    const stat = procStat(child.pid);
    return { tracked: { pid: child.pid, startTicks: stat?.startTicks ?? -1, role: opts.role }, child };
  } finally {
    closeSync(log);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitGone(procs: readonly TrackedProcess[], ms: number): Promise<TrackedProcess[]> {
  const deadline = Date.now() + ms;
  let alive = procs.filter(isRunning);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(20);
    alive = alive.filter(isRunning);
  }
  return alive;
}

/**
 * Stops every process (and its process group): SIGTERM, then SIGKILL after `graceMs`.
 * Returns the processes still running afterwards (normally none).
 */
export async function stopProcesses(
  procs: readonly TrackedProcess[],
  graceMs = 1500,
): Promise<TrackedProcess[]> {
  const alive = procs.filter(isRunning);
  for (const p of alive) signalGroup(p.pid, 'SIGTERM');
  const stubborn = await waitGone(alive, graceMs);
  for (const p of stubborn) signalGroup(p.pid, 'SIGKILL');
  return waitGone(stubborn, 5000);
}

/** Processes whose environment carries the sandbox marker `id` (found even if never recorded). */
export function findMarkedProcesses(id: string): TrackedProcess[] {
  const needle = `\0${SANDBOX_ENV_MARKER}=${id}\0`;
  const out: TrackedProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: string;
    try {
      environ = '\0' + readFileSync(`/proc/${pid}/environ`, 'latin1') + '\0';
    } catch {
      continue;
    }
    if (!environ.includes(needle)) continue;
    const stat = procStat(pid);
    if (stat && stat.state !== 'Z') out.push({ pid, startTicks: stat.startTicks, role: 'marked process' });
  }
  return out;
}
