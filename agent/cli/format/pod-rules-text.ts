/**
 * `palisade rules NS/POD` in words: the pod, then per direction, in evaluation order, the
 * ClusterNetworkPolicies of the Admin tier, the NetworkPolicies that select it and the
 * ClusterNetworkPolicies of the Baseline tier, each rule with its peers (and what they resolve
 * to), its ports and the kernel rules that implement it; then the pod's kernel objects as the
 * kernel holds them. A pod no ClusterNetworkPolicy holds reads as before tiers existed.
 */
import type {
  RuleReport,
  DirectionReport,
  KernelChainReport,
  KernelRuleReport,
  KernelSetReport,
  PeerReport,
  PodRulesReport,
  PortReport,
  ResolvedAddress,
  TierPolicyReport,
} from '../live/pod-rules';
import { familyText } from '../live/kernel-objects';
import { palette, type Palette } from './colour';
import { plural } from './quantities';
import { renderTable } from './table';

export interface PodRulesTextOptions {
  readonly colour: boolean;
  /** List at most this many members per peer set and ipset (the rest is counted). */
  readonly maxMembers: number;
}

const indent = (text: string, by: string): string =>
  text
    .split('\n')
    .map((l) => (l === '' ? l : by + l))
    .join('\n');

function addressText(r: ResolvedAddress): string[] {
  return [r.pod ?? '(no pod)', r.address, r.node ? `node ${r.node}` : ''];
}

function capped<T>(xs: readonly T[], max: number): { shown: readonly T[]; more: number } {
  return xs.length > max ? { shown: xs.slice(0, max), more: xs.length - max } : { shown: xs, more: 0 };
}

function peerLines(p: PeerReport, o: PodRulesTextOptions, families: readonly number[]): string[] {
  const sets = p.ipsets
    .filter((s) => families.includes(s.family))
    .map((s) => s.name)
    .join(', ');
  const head = `peer  ${p.selects}${sets ? `  [${sets}]` : ''}`;
  if (p.cidr) return [head];
  if (p.members.length === 0) return [head, '        (no pod matches now)'];
  const { shown, more } = capped(p.members, o.maxMembers);
  const table = renderTable(shown.map(addressText));
  return [
    head,
    indent(table, '        '),
    ...(more > 0 ? [`        ... and ${more} more (--all lists them)`] : []),
  ];
}

function portLines(p: PortReport, podKey: string, o: PodRulesTextOptions): string[] {
  if (!p.name) return [`port  ${p.text}`];
  const resolved = p.resolved ?? [];
  if (resolved.length === 0) return [`port  ${p.text}: resolves nowhere (no pod declares it)`];
  const { shown, more } = capped(resolved, o.maxMembers);
  return [
    `port  ${p.text} resolves to:`,
    ...shown.map(
      (r) =>
        `        ${r.port}/${p.protocol} on ${r.pod ?? r.address}${r.pod === podKey ? ' (this pod)' : ''}`,
    ),
    ...(more > 0 ? [`        ... and ${more} more`] : []),
  ];
}

function kernelRuleLine(k: KernelRuleReport, c: Palette): string[] {
  const where = `${k.chain} #${k.rule ?? '?'}`;
  return k.state === 'missing'
    ? [`${c.red(`${where} MISSING from the kernel`)}  ${k.spec}`]
    : [`${where}  ${k.spec}`];
}

/** A rule's peers, ports and kernel rules, one line each (before indentation). */
function ruleBody(
  r: PodRulesReport,
  rule: { peers: RuleReport['peers']; ports: RuleReport['ports']; kernel: RuleReport['kernel'] },
  verb: string,
  o: PodRulesTextOptions,
  c: Palette,
): string[] {
  const body: string[] = [];
  if (rule.peers === 'any')
    body.push(`peer  any (${verb === 'ingress' ? 'every source' : 'every destination'})`);
  else for (const peer of rule.peers) body.push(...peerLines(peer, o, r.kernel.families));
  if (rule.ports === 'any') body.push('port  any');
  else for (const port of rule.ports) body.push(...portLines(port, r.pod.key, o));
  for (const k of rule.kernel) body.push(...kernelRuleLine(k, c).map((l) => `kernel ${l}`));
  return body.flatMap((l) => l.split('\n'));
}

