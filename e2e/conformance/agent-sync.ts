/**
 * Waiting until every agent of a sandbox enforces a given cluster state, without sleeping
 * blindly: each agent's debug socket (agent/daemon/debug-server.ts) is polled until
 *
 *   1. every watch the writes touched has reached its target resourceVersion
 *      (`/v1/status` watches[].resourceVersion; see api-writer.ts for the targets). A reflector
 *      hands an event to the model and to the runner in the same tick it moves its
 *      resourceVersion, so reaching the target means every write is in the agent's model and
 *      counted as pending;
 *   2. nothing is pending and no apply runs (`runner.pendingEvents` 0, `runner.running` not
 *      "apply") and the last apply did not fail (`runner.consecutiveFailures` 0): the applies
 *      that covered the writes have ended, and succeeded;
 *   3. the agent's model (`/v1/model`) holds exactly the expected policies and
 *      ClusterNetworkPolicies, namespace and node labels and pod labels and named ports, a
 *      check that the writes said what the test meant.
 *
 * On timeout the error says, per agent, which condition is still false.
 */
import { request } from 'node:http';
import type { K8sObject } from '../sandbox';
import type { WatchTargets } from './api-writer';
import { canonicalJson } from './cluster-writes';

type Labels = Record<string, string>;

/** What an agent's model must hold (keys "ns/name" for pods and policies). */
export interface ExpectedModel {
  readonly namespaceLabels: Readonly<Record<string, Labels>>;
  /** Absent: no node is checked. */
  readonly nodeLabels?: Readonly<Record<string, Labels>>;
  readonly pods: Readonly<Record<string, { labels: Labels; namedPorts: string }>>;
  readonly policies: readonly string[];
  /** ClusterNetworkPolicy names, sorted; absent: none. */
  readonly clusterPolicies?: readonly string[];
}

export interface AgentSocket {
  readonly node: string;
  readonly socket: string;
}

export interface EnforcementWait {
  /** From the call until every agent was seen enforcing the state. */
  readonly waitedMs: number;
  /** Per node: the end of the agent's last apply (epoch ms), as the agent reports it. */
  readonly lastApplyAt: Readonly<Record<string, number>>;
}

/** The subset of `/v1/status` read here. */
interface AgentStatus {
  readonly synced: boolean;
  readonly ready: boolean;
  readonly watches: readonly { resource: string; resourceVersion: string; state: string }[];
  readonly runner: {
    readonly pendingEvents: number;
    readonly running: string | null;
    readonly consecutiveFailures: number;
    readonly lastApply: { at: number } | null;
    readonly lastError: { error: string } | null;
  } | null;
}

interface AgentModel {
  readonly namespaces: readonly { name: string; labels: Labels }[];
  readonly pods: readonly {
    namespace: string;
    name: string;
    labels: Labels;
    namedPorts: readonly { name: string; port: number; protocol: string }[];
  }[];
  readonly policies: readonly { namespace: string; name: string }[];
  /** Absent from agents that do not watch them (a cluster without the CRD). */
  readonly clusterPolicies?: readonly { name: string }[];
  readonly nodes?: readonly { name: string; labels: Labels }[];
}

const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

