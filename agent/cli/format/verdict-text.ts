/**
 * One verdict event as a line of `palisade watch`: fixed columns, since the lines are printed as
 * the events come (like `kubectl get -w`), and the deciding tier, policy and rule in words.
 */
import type { VerdictEvent } from '../../daemon/verdicts/event';

const COLUMNS = [
  ['TIME', 12],
  ['NODE', 10],
  ['VERDICT', 11],
  ['DIR', 3],
  ['FROM', 28],
  ['TO', 28],
  ['PORT', 10],
] as const;

export function verdictHeader(): string {
  return `${COLUMNS.map(([name, width]) => name.padEnd(width)).join('  ')}  DECIDED BY\n`;
}

function peer(p: VerdictEvent['src']): string {
  return p.pod ?? p.ip;
}

function port(e: VerdictEvent): string {
  return e.dstPort !== undefined ? `${e.dstPort}/${e.protocol}` : e.protocol;
}

/** The tier, policy and rule that decided, in a few words. */
export function decidedBy(e: VerdictEvent): string {
  if (!e.known) return `${e.tier} tier (log point ${e.point} is not in this agent's table)`;
  switch (e.cause) {
    case 'rule': {
      const r = e.rule!;
      return `${e.tier} ClusterNetworkPolicy ${e.policy!.key} ${e.direction}[${r.index}]${r.name ? ` "${r.name}"` : ''}`;
    }
    case 'isolation':
      return `NetworkPolicy ${(e.policies ?? []).join(', ')}: isolates ${e.subject ?? 'the pod'}, no rule admits`;
    case 'policy':
      return `NetworkPolicy ${e.policy!.key} admits`;
    case 'default':
      return 'no policy decided: allowed by default';
    case 'pending':
      return "isolated, its pod's rules not written yet";
    case 'fail-closed':
      return `fail closed: ${e.direction === 'egress' ? 'source' : 'destination'} is no programmed pod (a new pod, or IPv6 link-local)`;
    default:
      return e.tier;
  }
}

export function verdictLine(e: VerdictEvent): string {
  const time = e.time.slice(11, 23);
  const cells = [
    time,
    e.node,
    e.verdict,
    e.direction === 'ingress' ? 'in' : 'eg',
    peer(e.src),
    peer(e.dst),
    port(e),
  ];
  // Long cells push the next column right rather than being cut: names must stay whole.
  let out = '';
  let used = 0;
  let target = 0;
  cells.forEach((c, i) => {
    out += c;
    used += c.length;
    target += COLUMNS[i][1] + 2;
    const pad = Math.max(1, target - used);
    out += ' '.repeat(pad);
    used += pad;
  });
  return `${out}${decidedBy(e)}\n`;
}
