/**
 * `palisade sandbox` argument handling, in-process and without root: the sandbox itself is
 * tested by e2e/sandbox/*.kernel.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliContext } from '../context';
import { fillTemplate } from '../../../e2e/sandbox';
import { runCli } from '../program';
import { agentLaunch } from './sandbox';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    isTTY: false,
    env: {},
    readFile: (p) => readFileSync(p, 'utf8'),
  };
  const code = await runCli(args, ctx);
  return { code, out, err };
}

describe('palisade sandbox', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-sandbox-cli-'));
    writeFileSync(
      join(dir, 'noports.yaml'),
      'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n',
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('is listed in the help', async () => {
    const r = await cli(['--help']);
    expect(r.out).toMatch(/^ +sandbox \[options\] \[scenario\] +run a scenario as a simulated cluster/m);
  });

  test('needs a scenario or a subcommand', async () => {
    const r = await cli(['sandbox']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('a scenario file is required (or a subcommand: probe, down)');
  });

  test('an unreadable scenario is bad input', async () => {
    const r = await cli(['sandbox', join(dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('no such file');
  });

  test('without declared ports it asks for --port before touching the machine', async () => {
    const r = await cli(['sandbox', join(dir, 'noports.yaml')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('choose probes with --port');
  });

  test('rejects an unknown topology', async () => {
    const r = await cli(['sandbox', join(dir, 'noports.yaml'), '--topology', 'mesh']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Allowed choices are routed, bridge');
  });

  test('rejects an unknown backend', async () => {
    const r = await cli(['sandbox', join(dir, 'noports.yaml'), '--backend', 'ebpf']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("option '--backend <backend>' argument 'ebpf' is invalid");
  });

  test.each(['iptables', 'nftables'] as const)(
    "every node's agent is started with --backend %s, before the operator's own arguments",
    (backend) => {
      const launch = agentLaunch(backend, ['--log-level', 'debug']);
      for (const node of ['node-1', 'node-2']) {
        const argv = fillTemplate(launch.agentArgv, {
          execPath: '/node',
          repo: '/repo',
          node,
          kubeconfig: '/k',
          metricsAddress: '127.0.0.1:9101',
          debugSocket: `/s/${node}.sock`,
        });
        expect(argv.slice(-4)).toEqual(['--backend', backend, '--log-level', 'debug']);
        expect(argv).toContain(node);
      }
    },
  );
});
