import { canonicalSelector, isEmptySelector, selectorKey, selectorMatches } from './selector';

describe('selectorMatches', () => {
  const labels = { app: 'web', tier: 'fe' };
  test.each([
    ['empty selector', {}, true],
    ['undefined selector', undefined, true],
    ['matchLabels hit', { matchLabels: { app: 'web' } }, true],
    ['matchLabels miss', { matchLabels: { app: 'db' } }, false],
    ['matchLabels absent key', { matchLabels: { env: 'prod' } }, false],
    ['In hit', { matchExpressions: [{ key: 'app', operator: 'In' as const, values: ['db', 'web'] }] }, true],
    ['In miss', { matchExpressions: [{ key: 'app', operator: 'In' as const, values: ['db'] }] }, false],
    ['In absent key', { matchExpressions: [{ key: 'env', operator: 'In' as const, values: ['x'] }] }, false],
    ['NotIn hit', { matchExpressions: [{ key: 'app', operator: 'NotIn' as const, values: ['db'] }] }, true],
    [
      'NotIn miss',
      { matchExpressions: [{ key: 'app', operator: 'NotIn' as const, values: ['web'] }] },
      false,
    ],
    [
      'NotIn absent key',
      { matchExpressions: [{ key: 'env', operator: 'NotIn' as const, values: ['x'] }] },
      true,
    ],
    ['Exists', { matchExpressions: [{ key: 'tier', operator: 'Exists' as const }] }, true],
    ['Exists absent', { matchExpressions: [{ key: 'env', operator: 'Exists' as const }] }, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' as const }] }, true],
    [
      'DoesNotExist present',
      { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' as const }] },
      false,
    ],
    [
      'all requirements ANDed',
      {
        matchLabels: { app: 'web' },
        matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['be'] }],
      },
      false,
    ],
  ])('%s', (_n, sel, expected) => {
    expect(selectorMatches(sel, labels)).toBe(expected);
  });

  test('a label named like an Object prototype member is not assumed present', () => {
    expect(selectorMatches({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {})).toBe(
      false,
    );
  });
});

describe('selectorKey and canonicalSelector', () => {
  test('order of keys, expressions and values does not matter', () => {
    const a = {
      matchLabels: { a: '1', b: '2' },
      matchExpressions: [
        { key: 'c', operator: 'In' as const, values: ['x', 'y'] },
        { key: 'd', operator: 'Exists' as const },
      ],
    };
    const b = {
      matchExpressions: [
        { key: 'd', operator: 'Exists' as const },
        { key: 'c', operator: 'In' as const, values: ['y', 'x', 'y'] },
      ],
      matchLabels: { b: '2', a: '1' },
    };
    expect(selectorKey(a)).toBe(selectorKey(b));
    expect(canonicalSelector(a)).toEqual(canonicalSelector(b));
  });
  test('different selectors have different keys', () => {
    expect(selectorKey({ matchLabels: { a: '1' } })).not.toBe(selectorKey({ matchLabels: { a: '2' } }));
    expect(selectorKey({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1'] }] })).not.toBe(
      selectorKey({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }),
    );
  });
  test('empty forms are one', () => {
    expect(isEmptySelector({ matchLabels: {}, matchExpressions: [] })).toBe(true);
    expect(selectorKey({ matchExpressions: [] })).toBe(selectorKey({}));
    expect(canonicalSelector({ matchLabels: {} })).toEqual({});
  });
});
