/**
 * A packet tracer over FakeKernel state: walks a built-in chain of the filter table the way
 * netfilter does (jumps push, gotos replace, RETURN pops, the policy decides at the end) and
 * evaluates the matches Palisade writes. For fast semantic tests; real packets in network
 * namespaces remain the truth (traffic.kernel.test.ts).
 *
 * Unknown matches or targets throw, so a rule the tracer does not understand never silently
 * counts as a match or a miss.
 */
import type { IPFamily } from '../api';
import type { FakeKernel, FakeSet } from './fake-kernel';
import { canonicalIP, familyOf, parseCIDR } from '../ip';

export interface Packet {
  readonly src: string;
  readonly dst: string;
  readonly proto: 'tcp' | 'udp' | 'sctp' | 'ipv6-icmp' | 'icmp';
  readonly dport?: number;
  readonly icmpv6Type?: number;
  readonly ctstate?: 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID';
  readonly mark?: number;
}

/** A packet handed to NFLOG on the way. */
export interface LoggedPacket {
  readonly prefix: string;
  readonly group: number;
}

export interface TraceOptions {
  /** Whether a hashlimit match (by its name) lets the packet through; default always. */
  readonly limit?: (name: string) => boolean;
}

export interface TraceResult {
  readonly verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** NFLOG messages the packet caused, in order. */
  readonly logged: readonly LoggedPacket[];
  /** Packet mark when the verdict was reached. */
  readonly mark: number;
  /** "CHAIN#n" of every rule evaluated, in order. */
  readonly evaluated: readonly string[];
  /** "CHAIN#n" of the rules that matched. */
  readonly matched: readonly string[];
}

function tokenize(spec: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(spec))) out.push(m[1] !== undefined ? m[1] : m[2]);
  return out;
}

function inPrefix(ip: string, cidr: string): boolean {
  if (familyOf(ip) !== familyOf(cidr)) return false;
  const net = parseCIDR(cidr);
  return parseCIDR(`${ip}/${net.prefix}`).address === net.address;
}

function setHas(set: FakeSet, p: Packet, dirs: string[]): boolean {
  const ipOf = (d: string): string => canonicalIP(d === 'src' ? p.src : p.dst);
  switch (set.type) {
    case 'hash:ip':
      return set.members.has(ipOf(dirs[0]));
    case 'hash:ip,port': {
      if (p.dport === undefined) return false;
      const port = dirs[1] === 'src' ? undefined : p.dport;
      return port !== undefined && set.members.has(`${ipOf(dirs[0])},${p.proto}:${port}`);
    }
    case 'hash:net': {
      const ip = ipOf(dirs[0]);
      let best: { prefix: number; nomatch: boolean } | undefined;
      for (const [element, nomatch] of set.members) {
        const cidr = element.includes('/') ? element : `${element}/${familyOf(element) === 4 ? 32 : 128}`;
        if (!inPrefix(ip, cidr)) continue;
        const prefix = parseCIDR(cidr).prefix;
        if (!best || prefix > best.prefix) best = { prefix, nomatch };
      }
      return !!best && !best.nomatch;
    }
    default:
      throw new Error(`tracer: set type ${set.type} not supported`);
  }
}

type Action =
  | { readonly kind: 'verdict'; readonly verdict: 'ACCEPT' | 'DROP' | 'REJECT' | 'RETURN' }
  | { readonly kind: 'jump'; readonly chain: string }
  | { readonly kind: 'goto'; readonly chain: string }
  | { readonly kind: 'mark'; readonly value: number; readonly mask: number }
  | { readonly kind: 'nflog'; readonly prefix: string; readonly group: number };

interface Step {
  matched: boolean;
  action?: Action;
}

