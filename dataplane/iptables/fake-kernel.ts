/**
 * FakeKernel: an in-memory netfilter + ipset that understands the same argv and restore text as
 * the real tools, for fast tests of the diff engine.
 *
 * What it models: per IP family, iptables tables (filter, nat, mangle, raw) of chains and rule
 * specs with counters; one ipset namespace of sets with members. It interprets
 *   iptables-restore [--noflush] [--counters] [--wait]  (tables, :CHAIN, -A -I -D -F -X -N -P, COMMIT)
 *   iptables-save [-t TABLE] [-c]
 *   iptables [-w] -S CHAIN [-v]  (one filter chain, with `-c PACKETS BYTES` under -v)
 *   ipset restore [-exist]  (create add del flush destroy swap rename)
 *   ipset save [NAME], ipset list -n
 * with the kernel's checks: a jump or --match-set to something missing fails at that line, -X of
 * a chain that is referenced or not empty fails, destroying a set referenced by a rule fails.
 * iptables-restore is atomic per table (a failure changes nothing); ipset restore is not (lines
 * before the failing one stay applied), as in the kernel.
 *
 * Promise: tests can read its state back (save/list, or `chains()`/`sets()`), count operations
 * (`ops`, `counts`), and inject failures (`failNextRestore`).
 */
import type { IPFamily } from '../api';
import { canonicalIP, canonicalIPPort, netEntry, parseCIDR } from '../ip';
import type { Kernel, ProcessResult } from '../kernel';

export interface FakeRule {
  spec: string;
  packets: number;
  bytes: number;
}

export interface FakeChain {
  readonly name: string;
  readonly builtin: boolean;
  policy: string;
  packets: number;
  bytes: number;
  rules: FakeRule[];
}

export interface FakeSet {
  name: string;
  type: string;
  family: IPFamily;
  /** Element → "nomatch" flag. */
  members: Map<string, boolean>;
}

export type FakeTool = 'iptables-restore' | 'iptables-save' | 'iptables' | 'ipset';

export interface FakeOp {
  readonly tool: FakeTool;
  readonly family?: IPFamily;
  readonly argv: readonly string[];
  readonly input: string;
  readonly code: number;
}

export interface FailureSpec {
  readonly tool: 'ipset' | 'iptables';
  readonly family?: IPFamily;
  /** ipset only: apply this many lines before failing (partial application). */
  readonly afterLines?: number;
  readonly message?: string;
}

const BUILTINS: Record<string, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/** Targets that are extensions or verdicts, not chains. */
const STANDARD_TARGETS = new Set([
  'ACCEPT',
  'DROP',
  'RETURN',
  'REJECT',
  'QUEUE',
  'MARK',
  'CONNMARK',
  'LOG',
  'NFLOG',
  'MASQUERADE',
  'SNAT',
  'DNAT',
  'REDIRECT',
  'CT',
  'NOTRACK',
  'TCPMSS',
]);

type Tables = Map<string, Map<string, FakeChain>>;

class RestoreError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

function tokenize(spec: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(spec))) out.push(m[1] !== undefined ? m[1] : m[2]);
  return out;
}

const normSpec = (spec: string): string => spec.trim().replace(/\s+/g, ' ');

function targetOf(spec: string): string | undefined {
  const t = tokenize(spec);
  for (let i = 0; i < t.length - 1; i++)
    if (t[i] === '-j' || t[i] === '-g' || t[i] === '--jump' || t[i] === '--goto') return t[i + 1];
  return undefined;
}

function setsOf(spec: string): string[] {
  const t = tokenize(spec);
  const out: string[] = [];
  for (let i = 0; i < t.length - 1; i++) if (t[i] === '--match-set') out.push(t[i + 1]);
  return out;
}

function newTables(): Tables {
  const tables: Tables = new Map();
  for (const [table, chains] of Object.entries(BUILTINS)) {
    tables.set(
      table,
      new Map(
        chains.map((c) => [c, { name: c, builtin: true, policy: 'ACCEPT', packets: 0, bytes: 0, rules: [] }]),
      ),
    );
  }
  return tables;
}

