/**
 * The demo scenarios in examples/: each loads, says in one sentence what it shows, has demo
 * arguments the sandbox accepts, builds a valid sandbox plan, and (but for the no-policy one)
 * denies something, so the demo shows enforcement.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeScenario } from '../../agent/cli/analysis';
import { loadScenario, type Scenario } from '../../compiler/scenario';
import { parseProbe, planFromScenario, validatePlan, type PlanProbe } from './plan';

const DIR = join(__dirname, '..', '..', 'examples');
const FILES = readdirSync(DIR).filter((f) => /^\d\d-.*\.yaml$/.test(f));

interface DemoArgs {
  topology?: string;
  ports: PlanProbe[];
  externals: string[];
}

function demoArgs(text: string): DemoArgs {
  const line = /^# demo-args: (.*)$/m.exec(text)?.[1] ?? '';
  const tokens = line.split(/\s+/).filter((t) => t !== '');
  const out: DemoArgs = { ports: [], externals: [] };
  for (let i = 0; i < tokens.length; i += 2) {
    const [flag, value] = [tokens[i], tokens[i + 1]];
    if (flag === '--topology' && (value === 'routed' || value === 'bridge')) out.topology = value;
    else if (flag === '--port' && parseProbe(value)) out.ports.push(parseProbe(value)!);
    else if (flag === '--external' && value) out.externals.push(value);
    else throw new Error(`unexpected demo argument ${flag} ${value}`);
  }
  return out;
}

function load(file: string): { text: string; scenario: Scenario } {
  const text = readFileSync(join(DIR, file), 'utf8');
  const r = loadScenario(text, file);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return { text, scenario: r.scenario };
}

test('the demo covers every example of the blog post, and ClusterNetworkPolicy tiers', () => {
  expect(FILES).toEqual([
    '01-no-policy.yaml',
    '02-access-nginx.yaml',
    '03-default-deny.yaml',
    '04-cross-namespace.yaml',
    '05-port-rule.yaml',
    '06-multiple-ingress-rules.yaml',
    '07-egress-ip-range.yaml',
    '08-cluster-network-policy.yaml',
  ]);
});

describe.each(FILES)('%s', (file) => {
  const { text, scenario } = load(file);
  const args = demoArgs(text);
  const probes =
    args.ports.length > 0
      ? args.ports
      : scenario.containerPorts.map((p) => ({ port: p.port, protocol: p.protocol }));

  test('says in one sentence what the policy means', () => {
    expect(text.split('\n')[0]).toMatch(/^# demo: \S.{20,}[.]$/);
  });

  test('builds a valid sandbox plan on both nodes', () => {
    expect(args.topology).toBeDefined();
    const { plan, skipped } = planFromScenario(scenario, args.externals, probes);
    expect(skipped).toEqual([]);
    expect(validatePlan(plan)).toEqual([]);
    expect(plan.nodes.map((n) => n.name)).toEqual(['node-1', 'node-2']);
  });

  test(file === '01-no-policy.yaml' ? 'allows everything' : 'denies something and allows something', () => {
    const cells = analyzeScenario(scenario, probes, args.externals).probes.flatMap((p) =>
      Object.values(p.allowed).flatMap((row) => Object.values(row)),
    );
    expect(cells.some((v) => v)).toBe(true);
    expect(cells.some((v) => !v)).toBe(file !== '01-no-policy.yaml');
  });
});

test('the egress example has one outside host inside the allowed range and one outside it', () => {
  const { text, scenario } = load('07-egress-ip-range.yaml');
  const args = demoArgs(text);
  const r = analyzeScenario(scenario, [{ port: 80, protocol: 'TCP' }], args.externals);
  expect(r.probes[0].allowed['locked/worker']).toEqual({
    'default/web': false,
    '203.0.113.10': true,
    '198.51.100.10': false,
  });
});

test('the ClusterNetworkPolicy example: the Admin tier wins over the namespace owner, a NetworkPolicy over the Baseline', () => {
  const { scenario } = load('08-cluster-network-policy.yaml');
  const m = analyzeScenario(scenario, [{ port: 5432, protocol: 'TCP' }]).probes[0].allowed;
  // payments' own NetworkPolicy allows all of shop; the Admin tier lets only shop/cart through.
  expect(m['shop/cart']['payments/db']).toBe(true);
  expect(m['shop/web']['payments/db']).toBe(false);
  expect(m['monitoring/prom']['payments/db']).toBe(false);
  // The Baseline denies by default; shop's NetworkPolicy opens shop/web to everyone.
  expect(m['monitoring/prom']['shop/web']).toBe(true);
  expect(m['shop/web']['shop/cart']).toBe(false);
  expect(m['payments/db']['monitoring/prom']).toBe(false);
});