function namedPortsText(ports: readonly { name: string; port: number; protocol: string }[]): string {
  return canonicalJson([...ports].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
}

/** The model an agent must hold for a list of objects (the API server adds the name label). */
export function expectedModel(objects: readonly K8sObject[]): ExpectedModel {
  const namespaceLabels: Record<string, Labels> = {};
  const nodeLabels: Record<string, Labels> = {};
  const pods: Record<string, { labels: Labels; namedPorts: string }> = {};
  const policies: string[] = [];
  const clusterPolicies: string[] = [];
  for (const o of objects) {
    const m = o.metadata as { name: string; namespace?: string; labels?: Labels };
    if (o.kind === 'Namespace') namespaceLabels[m.name] = { ...m.labels, [NAMESPACE_NAME_LABEL]: m.name };
    if (o.kind === 'Node') nodeLabels[m.name] = { ...m.labels };
    if (o.kind === 'NetworkPolicy') policies.push(`${m.namespace}/${m.name}`);
    if (o.kind === 'ClusterNetworkPolicy') clusterPolicies.push(m.name);
    if (o.kind === 'Pod') {
      const containers = ((o.spec as { containers?: unknown[] } | undefined)?.containers ?? []) as {
        ports?: { name?: string; containerPort: number; protocol?: string }[];
      }[];
      const named = containers.flatMap((c) =>
        (c.ports ?? [])
          .filter((p) => p.name !== undefined && p.name !== '')
          .map((p) => ({ name: p.name!, port: p.containerPort, protocol: p.protocol ?? 'TCP' })),
      );
      pods[`${m.namespace}/${m.name}`] = { labels: { ...m.labels }, namedPorts: namedPortsText(named) };
    }
  }
  return {
    namespaceLabels,
    nodeLabels,
    pods,
    policies: policies.sort(),
    clusterPolicies: clusterPolicies.sort(),
  };
}

/** GET `path` on an agent's debug socket (HTTP over a Unix socket), as JSON. */
export function debugGet<T>(socket: string, path: string, timeoutMs = 2000): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200)
          return reject(new Error(`GET ${path}: HTTP ${res.statusCode} ${body.slice(0, 200)}`));
        try {
          resolve(JSON.parse(body) as T);
        } catch (e) {
          reject(new Error(`GET ${path}: ${(e as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Why an agent's status does not yet show the targets enforced; empty when it does. */
export function statusLag(status: AgentStatus, targets: WatchTargets): string[] {
  const out: string[] = [];
  if (!status.synced || !status.ready)
    out.push(`not synced/ready (synced ${status.synced}, ready ${status.ready})`);
  for (const [resource, target] of Object.entries(targets)) {
    const w = status.watches.find((x) => x.resource === resource);
    const rv = Number(w?.resourceVersion);
    if (!w || !Number.isFinite(rv) || rv < target!)
      out.push(
        `${resource} watch at resourceVersion ${w?.resourceVersion || 'none'} (${w?.state ?? '?'}), needs ${target}`,
      );
  }
  const r = status.runner;
  if (!r) out.push('no runner');
  else {
    if (r.pendingEvents > 0) out.push(`${r.pendingEvents} events pending`);
    if (r.running === 'apply') out.push('an apply is running');
    if (r.consecutiveFailures > 0)
      out.push(`${r.consecutiveFailures} failed applies in a row, last: ${r.lastError?.error ?? '?'}`);
  }
  return out;
}

/** Differences between an agent's model and the expectation; empty when equal. */
export function modelDifferences(model: AgentModel, expected: ExpectedModel): string[] {
  const out: string[] = [];
  const policies = model.policies.map((p) => `${p.namespace}/${p.name}`).sort();
  if (canonicalJson(policies) !== canonicalJson(expected.policies))
    out.push(`policies [${policies.join(' ')}], expected [${expected.policies.join(' ')}]`);
  const clusterPolicies = (model.clusterPolicies ?? []).map((c) => c.name).sort();
  const wantedClusterPolicies = expected.clusterPolicies ?? [];
  if (canonicalJson(clusterPolicies) !== canonicalJson(wantedClusterPolicies))
    out.push(
      `ClusterNetworkPolicies [${clusterPolicies.join(' ')}], expected [${wantedClusterPolicies.join(' ')}]`,
    );
  for (const [name, labels] of Object.entries(expected.nodeLabels ?? {})) {
    const got = (model.nodes ?? []).find((n) => n.name === name);
    if (canonicalJson(got?.labels) !== canonicalJson(labels))
      out.push(`node ${name} labels ${canonicalJson(got?.labels)}, expected ${canonicalJson(labels)}`);
  }
  for (const [name, labels] of Object.entries(expected.namespaceLabels)) {
    const got = model.namespaces.find((n) => n.name === name);
    if (canonicalJson(got?.labels) !== canonicalJson(labels))
      out.push(`namespace ${name} labels ${canonicalJson(got?.labels)}, expected ${canonicalJson(labels)}`);
  }
  for (const [key, want] of Object.entries(expected.pods)) {
    const got = model.pods.find((p) => `${p.namespace}/${p.name}` === key);
    if (canonicalJson(got?.labels) !== canonicalJson(want.labels))
      out.push(`pod ${key} labels ${canonicalJson(got?.labels)}, expected ${canonicalJson(want.labels)}`);
    if (got && namedPortsText(got.namedPorts) !== want.namedPorts)
      out.push(`pod ${key} named ports ${namedPortsText(got.namedPorts)}, expected ${want.namedPorts}`);
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once every agent enforces the state (see the header); rejects after `timeoutMs`
 * with what each lagging agent still lacks.
 */
export async function waitForEnforcement(
  agents: readonly AgentSocket[],
  targets: WatchTargets,
  expected: ExpectedModel | undefined,
  opts: { timeoutMs?: number; pollMs?: number } = {},
): Promise<EnforcementWait> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const pollMs = opts.pollMs ?? 5;
  const start = Date.now();
  const done = new Map<string, number>();
  const lag = new Map<string, string[]>();
  for (;;) {
    await Promise.all(
      agents
        .filter((a) => !done.has(a.node))
        .map(async (a) => {
          try {
            const status = await debugGet<AgentStatus>(a.socket, '/v1/status');
            let problems = statusLag(status, targets);
            if (problems.length === 0 && expected)
              problems = modelDifferences(await debugGet<AgentModel>(a.socket, '/v1/model'), expected);
            if (problems.length === 0) done.set(a.node, status.runner?.lastApply?.at ?? 0);
            else lag.set(a.node, problems);
          } catch (e) {
            lag.set(a.node, [(e as Error).message]);
          }
        }),
    );
    if (done.size === agents.length)
      return { waitedMs: Date.now() - start, lastApplyAt: Object.fromEntries(done) };
    if (Date.now() - start > timeoutMs) {
      const lines = agents
        .filter((a) => !done.has(a.node))
        .map((a) => `  agent of ${a.node}: ${(lag.get(a.node) ?? ['?']).join('; ')}`);
      throw new Error(`agents did not enforce the state within ${timeoutMs} ms:\n${lines.join('\n')}`);
    }
    await sleep(pollMs);
  }
}