function cloneTable(t: Map<string, FakeChain>): Map<string, FakeChain> {
  return new Map([...t].map(([k, c]) => [k, { ...c, rules: c.rules.map((r) => ({ ...r })) }]));
}

export class FakeKernel implements Kernel {
  readonly tables = new Map<IPFamily, Tables>([
    [4, newTables()],
    [6, newTables()],
  ]);
  readonly ipsets = new Map<string, FakeSet>();
  /** Every call, in order. */
  readonly ops: FakeOp[] = [];
  /** Restores without --noflush: must stay 0 for Palisade. */
  wholeTableRestores = 0;
  private failures: FailureSpec[] = [];

  /** Make the next matching restore fail (ipset: optionally after applying some lines). */
  failNextRestore(spec: FailureSpec): void {
    this.failures.push(spec);
  }

  /** Operations since index `from` (e.g. `k.ops.length` taken before a sync). */
  opsSince(from: number): FakeOp[] {
    return this.ops.slice(from);
  }

  async run(argv: readonly string[], stdin?: string): Promise<ProcessResult> {
    const bin = argv[0].split('/').pop() ?? '';
    const input = stdin ?? '';
    let result: ProcessResult;
    let tool: FakeTool;
    let family: IPFamily | undefined;
    const ipt = /^ip(6?)tables(?:-legacy|-nft)?-(restore|save)$/.exec(bin);
    if (ipt) {
      family = ipt[1] ? 6 : 4;
      tool = ipt[2] === 'restore' ? 'iptables-restore' : 'iptables-save';
      result =
        tool === 'iptables-restore'
          ? this.iptablesRestore(family, argv, input)
          : this.iptablesSave(family, argv);
    } else if (/^ip6?tables(?:-legacy|-nft)?$/.test(bin)) {
      family = bin.startsWith('ip6') ? 6 : 4;
      tool = 'iptables';
      result = this.iptablesList(family, argv.slice(1));
    } else if (bin === 'ipset') {
      tool = 'ipset';
      result = this.ipset(argv.slice(1), input);
    } else {
      return { code: 127, stdout: '', stderr: `fake kernel: unknown binary ${argv[0]}` };
    }
    this.ops.push({ tool, ...(family ? { family } : {}), argv: [...argv], input, code: result.code });
    return result;
  }

  // --- iptables --------------------------------------------------------------------------------

  private takeFailure(tool: 'ipset' | 'iptables', family?: IPFamily): FailureSpec | undefined {
    const i = this.failures.findIndex(
      (f) => f.tool === tool && (f.family === undefined || f.family === family),
    );
    return i < 0 ? undefined : this.failures.splice(i, 1)[0];
  }