function chainsText(chains: PolicyReportChains, c: Palette): string {
  return chains
    .map((ch) => (ch.state === 'in sync' ? ch.name : c.red(`${ch.name} (${ch.state} in the kernel)`)))
    .join(', ');
}

type PolicyReportChains = DirectionReport['policies'][number]['chains'];

/** The NetworkPolicies of one direction: who isolates the pod and each rule. */
function networkPolicyLines(
  r: PodRulesReport,
  d: DirectionReport,
  verb: string,
  o: PodRulesTextOptions,
  c: Palette,
): string[] {
  const lines: string[] = [];
  for (const p of d.policies) {
    const chains = chainsText(p.chains, c);
    lines.push(
      `  ${c.bold(p.key)} (selects ${p.podSelector === '' ? 'every pod of its namespace' : p.podSelector})${chains ? `  chain ${chains}` : ''}`,
    );
    if (p.rules.length === 0) lines.push(`    no ${verb} rules: it only isolates (denies every ${verb})`);
    for (const rule of p.rules) {
      lines.push(`    rule ${rule.index}: ${rule.text}`);
      lines.push(...ruleBody(r, rule, verb, o, c).map((l) => `      ${l}`));
    }
  }
  return lines;
}

function tierPolicyLines(
  r: PodRulesReport,
  p: TierPolicyReport,
  verb: string,
  o: PodRulesTextOptions,
  c: Palette,
): string[] {
  const chains = chainsText(p.chains, c);
  const lines = [
    `  ${c.bold(p.name)} (priority ${p.priority}, subject ${p.subject})${chains ? `  chain ${chains}` : ''}`,
  ];
  for (const rule of p.rules) {
    const name = rule.name ? ` "${rule.name}"` : '';
    lines.push(`    rule ${rule.index}${name}: ${rule.text}`);
    if (rule.unsupported) {
      const effect =
        rule.action === 'Accept' ? 'treated as matching no traffic' : 'treated as matching every address';
      lines.push(
        c.red(
          `      ${rule.unsupported.join(', ')} peers are not enforced by Palisade: ${effect} (fail closed)`,
        ),
      );
    }
    lines.push(...ruleBody(r, rule, verb, o, c).map((l) => `      ${l}`));
  }
  return lines;
}

function directionText(
  r: PodRulesReport,
  d: DirectionReport,
  word: 'Ingress' | 'Egress',
  o: PodRulesTextOptions,
  c: Palette,
): string {
  const verb = word.toLowerCase();
  if (!r.subject) return `${word}: not enforced here.`;
  const tiers = d.admin.length + d.baseline.length > 0;
  if (!tiers) {
    if (!d.isolated)
      return `${word}: not isolated (no policy selects ${r.pod.key} for ${verb}): all ${verb} allowed.`;
    return [
      `${word}: isolated by ${plural(d.policies.length, 'policy', 'policies')}; allowed only what a rule below admits.`,
      ...networkPolicyLines(r, d, verb, o, c),
    ].join('\n');
  }
  const lines = [`${word}, in evaluation order (the first tier that decides wins):`];
  if (d.admin.length > 0) {
    lines.push(
      `Admin tier: ${plural(d.admin.length, 'ClusterNetworkPolicy', 'ClusterNetworkPolicies')}, by priority then name; the first matching rule decides (Pass: on to the next tiers).`,
    );
    for (const p of d.admin) lines.push(...tierPolicyLines(r, p, verb, o, c));
  }
  if (d.isolated) {
    lines.push(
      `NetworkPolicy tier: isolated by ${plural(d.policies.length, 'policy', 'policies')}; they decide: allowed only what a rule below admits.`,
    );
    lines.push(...networkPolicyLines(r, d, verb, o, c));
  } else {
    lines.push(`NetworkPolicy tier: no policy selects ${r.pod.key} for ${verb}.`);
  }
  if (d.baseline.length > 0) {
    lines.push(
      `Baseline tier: ${plural(d.baseline.length, 'ClusterNetworkPolicy', 'ClusterNetworkPolicies')}${d.isolated ? ' (not reached: the NetworkPolicy tier decides)' : ', by priority then name; the first matching rule decides'}.`,
    );
    for (const p of d.baseline) lines.push(...tierPolicyLines(r, p, verb, o, c));
  }
  if (!d.isolated) lines.push(`Otherwise: allowed (no tier decided).`);
  return lines.join('\n');
}

