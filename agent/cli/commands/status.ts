/**
 * `palisade status [--agent ADDRESS] [-o json]`: the state of a running agent, from its debug
 * endpoint (/v1/status): synced or not, the last apply (when, how long, how large), counts of
 * local pods, policies, chains, ipsets and members, apply errors, the last drift check/repair.
 */
import type { Command } from 'commander';
import { contextOf, useColour } from '../context';
import { palette, type Palette } from '../format/colour';
import { outputOption, toJSON, type OutputFormat } from '../format/output';
import { agoText, bytesText, durationText, millisText, plural } from '../format/quantities';
import { renderTable } from '../format/table';
import { agentOption, AgentClient, describeAddress } from '../live/client';
import type { StatusDoc, VerdictLogDoc } from '../live/documents';

interface StatusOptions {
  agent: string;
  output: OutputFormat;
}

const EXAMPLES = `
Examples:
  # the agent of this node (as root: the socket is /run/palisade/palisade.sock, mode 0600)
  $ palisade status
  # another socket, or a TCP relay in front of one
  $ palisade status --agent /run/palisade-sandbox/s12q/sock/agent-n1.sock
  $ palisade status --agent 127.0.0.1:9102
  # the agent of node worker-1, from anywhere kubectl works
  $ kubectl palisade --node worker-1 status
  # scripts: is the node enforcing, and since when?
  $ palisade status -o json | jq '{ready, lastApply: .lastApply.at, applyErrors}'

Counts: "local pods" are the pods of this node that policies can select (running, with an
address, not hostNetwork); "policies" those that select at least one of them. Chains, rules
(with the hook rules in FORWARD), ipsets and members are the agent's own kernel objects as last
applied; \`palisade diff\` compares them with the kernel.
Exit status: 0 when the agent answered (whatever its state), 1 when it cannot be reached.
`;