  private iptablesRestore(family: IPFamily, argv: readonly string[], input: string): ProcessResult {
    const prog = `${family === 6 ? 'ip6tables' : 'iptables'}-restore v1.8.9 (fake)`;
    const noflush = argv.includes('--noflush') || argv.includes('-n');
    const counters = argv.includes('--counters') || argv.includes('-c');
    const failure = this.takeFailure('iptables', family);
    const tables = this.tables.get(family)!;
    const lines = input.split('\n');
    let table: string | undefined;
    let work: Map<string, FakeChain> | undefined;
    const staged = new Map<string, Map<string, FakeChain>>();
    try {
      for (let i = 0; i < lines.length; i++) {
        const n = i + 1;
        const line = lines[i].trim();
        if (line === '' || line.startsWith('#')) continue;
        if (line.startsWith('*')) {
          table = line.slice(1);
          if (!tables.has(table)) throw new RestoreError(n, `table '${table}' does not exist`);
          work = cloneTable(tables.get(table)!);
          if (!noflush) {
            this.wholeTableRestores++;
            for (const [name, c] of [...work]) {
              if (c.builtin) c.rules = [];
              else work.delete(name);
            }
          }
          continue;
        }
        if (!work || !table) throw new RestoreError(n, 'no table specified');
        if (line === 'COMMIT') {
          if (failure) throw new RestoreError(n, failure.message ?? 'injected failure');
          staged.set(table, work);
          work = undefined;
          continue;
        }
        if (line.startsWith(':')) {
          const [name, policy, cnt] = line.slice(1).split(/\s+/);
          const existing = work.get(name);
          if (existing?.builtin) {
            if (policy !== '-') existing.policy = policy;
            if (counters && cnt) [existing.packets, existing.bytes] = parseCounters(cnt);
          } else if (existing) {
            existing.rules = [];
          } else {
            work.set(name, { name, builtin: false, policy: '-', packets: 0, bytes: 0, rules: [] });
          }
          continue;
        }
        let cmd = line;
        let ruleCounters: [number, number] = [0, 0];
        if (cmd.startsWith('[')) {
          const close = cmd.indexOf(']');
          if (counters) ruleCounters = parseCounters(cmd.slice(0, close + 1));
          cmd = cmd.slice(close + 1).trim();
        }
        this.iptablesCommand(family, work, cmd, ruleCounters, n);
      }
      if (work) throw new RestoreError(lines.length, 'COMMIT expected at line end');
    } catch (e) {
      if (e instanceof RestoreError) {
        return { code: 2, stdout: '', stderr: `${prog}: ${e.message}\nError occurred at line: ${e.line}\n` };
      }
      throw e;
    }
    for (const [t, chains] of staged) tables.set(t, chains);
    return { code: 0, stdout: '', stderr: '' };
  }

  private iptablesCommand(
    family: IPFamily,
    work: Map<string, FakeChain>,
    cmd: string,
    counters: [number, number],
    n: number,
  ): void {
    const m = /^(-[AIDFXNP])\s*(\S+)?\s*(.*)$/.exec(cmd);
    if (!m) throw new RestoreError(n, `unknown command "${cmd}"`);
    const [, op, chainName, rest] = m;
    const chain = chainName ? work.get(chainName) : undefined;
    const needChain = (): FakeChain => {
      if (!chain) throw new RestoreError(n, `Chain '${chainName}' does not exist`);
      return chain;
    };
    const checkSpec = (spec: string): void => {
      const target = targetOf(spec);
      if (target && !STANDARD_TARGETS.has(target) && !work.has(target)) {
        throw new RestoreError(n, `Chain '${target}' does not exist`);
      }
      for (const s of setsOf(spec)) {
        const set = this.ipsets.get(s);
        if (!set) throw new RestoreError(n, `Set ${s} doesn't exist.`);
        if (set.family !== family)
          throw new RestoreError(n, `The protocol family of set ${s} is not IPv${family}`);
      }
    };
    switch (op) {
      case '-N':
        if (chain) throw new RestoreError(n, `Chain already exists`);
        work.set(chainName, {
          name: chainName,
          builtin: false,
          policy: '-',
          packets: 0,
          bytes: 0,
          rules: [],
        });
        return;
      case '-A': {
        const spec = normSpec(rest);
        checkSpec(spec);
        needChain().rules.push({ spec, packets: counters[0], bytes: counters[1] });
        return;
      }
      case '-I': {
        const c = needChain();
        const pm = /^(\d+)\s+(.*)$/.exec(rest);
        const pos = pm ? Number(pm[1]) : 1;
        const spec = normSpec(pm ? pm[2] : rest);
        if (pos < 1 || pos > c.rules.length + 1) throw new RestoreError(n, 'Index of insertion too big');
        checkSpec(spec);
        c.rules.splice(pos - 1, 0, { spec, packets: counters[0], bytes: counters[1] });
        return;
      }
      case '-D': {
        const c = needChain();
        if (/^\d+$/.test(rest.trim())) {
          const pos = Number(rest.trim());
          if (pos < 1 || pos > c.rules.length) throw new RestoreError(n, 'Index of deletion too big');
          c.rules.splice(pos - 1, 1);
          return;
        }
        const spec = normSpec(rest);
        const i = c.rules.findIndex((r) => r.spec === spec);
        if (i < 0)
          throw new RestoreError(n, "Couldn't load rule: No such file or directory (rule not found)");
        c.rules.splice(i, 1);
        return;
      }
      case '-F':
        if (chainName) needChain().rules = [];
        else for (const c of work.values()) c.rules = [];
        return;
      case '-X': {
        const victims = chainName ? [needChain()] : [...work.values()].filter((c) => !c.builtin);
        for (const c of victims) {
          if (c.builtin) throw new RestoreError(n, `Can't delete built-in chain ${c.name}`);
          if (c.rules.length) throw new RestoreError(n, `Directory not empty: chain ${c.name} is not empty`);
          for (const other of work.values()) {
            if (other.rules.some((r) => targetOf(r.spec) === c.name)) {
              throw new RestoreError(
                n,
                `Device or resource busy: chain ${c.name} is referenced by ${other.name}`,
              );
            }
          }
          work.delete(c.name);
        }
        return;
      }
      case '-P':
        if (!chain?.builtin) throw new RestoreError(n, `Bad built-in chain name`);
        chain.policy = rest.trim();
        return;
    }
  }

