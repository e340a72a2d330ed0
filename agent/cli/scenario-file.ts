/** Reading a scenario file for a command: every failure becomes an InputError (exit status 2). */
import { loadScenario, type Scenario } from '../../compiler/scenario';
import type { CliContext } from './context';
import { InputError } from './errors';

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
  return r.scenario;
}
