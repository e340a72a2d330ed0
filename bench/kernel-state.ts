/**
 * Kernel read-back for the bench's own checks: Palisade's objects in one network namespace, as
 * `iptables-save`, `ip6tables-save` and `ipset save` print them (iptables backend) or as
 * `nft -j list table inet palisade` prints the table (nftables backend), in a normal form two
 * kernels can be compared in.
 *
 * This deliberately does not reuse dataplane/readback.ts: the proofs it serves (incremental
 * equals a from-scratch render; the full baseline equals incremental) must not depend on the
 * parser of the code under test. Normal form: per family, own chains sorted by name with their
 * rules in kernel order, then the hook rules with their position in the built-in chain; own sets
 * sorted by name, creation reduced to name, type and family (hashsize grows with the set and
 * initval is random), members sorted. nftables: chains sorted by name with their hook and their
 * rules in kernel order (expressions and comment as nft's JSON has them, handles left out), sets
 * and maps sorted by name with their type and flags, elements sorted.
 */
import { createHash } from 'node:crypto';
import type { BackendKind, KernelCounts } from '../dataplane/api';
import type { Kernel } from '../dataplane/api';

const OWN = 'PALISADE-';

export interface KernelSnapshot {
  /** The normal form (see above); equal texts mean equal kernel states. */
  readonly text: string;
  /** sha256 of `text`, hex. */
  readonly digest: string;
  readonly counts: KernelCounts;
}

async function save(kernel: Kernel, argv: readonly string[]): Promise<string> {
  const r = await kernel.run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

function jumpsToOwn(rule: string): boolean {
  return / -[jg] PALISADE-/.test(` ${rule}`);
}

function normalFamily(text: string, family: number, counts: { rules: number; chains: number }): string[] {
  const chains = new Map<string, string[]>();
  const hooks: string[] = [];
  const positions = new Map<string, number>();
  let inFilter = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      inFilter = line === '*filter';
      continue;
    }
    if (!inFilter || line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0];
      if (name.startsWith(OWN)) chains.set(name, chains.get(name) ?? []);
      continue;
    }
    const m = /^(?:\[\d+:\d+\] )?-A (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const [, chain, rule] = m;
    if (chain.startsWith(OWN)) {
      let list = chains.get(chain);
      if (!list) chains.set(chain, (list = []));
      list.push(rule);
    } else {
      const pos = (positions.get(chain) ?? 0) + 1;
      positions.set(chain, pos);
      if (jumpsToOwn(rule)) hooks.push(`hook ${chain} ${pos} ${rule}`);
    }
  }
  const out = [`family ${family}`];
  for (const name of [...chains.keys()].sort()) {
    const rules = chains.get(name)!;
    out.push(`chain ${name}`);
    for (const r of rules) out.push(`  ${r}`);
    counts.chains++;
    counts.rules += rules.length;
  }
  for (const h of hooks) out.push(h);
  counts.rules += hooks.length;
  return out;
}

function normalSets(text: string, counts: { ipsets: number; members: number }): string[] {
  const sets = new Map<string, { create: string; members: string[] }>();
  for (const raw of text.split('\n')) {
    const parts = raw.trim().split(/\s+/);
    if (parts.length < 3 || !parts[1].startsWith(OWN)) continue;
    if (parts[0] === 'create') {
      const fam = parts.indexOf('family');
      const family = fam >= 0 ? parts[fam + 1] : 'inet';
      sets.set(parts[1], { create: `set ${parts[1]} ${parts[2]} ${family}`, members: [] });
    } else if (parts[0] === 'add') {
      sets.get(parts[1])?.members.push(parts.slice(2).join(' '));
    }
  }
  const out: string[] = [];
  for (const name of [...sets.keys()].sort()) {
    const s = sets.get(name)!;
    out.push(s.create);
    for (const m of s.members.sort()) out.push(`  ${m}`);
    counts.ipsets++;
    counts.members += s.members.length;
  }
  return out;
}

