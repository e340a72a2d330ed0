/**
 * Reading a scenario file for a command: every failure becomes an InputError (exit status 2);
 * warnings go to stderr, one line each: what the loader accepts but reads in a way worth
 * saying (an invalid label selector in a ClusterNetworkPolicy), and ClusterNetworkPolicy rules
 * Palisade cannot enforce as written (domainNames peers).
 */
import { compileClusterPolicy, unsupportedRuleWarnings } from '../../compiler';
import { loadScenario, type Scenario } from '../../compiler/scenario';
import type { CliContext } from './context';
import { InputError } from './errors';

/** Warnings about a loaded scenario's ClusterNetworkPolicies that Palisade enforces differently. */
export function scenarioWarnings(s: Scenario): string[] {
  return s.clusterPolicies.flatMap((c) => unsupportedRuleWarnings(compileClusterPolicy(c).compiled));
}

export function readScenario(ctx: CliContext, path: string): Scenario {
  let text: string;
  try {
    text = ctx.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new InputError(`cannot read scenario ${path}: ${why}`);
  }
  const r = loadScenario(text, path);
  if (!r.ok) {
    throw new InputError(
      `invalid scenario ${path} (${r.errors.length} error${r.errors.length === 1 ? '' : 's'}):`,
      r.errors,
    );
  }
  for (const w of [...r.warnings, ...scenarioWarnings(r.scenario)]) ctx.stderr(`palisade: warning: ${w}\n`);
  return r.scenario;
}
