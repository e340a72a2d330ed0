/**
 * The connection-tracking table, read and pruned through `conntrack` (conntrack-tools).
 *
 * Why: Palisade's rules let replies of established connections through before any policy is
 * looked at (that is what makes allowed connections cheap). So a connection that was open when
 * a policy began to deny it would go on flowing. Deleting its conntrack entry makes its next
 * packet a new connection, which meets the rules and is dropped.
 *
 * What it does: lists the entries one address takes part in (as the original source or
 * destination; the kernel filters the dump), and deletes the entries of one
 * (family, protocol, source, destination, destination port) group. Never the whole table.
 *
 * Promise: argv arrays only; every address and port handed to conntrack was parsed and
 * re-printed here first.
 */
import { canonicalIP, familyOf } from './ip';
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

  /** Entries whose original source or destination is `address` (two kernel-filtered dumps). */
  async flowsOf(address: string): Promise<Flow[]> {
    const ip = canonicalIP(address);
    const family = familyOf(ip) === 4 ? 'ipv4' : 'ipv6';
    const out: Flow[] = [];
    const seen = new Set<string>();
    for (const side of ['-s', '-d']) {
      const r = await this.kernel.run([this.binary, '-L', '-f', family, side, ip]);
      if (r.code !== 0)
        throw new Error(`${this.binary} -L ${side} ${ip} failed (${r.code}): ${r.stderr.trim()}`);
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

  /**
   * Every entry of one family (one dump): cheaper than two dumps per address once an apply
   * affects more than a few addresses (a policy change on a busy node).
   */
  async allFlows(family: 4 | 6): Promise<Flow[]> {
    const r = await this.kernel.run([this.binary, '-L', '-f', family === 4 ? 'ipv4' : 'ipv6']);
    if (r.code !== 0) throw new Error(`${this.binary} -L failed (${r.code}): ${r.stderr.trim()}`);
    return parseConntrackList(r.stdout);
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