function evaluate(spec: string, p: Packet, mark: number, kernel: FakeKernel, options: TraceOptions): Step {
  const t = tokenize(spec);
  let matched = true;
  let action: Action | undefined;
  for (let i = 0; i < t.length; i++) {
    let neg = false;
    if (t[i] === '!') {
      neg = true;
      i++;
    }
    const tok = t[i];
    const test = (ok: boolean): void => {
      if (ok === neg) matched = false;
    };
    switch (tok) {
      case '-s':
        test(inPrefix(p.src, t[++i]));
        break;
      case '-d':
        test(inPrefix(p.dst, t[++i]));
        break;
      case '-p':
        test(p.proto === t[++i]);
        break;
      case '-m':
        i++; // the match name; its options follow as their own tokens
        break;
      case '--comment':
        i++;
        break;
      case '--ctstate':
        test(t[++i].split(',').includes(p.ctstate ?? 'NEW'));
        break;
      case '--match-set': {
        const set = kernel.ipsets.get(t[++i]);
        if (!set) throw new Error(`tracer: set ${t[i]} missing`);
        test(setHas(set, p, t[++i].split(',')));
        break;
      }
      case '--dport': {
        const [lo, hi] = t[++i].split(':').map(Number);
        test(p.dport !== undefined && p.dport >= lo && p.dport <= (hi ?? lo));
        break;
      }
      case '--mark': {
        const [v, m] = t[++i].split('/').map((x) => Number(x));
        test((mark & (m ?? 0xffffffff)) === v);
        break;
      }
      case '--icmpv6-type':
        test(p.icmpv6Type === Number(t[++i]));
        break;
      case '--hashlimit-upto':
      case '--hashlimit-burst':
        i++; // the bucket's settings; whether it lets the packet through is the limiter's call
        break;
      case '--hashlimit-name': {
        const name = t[++i];
        test(options.limit ? options.limit(name) : true);
        break;
      }
      case '-j':
      case '-g': {
        const target = t[++i];
        if (target === 'MARK') {
          if (t[i + 1] !== '--set-xmark') throw new Error(`tracer: MARK ${t[i + 1]} not supported`);
          const [v, m] = t[i + 2].split('/').map((x) => Number(x));
          action = { kind: 'mark', value: v, mask: m };
          i += 2;
        } else if (target === 'NFLOG') {
          let prefix = '';
          let group = 0;
          while (t[i + 1]?.startsWith('--nflog-')) {
            const option = t[++i];
            const value = t[++i];
            if (option === '--nflog-prefix') prefix = value;
            else if (option === '--nflog-group') group = Number(value);
            else if (option !== '--nflog-size' && option !== '--nflog-threshold')
              throw new Error(`tracer: NFLOG ${option} not supported`);
          }
          action = { kind: 'nflog', prefix, group };
        } else if (['ACCEPT', 'DROP', 'REJECT', 'RETURN'].includes(target)) {
          action = { kind: 'verdict', verdict: target as 'ACCEPT' };
        } else {
          action = tok === '-j' ? { kind: 'jump', chain: target } : { kind: 'goto', chain: target };
        }
        break;
      }
      default:
        throw new Error(`tracer: cannot evaluate "${tok}" in rule "${spec}"`);
    }
  }
  return { matched, action };
}

/** Run a packet through a built-in chain of one family's filter table. */
export function trace(
  kernel: FakeKernel,
  family: IPFamily,
  builtin: 'FORWARD' | 'INPUT' | 'OUTPUT',
  p: Packet,
  options: TraceOptions = {},
): TraceResult {
  const chains = kernel.tables.get(family)!.get('filter')!;
  const evaluated: string[] = [];
  const matched: string[] = [];
  const logged: LoggedPacket[] = [];
  let mark = p.mark ?? 0;
  const policyOf = (name: string): 'ACCEPT' | 'DROP' =>
    chains.get(name)?.policy === 'DROP' ? 'DROP' : 'ACCEPT';
  const stack: { chain: string; next: number }[] = [];
  let chain: string = builtin;
  let index = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const c = chains.get(chain);
    if (!c) throw new Error(`tracer: chain ${chain} missing`);
    if (index >= c.rules.length) {
      const back = stack.pop();
      if (!back) return { verdict: policyOf(builtin), logged, mark, evaluated, matched };
      chain = back.chain;
      index = back.next;
      continue;
    }
    const here = `${chain}#${index + 1}`;
    evaluated.push(here);
    const step = evaluate(c.rules[index].spec, p, mark, kernel, options);
    index++;
    if (!step.matched || !step.action) continue;
    matched.push(here);
    const a = step.action;
    if (a.kind === 'mark') {
      mark = ((mark & ~a.mask) | a.value) >>> 0;
    } else if (a.kind === 'nflog') {
      logged.push({ prefix: a.prefix, group: a.group });
    } else if (a.kind === 'jump') {
      stack.push({ chain, next: index });
      chain = a.chain;
      index = 0;
    } else if (a.kind === 'goto') {
      chain = a.chain;
      index = 0;
    } else if (a.verdict === 'RETURN') {
      const back = stack.pop();
      if (!back) return { verdict: policyOf(builtin), logged, mark, evaluated, matched };
      chain = back.chain;
      index = back.next;
    } else {
      return { verdict: a.verdict, logged, mark, evaluated, matched };
    }
  }
  throw new Error('tracer: rule loop');
}
