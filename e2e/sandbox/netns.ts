/**
 * Network namespace operations, all through iproute2 and sysctl with argv arrays. Nothing here
 * touches the host's own network namespace: links are created inside namespaces (`ip -n`), and
 * sysctls are written by a `sysctl` process running inside the target namespace.
 */
import { CommandError, run, runChecked } from './run';
import { tool } from './tools';

export function inNetns(ns: string, argv: readonly string[]): string[] {
  return [tool('ip'), 'netns', 'exec', ns, ...argv];
}

export async function addNamespaces(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await runChecked([tool('ip'), '-batch', '-'], names.map((n) => `netns add ${n}\n`).join(''));
}

/** Deletes the namespaces that exist; missing ones are not an error. */
export async function deleteNamespaces(names: readonly string[]): Promise<void> {
  const present = new Set(await listNamespaces());
  const doomed = names.filter((n) => present.has(n));
  if (doomed.length === 0) return;
  await run([tool('ip'), '-force', '-batch', '-'], doomed.map((n) => `netns del ${n}\n`).join(''));
  const left = (await listNamespaces()).filter((n) => doomed.includes(n));
  if (left.length > 0) throw new Error(`could not delete network namespaces: ${left.join(', ')}`);
}

export async function listNamespaces(): Promise<string[]> {
  const r = await runChecked([tool('ip'), 'netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n !== undefined && n !== '');
}

/** Runs an `ip -batch` script inside `ns`; on failure the error names the offending line. */
export async function ipBatch(ns: string, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const argv = [tool('ip'), '-n', ns, '-batch', '-'];
  const r = await run(argv, lines.join('\n') + '\n');
  if (r.code === 0) return;
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  const line = m ? lines[Number(m[1]) - 1] : undefined;
  const where = line === undefined ? '' : ` at "${line}"`;
  throw new Error(`ip in ${ns} failed${where}: ${r.stderr.trim()}`);
}

export async function setSysctls(
  ns: string,
  settings: readonly (readonly [string, string])[],
): Promise<void> {
  if (settings.length === 0) return;
  const argv = inNetns(ns, [tool('sysctl'), '-q', '-w', ...settings.map(([k, v]) => `${k}=${v}`)]);
  const r = await run(argv);
  if (r.code !== 0) throw new CommandError(argv, r);
}