function chainText(ch: KernelChainReport, podKey: string, c: Palette): string {
  const origin = ch.owner ? `${ch.kind} ${ch.owner}` : ch.kind;
  const state =
    ch.state === 'in sync'
      ? ''
      : `  ${c.red(ch.state === 'missing' ? 'MISSING from the kernel (desired rules shown)' : `${ch.state} from the desired state: run palisade diff`)}`;
  const rows = ch.rules.map((r) => [
    String(r.rule),
    r.spec,
    r.note
      .replace(`pod ${podKey}: `, '')
      .replace(`cnp ${ch.owner ?? ''} `, '')
      .replace(`${ch.owner ?? ''} `, ''),
  ]);
  return [
    `chain ${c.bold(ch.name)} (${familyText(ch.family)}, ${origin}${ch.direction ? `, ${ch.direction}` : ''})${state}`,
    indent(renderTable(rows, { alignRight: [0] }), '   '),
  ].join('\n');
}

function setText(s: KernelSetReport, r: PodRulesReport, o: PodRulesTextOptions, c: Palette): string {
  const what = s.role === 'isolation' ? `isolated for ${s.direction}` : s.role;
  const state =
    s.state === 'in sync'
      ? ''
      : `  ${c.red(s.state === 'missing' ? 'MISSING from the kernel' : `${s.state} from the desired state: run palisade diff`)}`;
  const head = `ipset ${c.bold(s.name)} (${s.type}, ${familyText(s.family)}, ${what}): ${plural(s.members.length, 'member')}${state}`;
  const members = s.role === 'isolation' ? s.members.filter((m) => r.pod.ips.includes(m)) : s.members;
  const { shown, more } = capped(members, o.maxMembers);
  const lines = [head];
  if (s.role === 'isolation') {
    lines.push(`   holds ${shown.join(', ') || c.red(`none of ${r.pod.ips.join(', ')}`)}`);
  } else if (shown.length > 0) {
    lines.push(`   ${shown.join(' ')}${more > 0 ? ` ... and ${more} more` : ''}`);
  }
  return lines.join('\n');
}

export function renderPodRules(r: PodRulesReport, o: PodRulesTextOptions): string {
  const c = palette(o.colour);
  const p = r.pod;
  const labels = Object.entries(p.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const ports = p.namedPorts.map((n) => `${n.name}=${n.port}/${n.protocol}`).join(', ');
  const out = [
    `${c.bold(`Pod ${p.key}`)} on ${p.node || '(no node)'}, ${p.ips.join(', ') || 'no address'}, ${labels ? `labels ${labels}` : 'no labels'}${ports ? `, named ports ${ports}` : ''}`,
  ];
  if (!r.subject) {
    out.push(r.reason ?? 'not enforced by this agent', '');
    return out.join('\n');
  }
  out.push(`(enforced by the agent on ${r.node})`, '');
  out.push(directionText(r, r.ingress, 'Ingress', o, c), '');
  out.push(directionText(r, r.egress, 'Egress', o, c), '');
  const k = r.kernel;
  if (k.dispatch.length + k.chains.length + k.ipsets.length === 0) {
    out.push(`Kernel: no objects for ${p.key} (not isolated in either direction).`, '');
    return out.join('\n');
  }
  out.push(
    c.bold(
      `Kernel objects (${k.families.map(familyText).join(' and ')}, filter table, as the kernel holds them now):`,
    ),
  );
  for (const d of k.dispatch) out.push(`  ${kernelRuleLine(d, c).join('')}`);
  for (const ch of k.chains) out.push(indent(chainText(ch, p.key, c), '  '));
  for (const s of k.ipsets) out.push(indent(setText(s, r, o, c), '  '));
  out.push('');
  return out.join('\n');
}
