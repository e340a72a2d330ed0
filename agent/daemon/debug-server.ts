/**
 * The local debug endpoint: HTTP over a unix socket (root-only, mode 0600), JSON responses.
 * The operator CLI (status, rules, explain, diff, ipsets, chains) is a client of it. Routes,
 * all GET, documented with examples in agent/daemon/README.md:
 *
 *   /v1/status              agent status: sync, last apply, counts, errors, last drift repair
 *   /v1/model               the slim model {namespaces, pods, policies, clusterPolicies, nodes};
 *                           ?kind=pods|namespaces|policies|clusterpolicies|nodes, ?namespace=NS filters
 *                           pods and policies
 *   /v1/state               the compiled state (IR): subject pods, policies, peer sets
 *   /v1/verdict             ?from=EP&to=EP&port=N&protocol=TCP  (EP = namespace/pod or an IP)
 *   /v1/explain             same query: the verdict plus exactly the model and IR needed to explain
 *                           it (the ends, their namespaces, the isolating policies, the
 *                           ClusterNetworkPolicies of either end and of the verdict, their peer sets
 *                           with the members that concern the ends), read in one go
 *   /v1/rules               ?pod=NS/POD: the pod, the policies and ClusterNetworkPolicies that select
 *                           it (spec and compiled), their peer sets with every member, and the pod
 *                           that owns each address
 *   /v1/dataplane/desired   chains and ipsets the agent wants in the kernel
 *   /v1/dataplane/actual    chains and ipsets read back from the kernel (own objects only)
 *   /v1/drift               differences between the two (reads the kernel; does not repair)
 *   /v1/verdicts            verdict events as NDJSON, streamed while the client stays connected
 *                           (?follow=0 sends what the buffer holds and ends); filters ?pod=NS/POD,
 *                           ?namespace=NS, ?verdict=denied,allowed,would-deny,would-allow,
 *                           ?since=DURATION (replays the buffer that far back). See verdicts/watch.ts
 *
 * Errors are {"error": "..."} with status 400 (bad query), 404 (unknown path or pod), 500.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  PROTOCOLS,
  verdict,
  type ClusterPolicyInfo,
  type CompiledClusterPolicy,
  type CompiledPolicy,
  type CompiledRule,
  type CompiledTierRule,
  type Endpoint,
  type NamespaceInfo,
  type ObjectKey,
  type PeerSet,
  type PeerSetKey,
  type PodInfo,
  type PodRules,
  type PolicyInfo,
  type Probe,
  type Protocol,
  type Verdict,
} from '../../compiler';
import { isIP } from '../../compiler/scenario/project';
import type { DriftReport } from '../../dataplane/api';
import type { ModelView } from './compilation';
import { closeServer, listen, requestURL, sendJSON } from './http-util';
import { errorFields, type Logger } from './logger';
import { FilterError, parseWatchFilter } from './verdicts/filter';
import type { VerdictLog } from './verdicts/service';
import type { WatchStream } from './verdicts/watch';

export interface DebugSource {
  status(): unknown;
  /** The verdict logs; undefined when they are off. */
  verdicts?(): VerdictLog | undefined;
  view(): ModelView;
  desired(): unknown;
  actual(): Promise<unknown>;
  drift(): Promise<DriftReport>;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const DEBUG_ROUTES = [
  '/v1/status',
  '/v1/model',
  '/v1/state',
  '/v1/verdict',
  '/v1/explain',
  '/v1/rules',
  '/v1/dataplane/desired',
  '/v1/dataplane/actual',
  '/v1/drift',
  '/v1/verdicts',
] as const;

function parseEndpoint(view: ModelView, name: string, text: string | null): Endpoint {
  if (!text) throw new BadRequest(`missing ?${name}= (namespace/pod or an IP address)`);
  if (isIP(text)) return { kind: 'ip', ip: text };
  if (/^[^/]+\/[^/]+$/.test(text)) {
    if (!view.pod(text)) throw new BadRequest(`${name}: no pod ${text}`, 404);
    return { kind: 'pod', key: text };
  }
  throw new BadRequest(`${name}: "${text}" is neither namespace/pod nor an IP address`);
}

