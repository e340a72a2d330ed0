/**
 * What a command may touch of the outside world, injected so that tests can run commands
 * in-process and capture their output. Commands write their whole output at the end with
 * one `stdout` call, so a failure never leaves partial output behind.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';

export interface CliContext {
  stdout(text: string): void;
  stderr(text: string): void;
  /** True when stdout is a terminal: enables colour (unless NO_COLOR is set). */
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readFile(path: string): string;
}

export function processContext(): CliContext {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTTY: process.stdout.isTTY === true,
    env: process.env,
    readFile: (p) => readFileSync(p, 'utf8'),
  };
}

const contexts = new WeakMap<Command, CliContext>();

export function setContext(program: Command, ctx: CliContext): void {
  contexts.set(program, ctx);
}

/** The context of the program that `cmd` belongs to. */
export function contextOf(cmd: Command): CliContext {
  let c: Command | null = cmd;
  while (c) {
    const ctx = contexts.get(c);
    if (ctx) return ctx;
    c = c.parent;
  }
  return processContext();
}

/** Colour on a TTY only, and never when NO_COLOR is set (https://no-color.org). */
export function useColour(ctx: CliContext): boolean {
  return ctx.isTTY && !ctx.env.NO_COLOR && ctx.env.TERM !== 'dumb';
}
