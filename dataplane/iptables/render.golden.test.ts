/**
 * Golden restore text for representative policies: what the first sync from an empty kernel
 * hands to ipset and iptables-restore, and what a few typical changes hand over afterwards.
 * Comparison is normalised (line endings, trailing blanks). Rewrite with UPDATE_GOLDEN=1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CompiledClusterPolicy, CompiledState, CompiledTierRule } from '../../compiler/ir';
import { createDataplane } from '../api';
import { FakeKernel } from './fake-kernel';
import {
  cidrSet,
  deltaBetween,
  fullDelta,
  named,
  namedPortSet,
  pod,
  podsSet,
  policy,
  port,
  rule,
  state,
  tcp,
  withMembers,
} from '../testutil/fixtures';

const GOLDEN_DIR = path.join(__dirname, 'golden');

function normalise(text: string): string {
  return `${text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim()}\n`;
}

function checkGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, `${name}.txt`);
  const text = normalise(actual);
  if (process.env.UPDATE_GOLDEN === '1' || !fs.existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1' && process.env.CI) throw new Error(`golden file ${file} missing`);
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    fs.writeFileSync(file, text);
  }
  expect(text).toBe(normalise(fs.readFileSync(file, 'utf8')));
}

/** The restore inputs of the ops after `from`, as one text with a header per process. */
function restoreText(k: FakeKernel, from: number): string {
  return k
    .opsSince(from)
    .filter((o) => o.tool === 'iptables-restore' || o.argv[1] === 'restore')
    .map((o) => `### ${o.argv.join(' ')}\n${o.input}`)
    .join('\n');
}

async function firstSync(
  s: CompiledState,
): Promise<{ k: FakeKernel; text: string; sync: (n: CompiledState) => Promise<string> }> {
  const k = new FakeKernel();
  const dp = createDataplane({ kernel: k });
  let prev = s;
  await dp.sync(s, fullDelta(s));
  return {
    k,
    text: restoreText(k, 0),
    sync: async (next) => {
      const from = k.ops.length;
      await dp.sync(next, deltaBetween(prev, next));
      prev = next;
      return restoreText(k, from);
    },
  };
}

const webDenyAll = state({
  pods: [pod('shop/web', { ips: ['10.1.0.5'], ingress: ['shop/default-deny'] })],
  policies: [policy('shop/default-deny', { ingress: [] })],
});

const allowFromNamespace = state({
  pods: [
    pod('shop/web', { ips: ['10.1.0.5'], ingress: ['shop/allow-frontend'] }),
    pod('shop/cache', { ips: ['10.1.0.6'] }),
  ],
  policies: [policy('shop/allow-frontend', { ingress: [rule(0, ['pods:frontend'], [tcp(80), tcp(443)])] })],
  peerSets: [
    podsSet('pods:frontend', ['10.2.0.1', '10.2.0.2'], {
      namespaceSelector: { matchLabels: { team: 'frontend' } },
      podSelector: { matchLabels: { app: 'ui' } },
    }),
  ],
});

const ipBlockDualStack = state({
  pods: [pod('shop/api', { ips: ['10.1.0.7', 'fd01::7'], egress: ['shop/egress-world'] })],
  policies: [
    policy('shop/egress-world', {
      egress: [
        rule(0, ['cidr:v4-world', 'cidr:v6-doc'], 'any'),
        rule(1, 'any', [port('UDP', 53), port('TCP', 53)]),
      ],
    }),
  ],
  peerSets: [
    cidrSet('cidr:v4-world', '0.0.0.0/0', ['10.0.0.0/8', '192.168.0.0/16']),
    cidrSet('cidr:v6-doc', '2001:db8::/32', ['2001:db8:dead::/48']),
  ],
});

const namedPorts = state({
  pods: [pod('shop/web', { ips: ['10.1.0.5', 'fd01::5'], ingress: ['shop/named'] })],
  policies: [
    policy('shop/named', {
      ingress: [rule(0, 'any', [named('http', 'np:http'), named('metrics', 'np:metrics')])],
    }),
  ],
  peerSets: [
    namedPortSet('np:http', 'http', 'TCP', ['10.1.0.5,tcp:8080', 'fd01::5,tcp:8080'], true),
    namedPortSet('np:metrics', 'metrics', 'TCP', ['10.1.0.5,tcp:9090'], true),
  ],
});

const portsAndProtocols = state({
  pods: [pod('telco/smf', { ips: ['10.1.0.9'], ingress: ['telco/ports'], egress: ['telco/ports'] })],
  policies: [
    policy('telco/ports', {
      ingress: [rule(0, 'any', [port('SCTP', 38412), port('TCP', 30000, 32767), port('UDP')])],
      egress: [rule(0, ['pods:amf'], [port('SCTP', 38412, 38415)])],
    }),
  ],
  peerSets: [
    podsSet('pods:amf', ['10.2.0.40', 'fd02::40'], {
      namespace: 'telco',
      podSelector: { matchLabels: { app: 'amf' } },
    }),
  ],
});

