/**
 * The session docs/operator-cli.md shows, run for real: `palisade sandbox` on the access-nginx
 * example with --keep prints where each node's agent answers; the operator commands, as
 * processes, get the known answers from node-1's agent; `sandbox down` removes it all.
 * Needs root and `npm run build`; the sandbox state lives in a temporary directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeKernel } from '../../../dataplane/testutil/netns';
import { palisade } from '../live/testutil/cli-process';

jest.setTimeout(240_000);

const EXAMPLE = resolve(__dirname, '../../../examples/02-access-nginx.yaml');

describeKernel('a kept sandbox answers the operator commands', () => {
  let stateDir: string;
  let id: string | undefined;
  const env = () => ({ PALISADE_SANDBOX_STATE_DIR: stateDir });

  beforeAll(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'palisade-sandbox-state-'));
  });

  afterAll(async () => {
    if (id) await palisade(['sandbox', 'down', '--id', id], env());
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('--keep prints each agent’s socket; status, rules, explain and diff answer there', async () => {
    const run = await palisade(['sandbox', EXAMPLE, '--keep', '-q'], env());
    expect(run.code).toBe(0);
    id = /sandbox (\w{4}) kept/.exec(run.stderr)?.[1];
    expect(id).toBeDefined();
    expect(run.stderr).toContain(
      `sandbox ${id}: its agents answer \`palisade status|rules|explain|diff|chains|ipsets --agent SOCKET\` (as root):`,
    );
    const sockets = new Map(
      [...run.stderr.matchAll(/^ {2}(node-\d) {2}(\S+\.sock)$/gm)].map((m) => [m[1], m[2]] as const),
    );
    expect([...sockets.keys()]).toEqual(['node-1', 'node-2']);
    expect(sockets.get('node-1')).toBe(join(stateDir, id!, 'sock', 'agent-n1.sock'));

    const agent = sockets.get('node-1')!;
    const cli = (...args: string[]) => palisade([...args, '--agent', agent]);
    const status = JSON.parse((await cli('status', '-o', 'json')).stdout);
    expect(status).toMatchObject({ node: 'node-1', ready: true, counts: { localPods: 2, policies: 1 } });

    const rules = JSON.parse((await cli('rules', 'default/nginx', '-o', 'json')).stdout);
    expect(rules.ingress.policies.map((p: { key: string }) => p.key)).toEqual(['default/access-nginx']);
    expect(rules.ingress.policies[0].rules[0].peers[0].members).toEqual([
      { address: '10.244.2.10', pod: 'default/foo', node: 'node-2' },
    ]);

    const allowed = await cli(
      'explain',
      '--from',
      'default/foo',
      '--to',
      'default/nginx',
      '--port',
      '80/TCP',
    );
    expect(allowed.stdout.split('\n')[0]).toBe(
      'ALLOWED: default/foo -> default/nginx on 80/TCP (by node-1; the egress of default/foo is decided on node-2)',
    );
    expect(allowed.stdout).toMatch(
      /^> PALISADE-PI-\S+ #1 .* default\/access-nginx ingress rule 0; 10\.244\.2\.10 in PALISADE-P4-/m,
    );
    const denied = await cli('explain', '--from', 'default/bar', '--to', 'default/nginx', '--port', '80/TCP');
    expect(denied.stdout.split('\n')[0]).toBe('DENIED: default/bar -> default/nginx on 80/TCP');
    expect(denied.stdout).toMatch(
      /=> dropped by PALISADE-WI-nginx-\S+ #\d+ \(pod default\/nginx: no policy allows ingress\)/,
    );

    expect(await cli('diff')).toEqual({ code: 0, stdout: '', stderr: '' });

    const down = await palisade(['sandbox', 'down', '--id', id!], env());
    expect(down.code).toBe(0);
    id = undefined;
    const gone = await cli('status');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`cannot reach the palisade agent at socket ${agent}: no such socket`);
  });
});
