/**
 * Kernel-test helpers for the sandbox: the root/skip rule, the compiled endpoint script, and
 * checks that a sandbox left nothing behind.
 */
import { join } from 'node:path';
import { listNamespaces } from '../netns';
import { isSandboxNamespace } from '../names';
import { findMarkedProcesses } from '../processes';
import { run } from '../run';
import { transpileForChild } from './transpile';

export const IS_ROOT = process.getuid?.() === 0;
export const REQUIRE_KERNEL_TESTS = process.env.PALISADE_REQUIRE_KERNEL_TESTS === '1';

/** `describe` as root; otherwise skipped with a message, or failing when PALISADE_REQUIRE_KERNEL_TESTS=1. */
export function describeKernel(name: string, fn: () => void): void {
  if (IS_ROOT) {
    describe(name, fn);
  } else if (REQUIRE_KERNEL_TESTS) {
    describe(name, () => {
      test('needs root and network namespaces', () => {
        throw new Error('sandbox kernel tests need root (PALISADE_REQUIRE_KERNEL_TESTS=1 is set)');
      });
    });
  } else {
    console.warn(
      `skipping "${name}": sandbox kernel tests need root (set PALISADE_REQUIRE_KERNEL_TESTS=1 to fail instead)`,
    );
    describe.skip(name, fn);
  }
}

/** The endpoint program compiled from the current sources (tests run from TypeScript). */
export function endpointScript(): string {
  return transpileForChild(join(__dirname, '..', 'endpoint-main.ts'));
}

/** What sandbox `id` left behind: namespaces, host links, processes. All empty after a teardown. */
export async function leftovers(
  id: string,
): Promise<{ namespaces: string[]; links: string[]; processes: number[] }> {
  const namespaces = (await listNamespaces()).filter((n) => isSandboxNamespace(id, n));
  const links = (await run(['ip', '-o', 'link', 'show'])).stdout
    .split('\n')
    .filter((l) => l.includes(`ps${id}`));
  const processes = findMarkedProcesses(id).map((p) => p.pid);
  return { namespaces, links, processes };
}
