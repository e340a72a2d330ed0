/**
 * Golden restore text for representative policies: what the first sync from an empty kernel
 * hands to ipset and iptables-restore, and what a few typical changes hand over afterwards.
 * Comparison is normalised (line endings, trailing blanks). Rewrite with UPDATE_GOLDEN=1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CompiledState } from '../../compiler/ir';
import { type NewPodsPolicy, createDataplane } from '../api';
import { DEFAULT_VERDICT_LOG, type VerdictLogOptions } from '../verdict-log';
import { FakeKernel } from './fake-kernel';
import { deltaBetween, fullDelta } from '../testutil/fixtures';
import {
  GOLDEN_STATES,
  allowFromNamespace,
  failClosedChanges,
  goldenChanges,
} from '../testutil/golden-states';

const GOLDEN_DIR = path.join(__dirname, 'golden');

function normalise(text: string): string {
  return `${text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim()}\n`;
}

function checkGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, `${name}.txt`);
  const text = normalise(actual);
  if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1' && process.env.CI) throw new Error(`golden file ${file} missing`);
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    fs.writeFileSync(file, text);
  }
  expect(text).toBe(normalise(fs.readFileSync(file, 'utf8')));
}

/** The restore inputs of the ops after `from`, as one text with a header per process. */
function restoreText(k: FakeKernel, from: number): string {
  return k
    .opsSince(from)
    .filter((o) => o.tool === 'iptables-restore' || o.argv[1] === 'restore')
    .map((o) => `### ${o.argv.join(' ')}\n${o.input}`)
    .join('\n');
}

async function firstSync(
  s: CompiledState,
  opts: { newPods?: NewPodsPolicy; verdictLog?: VerdictLogOptions } = {},
): Promise<{ k: FakeKernel; text: string; sync: (n: CompiledState) => Promise<string> }> {
  const k = new FakeKernel();
  const dp = createDataplane({ kernel: k, ...opts });
  let prev = s;
  await dp.sync(s, fullDelta(s));
  return {
    k,
    text: restoreText(k, 0),
    sync: async (next) => {
      const from = k.ops.length;
      await dp.sync(next, deltaBetween(prev, next));
      prev = next;
      return restoreText(k, from);
    },
  };
}

describe('golden restore text', () => {
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
