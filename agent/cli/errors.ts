/**
 * CLI errors. A command throws one of these; runCli prints its message as one line on stderr
 * (no stack trace unless PALISADE_DEBUG=1) and exits with its code.
 */

/** Exit status for bad input or usage (unreadable or invalid scenario, unknown pod, bad flag). */
export const EXIT_USAGE = 2;
/** Exit status for a failure that is not the user's input (internal error, agent unreachable). */
export const EXIT_FAILURE = 1;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    /** Further lines printed after the message (e.g. every validation error of a scenario). */
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad input or usage: exit status 2. */
export class InputError extends CliError {
  constructor(message: string, details: readonly string[] = []) {
    super(message, EXIT_USAGE, details);
    this.name = 'InputError';
  }
}
