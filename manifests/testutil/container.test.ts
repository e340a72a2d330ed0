import type { V1Container } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { containerArgv, expandVars, hostArgv, resolveEnv, rewritePaths } from './container';

describe('expandVars (Kubernetes $(VAR) expansion)', () => {
  const env = new Map([
    ['NODE_NAME', 'worker-1'],
    ['EMPTY', ''],
  ]);
  test.each([
    ['--node-name=$(NODE_NAME)', '--node-name=worker-1'],
    ['$(NODE_NAME)-$(NODE_NAME)', 'worker-1-worker-1'],
    ['x$(EMPTY)y', 'xy'],
    ['$(UNDEFINED)', '$(UNDEFINED)'], // undefined references stay as written
    ['$$(NODE_NAME)', '$(NODE_NAME)'], // $$ escapes
    ['$$', '$'],
    ['cost: $5', 'cost: $5'],
    ['$(NODE_NAME', '$(NODE_NAME'], // unterminated
    ['trailing $', 'trailing $'],
  ])('%s -> %s', (input, output) => {
    expect(expandVars(input, env)).toBe(output);
  });
});

describe('resolveEnv', () => {
  const container = (env: V1Container['env']): V1Container => ({ name: 'c', env });

  test('fills downward-API fields and expands references to earlier variables only', () => {
    const env = resolveEnv(
      container([
        { name: 'LATER_REF', value: '$(NODE_NAME)' },
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'GREETING', value: 'on $(NODE_NAME)' },
      ]),
      { 'spec.nodeName': 'worker-1' },
    );
    expect([...env]).toEqual([
      ['LATER_REF', '$(NODE_NAME)'],
      ['NODE_NAME', 'worker-1'],
      ['GREETING', 'on worker-1'],
    ]);
  });

  test('refuses a source it cannot reproduce instead of leaving the variable out', () => {
    expect(() =>
      resolveEnv(container([{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]), {}),
    ).toThrow(/TOKEN/);
    expect(() =>
      resolveEnv(container([{ name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }]), {}),
    ).toThrow(/IP/);
  });
});

describe('containerArgv and hostArgv', () => {
  const c: V1Container = {
    name: 'agent',
    command: ['/usr/bin/tini', '--', 'node', '/opt/app/dist/main.js', 'agent'],
    args: ['--node-name=$(NODE_NAME)', '--socket=/run/app/app.sock', '--other=/run/application'],
  };

  test('command then args, expanded', () => {
    expect(containerArgv(c, new Map([['NODE_NAME', 'n1']]))).toEqual([
      '/usr/bin/tini',
      '--',
      'node',
      '/opt/app/dist/main.js',
      'agent',
      '--node-name=n1',
      '--socket=/run/app/app.sock',
      '--other=/run/application',
    ]);
  });

  test('drops the init wrapper, runs this node binary, maps image paths at path boundaries only', () => {
    const argv = containerArgv(c, new Map([['NODE_NAME', 'n1']]));
    const paths = new Map([
      ['/opt/app', '/repo'],
      ['/run/app', '/tmp/t1'],
    ]);
    expect(hostArgv(argv, { initPrefix: ['/usr/bin/tini', '--'], nodeBinary: '/bin/node24', paths })).toEqual(
      [
        '/bin/node24',
        '/repo/dist/main.js',
        'agent',
        '--node-name=n1',
        '--socket=/tmp/t1/app.sock',
        '--other=/run/application',
      ],
    );
  });

  test('refuses an entrypoint that is not node', () => {
    expect(() =>
      hostArgv(['/bin/sh', '-c', 'x'], { initPrefix: [], nodeBinary: 'n', paths: new Map() }),
    ).toThrow(/node/);
  });

  test('rewritePaths leaves look-alike prefixes alone', () => {
    const map = new Map([['/run/palisade', '/tmp/x']]);
    expect(rewritePaths('/run/palisade', map)).toBe('/tmp/x');
    expect(rewritePaths('--s=/run/palisade/p.sock', map)).toBe('--s=/tmp/x/p.sock');
    expect(rewritePaths('/run/palisade2/p.sock', map)).toBe('/run/palisade2/p.sock');
    expect(rewritePaths('/run/palisade.d', map)).toBe('/run/palisade.d');
  });
});
