/**
 * The `palisade` program: commander setup shared by every command, and runCli, which runs
 * one invocation and turns every failure into a one-line message and an exit status.
 *
 *   main.ts ──runCli(argv, processContext())──▶ buildProgram ──register──▶ commands/<name>.ts
 */
import { Command, CommanderError } from 'commander';
import * as commands from './commands';
import { setContext, type CliContext } from './context';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './errors';

export const VERSION = '0.1.0';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('palisade');
  program
    .description('Kubernetes NetworkPolicy enforcement agent and tools')
    .version(VERSION)
    .configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s) })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .allowExcessArguments(false);
  setContext(program, ctx);
  // Subcommands inherit the settings above (output, exitOverride) when created by register().
  for (const register of Object.values(commands)) register(program);
  return program;
}

/** Runs one command line (without the node and script arguments); resolves to the exit status. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  if (argv.length === 0) {
    ctx.stdout(program.helpInformation());
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed its message (or the help / version text).
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return 0;
      return EXIT_USAGE;
    }
    if (e instanceof CliError) {
      // An empty message: the command has said everything (e.g. `probe` printing "denied").
      if (e.message !== '') ctx.stderr(`palisade: ${e.message}\n`);
      for (const d of e.details) ctx.stderr(`  ${d}\n`);
      if (ctx.env.PALISADE_DEBUG === '1' && e.stack) ctx.stderr(`${e.stack}\n`);
      return e.exitCode;
    }
    const msg = e instanceof Error ? e.message : String(e);
    ctx.stderr(
      `palisade: internal error: ${msg}${ctx.env.PALISADE_DEBUG === '1' ? '' : ' (set PALISADE_DEBUG=1 for details)'}\n`,
    );
    if (ctx.env.PALISADE_DEBUG === '1' && e instanceof Error && e.stack) ctx.stderr(`${e.stack}\n`);
    return EXIT_FAILURE;
  }
}
