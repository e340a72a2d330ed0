/**
 * The built CLI (`node dist/agent/cli/main.js ...`) as a real process, for exit statuses and
 * output exactly as an operator gets them. Asynchronous: the test API server runs in the test
 * process and must keep answering while a command runs.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const CLI_MAIN = resolve(__dirname, '../../../../dist/agent/cli/main.js');

export interface ProcessRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runProcess(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 60_000,
): Promise<ProcessRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', PALISADE_DEBUG: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** `palisade ARGS` with the built CLI. */
export function palisade(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<ProcessRun> {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: run \`npm run build\` first`);
  return runProcess([process.execPath, CLI_MAIN, ...args], env);
}
