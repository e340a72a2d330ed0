/**
 * Where the system tools are. Looked up on PATH and then in the sbin directories (sudo and
 * cron often run with a PATH that lacks them), and always spawned by absolute path, so that a
 * tool the preflight found is the tool that runs, also when `ip netns exec` runs it.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const found = new Map<string, string | undefined>();

export function findCommand(name: string): string | undefined {
  if (found.has(name)) return found.get(name);
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  let path: string | undefined;
  for (const dir of dirs) {
    if (dir === '' || !dir.startsWith('/')) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      path = join(dir, name);
      break;
    } catch {
      // keep looking
    }
  }
  found.set(name, path);
  return path;
}

/** The absolute path of a required tool (the preflight has checked it exists). */
export function tool(name: string): string {
  return findCommand(name) ?? name;
}

/** The interpreter for sctp.py: the system python3 first (no shims), else python3 on PATH. */
export function findPython(): string | undefined {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : findCommand('python3');
}

/** Any tool the sandbox needs, python3 included. */
export function locate(name: string): string | undefined {
  return name === 'python3' ? findPython() : findCommand(name);
}
