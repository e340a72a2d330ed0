/**
 * Processes inside a network namespace (what `kubectl exec` started in a pod), found by the
 * namespace's inode, and stopped as a kubelet stops a pod's containers: SIGTERM, then SIGKILL
 * when the grace period is over.
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';

export function processesInNetns(netns: string): number[] {
  let inode: number;
  try {
    inode = statSync(`/run/netns/${netns}`).ino;
  } catch {
    return [];
  }
  const wanted = `net:[${inode}]`;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === wanted) out.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Stops every process in the namespace within `graceMs`; returns how many there were. */
export async function stopNetnsProcesses(netns: string, graceMs: number): Promise<number> {
  const found = processesInNetns(netns);
  if (found.length === 0) return 0;
  for (const pid of found) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let left = processesInNetns(netns);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = processesInNetns(netns);
  }
  for (const pid of left) signal(pid, 'SIGKILL');
  for (let i = 0; i < 100 && processesInNetns(netns).length > 0; i++) await sleep(20);
  return found.length;
}