  private iptablesSave(family: IPFamily, argv: readonly string[]): ProcessResult {
    const t = argv.indexOf('-t');
    const only = t >= 0 ? argv[t + 1] : undefined;
    const counters = argv.includes('-c') || argv.includes('--counters');
    const out: string[] = ['# Generated by fake iptables-save'];
    for (const [name, chains] of this.tables.get(family)!) {
      if (only && name !== only) continue;
      if (!only && [...chains.values()].every((c) => c.builtin && c.rules.length === 0)) continue;
      out.push(`*${name}`);
      for (const c of chains.values())
        out.push(`:${c.name} ${c.builtin ? c.policy : '-'} [${c.packets}:${c.bytes}]`);
      for (const c of chains.values()) {
        for (const r of c.rules)
          out.push(`${counters ? `[${r.packets}:${r.bytes}] ` : ''}-A ${c.name} ${r.spec}`);
      }
      out.push('COMMIT', '# Completed');
    }
    return { code: 0, stdout: `${out.join('\n')}\n`, stderr: '' };
  }

  /** `iptables [-w] -S CHAIN [-v]` on the filter table, as iptables-nft prints it. */
  private iptablesList(family: IPFamily, args: readonly string[]): ProcessResult {
    const rest = args.filter((a) => a !== '-w' && a !== '--wait');
    const verbose = rest.includes('-v');
    const s = rest.indexOf('-S');
    const name = s >= 0 ? rest[s + 1] : undefined;
    const prog = `${family === 6 ? 'ip6tables' : 'iptables'} v1.8.9 (fake)`;
    if (s < 0 || !name || rest.filter((a) => a !== '-v').length !== 2)
      return { code: 2, stdout: '', stderr: `${prog}: fake kernel: only -S CHAIN [-v]\n` };
    const chain = this.tables.get(family)!.get('filter')!.get(name);
    if (!chain)
      return {
        code: 1,
        stdout: '',
        stderr: `${prog}: chain \`${name}' in table \`filter' is incompatible\n`,
      };
    const out = [chain.builtin ? `-P ${name} ${chain.policy}` : `-N ${name}`];
    for (const r of chain.rules)
      out.push(`-A ${name} ${r.spec}${verbose ? ` -c ${r.packets} ${r.bytes}` : ''}`);
    return { code: 0, stdout: `${out.join('\n')}\n`, stderr: '' };
  }

  /** Is the set referenced by any rule of any table of any family? */
  private setInUse(name: string): boolean {
    for (const tables of this.tables.values()) {
      for (const chains of tables.values()) {
        for (const c of chains.values()) if (c.rules.some((r) => setsOf(r.spec).includes(name))) return true;
      }
    }
    return false;
  }

