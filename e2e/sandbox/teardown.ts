/**
 * Certain teardown: stop every process of the sandbox, then delete every namespace it made
 * (their links, routes, bridges and iptables go with them), then its state directory.
 *
 * Certain because it does not trust the record alone: besides the recorded processes it kills
 * every process carrying the sandbox's environment marker, and besides the recorded
 * namespaces it deletes every namespace with the sandbox's name prefix. Processes go first, so
 * no process keeps a deleted namespace alive. Idempotent: running it twice is harmless.
 */
import { deleteNamespaces, listNamespaces } from './netns';
import { isSandboxNamespace } from './names';
import { findMarkedProcesses, stopProcesses, type TrackedProcess } from './processes';
import type { StateStore } from './state';

export async function teardownSandbox(store: StateStore): Promise<void> {
  const id = store.state.id;
  store.update((s) => ({ ...s, phase: 'tearing-down' }));
  const problems: string[] = [];

  const recorded: TrackedProcess[] = [...store.state.processes];
  let left = await stopProcesses([...recorded, ...findMarkedProcesses(id)]);
  // Anything a stopped process started in the meantime carries the marker too.
  left = [...left, ...(await stopProcesses(findMarkedProcesses(id)))];
  for (const p of left) problems.push(`process ${p.pid} (${p.role}) survived SIGKILL`);

  const existing = await listNamespaces();
  const doomed = [
    ...new Set([...store.state.namespaces, ...existing.filter((n) => isSandboxNamespace(id, n))]),
  ];
  try {
    await deleteNamespaces(doomed);
  } catch (e) {
    problems.push((e as Error).message);
  }

  if (problems.length > 0) {
    throw new Error(
      `teardown of sandbox ${id} is incomplete (state kept in ${store.dir}):\n  ${problems.join('\n  ')}`,
    );
  }
  store.remove();
}
