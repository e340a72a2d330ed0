/**
 * The connection-tracking table, read and pruned through `conntrack` (conntrack-tools).
 *
 * Why: Palisade's rules let replies of established connections through before any policy is
 * looked at (that is what makes allowed connections cheap). So a connection that was open when
 * a policy began to deny it would go on flowing. Deleting its conntrack entry makes its next
 * packet a new connection, which meets the rules and is dropped.
 *
 * What it does: lists the entries whose original source or destination lies in one prefix (an
 * address, or a network in CIDR notation, conntrack ≥ 1.4.4), and deletes the entries of one
 * (family, protocol, source, destination, destination port) group. Never the whole table.
 *
 * Cost: conntrack 1.4.7 (Debian bookworm, the image's) asks the kernel for the whole table of
 * the family on every -L and -D and filters it itself (strace: the dump request carries no
 * filter). So each call costs a walk of the table in the kernel and in conntrack (about 0.3 s
 * of CPU at 100,000 entries on the 2-core development machine); what a filter saves is the
 * printing of the other entries, and their parsing here (5 to 10 µs an entry, on the agent's
 * event loop).
 *
 * Promise: argv arrays only; every address and port handed to conntrack was parsed and
 * re-printed here first.
 */
import { canonicalIP, familyOf, netEntry, parseCIDR } from './ip';
import type { Kernel } from './kernel';

export type FlowProtocol = 'tcp' | 'udp' | 'sctp';

/** The original direction of a tracked connection: who opened it, to what. */
export interface Flow {
  readonly protocol: FlowProtocol;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

const PROTOCOLS: ReadonlySet<string> = new Set(['tcp', 'udp', 'sctp']);

/**
 * Parses `conntrack -L` output ("tcp 6 431999 ESTABLISHED src=… dst=… sport=… dport=… src=…"):
 * the first src/dst/sport/dport of each line are the original direction. Other protocols
 * (icmp, …) carry no port that a policy names, and are skipped.
 */
export function parseConntrackList(text: string): Flow[] {
  const flows: Flow[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    // `-o extended` prints the layer-3 family first ("ipv4 2 tcp 6 …").
    const at = tokens[0] === 'ipv4' || tokens[0] === 'ipv6' ? 2 : 0;
    const protocol = tokens[at];
    if (!PROTOCOLS.has(protocol)) continue;
    const field = (name: string): string | undefined =>
      tokens.find((t) => t.startsWith(`${name}=`))?.slice(name.length + 1);
    const src = field('src');
    const dst = field('dst');
    const sport = Number(field('sport'));
    const dport = Number(field('dport'));
    if (src === undefined || dst === undefined || !Number.isInteger(sport) || !Number.isInteger(dport))
      continue;
    try {
      flows.push({
        protocol: protocol as FlowProtocol,
        src: canonicalIP(src),
        dst: canonicalIP(dst),
        sport,
        dport,
      });
    } catch {
      // An address we cannot parse is not one of ours to judge.
    }
  }
  return flows;
}

/** One deletion: every entry of this protocol from `src` to `dst` on `dport`. */
export interface FlowGroup {
  readonly protocol: FlowProtocol;
  readonly src: string;
  readonly dst: string;
  readonly dport: number;
}

export function flowGroupKey(g: FlowGroup): string {
  return `${g.protocol} ${g.src} ${g.dst} ${g.dport}`;
}

export class ConntrackTable {
  constructor(
    private readonly kernel: Kernel,
    private readonly binary = 'conntrack',
  ) {}

  /**
   * Entries whose original source or destination lies in `cidr` ("10.0.1.5", "10.0.1.0/25"):
   * two filtered listings, run together.
   */
  async flowsIn(cidr: string): Promise<Flow[]> {
    const net = parseCIDR(cidr);
    const family = net.family === 4 ? 'ipv4' : 'ipv6';
    const prefix = netEntry(net);
    const out: Flow[] = [];
    const seen = new Set<string>();
    const sides = ['-s', '-d'];
    // Independent processes: both at once.
    const results = await Promise.all(
      sides.map((side) => this.kernel.run([this.binary, '-L', '-f', family, side, prefix])),
    );
    for (const [i, r] of results.entries()) {
      if (r.code !== 0)
        throw new Error(`${this.binary} -L ${sides[i]} ${prefix} failed (${r.code}): ${r.stderr.trim()}`);
      for (const f of parseConntrackList(r.stdout)) {
        const k = `${flowGroupKey(f)} ${f.sport}`;
        if (!seen.has(k)) {
          seen.add(k);
          out.push(f);
        }
      }
    }
    return out;
  }

  /** Deletes the group's entries; returns how many conntrack reported deleted. */
  async delete(g: FlowGroup): Promise<number> {
    const src = canonicalIP(g.src);
    const dst = canonicalIP(g.dst);
    if (!PROTOCOLS.has(g.protocol) || !Number.isInteger(g.dport) || g.dport < 0 || g.dport > 65535) {
      throw new Error(`not a flow group: ${flowGroupKey(g)}`);
    }
    const family = familyOf(src) === 4 ? 'ipv4' : 'ipv6';
    const r = await this.kernel.run([
      this.binary,
      '-D',
      '-f',
      family,
      '-p',
      g.protocol,
      '-s',
      src,
      '-d',
      dst,
      '--dport',
      String(g.dport),
    ]);
    // conntrack exits 1 when nothing matched (the connection ended meanwhile): not an error.
    const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
    if (r.code !== 0 && !(m && m[1] === '0')) {
      throw new Error(`${this.binary} -D ${flowGroupKey(g)} failed (${r.code}): ${r.stderr.trim()}`);
    }
    return m ? Number(m[1]) : 0;
  }
}
