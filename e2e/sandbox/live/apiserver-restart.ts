/**
 * Restarting a sandbox's API server as a real one restarts: the process stops (SIGTERM: it stops
 * serving, then saves its objects and revision, see apiserver-main.ts) and a new process starts
 * with the same command line, in the same namespace, on the same address, serving the saved
 * state. Every connection breaks in between; clients find the server again by themselves.
 *
 * The command line is the running process's own (/proc/<pid>/cmdline; `ip netns exec` execs in
 * place, so it is not in there: the new process is started in `netns`, the fabric namespace the
 * sandbox started it in). The new process replaces the old one in the sandbox's record, so a
 * teardown (and `palisade sandbox status`) knows it.
 */
import { readFileSync } from 'node:fs';
import { inNetns } from '../netns';
import { isRunning, startDetached, type TrackedProcess } from '../processes';
import type { StateStore } from '../state';
import type { KubeRest } from './kube-rest';

export const API_SERVER_ROLE = 'API server';
export const API_SERVER_LOG = 'apiserver';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ApiServerRestart {
  /** From the stop signal to the new server's first answer. */
  readonly downMs: number;
  readonly pid: number;
}

function commandLine(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  if (argv[argv.length - 1] === '') argv.pop();
  return argv;
}

/**
 * Stops the sandbox's API server and starts it again; resolves once `api` (a client of the
 * sandbox's server) gets an answer from the new one.
 */
export async function restartApiServer(
  store: StateStore,
  api: KubeRest,
  opts: { netns: string; stopTimeoutMs?: number; startTimeoutMs?: number },
): Promise<ApiServerRestart> {
  const old: TrackedProcess | undefined = store.state.processes.find(
    (p) => p.role === API_SERVER_ROLE && isRunning(p),
  );
  if (!old) throw new Error(`sandbox ${store.state.id}: no running API server`);
  const argv = commandLine(old.pid);
  const stoppedAt = Date.now();
  process.kill(old.pid, 'SIGTERM');
  const stopDeadline = stoppedAt + (opts.stopTimeoutMs ?? 10_000);
  while (isRunning(old)) {
    if (Date.now() > stopDeadline) throw new Error(`the API server (pid ${old.pid}) did not stop`);
    await sleep(20);
  }
  const started = startDetached(inNetns(opts.netns, argv), {
    role: API_SERVER_ROLE,
    logPath: store.logPath(API_SERVER_LOG),
    sandboxId: store.state.id,
  });
  store.replaceProcess(old, started.tracked);
  const startDeadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    try {
      await api.get('/version');
      break;
    } catch (e) {
      if (!isRunning(started.tracked)) throw new Error('the restarted API server exited; see its log');
      if (Date.now() > startDeadline)
        throw new Error(`the restarted API server does not answer: ${(e as Error).message}`);
      await sleep(50);
    }
  }
  return { downMs: Date.now() - stoppedAt, pid: started.tracked.pid };
}