function parseProbe(q: URLSearchParams): { port: number; protocol: Protocol } {
  const portText = q.get('port');
  if (portText === null) throw new BadRequest('missing ?port=');
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new BadRequest(`port: "${portText}" is not 1-65535`);
  const protocol = (q.get('protocol') ?? 'TCP').toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new BadRequest(`protocol: "${protocol}" is not one of ${PROTOCOLS.join(', ')}`);
  }
  return { port, protocol: protocol as Protocol };
}

const MODEL_KINDS = ['pods', 'namespaces', 'policies', 'clusterpolicies', 'nodes'];

function model(view: ModelView, q: URLSearchParams): unknown {
  const kind = q.get('kind');
  const ns = q.get('namespace');
  if (kind !== null && !MODEL_KINDS.includes(kind)) {
    throw new BadRequest(`kind: "${kind}" is not one of ${MODEL_KINDS.join(', ')}`);
  }
  const inNs = <T extends { namespace: string }>(xs: Iterable<T>) =>
    [...xs].filter((x) => ns === null || x.namespace === ns);
  const out: Record<string, unknown> = {};
  if (kind === null || kind === 'namespaces') out.namespaces = [...view.namespaces()];
  if (kind === null || kind === 'pods') out.pods = inNs(view.pods());
  if (kind === null || kind === 'policies') out.policies = inNs(view.policies());
  if (kind === null || kind === 'clusterpolicies') out.clusterPolicies = [...view.clusterPolicies()];
  if (kind === null || kind === 'nodes') out.nodes = [...view.nodes()];
  return out;
}

/** A peer set as plain data, without the compiler's bookkeeping (reference counts). */
interface PeerSetDoc {
  readonly key: PeerSetKey;
  readonly def: PeerSet['def'];
  readonly members: readonly string[];
}

/** Peer sets referenced by a policy's rules (v1 or ClusterNetworkPolicy): peers, and named-port sets. */
function peerSetKeysOf(p: {
  readonly ingress: readonly (CompiledRule | CompiledTierRule)[] | null;
  readonly egress: readonly (CompiledRule | CompiledTierRule)[] | null;
}): Set<PeerSetKey> {
  const keys = new Set<PeerSetKey>();
  for (const rule of [...(p.ingress ?? []), ...(p.egress ?? [])]) {
    if (rule.peers !== 'any') for (const k of rule.peers) keys.add(k);
    if (rule.ports !== 'any') for (const m of rule.ports) if (m.kind === 'named') keys.add(m.set);
  }
  return keys;
}

/** The address part of a member: "10.0.0.1" and "10.0.0.1,tcp:80" both give "10.0.0.1". */
function memberAddress(member: string): string {
  const comma = member.indexOf(',');
  return comma < 0 ? member : member.slice(0, comma);
}

function defined<T>(x: T | undefined): x is T {
  return x !== undefined;
}

/** ClusterNetworkPolicies that hold a pod, per tier and direction, in evaluation order. */
function tierKeysOf(r: PodRules | undefined): string[] {
  return r ? [...r.adminIngress, ...r.adminEgress, ...r.baselineIngress, ...r.baselineEgress] : [];
}

/** ClusterNetworkPolicies a verdict names: the deciding rule, Pass rules met, ties. */
function verdictClusterPolicies(v: Verdict): string[] {
  return [v.egress, v.ingress].flatMap((d) => [
    ...(d.clusterRule ? [d.clusterRule.policy] : []),
    ...d.passedBy.map((p) => p.policy),
    ...d.tiedWith.map((t) => t.policy),
  ]);
}

/**
 * What `palisade explain` needs, taken from one view in one synchronous step so the verdict and
 * the objects that explain it agree. Peer set members are cut down to those of the two ends
 * (cidr sets keep their blocks): the explanation tests membership of those addresses only, and a
 * set of every pod in a large cluster stays on the agent.
 */
