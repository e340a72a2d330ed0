/**
 * `palisade analyze` and `palisade explain` end to end: in-process through runCli (output
 * captured), and once as a real process on the built binary for exit status and stderr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CliContext } from './context';
import { runCli } from './program';

const SCENARIO = `apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: web}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: y, labels: {app: api}}
spec:
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: y, labels: {app: web}}
spec:
  containers: [{name: c, image: i, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: web}}
spec:
  containers: [{name: c, image: i}]
---
apiVersion: v1
kind: Pod
metadata: {name: h, namespace: x}
spec:
  hostNetwork: true
  containers: [{name: c, image: i}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: y}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: web}}
    ports:
    - {port: http}
  - from:
    - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
    ports:
    - {port: 8080, endPort: 8090}
`;

let dir: string;
let scenario: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-cli-'));
  scenario = join(dir, 'scenario.yaml');
  writeFileSync(scenario, SCENARIO);
  writeFileSync(
    join(dir, 'bad.yaml'),
    'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n',
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], tty = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    isTTY: tty,
    env: {},
    readFile: (p) => readFileSync(p, 'utf8'),
  };
  const code = await runCli(args, ctx);
  return { code, out, err };
}

describe('analyze', () => {
  test('JSON: every ordered pair of endpoints, pods sorted, externals last, no external pair', async () => {
    const r = await run([
      'analyze',
      scenario,
      '--port',
      '8080/TCP',
      '--external',
      '192.0.2.10',
      '--external',
      '192.0.2.200',
      '-o',
      'json',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.pods).toEqual(['x/b', 'x/h', 'y/a', 'y/web', '192.0.2.10', '192.0.2.200']);
    expect(j.probes).toHaveLength(1);
    const m = j.probes[0].allowed;
    expect(m['y/web']['y/a']).toBe(true); // http is 8080 on y/a
    expect(m['x/b']['y/a']).toBe(false); // app=web, but in namespace x
    expect(m['192.0.2.10']['y/a']).toBe(true);
    expect(m['192.0.2.200']['y/a']).toBe(false); // in the except
    expect(m['y/a']['y/web']).toBe(false); // y/web is isolated by deny-all
    expect(m['x/h']['y/web']).toBe(true); // x/h is the node y/web runs on: node traffic is always allowed
    expect(m['192.0.2.10']['192.0.2.200']).toBeUndefined();
    expect(m['y/a']['y/a']).toBeUndefined();
    expect(Object.keys(m['x/b'])).toEqual(['x/h', 'y/a', 'y/web', '192.0.2.10', '192.0.2.200']);
  });

  test('default probes: every declared container port; table style with . and X', async () => {
    const r = await run(['analyze', scenario]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        '80/TCP: 8 of 12 allowed (. allowed, X denied, rows from, columns to)',
        'from \\ to  x/b  x/h  y/a  y/web',
        'x/b        -    .    X    X',
        'x/h        .    -    .    .',
        'y/a        .    .    -    X',
        'y/web      .    .    X    -',
        '',
        '8080/TCP: 9 of 12 allowed (. allowed, X denied, rows from, columns to)',
        'from \\ to  x/b  x/h  y/a  y/web',
        'x/b        -    .    X    X',
        'x/h        .    -    .    .',
        'y/a        .    .    -    X',
        'y/web      .    .    .    -',
        '',
      ].join('\n'),
    );
  });

  test('colour only on a terminal', async () => {
    expect((await run(['analyze', scenario])).out).not.toContain('\u001b[');
    expect((await run(['analyze', scenario], true)).out).toContain('\u001b[31mX\u001b[0m');
  });
});

describe('explain', () => {
  test('denied: which policies isolate and which part of each rule failed', async () => {
    const r = await run(['explain', scenario, '--from', 'x/b', '--to', 'y/a', '--port', '8080/TCP']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        'DENIED: x/b -> y/a on 8080/TCP',
        'Egress from x/b: not isolated (no policy selects it for egress) → allowed.',
        'Ingress to y/a: isolated by y/allow-web, y/deny-all; no rule allows x/b on 8080/TCP → denied:',
        '  y/allow-web ingress[0] (from pods matching app=web in namespace y, on named port http/TCP): peer does not match: x/b is in namespace x, not y',
        '  y/allow-web ingress[1] (from addresses in 192.0.2.0/24 except 192.0.2.128/25, on 8080-8090/TCP): peer does not match: 10.244.1.12 is not in 192.0.2.0/24',
        '  y/deny-all: no ingress rules (it only isolates)',
        '',
      ].join('\n'),
    );
  });

  test('denied on the port: the named port resolves elsewhere', async () => {
    const r = await run(['explain', scenario, '--from', 'y/web', '--to', 'y/a', '--port', '80']);
    expect(r.out).toContain(
      '  y/allow-web ingress[0] (from pods matching app=web in namespace y, on named port http/TCP): port does not match: 80/TCP is not named port http/TCP (named port http is 8080/TCP on y/a)',
    );
  });

  test('allowed: the rule that admits, by index', async () => {
    const r = await run(['explain', scenario, '--from', '192.0.2.10', '--to', 'y/a', '--port', '8085/TCP']);
    expect(r.out).toBe(
      [
        'ALLOWED: 192.0.2.10 -> y/a on 8085/TCP',
        'Egress from 192.0.2.10: not a pod of the cluster, no policy applies → allowed.',
        'Ingress to y/a: isolated by y/allow-web, y/deny-all; allowed by y/allow-web ingress[1] (from addresses in 192.0.2.0/24 except 192.0.2.128/25, on 8080-8090/TCP).',
        '',
      ].join('\n'),
    );
  });

  test('except and hostNetwork wording', async () => {
    const ex = await run(['explain', scenario, '--from', '192.0.2.200', '--to', 'y/a', '--port', '8080']);
    expect(ex.out).toContain('peer does not match: 192.0.2.200 is in the except 192.0.2.128/25');
    const h = await run(['explain', scenario, '--from', 'y/a', '--to', 'x/h', '--port', '80']);
    expect(h.out).toContain(
      'Traffic between a pod and the node it runs on is always allowed (x/h uses the host network of node-1, where y/a runs).',
    );
    const hs = await run(['explain', scenario, '--from', 'x/h', '--to', 'y/a', '--port', '8080']);
    expect(hs.out).toBe(
      'ALLOWED: x/h -> y/a on 8080/TCP\nTraffic between a pod and the node it runs on is always allowed (x/h uses the host network of node-1, where y/a runs).\n',
    );
  });

  test('JSON carries the verdict and the text', async () => {
    const r = await run(['explain', scenario, '-f', 'y/web', '-t', 'y/a', '-p', '8080/tcp', '-o', 'json']);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ from: 'y/web', to: 'y/a', port: 8080, protocol: 'TCP', allowed: true });
    expect(j.verdict.ingress.allowedBy).toEqual([{ policy: 'y/allow-web', direction: 'ingress', rule: 0 }]);
    expect(j.explanation.headline).toBe('ALLOWED: y/web -> y/a on 8080/TCP');
  });
});

describe('audit mode', () => {
  const AUDITED = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop, annotations: {palisade.io/enforcement: audit}}
spec: {podSelector: {}}
`;
  let file: string;
  beforeAll(() => {
    file = join(dir, 'audit.yaml');
    writeFileSync(file, AUDITED);
  });

  test('analyze: the enforced matrix, and the cells an audited policy would change', async () => {
    const text = await run(['analyze', file]);
    expect(text.out).toContain('80/TCP: 2 of 2 allowed');
    expect(text.out).toContain('audit-mode policies, if enforced: 1 would be denied, 0 allowed');
    expect(text.out).toContain('would deny:  default/client -> shop/web');
    const json = JSON.parse((await run(['analyze', file, '-o', 'json'])).out);
    expect(json.probes[0].allowed['default/client']['shop/web']).toBe(true);
    expect(json.probes[0].audited['default/client']['shop/web']).toBe(false);
    expect(json.probes[0].audited['shop/web']['default/client']).toBe(true);
  });

  test('analyze without audited policies prints no audit matrix', async () => {
    const json = JSON.parse((await run(['analyze', scenario, '-o', 'json'])).out);
    expect(json.probes[0].audited).toBeUndefined();
  });

  test('explain: allowed as enforced, and what the audited policy would do', async () => {
    const r = await run([
      'explain',
      file,
      '--from',
      'default/client',
      '--to',
      'shop/web',
      '--port',
      '80/TCP',
    ]);
    expect(r.out).toMatch(/^ALLOWED: default\/client -> shop\/web on 80\/TCP/);
    expect(r.out).toContain('enforced, they would DENY it:');
    expect(r.out).toContain('isolated by shop/default-deny');
    const j = JSON.parse(
      (
        await run([
          'explain',
          file,
          '--from',
          'default/client',
          '--to',
          'shop/web',
          '--port',
          '80/TCP',
          '-o',
          'json',
        ])
      ).out,
    );
    expect(j.allowed).toBe(true);
    expect(j.verdict.audited.allowed).toBe(false);
  });
});

describe('bad input: one clear message on stderr, exit status 2, nothing on stdout', () => {
  test.each([
    [['analyze', '/nonexistent.yaml'], 'palisade: cannot read scenario /nonexistent.yaml: no such file\n'],
    [
      ['explain', 'SCEN', '--from', 'x/zz', '--to', 'y/a', '--port', '80'],
      'palisade: --from x/zz: no such pod in SCEN (pods: y/a, y/web, x/b, x/h)\n',
    ],
    [
      ['explain', 'SCEN', '--from', '1.2.3.4', '--to', '5.6.7.8', '--port', '80'],
      'palisade: --from and --to are both addresses: at least one end must be a pod of the scenario\n',
    ],
  ])('%j', async (args, message) => {
    const r = await run(args.map((a) => (a === 'SCEN' ? scenario : a)));
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(message.replace('SCEN', scenario));
  });

  test('usage errors from commander exit 2', async () => {
    const r = await run(['analyze', scenario, '--port', '80/ICMP']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('unknown protocol "ICMP": use TCP, UDP or SCTP');
    const m = await run(['explain', scenario, '--from', 'x/b']);
    expect(m.code).toBe(2);
    expect(m.err).toContain("required option '-t, --to <endpoint>' not specified");
  });

  test('an invalid scenario lists every error', async () => {
    const r = await run(['analyze', join(dir, 'bad.yaml')]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      `palisade: invalid scenario ${join(dir, 'bad.yaml')} (1 error):\n  ${join(dir, 'bad.yaml')}: document 1 (Pod default/a): spec.containers[0].image: required value (line 4)\n`,
    );
  });

  test('--help shows examples', async () => {
    for (const cmd of ['analyze', 'explain']) {
      const r = await run([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain('Examples:');
    }
  });
});

describe('the built binary', () => {
  const root = resolve(__dirname, '../..');
  const main = join(root, 'dist/agent/cli/main.js');

  beforeAll(() => {
    if (!existsSync(main)) {
      // Build once if needed (`npm run build`); other engineers' in-progress files may report type
      // errors, but tsc still emits, and this test only needs the CLI's own output.
      spawnSync(
        process.execPath,
        [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
        {
          cwd: root,
          stdio: 'ignore',
        },
      );
    }
  }, 180_000);

  test('bad input: exit status 2, one line on stderr, no stack trace, nothing on stdout', () => {
    expect(existsSync(main)).toBe(true);
    const r = spawnSync(
      process.execPath,
      [main, 'explain', scenario, '--from', 'x/nope', '--to', 'y/a', '--port', '80'],
      {
        encoding: 'utf8',
        env: { ...process.env, PALISADE_DEBUG: '' },
      },
    );
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^palisade: --from x\/nope: no such pod in /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('analyze prints JSON and exits 0', () => {
    const r = spawnSync(process.execPath, [main, 'analyze', scenario, '-o', 'json', '-p', '80'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).pods).toEqual(['x/b', 'x/h', 'y/a', 'y/web']);
  });
});
