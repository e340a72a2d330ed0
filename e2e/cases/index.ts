/**
 * Conformance cases: the upstream Kubernetes NetworkPolicy e2e suite rewritten as data.
 *
 * Each case is a folder NN-short-name/ holding
 *   scenario.yaml  the cluster (Namespaces, Pods, NetworkPolicies; see compiler/scenario), and
 *   expected.yaml  the expected reachability, written the way upstream writes expectations:
 *
 *     upstream: ["should support a 'default-deny-ingress' policy"]   # the test(s) it rewrites
 *     note: "..."                     # optional: how the case differs from upstream
 *     probes: [80/TCP, 81/TCP]        # PORT/PROTOCOL probed for every pair
 *     externals: [192.0.2.10]         # optional: addresses outside the cluster, as in analyze --external
 *     default: allow                  # every pair starts allowed (or: deny)
 *     rules:                          # applied in order, a later rule overriding earlier ones
 *       - {deny: '* -> x/*'}          # FROM -> TO (see the README for the patterns)
 *       - {allow: 'y/* -> x/a', on: [81/TCP]}   # optional: only these probes
 *
 * loadCase expands a case into the exact JSON `palisade analyze -o json` prints, so a case can
 * be checked against the compiler (cases.test.ts) or against real packets (the sandbox).
 * Endpoints: the scenario's live pods sorted by namespace then name, then the externals; every
 * ordered pair of distinct endpoints except external -> external.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { objectKey, podIsLive, PROTOCOLS, type Probe, type Protocol } from '../../compiler';
import { loadScenario, type Scenario } from '../../compiler/scenario';
import { canonicalIP } from '../../compiler/validate';

/** The JSON shape of `palisade analyze -o json`. */
export interface ExpectedMatrix {
  readonly pods: readonly string[];
  readonly probes: readonly {
    readonly port: number;
    readonly protocol: Protocol;
    readonly allowed: Record<string, Record<string, boolean>>;
  }[];
}

export interface ConformanceCase {
  /** The folder name, e.g. "01-default-deny-ingress". */
  readonly name: string;
  readonly dir: string;
  readonly scenarioPath: string;
  readonly scenario: Scenario;
  readonly upstream: readonly string[];
  readonly note?: string;
  readonly probes: readonly Probe[];
  readonly externals: readonly string[];
  readonly expected: ExpectedMatrix;
}

export const CASES_DIR = __dirname;

/** Case folders (NN-name) under `root`, in number order (101 after 57). */
export function listCases(root: string = CASES_DIR): string[] {
  const num = (d: string): number => Number(d.slice(0, d.indexOf('-')));
  return readdirSync(root)
    .filter((d) => /^\d{2,}-[a-z0-9-]+$/.test(d) && statSync(join(root, d)).isDirectory())
    .sort((a, b) => num(a) - num(b) || (a < b ? -1 : a > b ? 1 : 0))
    .map((d) => join(root, d));
}

class CaseError extends Error {}

function parseProbeText(s: string, where: string): Probe {
  const m = /^(\d{1,5})\/(TCP|UDP|SCTP)$/.exec(String(s));
  if (!m) throw new CaseError(`${where}: "${s}" is not PORT/PROTOCOL (e.g. 80/TCP)`);
  return { port: Number(m[1]), protocol: m[2] as Protocol };
}

function sideMatcher(pattern: string, endpoints: readonly string[], where: string): (e: string) => boolean {
  const p = pattern.trim();
  let match: (e: string) => boolean;
  if (p === '*') match = () => true;
  else if (p.includes('/')) {
    const [ns, name] = p.split('/');
    match = (e) => {
      const [ens, ename] = e.split('/');
      return ename !== undefined && (ns === '*' || ns === ens) && (name === '*' || name === ename);
    };
  } else {
    const ip = canonicalIP(p);
    if (ip === undefined) throw new CaseError(`${where}: "${p}" is neither a pod pattern nor an address`);
    match = (e) => e === ip;
  }
  if (!endpoints.some(match)) throw new CaseError(`${where}: "${p}" matches no endpoint of the scenario`);
  return match;
}

function probeMatcher(pattern: string, probes: readonly Probe[], where: string): (p: Probe) => boolean {
  const m = /^(\d{1,5}|\*)\/(TCP|UDP|SCTP|\*)$/.exec(String(pattern).trim());
  if (!m) throw new CaseError(`${where}: "${pattern}" is not PORT/PROTOCOL ('*' allowed on either side)`);
  const match = (p: Probe) => (m[1] === '*' || Number(m[1]) === p.port) && (m[2] === '*' || m[2] === p.protocol);
  if (!probes.some(match)) throw new CaseError(`${where}: "${pattern}" matches none of the case's probes`);
  return match;
}

const KEYS = ['upstream', 'note', 'probes', 'externals', 'default', 'rules'];

/** The endpoint names of a scenario plus externals, in analyze's order. */
export function caseEndpoints(s: Scenario, externals: readonly string[]): string[] {
  const pods = s.pods
    .filter(podIsLive)
    .map(objectKey)
    .sort((a, b) => {
      const [an, ap] = a.split('/');
      const [bn, bp] = b.split('/');
      return an < bn ? -1 : an > bn ? 1 : ap < bp ? -1 : ap > bp ? 1 : 0;
    });
  return [...pods, ...externals];
}

