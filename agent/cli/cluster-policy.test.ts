/**
 * `palisade analyze` and `palisade explain` over ClusterNetworkPolicies and NetworkPolicies
 * together: the deciding tier, policy, rule (index and name) and priority; Pass rules met on
 * the way; a same-priority tie broken by name order; the default when no tier decides; and the
 * warning for domainNames peers. Text and JSON, in-process through runCli.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliContext } from './context';
import { runCli } from './program';

// sensitive/db is held by two Admin policies of equal priority (admin-a passes ops and denies
// everyone else, admin-b accepts dev); ops may reach it through sensitive's own NetworkPolicy.
// A Baseline policy denies every ingress, except that it passes ops on; dev's NetworkPolicy
// opens dev/api to its namespace. dev/web's egress meets an Admin policy with a domainNames
// peer (not enforced) and a network deny.
const SCENARIO = `apiVersion: v1
kind: Namespace
metadata: {name: sensitive, labels: {team: sensitive}}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: sensitive, labels: {app: db}}
spec:
  containers: [{name: c, image: i, ports: [{name: pg, containerPort: 5432}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: dev, labels: {app: web}}
spec:
  containers: [{name: c, image: i, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: dev, labels: {app: api}}
spec:
  containers: [{name: c, image: i}]
---
apiVersion: v1
kind: Pod
metadata: {name: mon, namespace: ops, labels: {app: monitoring}}
spec:
  containers: [{name: c, image: i}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: admin-a}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {matchLabels: {team: sensitive}}}
  ingress:
  - name: pass-monitoring
    action: Pass
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: ops}}}]
  - name: deny-all
    action: Deny
    from: [{namespaces: {}}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: admin-b}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {matchLabels: {team: sensitive}}}
  ingress:
  - name: accept-dev
    action: Accept
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: dev}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: egress-guard}
spec:
  tier: Admin
  priority: 1
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}
  egress:
  - name: allow-example
    action: Accept
    to: [{domainNames: [example.com]}]
  - name: deny-test-net
    action: Deny
    to: [{networks: [192.0.2.0/24]}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: baseline-deny}
spec:
  tier: Baseline
  priority: 100
  subject: {namespaces: {}}
  ingress:
  - name: pass-ops
    action: Pass
    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: ops}}}]
  - name: default-deny
    action: Deny
    from: [{namespaces: {}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-ops, namespace: sensitive}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ops}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-same-namespace, namespace: dev}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {}}]
`;

let dir: string;
let scenario: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-cnp-cli-'));
  scenario = join(dir, 'cnp.yaml');
  writeFileSync(scenario, SCENARIO);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    isTTY: false,
    env: {},
    readFile: (p) => readFileSync(p, 'utf8'),
  };
  const code = await runCli(
    args.map((a) => (a === 'SCEN' ? scenario : a)),
    ctx,
  );
  return { code, out, err };
}

const DOMAIN_WARNING =
  'palisade: warning: ClusterNetworkPolicy egress-guard: egress rule 0 "allow-example" (Accept) has domainNames peers, which Palisade does not enforce; Palisade treats the rule as matching no traffic (the API\'s fail-closed rule for Accept)\n';

describe('analyze over both APIs', () => {
  test('the matrix, and a warning naming the policy and rule with domainNames peers', async () => {
    const r = await run(['analyze', 'SCEN', '--port', '80/TCP']);
    expect(r.code).toBe(0);
    expect(r.err).toBe(DOMAIN_WARNING);
    expect(r.out).toBe(
      [
        '80/TCP: 3 of 12 allowed (. allowed, X denied, rows from, columns to)',
        'from \\ to     dev/api  dev/web  ops/mon  sensitive/db',
        'dev/api       -        X        X        X',
        'dev/web       .        -        X        X',
        'ops/mon       X        .        -        .',
        'sensitive/db  X        X        X        -',
        '',
      ].join('\n'),
    );
  });

  test('JSON output is unchanged in shape; the warning stays on stderr', async () => {
    const r = await run(['analyze', 'SCEN', '-p', '5432', '-o', 'json']);
    expect(r.err).toBe(DOMAIN_WARNING);
    const m = JSON.parse(r.out).probes[0].allowed;
    expect(m['dev/web']['sensitive/db']).toBe(false); // Admin deny, though admin-b accepts dev
    expect(m['ops/mon']['sensitive/db']).toBe(true); // Admin Pass, then sensitive's NetworkPolicy
  });
});

describe('explain names the deciding tier, policy, rule and priority', () => {
  test('Admin Deny, and the same-priority tie the name order broke', async () => {
    const r = await run(['explain', 'SCEN', '--from', 'dev/web', '--to', 'sensitive/db', '--port', '5432']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        'DENIED: dev/web -> sensitive/db on 5432/TCP',
        'Egress from dev/web: Admin tier: no rule of egress-guard matches; NetworkPolicy tier: no policy isolates it for egress; no tier decided, so the default allows it → allowed.',
        'Ingress to sensitive/db: Admin tier: ClusterNetworkPolicy admin-a (priority 5) ingress[1] "deny-all" (Deny from every pod in every namespace, on any port) → denied.',
        '  Tie: admin-a and admin-b ingress[0] "accept-dev" (Accept) have the same priority 5 and match too; the API leaves their order undefined, Palisade orders by name, so admin-a is evaluated first.',
        '',
      ].join('\n'),
    );
  });

  test('an Admin Pass hands over to the NetworkPolicy tier, which decides', async () => {
    const r = await run(['explain', 'SCEN', '--from', 'ops/mon', '--to', 'sensitive/db', '--port', '5432']);
    expect(r.out).toBe(
      [
        'ALLOWED: ops/mon -> sensitive/db on 5432/TCP',
        'Egress from ops/mon: not isolated (no policy selects it for egress) → allowed.',
        'Ingress to sensitive/db: Admin tier: ClusterNetworkPolicy admin-a (priority 5) ingress[0] "pass-monitoring" (Pass from every pod in namespaces matching kubernetes.io/metadata.name=ops, on any port) passes it on to the next tiers; NetworkPolicy tier: isolated by sensitive/allow-ops; allowed by sensitive/allow-ops ingress[0] (from every pod in namespaces matching kubernetes.io/metadata.name=ops, on any port).',
        '',
      ].join('\n'),
    );
  });

  test('Baseline Deny where no NetworkPolicy isolates; a NetworkPolicy overrides the Baseline', async () => {
    const denied = await run(['explain', 'SCEN', '--from', 'dev/api', '--to', 'ops/mon', '--port', '80']);
    expect(denied.out).toContain(
      'Ingress to ops/mon: NetworkPolicy tier: no policy isolates it for ingress; Baseline tier: ClusterNetworkPolicy baseline-deny (priority 100) ingress[1] "default-deny" (Deny from every pod in every namespace, on any port) → denied.',
    );
    const opened = await run(['explain', 'SCEN', '--from', 'dev/web', '--to', 'dev/api', '--port', '80']);
    expect(opened.out).toContain(
      'Ingress to dev/api: NetworkPolicy tier: isolated by dev/allow-same-namespace; allowed by dev/allow-same-namespace ingress[0] (from every pod in namespace dev, on any port).',
    );
  });

  test('a Baseline Pass: no tier decides, the default allows', async () => {
    const r = await run(['explain', 'SCEN', '--from', 'ops/mon', '--to', 'dev/web', '--port', '80']);
    expect(r.out).toContain(
      'Ingress to dev/web: NetworkPolicy tier: no policy isolates it for ingress; Baseline tier: ClusterNetworkPolicy baseline-deny (priority 100) ingress[0] "pass-ops" (Pass from every pod in namespaces matching kubernetes.io/metadata.name=ops, on any port) passes; no tier decided, so the default allows it → allowed.',
    );
  });

  test('egress to a network; the domainNames Accept rule matches nothing (fail closed)', async () => {
    const r = await run(['explain', 'SCEN', '--from', 'dev/web', '--to', '192.0.2.9', '--port', '80']);
    expect(r.err).toBe(DOMAIN_WARNING);
    expect(r.out).toContain(
      'Egress from dev/web: Admin tier: ClusterNetworkPolicy egress-guard (priority 1) egress[1] "deny-test-net" (Deny to addresses in 192.0.2.0/24, on any port) → denied.',
    );
  });

  test('JSON: per direction the deciding tier and rule, Pass rules met, and the tie', async () => {
    const denied = JSON.parse(
      (await run(['explain', 'SCEN', '-f', 'dev/web', '-t', 'sensitive/db', '-p', '5432', '-o', 'json'])).out,
    );
    expect(denied.allowed).toBe(false);
    expect(denied.explanation.decisions).toEqual([
      { direction: 'egress', allowed: true, decidedBy: 'default', passed: [], tiedWith: [] },
      {
        direction: 'ingress',
        allowed: false,
        decidedBy: 'admin',
        rule: {
          tier: 'Admin',
          policy: 'admin-a',
          priority: 5,
          rule: 1,
          ruleName: 'deny-all',
          action: 'Deny',
        },
        passed: [],
        tiedWith: [
          {
            tier: 'Admin',
            policy: 'admin-b',
            priority: 5,
            rule: 0,
            ruleName: 'accept-dev',
            action: 'Accept',
          },
        ],
      },
    ]);
    expect(denied.verdict.ingress.clusterRule).toEqual({
      tier: 'admin',
      policy: 'admin-a',
      priority: 5,
      direction: 'ingress',
      rule: 1,
      ruleName: 'deny-all',
      action: 'Deny',
    });
    const passed = JSON.parse(
      (await run(['explain', 'SCEN', '-f', 'ops/mon', '-t', 'dev/web', '-p', '80', '-o', 'json'])).out,
    );
    expect(passed.explanation.decisions[1]).toEqual({
      direction: 'ingress',
      allowed: true,
      decidedBy: 'default',
      passed: [
        {
          tier: 'Baseline',
          policy: 'baseline-deny',
          priority: 100,
          rule: 0,
          ruleName: 'pass-ops',
          action: 'Pass',
        },
      ],
      tiedWith: [],
    });
  });
});

test('an invalid ClusterNetworkPolicy: every error with file, document, field and line; exit 2', async () => {
  const bad = join(dir, 'bad-cnp.yaml');
  writeFileSync(
    bad,
    `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: p}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress:
  - action: Deny
    from: [{networks: [10.0.0.0/8]}]
  egress:
  - action: Accept
    to: [{networks: [10.0.0.0/33]}]
`,
  );
  const r = await run(['analyze', bad, '-p', '80']);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err).toBe(
    [
      `palisade: invalid scenario ${bad} (3 errors):`,
      `  ${bad}: document 1 (ClusterNetworkPolicy p): spec.ingress[0].from[0].networks: unknown field (an ingress peer is namespaces or pods; networks, nodes and domainNames are egress peers) (line 10)`,
      `  ${bad}: document 1 (ClusterNetworkPolicy p): spec.ingress[0].from[0]: must set exactly one of namespaces, pods (has none) (line 10)`,
      `  ${bad}: document 1 (ClusterNetworkPolicy p): spec.egress[0].to[0].networks[0]: "10.0.0.0/33": Invalid CIDR format provided (line 13)`,
      '',
    ].join('\n'),
  );
});