/** The table inet palisade in normal form; an absent table is an empty one. */
async function nftState(
  kernel: Kernel,
  counts: { rules: number; chains: number; ipsets: number; members: number },
): Promise<string[]> {
  const r = await kernel.run(['nft', '-j', 'list', 'table', 'inet', 'palisade']);
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return ['table inet palisade absent'];
    throw new Error(`nft list table exited with ${r.code}: ${r.stderr.trim()}`);
  }
  const doc = JSON.parse(r.stdout) as { nftables: Record<string, Record<string, unknown>>[] };
  const chains = new Map<string, { head: string; rules: string[] }>();
  const sets = new Map<string, { head: string; elems: string[] }>();
  for (const o of doc.nftables) {
    if (o.chain) {
      const c = o.chain;
      const hook = c.hook
        ? ` type ${String(c.type)} hook ${String(c.hook)} prio ${String(c.prio)} policy ${String(c.policy)}`
        : '';
      chains.set(String(c.name), {
        head: `chain ${String(c.name)}${hook}`,
        rules: chains.get(String(c.name))?.rules ?? [],
      });
    } else if (o.rule) {
      const ru = o.rule;
      const name = String(ru.chain);
      const c = chains.get(name) ?? { head: `chain ${name}`, rules: [] };
      c.rules.push(`${JSON.stringify(ru.expr)} ${JSON.stringify(ru.comment ?? '')}`);
      chains.set(name, c);
    } else if (o.set || o.map) {
      const x = (o.set ?? o.map)!;
      const head = `${o.set ? 'set' : 'map'} ${String(x.name)} ${JSON.stringify(x.type)}${x.map ? ` : ${String(x.map)}` : ''} ${JSON.stringify(x.flags ?? [])}`;
      const elems = (Array.isArray(x.elem) ? (x.elem as unknown[]) : []).map((e) => JSON.stringify(e));
      sets.set(String(x.name), { head, elems });
    }
  }
  let out = ['table inet palisade'];
  for (const name of [...chains.keys()].sort()) {
    const c = chains.get(name)!;
    out.push(c.head);
    out = out.concat(c.rules.map((rule) => `  ${rule}`));
    counts.chains++;
    counts.rules += c.rules.length;
  }
  for (const name of [...sets.keys()].sort()) {
    const x = sets.get(name)!;
    out.push(x.head);
    out = out.concat(x.elems.sort().map((e) => `  ${e}`));
    counts.ipsets++;
    counts.members += x.elems.length;
  }
  return out;
}

/** Reads Palisade's objects back from the kernel behind `kernel` (both families). */
export async function readOwnState(
  kernel: Kernel,
  backend: BackendKind = 'iptables',
): Promise<KernelSnapshot> {
  const counts = { rules: 0, chains: 0, ipsets: 0, members: 0 };
  if (backend === 'nftables') {
    const text = `${(await nftState(kernel, counts)).join('\n')}\n`;
    return { text, digest: createHash('sha256').update(text).digest('hex'), counts };
  }
  // concat, not push(...): a set of 100,000 members is past the engine's argument limit.
  const lines = normalFamily(await save(kernel, ['iptables-save', '-t', 'filter']), 4, counts)
    .concat(normalFamily(await save(kernel, ['ip6tables-save', '-t', 'filter']), 6, counts))
    .concat(normalSets(await save(kernel, ['ipset', 'save']), counts));
  const text = `${lines.join('\n')}\n`;
  return { text, digest: createHash('sha256').update(text).digest('hex'), counts };
}

/** The first differing lines of two normal forms (for a report; empty when equal). */
export function firstDifferences(a: string, b: string, max = 10): string[] {
  if (a === b) return [];
  const la = new Set(a.split('\n'));
  const lb = new Set(b.split('\n'));
  const out: string[] = [];
  for (const l of la) if (!lb.has(l) && out.length < max) out.push(`- ${l}`);
  for (const l of lb) if (!la.has(l) && out.length < max * 2) out.push(`+ ${l}`);
  if (out.length === 0) out.push('same lines, different order');
  return out;
}