function explainBundle(view: ModelView, from: Endpoint, to: Endpoint, probe: Probe): unknown {
  const v = verdict(view, from, to, probe);
  const state = view.state();
  const endPod = (e: Endpoint): PodInfo | undefined =>
    e.kind === 'pod' ? view.pod(e.key) : view.podByIP(e.ip);
  const pods = [endPod(from), endPod(to)].filter(defined);
  const addresses = new Set<string>([
    ...pods.flatMap((p) => p.ips),
    ...[from, to].flatMap((e) => (e.kind === 'ip' ? [e.ip] : [])),
  ]);
  const policyKeys = [...new Set([...v.egress.isolatingPolicies, ...v.ingress.isolatingPolicies])];
  const compiled = policyKeys.map((k) => state.policies.get(k)).filter(defined);
  const subjectRules = pods.map((p) => state.pods.get(`${p.namespace}/${p.name}`));
  const clusterKeys = [...new Set([...subjectRules.flatMap(tierKeysOf), ...verdictClusterPolicies(v)])];
  const clusterCompiled = clusterKeys.map((k) => state.clusterPolicies.get(k)).filter(defined);
  const peerSets: Record<PeerSetKey, PeerSetDoc> = {};
  const referenced = [...compiled, ...clusterCompiled].flatMap((p) => [...peerSetKeysOf(p)]);
  for (const key of new Set(referenced)) {
    const set = state.peerSets.get(key);
    if (!set) continue;
    const members = [...set.members].filter(
      (m) => set.def.kind === 'cidr' || addresses.has(memberAddress(m)),
    );
    peerSets[key] = { key, def: set.def, members };
  }
  const subjects: Record<ObjectKey, unknown> = {};
  for (const p of pods) {
    const r = state.pods.get(`${p.namespace}/${p.name}`);
    if (r) subjects[r.key] = r;
  }
  const namespaces = [...new Set(pods.map((p) => p.namespace))].map((n) => view.namespace(n)).filter(defined);
  return {
    from,
    to,
    probe,
    verdict: v,
    pods,
    namespaces,
    policies: policyKeys.map((k) => view.policy(k)).filter(defined),
    clusterPolicies: clusterKeys.map((k) => view.clusterPolicy(k)).filter(defined),
    state: {
      pods: subjects,
      policies: Object.fromEntries(compiled.map((p) => [p.key, p])),
      clusterPolicies: Object.fromEntries(clusterCompiled.map((c) => [c.key, c])),
      peerSets,
    },
  };
}

/** What `palisade rules NS/POD` needs, from one view in one synchronous step. */
function rulesBundle(view: ModelView, key: string | null): unknown {
  if (!key) throw new BadRequest('missing ?pod= (namespace/pod)');
  if (!/^[^/]+\/[^/]+$/.test(key)) throw new BadRequest(`pod: "${key}" is not namespace/pod`);
  const pod = view.pod(key);
  if (!pod) throw new BadRequest(`no pod ${key}`, 404);
  const state = view.state();
  const rules = state.pods.get(key) ?? null;
  const policyKeys = rules ? [...new Set([...rules.ingress, ...rules.egress])] : [];
  const policies: Array<{ info: PolicyInfo | null; compiled: CompiledPolicy | null }> = policyKeys.map(
    (k) => ({ info: view.policy(k) ?? null, compiled: state.policies.get(k) ?? null }),
  );
  const clusterPolicies: Array<{ info: ClusterPolicyInfo | null; compiled: CompiledClusterPolicy | null }> = [
    ...new Set(tierKeysOf(rules ?? undefined)),
  ].map((k) => ({ info: view.clusterPolicy(k) ?? null, compiled: state.clusterPolicies.get(k) ?? null }));
  const peerSets: Record<PeerSetKey, PeerSetDoc> = {};
  const owners: Record<string, { pod: ObjectKey; node: string }> = {};
  for (const p of [...policies, ...clusterPolicies]) {
    if (!p.compiled) continue;
    for (const setKey of peerSetKeysOf(p.compiled)) {
      const set = state.peerSets.get(setKey);
      if (!set || peerSets[setKey]) continue;
      peerSets[setKey] = { key: setKey, def: set.def, members: [...set.members].sort() };
      if (set.def.kind === 'cidr') continue;
      for (const m of set.members) {
        const ip = memberAddress(m);
        const owner = owners[ip] ? undefined : view.podByIP(ip);
        if (owner) owners[ip] = { pod: `${owner.namespace}/${owner.name}`, node: owner.nodeName };
      }
    }
  }
  const namespace: NamespaceInfo | null = view.namespace(pod.namespace) ?? null;
  return { pod, namespace, rules, policies, clusterPolicies, peerSets, owners };
}

