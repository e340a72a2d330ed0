/**
 * pods/exec and authentication, driven by the real kubectl and by client-node's Exec. The exec
 * backend here runs commands on this machine as they are (the sandbox's backend puts them in the
 * pod's network namespace); what is under test is the remote command protocol: stdout, stderr,
 * stdin with its end, exit codes, a TTY with resize, and the refusals.
 */
import type { KubeConfig } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { request as httpsRequest } from 'node:https';
import { selfSignedCertificate, startApiServer, type TestApiServer, type TlsMaterial } from './index';
import { namespace, pod } from './testutil/fixtures';

jest.setTimeout(60_000);

type ClientNode = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' } });
let k8s: ClientNode;

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const TOKEN = 'test-token-0123456789abcdef';
let server: TestApiServer;
let dir: string;
let tls: TlsMaterial;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, ['--cache-dir', join(dir, 'cache'), ...args], {
      env: { ...process.env, KUBECONFIG: join(dir, 'kubeconfig'), HOME: dir },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

beforeAll(async () => {
  k8s = await import('@kubernetes/client-node');
  tls = selfSignedCertificate(['127.0.0.1']);
});

/** GET over TLS with the server's CA, optionally with the token and an upgrade to WebSocket. */
function get(
  path: string,
  opts: { token?: string; upgrade?: boolean } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    if (opts.upgrade) {
      Object.assign(headers, {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Protocol': 'v5.channel.k8s.io',
      });
    }
    const req = httpsRequest(`${server.url}${path}`, { ca: tls.cert, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

beforeEach(async () => {
  server = await startApiServer({
    token: TOKEN,
    tls,
    exec: { prefix: () => [] },
    objects: [
      namespace('x'),
      pod('x/web', { nodeName: 'node-1', podIP: '10.0.0.5' }),
      pod('x/waiting', { nodeName: 'node-1', phase: 'Pending' }),
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'palisade-exec-'));
  server.writeKubeconfig(join(dir, 'kubeconfig'));
});

afterEach(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('authentication', () => {
  test('a request without the bearer token, or with another, gets 401 Unauthorized', async () => {
    const none = await get('/api/v1/pods');
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect((await get('/api/v1/pods', { token: 'nope' })).status).toBe(401);
    expect((await get('/version')).status).toBe(401);
    expect((await get('/api/v1/pods', { token: TOKEN })).status).toBe(200);
  });

  test('an exec upgrade without the token gets 401 and runs nothing; with it, 101', async () => {
    const path = '/api/v1/namespaces/x/pods/web/exec?command=true&stdout=true';
    const refused = await get(path, { upgrade: true });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ reason: 'Unauthorized', code: 401 });
    expect((await get(path, { upgrade: true, token: 'nope' })).status).toBe(401);
    expect((await get(path, { upgrade: true, token: TOKEN })).status).toBe(101);
  });

  test('the kubeconfig carries the token and only its owner can read it', async () => {
    expect(statSync(join(dir, 'kubeconfig')).mode & 0o777).toBe(0o600);
    const r = await kubectl(['get', 'pods', '-n', 'x']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const anonymous = await kubectl(['get', 'pods', '-n', 'x', '--token', 'wrong']);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('Unauthorized');
  });
});

describe('kubectl exec', () => {
  test('stdout, stderr and the exit code come back', async () => {
    const r = await kubectl(['exec', '-n', 'x', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    expect(r.stderr).toContain('command terminated with exit code 3');
    expect(r.code).toBe(3);
  });

  test('the argv arrives exactly as given, and success is exit 0', async () => {
    const r = await kubectl([
      'exec',
      '-n',
      'x',
      'web',
      '-c',
      'main',
      '--',
      'printf',
      '[%s]',
      'a b',
      '$HOME',
      "'q'",
    ]);
    expect([r.code, r.stdout]).toEqual([0, "[a b][$HOME]['q']"]);
  });

  test('stdin is delivered and its end reaches the command', async () => {
    const r = await kubectl(['exec', '-i', '-n', 'x', 'web', '--', 'wc', '-c'], 'twelve bytes');
    expect([r.code, r.stdout.trim()]).toEqual([0, '12']);
  });

  test('a command that does not exist exits 127', async () => {
    const r = await kubectl(['exec', '-n', 'x', 'web', '--', 'palisade-no-such-command']);
    expect(r.code).toBe(127);
  });

  test('refusals: unknown container, pod not running, unknown pod', async () => {
    const container = await kubectl(['exec', '-n', 'x', 'web', '-c', 'other', '--', 'true']);
    expect(container.code).toBe(1);
    expect(container.stderr).toContain('container other is not valid for pod web');
    const pending = await kubectl(['exec', '-n', 'x', 'waiting', '--', 'true']);
    expect(pending.code).toBe(1);
    expect(pending.stderr).toContain('not running');
    const missing = await kubectl(['exec', '-n', 'x', 'nobody', '--', 'true']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('pods "nobody" not found');
  });
});

describe("client-node's Exec", () => {
  let kc: KubeConfig;
  beforeEach(() => {
    kc = new k8s.KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
  });

  function exec(
    command: string[],
    input?: string,
    tty = false,
  ): Promise<{ stdout: string; stderr: string; status: Record<string, unknown> }> {
    // A stdout with a size is a terminal to client-node: it sends the size on the resize channel.
    const stdout = Object.assign(new PassThrough(), tty ? { columns: 101, rows: 33 } : {});
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const stdin = input === undefined ? null : new PassThrough();
    return new Promise((resolve, reject) => {
      new k8s.Exec(kc)
        .exec('x', 'web', 'main', command, stdout, stderr, stdin, tty, (status) =>
          // the status arrives before the last frames are flushed to the streams
          setImmediate(() =>
            resolve({ stdout: out, stderr: err, status: status as unknown as Record<string, unknown> }),
          ),
        )
        .then(() => stdin?.end(input))
        .catch(reject);
    });
  }

  test('runs a command: output, Success status', async () => {
    const r = await exec(['sh', '-c', 'echo hello; echo oops >&2']);
    expect(r).toEqual({ stdout: 'hello\n', stderr: 'oops\n', status: { metadata: {}, status: 'Success' } });
  });

  test('a non-zero exit is a Failure with the ExitCode cause', async () => {
    const r = await exec(['sh', '-c', 'exit 7']);
    expect(r.status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '7' }] },
    });
  });

  test('stdin reaches the command', async () => {
    const r = await exec(['cat'], 'from stdin');
    expect(r.stdout).toBe('from stdin');
  });

  test('with a TTY the command has a terminal of the size the client sent', async () => {
    const r = await exec(['sh', '-c', 'test -t 0 && test -t 1 && sleep 0.3 && stty size'], undefined, true);
    expect([r.stdout.replace(/\r/g, ''), r.status.status]).toEqual(['33 101\n', 'Success']);
  });
});
