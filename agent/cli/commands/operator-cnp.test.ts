/**
 * The operator commands with ClusterNetworkPolicies, in-process against a whole agent over the
 * dataplane's FakeKernel and the real test API server with the CRD installed: `status` says the
 * CRD is there and names the rule it cannot enforce, `rules` lists the tiers in evaluation order
 * with rule names, live `explain` names the deciding tier, policy, rule and priority (text and
 * JSON). The cluster is live/testutil/scenario.ts plus:
 *
 *   guard-x (Admin, priority 5):   subject team=x; ingress "pass-y" Pass from team=y,
 *                                  "deny-rest" Deny from every namespace
 *   baseline (Baseline, 100):      subject every namespace; ingress "deny-all" Deny
 *   egress-dns (Admin, 1):         subject app=client; egress "dns" Accept to domainNames
 */
import { CLUSTER_NETWORK_POLICY_CRD, type KubeObject } from '../../../e2e/apiserver';
import { clusterObjects } from '../live/testutil/scenario';
import { startInProcessAgent, type InProcessAgent } from '../live/testutil/in-process-agent';

let a: InProcessAgent<'iptables'>;

function cnp(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name },
    spec,
  };
}

beforeAll(async () => {
  a = await startInProcessAgent({
    backend: 'iptables',
    prefix: 'palisade-operator-cnp-',
    resyncInterval: '1m',
    objects: [
      ...clusterObjects(),
      structuredClone(CLUSTER_NETWORK_POLICY_CRD),
      cnp('guard-x', {
        tier: 'Admin',
        priority: 5,
        subject: { namespaces: { matchLabels: { team: 'x' } } },
        ingress: [
          { name: 'pass-y', action: 'Pass', from: [{ namespaces: { matchLabels: { team: 'y' } } }] },
          { name: 'deny-rest', action: 'Deny', from: [{ namespaces: {} }] },
        ],
      }),
      cnp('baseline', {
        tier: 'Baseline',
        priority: 100,
        subject: { namespaces: {} },
        ingress: [{ name: 'deny-all', action: 'Deny', from: [{ namespaces: {} }] }],
      }),
      cnp('egress-dns', {
        tier: 'Admin',
        priority: 1,
        subject: { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: 'client' } } } },
        egress: [{ name: 'dns', action: 'Accept', to: [{ domainNames: ['example.com'] }] }],
      }),
    ],
  });
});

afterAll(async () => {
  await a?.stop();
});

const live = (...args: string[]) => a.live(...args);
const json = (...args: string[]) => a.json(...args);

const DNS_WARNING =
  'ClusterNetworkPolicy egress-dns: egress rule 0 "dns" (Accept) has domainNames peers, which Palisade does not enforce; Palisade treats the rule as matching no traffic (the API\'s fail-closed rule for Accept)';

test('status: the CRD is installed, the counts, and the rule Palisade cannot enforce', async () => {
  const s = await json('status');
  expect(s.clusterNetworkPolicyCrd).toBe('installed');
  expect(s.counts).toMatchObject({ clusterNetworkPolicies: 3, clusterNetworkPoliciesInCluster: 3 });
  expect(s.unsupported).toEqual([DNS_WARNING]);
  expect(s.watches.find((w: { resource: string }) => w.resource === 'clusternetworkpolicies')).toMatchObject({
    state: 'watching',
    objects: 3,
    served: true,
  });
  const text = (await live('status')).out;
  expect(text).toMatch(
    /^ {2}Tiers: +ClusterNetworkPolicy CRD installed: Admin and Baseline tiers enforced \(3 policies\)$/m,
  );
  expect(text).toContain(`warning: ${DNS_WARNING}`);
  expect(text).toMatch(/^ {2}CNPs +3 {2}ClusterNetworkPolicies holding local pods \(3 in the cluster\)$/m);
});

