#!/usr/bin/env node
/** Entry point of the `palisade` binary (bin/palisade runs dist/agent/cli/main.js). */
import { processContext } from './context';
import { runCli } from './program';

// A closed pipe (`palisade analyze ... | head`) is a normal end for a CLI, not a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

runCli(process.argv.slice(2), processContext()).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`palisade: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
