/**
 * The kernel tests of the conformance suite start built programs (the agent, the API server,
 * the relays, the CLI): `make test` builds dist/ first; without it they fail saying so.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../sandbox';

export const REPO = repoRoot(__dirname);

const BUILT = [
  'dist/agent/cli/main.js',
  'dist/e2e/apiserver/main.js',
  'dist/e2e/sandbox/relay-main.js',
  'dist/e2e/sandbox/endpoint-main.js',
];

export function requireDist(): void {
  const missing = BUILT.filter((f) => !existsSync(join(REPO, f)));
  if (missing.length > 0)
    throw new Error(
      `${missing.join(', ')} missing: run \`npm run build\` (or \`make test\`, which builds first)`,
    );
}
