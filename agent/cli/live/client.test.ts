/** The debug-socket client: addresses, and answers that are not what a palisade agent says. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, InputError } from '../errors';
import { AgentClient, describeAddress, parseAgentAddress } from './client';

describe('parseAgentAddress', () => {
  test.each([
    ['/run/palisade/palisade.sock', { kind: 'unix', path: '/run/palisade/palisade.sock' }],
    ['palisade.sock', { kind: 'unix', path: 'palisade.sock' }],
    ['./odd:1', { kind: 'unix', path: './odd:1' }],
    ['127.0.0.1:9102', { kind: 'tcp', host: '127.0.0.1', port: 9102 }],
    ['node-1.example:80', { kind: 'tcp', host: 'node-1.example', port: 80 }],
    ['[fd00::1]:9102', { kind: 'tcp', host: 'fd00::1', port: 9102 }],
  ])('%s', (text, want) => {
    expect(parseAgentAddress(text)).toEqual(want);
  });

  test('bad addresses are input errors', () => {
    expect(() => parseAgentAddress('')).toThrow(InputError);
    expect(() => parseAgentAddress('host:70000')).toThrow('port 70000 is out of range 1-65535');
  });

  test('described as operators read them', () => {
    expect(describeAddress(parseAgentAddress('/x.sock'))).toBe('socket /x.sock');
    expect(describeAddress(parseAgentAddress('[fd00::1]:80'))).toBe('[fd00::1]:80');
  });
});

describe('AgentClient answers', () => {
  let dir: string;
  let server: Server;
  let socket: string;
  let reply: (path: string) => [number, string];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-client-'));
    socket = join(dir, 's.sock');
    server = createServer((req, res) => {
      const [status, body] = reply(req.url ?? '');
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const client = () => new AgentClient(socket, { timeoutMs: 2000 });

  test('200: the JSON body; the query is encoded', async () => {
    reply = (url) => [200, JSON.stringify({ url })];
    expect(await client().get('/v1/rules', { pod: 'x/a b', skip: undefined })).toEqual({
      url: '/v1/rules?pod=x%2Fa+b',
    });
  });

  test('400/404 with the agent’s message: bad input (exit 2)', async () => {
    reply = () => [404, JSON.stringify({ error: 'no pod x/nope' })];
    const e = await client()
      .get('/v1/rules')
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).message).toBe('no pod x/nope');
  });

  test('an unknown path: an agent older than the CLI', async () => {
    reply = () => [404, JSON.stringify({ error: 'no such path /v1/rules; routes: /v1/status' })];
    await expect(client().get('/v1/rules')).rejects.toThrow(
      `the agent at socket ${socket} does not serve /v1/rules: is it older than this CLI?`,
    );
  });

  test('500 and non-JSON answers: one line, exit 1', async () => {
    reply = () => [500, JSON.stringify({ error: 'boom' })];
    const e = await client()
      .get('/v1/drift')
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(1);
    expect((e as CliError).message).toBe(`the agent at socket ${socket} failed /v1/drift: boom`);
    reply = () => [200, '<html>'];
    await expect(client().get('/v1/status')).rejects.toThrow("is it a palisade agent's debug endpoint?");
  });

  test('no answer in time: says so and where to look', async () => {
    reply = () => [200, '{}'];
    const silent = join(dir, 'silent.sock');
    const hang = createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(silent, resolve));
    try {
      const e = await new AgentClient(silent, { timeoutMs: 100 }).get('/v1/drift').catch((x: unknown) => x);
      expect((e as Error).message).toBe(
        `the palisade agent at socket ${silent} gave no answer within 100 ms: it may be stuck in an apply (see its log and /healthz)`,
      );
    } finally {
      hang.closeAllConnections();
      await new Promise((resolve) => hang.close(resolve));
    }
  });
});