export function loadCase(dir: string): ConformanceCase {
  const name = dir.split(/[\\/]/).pop()!;
  const scenarioPath = join(dir, 'scenario.yaml');
  const expectedPath = join(dir, 'expected.yaml');
  const loaded = loadScenario(readFileSync(scenarioPath, 'utf8'), scenarioPath);
  if (!loaded.ok) throw new CaseError(`case ${name}: invalid scenario:\n  ${loaded.errors.join('\n  ')}`);
  const doc = parse(readFileSync(expectedPath, 'utf8')) as Record<string, unknown>;
  const where = expectedPath;
  if (!doc || typeof doc !== 'object') throw new CaseError(`${where}: not a mapping`);
  for (const k of Object.keys(doc)) if (!KEYS.includes(k)) throw new CaseError(`${where}: unknown key "${k}"`);
  const upstream = Array.isArray(doc.upstream) ? doc.upstream.map(String) : [];
  if (upstream.length === 0) throw new CaseError(`${where}: upstream: list the test(s) this case rewrites`);
  if (!Array.isArray(doc.probes) || doc.probes.length === 0) throw new CaseError(`${where}: probes: required`);
  const probes = doc.probes.map((p, i) => parseProbeText(p as string, `${where}: probes[${i}]`));
  const externals = (Array.isArray(doc.externals) ? doc.externals : []).map((e, i) => {
    const ip = canonicalIP(String(e));
    if (ip === undefined) throw new CaseError(`${where}: externals[${i}]: "${e}" is not an address`);
    return ip;
  });
  if (doc.default !== 'allow' && doc.default !== 'deny') throw new CaseError(`${where}: default: must be allow or deny`);
  const endpoints = caseEndpoints(loaded.scenario, externals);
  const isExternal = new Set(externals);
  const matrices = probes.map((p) => {
    const allowed: Record<string, Record<string, boolean>> = {};
    for (const from of endpoints) {
      allowed[from] = {};
      for (const to of endpoints) {
        if (from !== to && !(isExternal.has(from) && isExternal.has(to))) allowed[from][to] = doc.default === 'allow';
      }
    }
    return { port: p.port, protocol: p.protocol, allowed };
  });
  const rules = Array.isArray(doc.rules) ? doc.rules : [];
  rules.forEach((r, i) => {
    const rw = `${where}: rules[${i}]`;
    const rule = r as Record<string, unknown>;
    const verbs = Object.keys(rule).filter((k) => k === 'allow' || k === 'deny');
    const extra = Object.keys(rule).filter((k) => k !== 'allow' && k !== 'deny' && k !== 'on');
    if (verbs.length !== 1 || extra.length > 0) throw new CaseError(`${rw}: a rule is {allow|deny: 'FROM -> TO', on?: [PROBES]}`);
    const value = verbs[0] === 'allow';
    const pair = String(rule[verbs[0]]);
    const parts = pair.split('->');
    if (parts.length !== 2) throw new CaseError(`${rw}: "${pair}" is not FROM -> TO`);
    const fromM = sideMatcher(parts[0], endpoints, rw);
    const toM = sideMatcher(parts[1], endpoints, rw);
    const on = rule.on === undefined ? undefined : (rule.on as unknown[]).map((o) => probeMatcher(String(o), probes, rw));
    matrices.forEach((m, pi) => {
      if (on && !on.some((f) => f(probes[pi]))) return;
      for (const from of endpoints) {
        if (!fromM(from)) continue;
        for (const to of endpoints) if (toM(to) && to in m.allowed[from]) m.allowed[from][to] = value;
      }
    });
  });
  return {
    name,
    dir,
    scenarioPath,
    scenario: loaded.scenario,
    upstream,
    note: typeof doc.note === 'string' ? doc.note : undefined,
    probes,
    externals,
    expected: { pods: endpoints, probes: matrices },
  };
}

/** Every difference between an expected and an observed matrix, one line each. */
export function matrixDifferences(expected: ExpectedMatrix, observed: ExpectedMatrix): string[] {
  const out: string[] = [];
  if (JSON.stringify(expected.pods) !== JSON.stringify(observed.pods)) {
    out.push(`endpoints differ: expected ${expected.pods.join(' ')}; observed ${observed.pods.join(' ')}`);
  }
  expected.probes.forEach((e) => {
    const o = observed.probes.find((p) => p.port === e.port && p.protocol === e.protocol);
    const probe = `${e.port}/${e.protocol}`;
    if (!o) {
      out.push(`${probe}: not observed`);
      return;
    }
    for (const from of Object.keys(e.allowed)) {
      for (const to of Object.keys(e.allowed[from])) {
        const want = e.allowed[from][to];
        const got = o.allowed[from]?.[to];
        if (got !== want) {
          out.push(`${probe} ${from} -> ${to}: expected ${want ? 'allowed' : 'denied'}, observed ${got === undefined ? 'nothing' : got ? 'allowed' : 'denied'}`);
        }
      }
    }
  });
  return out;
}

/** Upstream-style truth table of one probe: '.' allowed, 'X' denied, '*' marks a difference. */
export function truthTable(expected: ExpectedMatrix, observed: ExpectedMatrix | undefined, probeIndex: number): string {
  const e = expected.probes[probeIndex];
  const o = observed?.probes.find((p) => p.port === e.port && p.protocol === e.protocol);
  const lines = [`${e.port}/${e.protocol} (expected; '*' = observed differs)`, ['-', ...expected.pods].join('\t')];
  for (const from of expected.pods) {
    const row = [from];
    for (const to of expected.pods) {
      const want = e.allowed[from]?.[to];
      if (want === undefined) row.push('-');
      else {
        const mark = want ? '.' : 'X';
        row.push(o && o.allowed[from]?.[to] !== want ? `*${mark}*` : mark);
      }
    }
    lines.push(row.join('\t'));
  }
  return lines.join('\n');
}

export { PROTOCOLS };