const cnp = (
  key: string,
  tier: 'admin' | 'baseline',
  priority: number,
  parts: { ingress?: CompiledTierRule[] | null; egress?: CompiledTierRule[] | null },
): CompiledClusterPolicy => ({
  key,
  name: key,
  tier,
  priority,
  ingress: parts.ingress ?? null,
  egress: parts.egress ?? null,
});

const tierRule = (
  index: number,
  action: CompiledTierRule['action'],
  peers: CompiledTierRule['peers'],
  ports: CompiledTierRule['ports'] = 'any',
): CompiledTierRule => ({ index, name: `rule-${index}`, action, peers, ports });

/**
 * ClusterNetworkPolicy tiers: kube-system reachable only from monitoring (admin: Accept then
 * Deny), same-namespace traffic passed to the namespace's own policies (admin Pass, later
 * priority), and a baseline default deny a NetworkPolicy can open.
 */
const clusterTiers = state({
  pods: [
    pod('kube-system/dns', {
      ips: ['10.1.0.10'],
      adminIngress: ['protect-kube-system'],
      baselineIngress: ['default-deny'],
    }),
    pod('shop/web', {
      ips: ['10.1.0.5'],
      ingress: ['shop/allow-frontend'],
      adminIngress: ['same-namespace-pass'],
      baselineIngress: ['default-deny'],
    }),
  ],
  policies: [policy('shop/allow-frontend', { ingress: [rule(0, ['pods:frontend'], [tcp(80)])] })],
  clusterPolicies: [
    cnp('protect-kube-system', 'admin', 10, {
      ingress: [
        tierRule(0, 'Accept', ['pods:monitoring'], [tcp(9153), port('UDP', 53)]),
        tierRule(1, 'Deny', 'any'),
      ],
    }),
    cnp('same-namespace-pass', 'admin', 20, { ingress: [tierRule(0, 'Pass', ['pods:shop'])] }),
    cnp('default-deny', 'baseline', 0, { ingress: [tierRule(0, 'Deny', ['cidr:all'])] }),
  ],
  peerSets: [
    podsSet('pods:frontend', ['10.2.0.1'], {
      namespace: 'shop',
      podSelector: { matchLabels: { app: 'ui' } },
    }),
    podsSet('pods:monitoring', ['10.2.0.9'], {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
      podSelector: {},
    }),
    podsSet('pods:shop', ['10.1.0.5', '10.2.0.1'], {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
      podSelector: {},
    }),
    cidrSet('cidr:all', '0.0.0.0/0'),
  ],
});

describe('golden restore text', () => {
  test.each([
    ['default-deny-ingress', webDenyAll],
    ['allow-from-namespace-selector', allowFromNamespace],
    ['ipblock-except-dual-stack', ipBlockDualStack],
    ['named-ports', namedPorts],
    ['ports-ranges-sctp-udp', portsAndProtocols],
    ['cluster-policy-tiers', clusterTiers],
  ])('%s', async (name, s) => {
    checkGolden(name, (await firstSync(s)).text);
  });

  test('changes: label change, new pod, new policy, policy removed', async () => {
    const { sync } = await firstSync(allowFromNamespace);
    const parts: string[] = [];
    const relabelled = withMembers(allowFromNamespace, 'pods:frontend', ['10.2.0.2', '10.2.0.3']);
    parts.push(`## label change\n${await sync(relabelled)}`);
    const newPod = state({
      pods: [
        ...relabelled.pods.values(),
        pod('shop/web-2', { ips: ['10.1.0.8'], ingress: ['shop/allow-frontend'] }),
      ],
      policies: [...relabelled.policies.values()],
      peerSets: [...relabelled.peerSets.values()],
    });
    parts.push(`## pod added\n${await sync(newPod)}`);
    const newPolicy = state({
      pods: [...newPod.pods.values()].map((p) =>
        p.key === 'shop/cache' ? pod('shop/cache', { ips: ['10.1.0.6'], ingress: ['shop/cache-deny'] }) : p,
      ),
      policies: [...newPod.policies.values(), policy('shop/cache-deny', { ingress: [] })],
      peerSets: [...newPod.peerSets.values()],
    });
    parts.push(`## policy added\n${await sync(newPolicy)}`);
    parts.push(`## policy removed\n${await sync(newPod)}`);
    checkGolden('changes', parts.join('\n'));
  });
});
