/**
 * Every conformance case through `analyze` (in-process), compared pair by pair with its
 * hand-written expectation. On a mismatch the failure lists each differing pair and the
 * upstream-style truth table of the probe with the differing cells marked. The literal
 * reference evaluator (compiler/testutil), which shares no code with the compiler, must give
 * the same matrix: three readings of each case (by hand, by the compiler, literally) agree.
 */
import { analyzeScenario } from '../../agent/cli/analysis';
import { scenarioSnapshot } from '../../compiler/scenario';
import { LiteralEvaluator, type LiteralEndpoint } from '../../compiler/testutil/literal-evaluator';
import { listCases, loadCase, matrixDifferences, truthTable, type ExpectedMatrix } from './index';

const dirs = listCases();

test('there are at least 50 cases, each with its own number', () => {
  expect(dirs.length).toBeGreaterThanOrEqual(50);
  const numbers = dirs.map((d) => d.split('/').pop()!.split('-')[0]);
  expect(new Set(numbers).size).toBe(numbers.length);
});

describe.each(dirs.map((d) => [d.split('/').pop()!, d]))('%s', (_name, dir) => {
  test('analyze agrees with the expectation', () => {
    const c = loadCase(dir);
    const observed = analyzeScenario(c.scenario, c.probes, c.externals);
    const diffs = matrixDifferences(c.expected, observed);
    if (diffs.length > 0) {
      const tables = c.expected.probes
        .map((_, i) => i)
        .filter((i) => diffs.some((d) => d.startsWith(`${c.probes[i].port}/${c.probes[i].protocol}`)))
        .map((i) => truthTable(c.expected, observed, i));
      throw new Error(`${c.name} (${c.upstream.join('; ')}):\n${diffs.join('\n')}\n\n${tables.join('\n\n')}`);
    }
    // Sanity: a case's expectation covers every ordered pair analyze reports.
    expect(observed.pods).toEqual(c.expected.pods);
  });

  test('the literal evaluator agrees with the expectation', () => {
    const c = loadCase(dir);
    const literal = new LiteralEvaluator(scenarioSnapshot(c.scenario));
    const endpoint = (e: string): LiteralEndpoint =>
      c.externals.includes(e) ? { kind: 'ip', ip: e } : { kind: 'pod', key: e };
    const observed: ExpectedMatrix = {
      pods: c.expected.pods,
      probes: c.expected.probes.map((p) => ({
        port: p.port,
        protocol: p.protocol,
        allowed: Object.fromEntries(
          Object.entries(p.allowed).map(([from, row]) => [
            from,
            Object.fromEntries(
              Object.keys(row).map((to) => [
                to,
                literal.allowed(endpoint(from), endpoint(to), p.port, p.protocol),
              ]),
            ),
          ]),
        ),
      })),
    };
    expect(matrixDifferences(c.expected, observed)).toEqual([]);
  });
});

describe('the comparison itself', () => {
  const c = loadCase(dirs.find((d) => d.endsWith('01-default-deny-ingress'))!);

  test('a single flipped cell is reported with its probe and pair', () => {
    const observed = JSON.parse(JSON.stringify(c.expected));
    observed.probes[1].allowed['y/a']['x/b'] = true;
    expect(matrixDifferences(c.expected, observed)).toEqual(['81/TCP y/a -> x/b: expected denied, observed allowed']);
    expect(truthTable(c.expected, observed, 1).split('\n')[5]).toBe('y/a\tX\t*X*\tX\t-\t.\t.\t.\t.\t.');
  });

  test('the expansion follows upstream: default first, rules in order', () => {
    const m = c.expected.probes[0].allowed;
    expect(c.expected.pods).toHaveLength(9);
    expect(m['x/a']['x/b']).toBe(false);
    expect(m['y/a']['x/c']).toBe(false);
    expect(m['x/a']['y/b']).toBe(true);
    expect(Object.keys(m['x/a'])).toHaveLength(8);
  });
});
