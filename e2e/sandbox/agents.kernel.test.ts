/**
 * The whole chain with real packets: the test API server in the fabric namespace, one
 * `palisade agent` per node namespace (from dist/: `npm run build` first, as `make test` does),
 * and the probed matrix equal, cell for cell, to what `palisade analyze` computes. The agents
 * program only their node namespaces: the host's own ruleset gains nothing. The API server
 * also answers from the host namespace, at the address of the sandbox's kubeconfig.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeScenario } from '../../agent/cli/analysis';
import { loadScenario } from '../../compiler/scenario';
import { enforcement, repoRoot } from './enforcement';
import { clusterObjects } from './k8s-objects';
import { compareMatrices } from './matrix';
import { inNetns } from './netns';
import { planFromScenario, type PlanProbe, type Topology } from './plan';
import { run, runChecked } from './run';
import { KubeRest } from './live/kube-rest';
import { Sandbox } from './sandbox';
import { describeKernel, endpointScript, leftovers } from './testutil/kernel';

jest.setTimeout(120_000);

const EXAMPLES = join(repoRoot(), 'examples');

const CASES: { file: string; topology: Topology; externals: string[]; probes?: PlanProbe[] }[] = [
  { file: '02-access-nginx.yaml', topology: 'routed', externals: ['203.0.113.10'] },
  {
    file: '03-default-deny.yaml',
    topology: 'bridge',
    externals: [],
    probes: [
      { port: 80, protocol: 'TCP' },
      { port: 53, protocol: 'UDP' },
      { port: 80, protocol: 'SCTP' },
    ],
  },
  { file: '06-multiple-ingress-rules.yaml', topology: 'bridge', externals: [] },
  { file: '07-egress-ip-range.yaml', topology: 'routed', externals: ['203.0.113.10', '198.51.100.10'] },
];

async function hostRulesetMentionsPalisade(): Promise<boolean> {
  const v4 = await run(['iptables-save']);
  const v6 = await run(['ip6tables-save']);
  return /PALISADE/.test(v4.stdout + v6.stdout);
}

describeKernel('sandbox with agents: probes equal palisade analyze', () => {
  let script: string;
  let hostHadPalisade: boolean;
  beforeAll(async () => {
    for (const built of [
      'dist/agent/cli/main.js',
      'dist/e2e/apiserver/main.js',
      'dist/e2e/sandbox/relay-main.js',
    ]) {
      if (!existsSync(join(repoRoot(), built)))
        throw new Error(`${built} is missing: run \`npm run build\` first`);
    }
    script = endpointScript();
    hostHadPalisade = await hostRulesetMentionsPalisade();
  });

  test.each(CASES)('$file ($topology)', async ({ file, topology, externals, probes }) => {
    const r = loadScenario(readFileSync(join(EXAMPLES, file), 'utf8'), file);
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const scenario = r.scenario;
    const chosen = probes ?? scenario.containerPorts.map((p) => ({ port: p.port, protocol: p.protocol }));
    const { plan } = planFromScenario(scenario, externals, chosen);
    const sandbox = await Sandbox.create(plan, {
      topology,
      endpointScript: script,
      enforcement: enforcement(clusterObjects(scenario)),
    });
    const id = sandbox.id;
    try {
      const report = await sandbox.probe(chosen);
      expect(compareMatrices(report.matrix, analyzeScenario(scenario, chosen, externals))).toEqual([]);
      // The API server is reachable from the host namespace, at the kubeconfig's address.
      expect(readFileSync(sandbox.kubeconfig!, 'utf8')).toContain(sandbox.localApiServerUrl!);
      // Only with the kubeconfig's token and CA: the server is HTTPS and requires the token.
      const api = KubeRest.fromKubeconfig(sandbox.kubeconfig!);
      const pods = await api.list('/api/v1/pods').finally(() => api.close());
      // The scenario's pods and one agent pod per node.
      expect(pods.items).toHaveLength(plan.pods.length + plan.nodes.length);
      // Each agent programmed its own node namespace.
      for (const n of plan.nodes) {
        const rules = await runChecked(inNetns(sandbox.names.nodeNs(n.name), ['iptables-save']));
        expect(rules.stdout).toContain(':PALISADE-FORWARD');
      }
    } finally {
      await sandbox.teardown();
    }
    expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
    if (!hostHadPalisade) expect(await hostRulesetMentionsPalisade()).toBe(false);
  });
});
