import { parseConfig, parseHostPort, validateConfig, type Config } from './config';
import { formatDuration, parseDuration } from './duration';

const valid: Config = {
  nodeName: 'node-1',
  kubeconfig: undefined,
  metricsAddress: '0.0.0.0:9101',
  debugSocket: '/run/palisade/palisade.sock',
  logLevel: 'info',
  resyncIntervalMs: 300_000,
  syncMode: 'incremental',
  iptablesMode: 'auto',
  minSyncIntervalMs: 0,
  keepEstablished: false,
  verdictLog: 'denied',
  verdictLogGroup: 20556,
  verdictLogRate: 100,
  verdictLogBurst: 200,
  verdictBuffer: 4096,
};

describe('parseDuration', () => {
  test.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1m30s', 90_000],
    ['250ms', 250],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['0', 0],
    ['0s', 0],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['', '5', '5x', 's', '-1s', '1m 30s', '1d'])('rejects %j', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );

  test('formatDuration reads back', () => {
    for (const ms of [0, 250, 30_000, 90_000, 300_000, 3_723_004])
      expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});

describe('parseHostPort', () => {
  test.each([
    ['0.0.0.0:9101', { host: '0.0.0.0', port: 9101 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    [':9101', { host: '0.0.0.0', port: 9101 }],
    ['[::]:9101', { host: '::', port: 9101 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
  ])('%s', (text, hp) => expect(parseHostPort(text)).toEqual(hp));

  test.each(['9101', '0.0.0.0', '0.0.0.0:99999', '[nothost]:1', '::1:80', 'a:b'])('rejects %s', (text) =>
    expect(parseHostPort(text)).toBeUndefined(),
  );
});

describe('parseConfig', () => {
  test('defaults: only the node name is required', () => {
    const { config, problems } = parseConfig({ nodeName: 'node-1' });
    expect(problems).toEqual([]);
    expect(config).toEqual(valid);
  });

  test('every value parsed', () => {
    const { config, problems } = parseConfig({
      nodeName: 'worker.example.com',
      kubeconfig: '/etc/kubeconfig',
      metricsAddress: '[::]:9200',
      debugSocket: '',
      logLevel: 'debug',
      resyncInterval: '30s',
      syncMode: 'full',
      iptablesMode: 'legacy',
      minSyncInterval: '5ms',
    });
    expect(problems).toEqual([]);
    expect(config).toEqual({
      nodeName: 'worker.example.com',
      kubeconfig: '/etc/kubeconfig',
      metricsAddress: '[::]:9200',
      debugSocket: '',
      logLevel: 'debug',
      resyncIntervalMs: 30_000,
      syncMode: 'full',
      iptablesMode: 'legacy',
      minSyncIntervalMs: 5,
      keepEstablished: false,
      verdictLog: 'denied',
      verdictLogGroup: 20556,
      verdictLogRate: 100,
      verdictLogBurst: 200,
      verdictBuffer: 4096,
    });
  });

  test('verdict log settings: a mode, whole numbers in range, every problem at once', () => {
    const { config, problems } = parseConfig({
      nodeName: 'n',
      verdictLog: 'all',
      verdictLogGroup: '7',
      verdictLogRate: '20',
      verdictLogBurst: '40',
      verdictBuffer: '100',
    });
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      verdictLog: 'all',
      verdictLogGroup: 7,
      verdictLogRate: 20,
      verdictLogBurst: 40,
      verdictBuffer: 100,
    });
    expect(
      parseConfig({
        nodeName: 'n',
        verdictLog: 'some',
        verdictLogGroup: '70000',
        verdictLogRate: 'fast',
        verdictBuffer: '3',
      }).problems,
    ).toEqual([
      '--verdict-log: "some" is not one of off, denied, all',
      '--verdict-log-rate: "fast" is not a whole number',
      '--verdict-log-*: NFLOG group 70000 is not an integer 0-65535',
      '--verdict-buffer: 3 is not a whole number 16-1000000',
    ]);
  });

  test('--keep-established is a switch: commander passes true, the environment a string', () => {
    const on = (v: unknown) => parseConfig({ nodeName: 'n', keepEstablished: v as string });
    expect(on(true).config.keepEstablished).toBe(true);
    expect(on('true').config.keepEstablished).toBe(true);
    expect(on('1').config.keepEstablished).toBe(true);
    expect(on(undefined).config.keepEstablished).toBe(false);
    expect(on('false').config.keepEstablished).toBe(false);
    expect(on('maybe').problems).toEqual(['--keep-established: "maybe" is not true or false']);
  });

  test('reports every problem at once', () => {
    const { problems } = parseConfig({
      nodeName: 'Node_1',
      metricsAddress: 'nowhere',
      debugSocket: 'relative.sock',
      logLevel: 'loud',
      resyncInterval: '5 minutes',
      syncMode: 'sometimes',
      iptablesMode: 'bpf',
      minSyncInterval: 'soon',
    });
    expect(problems).toHaveLength(8);
    for (const flag of [
      '--log-level',
      '--resync-interval',
      '--sync-mode',
      '--iptables-mode',
      '--min-sync-interval',
      '--node-name',
      '--metrics-address',
      '--debug-socket',
    ]) {
      expect(problems.filter((p) => p.startsWith(flag))).toHaveLength(1);
    }
  });
});

describe('validateConfig', () => {
  test('a valid config has no problems', () => expect(validateConfig(valid)).toEqual([]));

  test('missing node name', () =>
    expect(validateConfig({ ...valid, nodeName: '' })).toEqual(['--node-name (or NODE_NAME) is required']));

  test('resync floor and min-sync ceiling', () => {
    expect(validateConfig({ ...valid, resyncIntervalMs: 500, minSyncIntervalMs: 1000 })).toEqual([
      '--resync-interval: 500ms is below the minimum of 1s',
      '--min-sync-interval: 1s exceeds --resync-interval 500ms',
    ]);
  });

  test('socket path length is bounded by sun_path', () => {
    expect(validateConfig({ ...valid, debugSocket: `/${'x'.repeat(120)}` })).toEqual([
      '--debug-socket: path longer than 107 bytes',
    ]);
  });
});