/** The JSON printed by `palisade status -o json`: stable names, times as ISO 8601. */
export interface StatusReport {
  readonly agent: string;
  readonly node: string;
  readonly synced: boolean;
  readonly ready: boolean;
  readonly healthy: boolean;
  readonly syncMode: string;
  readonly backend: string;
  readonly iptablesBackend: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly running: 'apply' | 'repair' | null;
  readonly pendingEvents: number;
  readonly applies: number;
  readonly lastApply: {
    readonly at: string;
    readonly durationMs: number;
    readonly events: number;
    readonly full: boolean;
    /** Absent when the compile changed nothing and the kernel was not touched. */
    readonly restoreBytes?: number;
    readonly restoreLines?: number;
    readonly ipsetLines?: number;
    readonly iptablesLines?: number;
    readonly nftLines?: number;
    readonly transactions?: number;
    readonly spawns?: number;
  } | null;
  readonly applyErrors: number;
  readonly consecutiveFailures: number;
  readonly retryInMs: number | null;
  readonly lastError: {
    readonly at: string;
    readonly error: string;
    readonly lineNumber?: number;
    readonly lines?: readonly string[];
  } | null;
  readonly drift: {
    /** The last periodic drift check (it repairs what it finds); null before the first. */
    readonly lastCheck: { readonly at: string; readonly differences: readonly string[] } | null;
    /** The last check that found and repaired differences; null if none has since start. */
    readonly lastRepair: { readonly at: string; readonly differences: readonly string[] } | null;
    /** Checks that found and repaired differences since the agent started. */
    readonly repairs: number;
    /** The drift watch (nftables): foreign changes seen as they happened; null without one. */
    readonly watch: {
      readonly running: boolean;
      readonly foreignChanges: number;
      readonly restarts: number;
      readonly last: {
        readonly at: string;
        readonly pid: number;
        readonly comm: string;
        readonly events: readonly string[];
      } | null;
    } | null;
  };
  readonly counts: {
    readonly localPods: number;
    readonly policies: number;
    readonly peerSets: number;
    readonly chains: number;
    readonly rules: number;
    readonly ipsets: number;
    readonly members: number;
    readonly clusterPods: number;
    readonly clusterPolicies: number;
    readonly namespaces: number;
    /** ClusterNetworkPolicies holding local pods (compiled), and in the cluster. */
    readonly clusterNetworkPolicies: number;
    readonly clusterNetworkPoliciesInCluster: number;
    readonly nodes: number;
  };
  /** Whether the API server serves ClusterNetworkPolicies ('not reported' by older agents). */
  readonly clusterNetworkPolicyCrd: 'installed' | 'absent' | 'unknown' | 'not reported';
  /** Rules Palisade cannot enforce as written (domainNames peers), one sentence each. */
  readonly unsupported: readonly string[];
  readonly watches: StatusDoc['watches'];
  /** Verdict logs; null when the agent does not report them (older agents). */
  readonly verdictLog: VerdictLogDoc | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function statusReport(doc: StatusDoc, agent: string): StatusReport {
  const r = doc.runner;
  const objects = (resource: string) => doc.watches.find((w) => w.resource === resource)?.objects ?? 0;
  const la = r?.lastApply ?? null;
  const details = r?.lastError?.details ?? {};
  const lineNumber = typeof details.lineNumber === 'number' ? details.lineNumber : undefined;
  const lines = Array.isArray(details.lines) ? details.lines.map(String) : undefined;
  return {
    agent,
    node: doc.nodeName,
    synced: doc.synced,
    ready: doc.ready,
    healthy: doc.healthy,
    syncMode: doc.syncMode,
    backend: doc.backend ?? 'iptables',
    iptablesBackend: doc.iptablesBackend,
    startedAt: doc.startedAt,
    uptimeSeconds: doc.uptimeSeconds,
    running: r?.running ?? null,
    pendingEvents: r?.pendingEvents ?? 0,
    applies: r?.applies ?? 0,
    lastApply: la && {
      at: iso(la.at),
      durationMs: la.durationMs,
      events: la.events,
      full: la.full,
      ...(la.stats
        ? {
            restoreBytes: la.stats.restoreBytes,
            restoreLines: la.stats.restoreLines,
            ipsetLines: la.stats.ipsetLines,
            iptablesLines: la.stats.iptablesLines,
            nftLines: la.stats.nftLines ?? 0,
            transactions: la.stats.transactions ?? 0,
            spawns: la.stats.spawns,
          }
        : {}),
    },
    applyErrors: r?.applyErrors ?? 0,
    consecutiveFailures: r?.consecutiveFailures ?? 0,
    retryInMs: r?.retryInMs ?? null,
    lastError: r?.lastError
      ? {
          at: iso(r.lastError.at),
          error: r.lastError.error.split('\n')[0],
          ...(lineNumber !== undefined ? { lineNumber } : {}),
          ...(lines && lines.length > 0 ? { lines } : {}),
        }
      : null,
    drift: {
      lastCheck: r?.lastRepair ? { at: iso(r.lastRepair.at), differences: r.lastRepair.differences } : null,
      lastRepair: r?.lastRepaired
        ? { at: iso(r.lastRepaired.at), differences: r.lastRepaired.differences }
        : null,
      repairs: r?.repairs ?? 0,
      watch: doc.driftWatch
        ? {
            running: doc.driftWatch.running,
            foreignChanges: doc.driftWatch.foreignChanges,
            restarts: doc.driftWatch.restarts,
            last: doc.driftWatch.lastForeignChange
              ? {
                  at: iso(doc.driftWatch.lastForeignChange.at),
                  pid: doc.driftWatch.lastForeignChange.pid,
                  comm: doc.driftWatch.lastForeignChange.comm,
                  events: doc.driftWatch.lastForeignChange.events,
                }
              : null,
          }
        : null,
    },
    counts: {
      localPods: doc.compiled.subjectPods,
      policies: doc.compiled.policies,
      peerSets: doc.compiled.peerSets,
      chains: doc.kernel?.chains ?? 0,
      rules: doc.kernel?.rules ?? 0,
      ipsets: doc.kernel?.ipsets ?? 0,
      members: doc.kernel?.members ?? 0,
      clusterPods: objects('pods'),
      clusterPolicies: objects('networkpolicies'),
      namespaces: objects('namespaces'),
      clusterNetworkPolicies: doc.compiled.clusterPolicies ?? 0,
      clusterNetworkPoliciesInCluster: doc.clusterNetworkPolicies?.policies ?? 0,
      nodes: objects('nodes'),
    },
    clusterNetworkPolicyCrd: doc.clusterNetworkPolicies?.crd ?? 'not reported',
    unsupported: doc.clusterNetworkPolicies?.unsupported ?? [],
    watches: doc.watches,
    verdictLog: doc.verdictLog ?? null,
  };
}

function verdictLogLines(s: StatusReport, c: Palette): string[] {
  const v = s.verdictLog;
  if (!v) return ['not reported by this agent'];
  if (v.mode === 'off') return ['off (--verdict-log off)'];
  const what = v.mode === 'all' ? 'drops and allowed connections' : 'drops';
  const state = v.capture?.state ?? 'unknown';
  const head = `${state === 'running' ? c.green('running') : c.red(state)}: ${what}, NFLOG group ${v.group}; ${plural(v.events ?? 0, 'event')}, ${plural(v.watchers ?? 0, 'watcher')}`;
  const out = [head];
  if (v.capture?.lastError) out.push(c.red(v.capture.lastError));
  const l = v.lost;
  if (l)
    out.push(
      `lost: ${l.rate_limit} to the rate limit, ${l.queue_overflow} queue overflows, ${l.slow_reader} to slow watchers`,
    );
  const r = v.rateLimit;
  if (r)
    out.push(
      r.reads === 0
        ? `rate limit counters: not read yet${r.failures ? c.red(` (${plural(r.failures, 'read')} failed)`) : ''}`
        : `rate limit counters: ${r.seen} reached a log point, ${r.logged} logged since this agent began reading them` +
            (r.failures ? c.red(`; ${plural(r.failures, 'read')} failed`) : ''),
    );
  return out;
}

function clusterPolicyLines(s: StatusReport, c: Palette): string[] {
  const n = s.counts;
  const head =
    s.clusterNetworkPolicyCrd === 'installed'
      ? `ClusterNetworkPolicy CRD installed: Admin and Baseline tiers enforced (${plural(n.clusterNetworkPoliciesInCluster, 'policy', 'policies')})`
      : s.clusterNetworkPolicyCrd === 'absent'
        ? 'ClusterNetworkPolicy CRD not installed: NetworkPolicy only (picked up once the CRD is installed, no restart needed)'
        : s.clusterNetworkPolicyCrd === 'unknown'
          ? 'ClusterNetworkPolicy: not listed yet'
          : 'ClusterNetworkPolicy: not reported by this agent';
  return [head, ...s.unsupported.map((w) => c.red(`warning: ${w}`))];
}

function stateWords(s: StatusReport, c: Palette): string {
  const word = (ok: boolean, yes: string, no: string) => (ok ? c.green(yes) : c.red(no));
  return [
    word(s.synced, 'synced', 'not synced (watches still listing)'),
    word(s.ready, 'ready', 'not ready (no successful apply yet)'),
    word(s.healthy, 'healthy', 'unhealthy (see /healthz)'),
  ].join(', ');
}

function applyLines(s: StatusReport, now: number): string[] {
  const a = s.lastApply;
  if (!a) return [s.ready ? 'none' : 'none yet'];
  const head = `${agoText(Date.parse(a.at), now)}, took ${millisText(a.durationMs)}, ${plural(a.events, 'event')}${a.full ? ', full diff' : ''}`;
  if (a.restoreBytes === undefined) return [head, 'nothing to write (the change did not concern this node)'];
  return [
    head,
    s.backend === 'nftables'
      ? `wrote ${plural(a.restoreLines ?? 0, 'line')}, ${bytesText(a.restoreBytes)} in ${plural(a.transactions ?? 0, 'nft transaction')}${a.spawns ? ` (${plural(a.spawns, 'nft process', 'nft processes')} started)` : ''}`
      : `wrote ${plural(a.restoreLines ?? 0, 'line')}, ${bytesText(a.restoreBytes)} (${a.ipsetLines} ipset, ${a.iptablesLines} iptables) in ${plural(a.spawns ?? 0, 'process', 'processes')}`,
  ];
}

function errorLines(s: StatusReport, now: number, c: Palette): string[] {
  if (s.applyErrors === 0) return [`none (${plural(s.applies, 'apply', 'applies')})`];
  const out = [`${c.red(String(s.applyErrors))} of ${plural(s.applies, 'apply', 'applies')}`];
  if (s.consecutiveFailures > 0) {
    const retry = s.retryInMs !== null ? `; retrying in ${durationText(s.retryInMs / 1000)}` : '';
    out[0] += c.red(`, failing now: ${s.consecutiveFailures} in a row${retry}`);
  }
  if (s.lastError) {
    out.push(`last ${agoText(Date.parse(s.lastError.at), now)}: ${s.lastError.error}`);
    for (const l of s.lastError.lines ?? []) out.push(`  ${l}`);
  }
  return out;
}

/** The drift watch line (nftables): what nft monitor saw others do to Palisade's table. */
function watchLines(s: StatusReport, now: number, c: Palette): string[] {
  const w = s.drift.watch;
  if (!w) return [];
  const state = w.running ? 'watching (nft monitor)' : c.red('watch not running');
  const seen = `${plural(w.foreignChanges, 'foreign change')} seen${w.restarts ? `, ${plural(w.restarts, 'restart')}` : ''}`;
  const out = [`${state}: ${seen}, each repaired at once`];
  if (w.last) {
    out.push(
      `last ${agoText(Date.parse(w.last.at), now)} by pid ${w.last.pid} (${w.last.comm || 'unknown'}): ${w.last.events[0] ?? ''}`,
    );
  }
  return out;
}

function driftLines(s: StatusReport, now: number, c: Palette): string[] {
  const repairs = `${plural(s.drift.repairs, 'repair')} since start`;
  const last = s.drift.lastCheck;
  if (!last) return [`no check yet; ${repairs}`, ...watchLines(s, now, c)];
  const when = agoText(Date.parse(last.at), now);
  if (last.differences.length === 0) {
    const repaired = s.drift.lastRepair;
    const lastFix = repaired
      ? `; last repair ${agoText(Date.parse(repaired.at), now)} (${plural(repaired.differences.length, 'difference')})`
      : '';
    return [`last check ${when}: clean; ${repairs}${lastFix}`, ...watchLines(s, now, c)];
  }
  return [
    c.red(`last check ${when}: repaired ${plural(last.differences.length, 'difference')}`) + `; ${repairs}`,
    ...last.differences.slice(0, 10).map((d) => `  ${d}`),
    ...(last.differences.length > 10 ? [`  ... and ${last.differences.length - 10} more`] : []),
    ...watchLines(s, now, c),
  ];
}

export function renderStatus(s: StatusReport, colour: boolean, now = Date.now()): string {
  const c = palette(colour);
  const rows: string[][] = [];
  const add = (label: string, lines: readonly string[]) =>
    lines.forEach((l, i) => rows.push([i === 0 ? label : '', l]));
  add('State:', [stateWords(s, c)]);
  add('Up:', [
    `${durationText(s.uptimeSeconds)} (since ${s.startedAt.replace(/\.\d{3}Z$/, 'Z')}); sync mode ${s.syncMode}, ${s.backend === 'nftables' ? 'nftables (table inet palisade)' : `iptables ${s.iptablesBackend}`}`,
  ]);
  add('Last apply:', applyLines(s, now));
  add('Pending:', [`${plural(s.pendingEvents, 'event')}${s.running ? `; ${s.running} running now` : ''}`]);
  add('Apply errors:', errorLines(s, now, c));
  add('Drift:', driftLines(s, now, c));
  add('Tiers:', clusterPolicyLines(s, c));
  add('Verdict logs:', verdictLogLines(s, c));
  const n = s.counts;
  const counts = renderTable(
    [
      [
        'local pods',
        String(n.localPods),
        `policy targets on ${s.node} (${n.clusterPods} pods in the cluster)`,
      ],
      ['policies', String(n.policies), `selecting local pods (${n.clusterPolicies} in the cluster)`],
      [
        'CNPs',
        String(n.clusterNetworkPolicies),
        `ClusterNetworkPolicies holding local pods (${n.clusterNetworkPoliciesInCluster} in the cluster)`,
      ],
      ['peer sets', String(n.peerSets), 'distinct peers those policies name'],
      ...(s.backend === 'nftables'
        ? [
            ['chains', String(n.chains), 'in table inet palisade, both families'],
            ['rules', String(n.rules), 'in those chains'],
            ['sets', String(n.ipsets), 'sets and dispatch maps'],
            ['elements', String(n.members), 'in those sets and maps'],
          ]
        : [
            ['chains', String(n.chains), 'iptables chains, both families'],
            ['rules', String(n.rules), 'in those chains, and the hook rules'],
            ['ipsets', String(n.ipsets), ''],
            ['members', String(n.members), 'in those ipsets'],
          ]),
    ],
    { alignRight: [1] },
  );
  const watches = renderTable([
    ['WATCH', 'STATE', 'SYNCED', 'OBJECTS', 'RESTARTS', 'LAST ERROR'].map((h) => c.bold(h)),
    ...s.watches.map((w) => [
      w.resource,
      // An optional resource without its CRD is absent, which is normal, not a failure.
      w.state === 'watching' || w.state === 'absent'
        ? w.state === 'absent'
          ? 'absent (no CRD)'
          : w.state
        : c.red(w.state),
      w.synced ? 'yes' : c.red('no'),
      String(w.objects),
      String(w.restarts),
      w.lastError ?? '-',
    ]),
  ]);
  return [
    `${c.bold(`Agent on ${s.node}`)} (${s.agent})`,
    renderTable(rows.map(([k, v]) => [`  ${k}`, v])),
    '',
    c.bold('Counts'),
    counts
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
    '',
    watches,
    '',
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('status')
    .description(
      "a running agent's state: synced, last apply, counts of pods, policies, chains and ipsets, errors, drift",
    )
    .addOption(agentOption())
    .addOption(outputOption())
    .addHelpText('after', EXAMPLES)
    .action(async (opts: StatusOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = new AgentClient(opts.agent);
      const doc = await client.get<StatusDoc>('/v1/status');
      const report = statusReport(doc, describeAddress(client.address));
      ctx.stdout(opts.output === 'json' ? toJSON(report) : renderStatus(report, useColour(ctx)));
    });
}
