/**
 * Golden nft input for the representative states the iptables goldens use too
 * (../testutil/golden-states.ts): the one transaction of a first sync into an empty kernel, and
 * the transactions of a few typical changes afterwards. Rewrite with UPDATE_GOLDEN=1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CompiledState } from '../../compiler/ir';
import { type Dataplane, type NewPodsPolicy, createDataplane } from '../api';
import { DEFAULT_VERDICT_LOG, type VerdictLogOptions } from '../verdict-log';
import { deltaBetween, fullDelta } from '../testutil/fixtures';
import {
  GOLDEN_STATES,
  allowFromNamespace,
  failClosedChanges,
  goldenChanges,
} from '../testutil/golden-states';
import { FakeNft } from './fake-nft';

const GOLDEN_DIR = path.join(__dirname, 'golden');

function checkGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, `${name}.nft`);
  const text = `${actual.trim()}\n`;
  if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1' && process.env.CI) throw new Error(`golden file ${file} missing`);
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    fs.writeFileSync(file, text);
  }
  expect(text).toBe(fs.readFileSync(file, 'utf8'));
}

const open: Dataplane[] = [];
afterAll(async () => {
  for (const dp of open) await dp.close();
});

/** The scripts of the transactions after `from`, each under a header. */
function scripts(k: FakeNft, from: number): string {
  return k.transactions
    .slice(from)
    .map((t) => `# transaction (${t.commands} commands)\n${t.script}`)
    .join('\n');
}

async function firstSync(
  s: CompiledState,
  opts: { newPods?: NewPodsPolicy; verdictLog?: VerdictLogOptions } = {},
): Promise<{ text: string; sync: (n: CompiledState) => Promise<string> }> {
  const k = new FakeNft();
  const dp = createDataplane({ kernel: k, backend: 'nftables', gcDelayMs: 3_600_000, ...opts });
  open.push(dp);
  let prev = s;
  await dp.sync(s, fullDelta(s));
  return {
    text: scripts(k, 0),
    sync: async (next) => {
      const from = k.transactions.length;
      await dp.sync(next, deltaBetween(prev, next));
      prev = next;
      const event = scripts(k, from);
      const collected = await dp.collectGarbage();
      return collected
        ? `${event}\n# collected later (${collected} objects)\n${scripts(k, from + 1)}`
        : event;
    },
  };
}

describe('golden nft transactions', () => {
  test.each(GOLDEN_STATES)('%s', async (name, s) => {
    checkGolden(name, (await firstSync(s)).text);
  });

  test('changes: label change, new pod, new policy, policy removed', async () => {
    const { sync } = await firstSync(allowFromNamespace);
    const parts: string[] = [];
    for (const [what, next] of goldenChanges()) parts.push(`## ${what}\n${await sync(next)}`);
    checkGolden('changes', parts.join('\n'));
  });

  test('fail closed for new pods: first sync, pods added, pod range changed, pods removed', async () => {
    const { first, changes } = failClosedChanges();
    const { text, sync } = await firstSync(first, { newPods: 'fail-closed' });
    const parts = [`## first sync\n${text}`];
    for (const [what, next] of changes) parts.push(`## ${what}\n${await sync(next)}`);
    checkGolden('new-pods-fail-closed', parts.join('\n'));
  });

  test('fail closed for new pods with verdict logs: the drops log through their own chains', async () => {
    const { first } = failClosedChanges();
    const { text } = await firstSync(first, { newPods: 'fail-closed', verdictLog: DEFAULT_VERDICT_LOG });
    checkGolden('new-pods-fail-closed-logged', text);
  });
});