test('rules: the tiers in evaluation order, each rule with its name, action and peers', async () => {
  const r = await json('rules', 'x/a');
  expect(
    r.ingress.admin.map((p: { name: string; tier: string; priority: number }) => [
      p.name,
      p.tier,
      p.priority,
    ]),
  ).toEqual([['guard-x', 'Admin', 5]]);
  expect(r.ingress.baseline.map((p: { name: string }) => p.name)).toEqual(['baseline']);
  const [pass, deny] = r.ingress.admin[0].rules;
  expect(pass).toMatchObject({ index: 0, name: 'pass-y', action: 'Pass' });
  expect(pass.text).toBe('Pass from every pod in namespaces matching team=y, on any port');
  expect(pass.peers[0].members.map((m: { pod: string }) => m.pod)).toEqual(['y/c', 'y/r']);
  expect(deny).toMatchObject({ index: 1, name: 'deny-rest', action: 'Deny', ports: 'any' });
  // Each rule's kernel rule, in the policy's own chain, as the kernel holds it.
  const chain = r.ingress.admin[0].chains[0];
  expect(chain).toMatchObject({ family: 4, state: 'in sync' });
  expect(chain.name).toMatch(/^PALISADE-CI-guard-x-/);
  expect(pass.kernel).toEqual([
    expect.objectContaining({
      chain: chain.name,
      rule: 1,
      state: 'in kernel',
      note: 'cnp guard-x ingress rule 0 Pass',
    }),
  ]);
  // The Deny goes to its log point's chain (the agent logs drops by default), which drops.
  expect(deny.kernel).toEqual([
    expect.objectContaining({
      chain: chain.name,
      rule: 2,
      state: 'in kernel',
      note: 'cnp guard-x ingress rule 1 Deny',
    }),
    expect.objectContaining({
      chain: expect.stringMatching(/^PALISADE-L-/),
      spec: '-j DROP',
      state: 'in kernel',
      note: 'cnp guard-x ingress rule 1 Deny',
    }),
  ]);
  expect(r.ingress.admin[0].subject).toBe('every pod in namespaces matching team=x');
  // y/c's egress: the domainNames rule is Accept, so it matches nothing (fail closed).
  const c = await json('rules', 'y/c');
  expect(c.egress.admin[0].rules[0]).toMatchObject({
    name: 'dns',
    action: 'Accept',
    peers: [],
    unsupported: ['domainNames'],
  });

  const text = (await live('rules', 'x/a')).out;
  expect(text).toContain('Ingress, in evaluation order (the first tier that decides wins):');
  expect(text).toContain(
    'Admin tier: 1 ClusterNetworkPolicy, by priority then name; the first matching rule decides (Pass: on to the next tiers).',
  );
  expect(text).toContain('  guard-x (priority 5, subject every pod in namespaces matching team=x)');
  expect(text).toContain(
    '    rule 0 "pass-y": Pass from every pod in namespaces matching team=y, on any port',
  );
  expect(text).toContain(
    'NetworkPolicy tier: isolated by 2 policies; they decide: allowed only what a rule below admits.',
  );
  expect(text).toContain(
    'Baseline tier: 1 ClusterNetworkPolicy (not reached: the NetworkPolicy tier decides).',
  );
  const cText = (await live('rules', 'y/c')).out;
  expect(cText).toContain(
    'domainNames peers are not enforced by Palisade: treated as matching no traffic (fail closed)',
  );
});

test('explain: an Admin Pass hands over to the NetworkPolicies; an Admin Deny decides; the Baseline decides where nothing isolates', async () => {
  const passed = await json('explain', '--from', 'y/c', '--to', 'x/a', '--port', '80');
  expect(passed.allowed).toBe(true);
  expect(passed.verdict.ingress.passedBy).toEqual([
    {
      tier: 'admin',
      policy: 'guard-x',
      priority: 5,
      direction: 'ingress',
      rule: 0,
      ruleName: 'pass-y',
      action: 'Pass',
    },
  ]);
  // The kernel path: the Pass rule of guard-x, then the NetworkPolicy rule that admits.
  const notes = passed.kernelPath.steps.map((st: { note: string }) => st.note);
  expect(notes).toContain('cnp guard-x ingress rule 0 Pass');
  expect(passed.kernelPath.decidedBy).toMatchObject({ note: 'x/allow-web ingress rule 0' });
  expect(passed.kernelAgrees).toBe(true);
  expect(passed.explanation.details[1]).toBe(
    'Ingress to x/a: Admin tier: ClusterNetworkPolicy guard-x (priority 5) ingress[0] "pass-y" (Pass from every pod in namespaces matching team=y, on any port) passes it on to the next tiers; NetworkPolicy tier: isolated by x/allow-web, x/deny; allowed by x/allow-web ingress[0] (from every pod in namespaces matching team=y, on named port http/TCP).',
  );

  const denied = await json('explain', '--from', 'x/b', '--to', 'x/a', '--port', '80');
  expect(denied.allowed).toBe(false);
  expect(denied.explanation.decisions[1]).toEqual({
    direction: 'ingress',
    allowed: false,
    decidedBy: 'admin',
    rule: { tier: 'Admin', policy: 'guard-x', priority: 5, rule: 1, ruleName: 'deny-rest', action: 'Deny' },
    passed: [],
    tiedWith: [],
  });

  expect(denied.kernelPath).toMatchObject({
    result: 'dropped',
    decidedBy: { note: 'cnp guard-x ingress rule 1 Deny' },
  });
  expect(denied.kernelAgrees).toBe(true);
  const deniedText = (await live('explain', '--from', 'x/b', '--to', 'x/a', '--port', '80')).out;
  expect(deniedText).toMatch(/^ {2}=> dropped by PALISADE-L-\S+ #\d+ \(cnp guard-x ingress rule 1 Deny\)$/m);

  const baseline = await live('explain', '--from', 'x/a', '--to', 'y/c', '--port', '80');
  expect(baseline.out).toContain(
    'Ingress to y/c: NetworkPolicy tier: no policy isolates it for ingress; Baseline tier: ClusterNetworkPolicy baseline (priority 100) ingress[0] "deny-all" (Deny from every pod in every namespace, on any port) → denied.',
  );
});

test('chains and ipsets: a ClusterNetworkPolicy chain by its name, its kind as the dataplane gives it', async () => {
  const c = await json('chains', '--policy', 'guard-x');
  expect(
    c.chains.map((ch: { name: string; kind: string; owner: string; state: string }) => [
      ch.kind,
      ch.owner,
      ch.state,
    ]),
  ).toEqual([['clusterPolicy', 'guard-x', 'in sync']]);
  expect(c.chains[0].rules.map((r: { note: string }) => r.note)).toEqual([
    'cnp guard-x ingress rule 0 Pass',
    'cnp guard-x ingress rule 1 Deny',
  ]);
  const sets = await json('ipsets');
  const everyPod = sets.ipsets.find(
    (s: { selects?: string }) => s.selects === 'every pod in every namespace',
  );
  expect(everyPod.policies).toEqual(['baseline', 'guard-x']);
});