  // --- ipset -----------------------------------------------------------------------------------

  private ipset(args: readonly string[], input: string): ProcessResult {
    const cmd = args[0];
    if (cmd === 'restore') return this.ipsetRestore(input, args.includes('-exist') || args.includes('-!'));
    if (cmd === 'save') return { code: 0, stdout: this.ipsetSave(args[1]), stderr: '' };
    if (cmd === 'list' && (args.includes('-n') || args.includes('-name'))) {
      return { code: 0, stdout: [...this.ipsets.keys()].map((n) => `${n}\n`).join(''), stderr: '' };
    }
    // Single commands (`ipset destroy X`) behave as a one-line restore.
    return this.ipsetRestore(
      args.filter((a) => a !== '-exist' && a !== '-!').join(' '),
      args.includes('-exist'),
    );
  }

  private ipsetSave(only?: string): string {
    const out: string[] = [];
    for (const s of this.ipsets.values()) {
      if (only && s.name !== only) continue;
      out.push(
        `create ${s.name} ${s.type} family ${s.family === 4 ? 'inet' : 'inet6'} hashsize 1024 maxelem 1048576`,
      );
      for (const [e, nomatch] of s.members) out.push(`add ${s.name} ${e}${nomatch ? ' nomatch' : ''}`);
    }
    return out.length ? `${out.join('\n')}\n` : '';
  }

