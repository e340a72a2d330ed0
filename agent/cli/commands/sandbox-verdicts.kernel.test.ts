/**
 * Verdict logs in a kept sandbox, with the built CLI as processes (needs root and `npm run build`):
 *   - an audit-mode default deny (namespace shop) changes no probe result: the probed matrix
 *     equals the one without it (everything into shop reachable);
 *   - `palisade sandbox watch --id ID` (every node's agent) reports as would-deny exactly the
 *     cells `palisade analyze` denies when that policy is enforced, each naming it;
 *   - `palisade sandbox probe` names, under the matrix, the policy the kernel reported dropping
 *     each denied cell (an enforced deny in namespace bank), on the node that dropped it.
 * Five pods on two nodes, one probe (80/TCP): about a minute.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeKernel } from '../../../dataplane/testutil/netns';
import { palisade } from '../live/testutil/cli-process';

jest.setTimeout(240_000);

const pod = (ns: string, name: string, node: string, ports = true): string => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${name}}}
spec:
  nodeName: ${node}
  containers:
  - name: c
    image: busybox:1.36
${ports ? '    ports: [{containerPort: 80}]\n' : ''}`;

const PODS = [
  pod('shop', 'web', 'node-1'),
  pod('shop', 'db', 'node-2'),
  pod('bank', 'vault', 'node-1'),
  pod('bank', 'teller', 'node-2'),
  pod('client', 'c', 'node-1'),
];

/** shop's default deny, in audit mode or enforced. */
const shopDeny = (audit: boolean): string => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: shop
${audit ? '  annotations: {palisade.io/enforcement: audit}\n' : ''}spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

/** bank admits ingress from its own namespace only (enforced). */
const BANK_OWN = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: own-namespace, namespace: bank}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {}}]}]
`;

const scenario = (docs: string[]): string => docs.join('---\n');

type Matrix = { pods: string[]; probes: { allowed: Record<string, Record<string, boolean>> }[] };

const deniedOf = (m: Matrix): string[] =>
  Object.entries(m.probes[0].allowed)
    .flatMap(([from, row]) =>
      Object.entries(row)
        .filter(([, ok]) => !ok)
        .map(([to]) => `${from} -> ${to}`),
    )
    .sort();

describeKernel('verdict logs in a kept sandbox: watch, audit mode, who dropped each cell', () => {
  let dir: string;
  let id: string | undefined;
  const env = () => ({ PALISADE_SANDBOX_STATE_DIR: join(dir, 'state') });
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-sandbox-verdicts-'));
  });

  afterAll(async () => {
    if (id) await palisade(['sandbox', 'down', '--id', id], env());
    rmSync(dir, { recursive: true, force: true });
  });

  test('an audited default deny changes no probe; watch reports what enforcing it would deny', async () => {
    const audited = file('audited.yaml', scenario([...PODS, shopDeny(true), BANK_OWN]));
    const run = await palisade(['sandbox', audited, '--keep', '-q', '-o', 'json'], env());
    // Noted before anything is checked, so afterAll tears the sandbox down whatever fails.
    id = /sandbox (\w{4}) kept/.exec(run.stderr)?.[1];
    expect([run.code, run.stderr]).toEqual([0, expect.stringContaining('equals `palisade analyze`')]);
    expect(id).toBeDefined();

    // The probe result is the one without the audited policy: shop is reachable from everywhere.
    const probed = JSON.parse(run.stdout) as Matrix;
    const without = await palisade([
      'analyze',
      file('without.yaml', scenario([...PODS, BANK_OWN])),
      '-o',
      'json',
    ]);
    expect(probed).toEqual(JSON.parse(without.stdout));
    expect(deniedOf(probed).filter((c) => c.endsWith('shop/web') || c.endsWith('shop/db'))).toEqual([]);

    // What enforcing it would deny into shop, by analyze.
    const enforced = await palisade([
      'analyze',
      file('enforced.yaml', scenario([...PODS, shopDeny(false), BANK_OWN])),
      '-o',
      'json',
    ]);
    const wouldDeny = deniedOf(JSON.parse(enforced.stdout) as Matrix).filter((c) => / -> shop\//.test(c));
    expect(wouldDeny).toHaveLength(8); // every other pod -> web and db

    const watch = await palisade(
      [
        'sandbox',
        'watch',
        '--id',
        id!,
        '--verdict',
        'would-deny',
        '--since',
        '1h',
        '--no-follow',
        '-o',
        'json',
      ],
      env(),
    );
    expect(watch.code).toBe(0);
    const events = watch.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            src: { pod: string };
            dst: { pod: string; ip: string };
            node: string;
            policies: string[];
            dstPort: number;
          },
      );
    const cells = [...new Set(events.map((e) => `${e.src.pod} -> ${e.dst.pod}`))].sort();
    expect(cells).toEqual(wouldDeny);
    for (const e of events) {
      expect(e).toMatchObject({
        verdict: 'would-deny',
        direction: 'ingress',
        policies: ['shop/deny-all'],
        dstPort: 80,
      });
      // Reported by the node of the pod whose ingress decided.
      expect(e.node).toBe(e.dst.pod === 'shop/web' ? 'node-1' : 'node-2');
    }
  });

  test('sandbox probe names the policy each denied cell was dropped by, on the node that dropped it', async () => {
    const r = await palisade(['sandbox', 'probe', '--id', id!], env());
    expect(r.code).toBe(0);
    const section = r.stdout.slice(r.stdout.indexOf('Denied cells:'));
    const rows = section
      .split('\n')
      .slice(2)
      .filter((l) => l.trim() !== '');
    // Every pod outside bank -> vault and teller: three sources, two destinations.
    expect(rows).toHaveLength(6);
    for (const row of rows) {
      const m =
        /^80\/TCP\s+(\S+) -> (bank\/\w+)\s+(node-\d)\s+ingress: NetworkPolicy bank\/own-namespace: isolates \2, no rule admits$/.exec(
          row,
        );
      expect(m).not.toBeNull();
      expect(m![3]).toBe(m![2] === 'bank/vault' ? 'node-1' : 'node-2');
    }
  });
});