export class DebugServer {
  private readonly server: Server;
  private socketPath: string | undefined;
  /** Open /v1/verdicts streams, ended on stop so the server can close. */
  private readonly streams = new Set<WatchStream>();

  constructor(
    private readonly source: DebugSource,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (err instanceof BadRequest) return sendJSON(res, err.status, { error: err.message });
        this.log.error('debug request failed', { path: req.url, ...errorFields(err) });
        if (!res.headersSent) sendJSON(res, 500, { error: errorFields(err).error });
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') throw new BadRequest('only GET is supported', 405);
    const url = requestURL(req);
    const q = url.searchParams;
    const s = this.source;
    switch (url.pathname) {
      case '/v1/status':
        return sendJSON(res, 200, s.status());
      case '/v1/model':
        return sendJSON(res, 200, model(s.view(), q));
      case '/v1/state':
        return sendJSON(res, 200, s.view().state());
      case '/v1/verdict': {
        const view = s.view();
        const from = parseEndpoint(view, 'from', q.get('from'));
        const to = parseEndpoint(view, 'to', q.get('to'));
        const probe = parseProbe(q);
        return sendJSON(res, 200, { from, to, probe, verdict: verdict(view, from, to, probe) });
      }
      case '/v1/explain': {
        const view = s.view();
        const from = parseEndpoint(view, 'from', q.get('from'));
        const to = parseEndpoint(view, 'to', q.get('to'));
        return sendJSON(res, 200, explainBundle(view, from, to, parseProbe(q)));
      }
      case '/v1/rules':
        return sendJSON(res, 200, rulesBundle(s.view(), q.get('pod')));
      case '/v1/dataplane/desired':
        return sendJSON(res, 200, s.desired());
      case '/v1/dataplane/actual':
        return sendJSON(res, 200, await s.actual());
      case '/v1/drift':
        return sendJSON(res, 200, await s.drift());
      case '/v1/verdicts':
        return this.streamVerdicts(res, q);
      default:
        throw new BadRequest(`no such path ${url.pathname}; routes: ${DEBUG_ROUTES.join(' ')}`, 404);
    }
  }

  /** NDJSON, one line per event, for as long as the client listens (see verdicts/watch.ts). */
  private streamVerdicts(res: ServerResponse, q: URLSearchParams): void {
    const log = this.source.verdicts?.();
    if (!log) throw new BadRequest('verdict logs are off on this agent (--verdict-log off)', 503);
    let filter;
    try {
      filter = parseWatchFilter(q, Date.now());
    } catch (err) {
      if (err instanceof FilterError) throw new BadRequest(err.message);
      throw err;
    }
    const follow = q.get('follow') !== '0';
    res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-store',
    });
    let ended = false;
    const stream: WatchStream = log.watch(
      {
        write: (line) => res.write(line),
        onDrain: (l) => res.once('drain', l),
        end: () => {
          ended = true;
          res.end();
        },
      },
      filter,
      follow,
    );
    if (ended) return;
    this.streams.add(stream);
    res.once('finish', () => this.streams.delete(stream));
    // The client went away (Ctrl-C, a broken pipe): stop feeding it.
    res.once('close', () => stream.close());
  }

  /**
   * Listens on the unix socket `path`. A socket left by a dead agent is removed; a live one
   * (another agent answers) is an error, since two agents on one node would fight.
   */
  async start(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if (await socketAnswers(path))
      throw new Error(`another process is serving ${path}; is an agent already running?`);
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await listen(this.server, { path });
    chmodSync(path, 0o600);
    this.socketPath = path;
    this.log.info('debug endpoint listening', { socket: path });
  }

  async stop(): Promise<void> {
    for (const s of [...this.streams]) s.close();
    await closeServer(this.server);
    if (this.socketPath) {
      try {
        unlinkSync(this.socketPath);
      } catch {
        // already gone
      }
      this.socketPath = undefined;
    }
  }
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
