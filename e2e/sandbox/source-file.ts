/** Finds a file of the source tree that tsc does not compile (sctp.py, pod-endpoints.py), from here or from dist/. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function sourceFile(relative: string, name: string): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    for (const candidate of [join(dir, name), join(dir, relative, name)])
      if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`cannot find ${join(relative, name)} above ${__dirname}`);
  }
}
