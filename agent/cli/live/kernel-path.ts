/**
 * The kernel path of one connection: its first packet walked through Palisade's chains and
 * ipsets exactly as the kernel holds them now (the agent's /v1/dataplane/actual view), rule by
 * rule, with the dataplane's packet tracer (dataplane/tracer.ts) over an in-memory copy of those
 * objects (FakeKernel, which interprets the same restore text as the real tools).
 *
 * Only Palisade's objects are copied: our hook rules stand alone in FORWARD and INPUT, so
 * "allowed" means "Palisade's chains let the packet through" (the rest of FORWARD, other tools'
 * rules, is not ours to judge) and "dropped" names the rule that dropped it.
 */
import { FakeKernel, type DataplaneView, type IPFamily } from '../../../dataplane/api';
import { trace, type Packet } from '../../../dataplane/iptables/tracer';
import { ruleParts, ruleTarget, setsMatchedBy } from './kernel-objects';

/** A set match of a rule: the element the packet presents and whether the set holds it. */
export interface SetTest {
  readonly name: string;
  /** "10.0.0.1", or "10.0.0.1,tcp:80" for an ip,port set. */
  readonly element: string;
  readonly member: boolean;
}

export interface PathStep {
  readonly chain: string;
  /** 1-based rule number in the chain. */
  readonly rule: number;
  /** The rule without its comment. */
  readonly spec: string;
  /** The comment's human part. */
  readonly note: string;
  readonly sets: readonly SetTest[];
}

export interface KernelPath {
  readonly family: IPFamily;
  readonly hook: 'FORWARD' | 'INPUT';
  readonly packet: {
    readonly src: string;
    readonly dst: string;
    readonly protocol: string;
    readonly port: number;
  };
  /** allowed: Palisade's chains return the packet to the hook; dropped: one of our rules drops it. */
  readonly result: 'allowed' | 'dropped';
  /** The rules that matched, in the order the packet met them. */
  readonly steps: readonly PathStep[];
  /**
   * Rules met without matching in the chains the packet was sent to by a jump and came back
   * from empty-handed (a policy chain none of whose rules admits it), in the order met.
   */
  readonly misses: readonly PathStep[];
}

function restoreText(view: DataplaneView, family: IPFamily): string {
  const lines = ['*filter'];
  const chains = view.chains.filter((c) => c.family === family);
  for (const c of chains) lines.push(`:${c.name} - [0:0]`);
  for (const c of chains) for (const r of c.rules) lines.push(`-A ${c.name} ${r.text}`);
  const hooks = view.hooks.filter((h) => h.family === family).sort((a, b) => a.position - b.position);
  for (const h of hooks) lines.push(`-A ${h.builtin} ${h.text}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

function ipsetText(view: DataplaneView): string {
  const lines: string[] = [];
  for (const s of view.ipsets) {
    lines.push(`create ${s.name} ${s.type} family ${s.family === 4 ? 'inet' : 'inet6'}`);
    for (const m of s.members) lines.push(`add ${s.name} ${m}`);
  }
  return `${lines.join('\n')}\n`;
}

/** An in-memory kernel holding exactly the view's objects. */
export async function kernelOf(view: DataplaneView): Promise<FakeKernel> {
  const k = new FakeKernel();
  const steps: Array<[string[], string]> = [
    [['ipset', 'restore'], ipsetText(view)],
    [['iptables-restore', '--noflush'], restoreText(view, 4)],
    [['ip6tables-restore', '--noflush'], restoreText(view, 6)],
  ];
  for (const [argv, input] of steps) {
    const r = await k.run(argv, input);
    if (r.code !== 0) throw new Error(`cannot copy the kernel view (${argv[0]}): ${r.stderr.trim()}`);
  }
  return k;
}

/**
 * Is the packet's address (and port, for `dst,dst`) in the set? Asked of the tracer itself, with
 * a one-rule OUTPUT chain (Palisade never hooks OUTPUT, so the copy's is free), so membership
 * means exactly what it means to the rules: longest prefix and `nomatch` for hash:net.
 */
function inSet(kernel: FakeKernel, family: IPFamily, name: string, flags: string, p: Packet): boolean {
  if (!kernel.ipsets.has(name)) return false;
  const output = kernel.tables.get(family)!.get('filter')!.get('OUTPUT')!;
  output.rules = [{ spec: `-m set --match-set ${name} ${flags} -j DROP`, packets: 0, bytes: 0 }];
  try {
    return trace(kernel, family, 'OUTPUT', p).verdict === 'DROP';
  } finally {
    output.rules = [];
  }
}

function setTests(kernel: FakeKernel, family: IPFamily, spec: string, p: Packet): SetTest[] {
  return setsMatchedBy(spec).map(({ name, flags }) => {
    const dirs = flags.split(',');
    const address = dirs[0] === 'src' ? p.src : p.dst;
    const element = dirs.length > 1 ? `${address},${p.proto}:${p.dport}` : address;
    return { name, element, member: inSet(kernel, family, name, flags, p) };
  });
}

function familyOf(ip: string): IPFamily {
  return ip.includes(':') ? 6 : 4;
}

/** Walks the first packet of a connection (conntrack state NEW, no mark) through `hook`. */
export async function kernelPath(
  view: DataplaneView,
  hook: 'FORWARD' | 'INPUT',
  packet: { src: string; dst: string; protocol: string; port: number },
): Promise<KernelPath> {
  const kernel = await kernelOf(view);
  const family = familyOf(packet.src);
  const p: Packet = {
    src: packet.src,
    dst: packet.dst,
    proto: packet.protocol.toLowerCase() as Packet['proto'],
    dport: packet.port,
    ctstate: 'NEW',
    mark: 0,
  };
  const result = trace(kernel, family, hook, p);
  const chains = kernel.tables.get(family)!.get('filter')!;
  const step = (ref: string): PathStep => {
    const at = ref.lastIndexOf('#');
    const chain = ref.slice(0, at);
    const rule = Number(ref.slice(at + 1));
    const text = chains.get(chain)!.rules[rule - 1].spec;
    const parts = ruleParts(text);
    return { chain, rule, spec: parts.spec, note: parts.note, sets: setTests(kernel, family, text, p) };
  };
  const steps = result.matched.map(step);
  const misses: PathStep[] = [];
  for (const s of steps) {
    const t = ruleTarget(s.spec);
    if (!t || t.how !== 'jump' || chains.get(t.target)?.builtin !== false) continue;
    const inChain = (ref: string) => ref.startsWith(`${t.target}#`);
    if (result.matched.some(inChain)) continue;
    misses.push(...result.evaluated.filter(inChain).map(step));
  }
  return {
    family,
    hook,
    packet,
    result: result.verdict === 'ACCEPT' ? 'allowed' : 'dropped',
    steps,
    misses,
  };
}