  private ipsetRestore(input: string, exist: boolean): ProcessResult {
    const failure = this.takeFailure('ipset');
    const lines = input.split('\n');
    let applied = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
      if (failure && applied >= (failure.afterLines ?? 0)) {
        return ipsetError(i + 1, failure.message ?? 'injected failure');
      }
      try {
        this.ipsetCommand(line.split(/\s+/), exist);
      } catch (e) {
        return ipsetError(i + 1, (e as Error).message);
      }
      applied++;
    }
    if (failure) return ipsetError(lines.length, failure.message ?? 'injected failure');
    return { code: 0, stdout: '', stderr: '' };
  }

  private ipsetCommand(t: string[], exist: boolean): void {
    const [cmd, name] = t;
    const set = this.ipsets.get(name);
    const need = (): FakeSet => {
      if (!set) throw new Error('The set with the given name does not exist');
      return set;
    };
    switch (cmd) {
      case 'create': {
        const type = t[2];
        const fi = t.indexOf('family');
        const family: IPFamily = fi > 0 && t[fi + 1] === 'inet6' ? 6 : 4;
        if (!['hash:ip', 'hash:net', 'hash:ip,port'].includes(type))
          throw new Error(`Unknown set type ${type}`);
        if (set) {
          if (exist && set.type === type && set.family === family) return;
          throw new Error('Set cannot be created: set with the same name already exists');
        }
        if (name.length > 31) throw new Error('Syntax error: setname too long');
        this.ipsets.set(name, { name, type, family, members: new Map() });
        return;
      }
      case 'add':
      case 'del': {
        const s = need();
        const element = normaliseElement(s, t[2]);
        const nomatch = t.slice(3).includes('nomatch');
        if (cmd === 'add') {
          if (s.members.has(element) && !exist)
            throw new Error("Element cannot be added to the set: it's already added");
          s.members.set(element, nomatch);
        } else {
          if (!s.members.has(element) && !exist)
            throw new Error("Element cannot be deleted from the set: it's not added");
          s.members.delete(element);
        }
        return;
      }
      case 'flush':
        if (name) need().members.clear();
        else for (const s of this.ipsets.values()) s.members.clear();
        return;
      case 'destroy': {
        const victims = name ? [need()] : [...this.ipsets.values()];
        for (const s of victims) {
          if (this.setInUse(s.name))
            throw new Error('Set cannot be destroyed: it is in use by a kernel component');
          this.ipsets.delete(s.name);
        }
        return;
      }
      case 'swap': {
        const a = need();
        const b = this.ipsets.get(t[2]);
        if (!b) throw new Error('The set with the given name does not exist');
        if (a.type !== b.type || a.family !== b.family)
          throw new Error('The sets cannot be swapped: their type does not match');
        [a.members, b.members] = [b.members, a.members];
        return;
      }
      case 'rename': {
        const s = need();
        if (this.ipsets.has(t[2])) throw new Error('A set with the new name already exists');
        this.ipsets.delete(name);
        s.name = t[2];
        this.ipsets.set(s.name, s);
        return;
      }
      default:
        throw new Error(`Unknown command ${cmd}`);
    }
  }

  // --- inspection for tests ----------------------------------------------------------------------

  chain(family: IPFamily, name: string, table = 'filter'): FakeChain | undefined {
    return this.tables.get(family)!.get(table)!.get(name);
  }

  /**
   * A canonical text of the whole state (both families' tables with counters, every set): chains
   * and sets sorted by name, members sorted, rule order kept. Equal snapshots = equal kernels.
   */
  snapshot(): string {
    const out: string[] = [];
    for (const [family, tables] of this.tables) {
      for (const [table, chains] of tables) {
        const sorted = [...chains.values()].sort((a, b) =>
          a.builtin !== b.builtin ? (a.builtin ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
        );
        if (sorted.every((c) => c.builtin && c.rules.length === 0 && c.policy === 'ACCEPT')) continue;
        out.push(`*${table} (IPv${family})`);
        for (const c of sorted) {
          out.push(`:${c.name} ${c.builtin ? c.policy : '-'} [${c.packets}:${c.bytes}]`);
          for (const r of c.rules) out.push(`[${r.packets}:${r.bytes}] -A ${c.name} ${r.spec}`);
        }
      }
    }
    for (const s of [...this.ipsets.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      out.push(`create ${s.name} ${s.type} family ${s.family === 4 ? 'inet' : 'inet6'}`);
      for (const [e, nomatch] of [...s.members].sort())
        out.push(`add ${s.name} ${e}${nomatch ? ' nomatch' : ''}`);
    }
    return `${out.join('\n')}\n`;
  }

  /** Counts of restores and lines, by tool, since op index `from`. */
  counts(from = 0): {
    ipsetRestores: number;
    iptablesRestores: number;
    ipsetLines: number;
    iptablesLines: number;
    saves: number;
  } {
    const c = { ipsetRestores: 0, iptablesRestores: 0, ipsetLines: 0, iptablesLines: 0, saves: 0 };
    for (const op of this.ops.slice(from)) {
      const lines = op.input.split('\n').filter((l) => l.trim() !== '').length;
      if (op.tool === 'iptables-restore') {
        c.iptablesRestores++;
        c.iptablesLines += lines;
      } else if (op.tool === 'ipset' && op.argv[1] === 'restore') {
        c.ipsetRestores++;
        c.ipsetLines += lines;
      } else {
        c.saves++;
      }
    }
    return c;
  }
}

function parseCounters(text: string): [number, number] {
  const m = /\[(\d+):(\d+)\]/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function ipsetError(line: number, message: string): ProcessResult {
  return { code: 1, stdout: '', stderr: `ipset v7.17: Error in line ${line}: ${message}\n` };
}

function normaliseElement(s: FakeSet, element: string): string {
  const check = (f: IPFamily): void => {
    if (f !== s.family) throw new Error('Syntax error: cannot parse an address of the other family');
  };
  switch (s.type) {
    case 'hash:ip': {
      const ip = canonicalIP(element);
      check(ip.includes(':') ? 6 : 4);
      return ip;
    }
    case 'hash:net': {
      const net = parseCIDR(element);
      check(net.family);
      if (net.prefix === 0) throw new Error('The value of the CIDR parameter of the IP address is invalid');
      return netEntry(net);
    }
    default: {
      const e = canonicalIPPort(element);
      check(e.family);
      return e.entry;
    }
  }
}
