import { fieldsMatch, labelsMatch, parseFieldSelector, parseLabelSelector } from './selectors';

const labels = { app: 'web', tier: 'fe', version: '3' };

describe('label selectors', () => {
  test.each([
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['app in (db, web)', true],
    ['app in (db)', false],
    ['app notin (db)', true],
    ['missing notin (db)', true],
    ['app notin (web,db)', false],
    ['tier', true],
    ['missing', false],
    ['!missing', true],
    ['!tier', false],
    ['version>2', true],
    ['version<3', false],
    ['missing>1', false],
    ['app=web,tier=fe,!missing', true],
    ['app=web,tier=be', false],
    ['example.com/role', false],
    ['empty=', false],
  ])('%s matches: %s', (selector, expected) => {
    expect(labelsMatch(parseLabelSelector(selector), labels)).toBe(expected);
  });

  test('an empty value selects a label set to ""', () => {
    expect(labelsMatch(parseLabelSelector('empty='), { empty: '' })).toBe(true);
  });

  test.each([
    'app=',
    'app in (a,b',
    'app in ()',
    '=x',
    'app=web,',
    'app>x',
    'Bad Key=x',
    'a=b c',
    'app=-bad-',
  ])('rejects or accepts %s like upstream', (selector) => {
    if (selector === 'app=') {
      expect(parseLabelSelector(selector)).toEqual([{ key: 'app', operator: 'in', values: [''] }]);
    } else {
      expect(() => parseLabelSelector(selector)).toThrow(/unable to parse requirement/);
    }
  });
});

describe('field selectors', () => {
  const supported = ['metadata.name', 'spec.nodeName'];
  const fields = { 'metadata.name': 'a,b', 'spec.nodeName': 'node-1' };

  test.each([
    ['spec.nodeName=node-1', true],
    ['spec.nodeName==node-1', true],
    ['spec.nodeName!=node-1', false],
    ['spec.nodeName=node-2', false],
    ['metadata.name=a\\,b,spec.nodeName=node-1', true],
    ['', true],
  ])('%s matches: %s', (selector, expected) => {
    expect(fieldsMatch(parseFieldSelector(selector, supported), fields)).toBe(expected);
  });

  test('an unset field is the empty string', () => {
    expect(fieldsMatch(parseFieldSelector('spec.nodeName=', supported), {})).toBe(true);
  });

  test('unsupported fields and malformed terms are 400s', () => {
    expect(() => parseFieldSelector('spec.other=x', supported)).toThrow(
      'field label not supported: spec.other',
    );
    expect(() => parseFieldSelector('spec.nodeName', supported)).toThrow(/can't understand/);
  });
});
