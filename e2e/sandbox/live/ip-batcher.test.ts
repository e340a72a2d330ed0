import { batchFailures, failuresByBlock, IpBatcher } from './ip-batcher';
import type { RunResult } from '../run';

describe('ip -force -batch failures', () => {
  test('each "Command failed" line names its line and takes the messages printed before it', () => {
    const stderr =
      'RTNETLINK answers: File exists\nCommand failed -:3\nCannot find device "x"\nCommand failed -:7\n';
    expect(batchFailures(stderr)).toEqual([
      { line: 3, message: 'RTNETLINK answers: File exists' },
      { line: 7, message: 'Cannot find device "x"' },
    ]);
  });

  test('a failure belongs to the block holding its line, numbered within the block', () => {
    const byBlock = failuresByBlock(
      [2, 3, 1],
      [
        { line: 3, message: 'a' },
        { line: 6, message: 'b' },
      ],
    );
    expect([...byBlock.entries()]).toEqual([
      [1, [{ line: 1, message: 'a' }]],
      [2, [{ line: 1, message: 'b' }]],
    ]);
  });
});

describe('IpBatcher', () => {
  test('scripts of one tick share a process; a failing line fails its own script only', async () => {
    const calls: { argv: readonly string[]; input: string }[] = [];
    const runner = async (argv: readonly string[], input: string): Promise<RunResult> => {
      calls.push({ argv, input });
      const failing = input.split('\n').indexOf('route add bad') + 1;
      return failing > 0
        ? { code: 1, stdout: '', stderr: `Error: inet prefix is expected.\nCommand failed -:${failing}\n` }
        : { code: 0, stdout: '', stderr: '' };
    };
    const batcher = new IpBatcher(['ip', '-n', 'node'], 'in node', 64, runner);
    const results = await Promise.allSettled([
      batcher.submit(['link set a up', 'route add 10.0.0.1/32 dev a']),
      batcher.submit(['link set b up', 'route add bad']),
      batcher.submit(['link set c up']),
    ]);
    expect(calls).toEqual([
      {
        argv: ['ip', '-n', 'node', '-force', '-batch', '-'],
        input: 'link set a up\nroute add 10.0.0.1/32 dev a\nlink set b up\nroute add bad\nlink set c up\n',
      },
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe(
      'ip in node failed at "route add bad": Error: inet prefix is expected.',
    );
  });

  test('scripts submitted while a batch runs go together into the next one, in order', async () => {
    const inputs: string[] = [];
    let release: () => void = () => undefined;
    const runner = (_argv: readonly string[], input: string): Promise<RunResult> => {
      inputs.push(input);
      return new Promise((resolve) => {
        release = () => resolve({ code: 0, stdout: '', stderr: '' });
      });
    };
    const batcher = new IpBatcher(['ip'], 'netns', 64, runner);
    const first = batcher.submit(['netns add a']);
    await new Promise((r) => setImmediate(r));
    const later = [batcher.submit(['netns add b']), batcher.submit(['netns add c'])];
    release();
    await first;
    await new Promise((r) => setImmediate(r));
    release();
    await Promise.all(later);
    expect(inputs).toEqual(['netns add a\n', 'netns add b\nnetns add c\n']);
  });

  test('a batch that fails without naming a line fails every script in it', async () => {
    const runner = async (): Promise<RunResult> => ({ code: 137, stdout: '', stderr: '' });
    const batcher = new IpBatcher(['ip'], 'netns', 64, runner);
    const results = await Promise.allSettled([
      batcher.submit(['netns add a']),
      batcher.submit(['netns add b']),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
