import { ApplyError, ProcessKernel, extractLines, failingLineNumber } from './kernel';

describe('failingLineNumber', () => {
  test.each([
    ['ipset v7.17: Error in line 12: The set with the given name does not exist', 12],
    [
      "iptables-restore v1.8.9 (nf_tables): Chain 'X' does not exist\nError occurred at line: 7\nTry `iptables-restore -h'",
      7,
    ],
    ['iptables-restore: line 3 failed', 3],
    ['something else entirely', undefined],
  ])('%s', (stderr, line) => {
    expect(failingLineNumber(stderr)).toBe(line);
  });
});

describe('extractLines', () => {
  const input = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';

  test('shows the failing line, marked, with three lines either side', () => {
    expect(extractLines(input, 50)).toEqual([
      '     47: line 47',
      '     48: line 48',
      '     49: line 49',
      '>    50: line 50',
      '     51: line 51',
      '     52: line 52',
      '     53: line 53',
    ]);
  });

  test('stops at the edges of the input', () => {
    expect(extractLines(input, 1)).toHaveLength(4);
    expect(extractLines(input, 100)).toHaveLength(4);
  });

  test('ApplyError carries the context, never the whole input', () => {
    const err = new ApplyError(
      ['ipset', 'restore'],
      { code: 1, stdout: '', stderr: 'ipset v7.17: Error in line 60: nope\n' },
      input,
    );
    expect(err.lineNumber).toBe(60);
    expect(err.lines).toHaveLength(7);
    expect(err.message).toContain('>    60: line 60');
    expect(err.message).not.toContain('line 10\n');
  });
});

describe('ProcessKernel', () => {
  const k = new ProcessKernel();

  test('passes stdin and returns stdout', async () => {
    expect(await k.run(['cat'], 'a\nb\n')).toEqual({ code: 0, stdout: 'a\nb\n', stderr: '' });
  });

  test('reports a non-zero exit without throwing', async () => {
    const r = await k.run(['ls', '/nonexistent-palisade-path']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toBe('');
  });

  test('reports a missing binary as exit 127', async () => {
    const r = await k.run(['palisade-no-such-binary']);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('ENOENT');
  });

  test('prefixes `ip netns exec NAME` when given a namespace', async () => {
    const r = await new ProcessKernel({ netns: 'plxyz', ipBinary: 'echo' }).run([
      'iptables-save',
      '-t',
      'filter',
    ]);
    expect(r.stdout).toBe('netns exec plxyz iptables-save -t filter\n');
  });
});
