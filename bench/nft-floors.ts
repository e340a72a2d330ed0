/**
 * The kernel's floor for one nftables change, measured on this machine: what one small
 * transaction costs through a new `nft -f -` process each time, and through one long-lived
 * `nft -i` session (dataplane/nftables/session.ts), each scenario in a fresh network namespace.
 * Also the session's own overhead (a sentinel round trip), the same changes in a table the size
 * of the bench's L node (so the cost of nft's cache refresh in a large table shows), and why the
 * session is recycled (the per-transaction cost of an nft -i that was never recycled).
 *
 *   npm run build && node dist/bench/nft-floors.js [--repetitions N] [--json]
 *
 * Needs root; creates network namespaces named plbf… and removes them. Each scenario runs in a
 * child Node process inside its namespace, so tools are spawned directly (no `ip netns exec` per
 * spawn), as the agent spawns them on a node.
 */
import { ProcessKernel } from '../dataplane/kernel';
import { NftSession } from '../dataplane/nftables/session';
import { SpawnStarter } from '../dataplane/process';
import { BenchNetns, runCommand } from './netns';
import { median, nowMs, quantile, round } from './stats';

interface Executor {
  /** Commit one script as one transaction; resolves when the kernel has it. */
  run(script: string): Promise<void>;
  close(): Promise<void>;
}

function processExecutor(): Executor {
  const kernel = new ProcessKernel();
  return {
    async run(script) {
      const r = await kernel.run(['nft', '-f', '-'], `${script}\n`);
      if (r.code !== 0) throw new Error(`nft -f - exited with ${r.code}: ${r.stderr.trim()}`);
    },
    async close() {},
  };
}

function sessionExecutor(recycleAfter?: number): Executor {
  const session = new NftSession({
    starter: new SpawnStarter(),
    ...(recycleAfter !== undefined ? { recycleAfter } : {}),
  });
  return { run: (s) => session.transact(s), close: () => session.close() };
}

interface Operation {
  readonly name: string;
  /** Untimed preparation before repetition i (may be empty). */
  readonly before?: (i: number) => string;
  readonly timed: (i: number) => string;
}

const T = 'inet floor';
const BASE = [
  `add table ${T}`,
  `add chain ${T} c`,
  `add rule ${T} c ip saddr 192.0.2.1 counter`,
  `add set ${T} s { type ipv4_addr; }`,
  `add map ${T} m { type ipv4_addr : verdict; }`,
].join('\n');

const host = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

const OPERATIONS: readonly Operation[] = [
  { name: 'add a rule', timed: (i) => `add rule ${T} c ip saddr ${host(i)} counter` },
  { name: 'add a set element', timed: (i) => `add element ${T} s { ${host(i)} }` },
  {
    name: 'delete a set element',
    before: (i) => `add element ${T} s { ${host(1_000_000 + i)} }`,
    timed: (i) => `delete element ${T} s { ${host(1_000_000 + i)} }`,
  },
  {
    name: 'flush a chain and re-add its rule',
    timed: (i) => `flush chain ${T} c\nadd rule ${T} c ip saddr ${host(i)} counter`,
  },
  {
    name: 'delete an unreferenced chain',
    before: (i) => `add chain ${T} x${i}`,
    timed: (i) => `delete chain ${T} x${i}`,
  },
  {
    name: 'add a pod to a dispatch map (chain + rules + element)',
    timed: (i) =>
      [
        `add chain ${T} pod${i}`,
        `add rule ${T} pod${i} ip saddr ${host(i)} return`,
        `add rule ${T} pod${i} ip saddr @s meta mark set meta mark or 0x100000 return`,
        `add rule ${T} pod${i} drop`,
        `add element ${T} m { ${host(i)} : jump pod${i} }`,
      ].join('\n'),
  },
];

/** A table shaped like the bench's L node: chains with rules, sets holding 150,000 addresses. */
function largeTableScript(): string {
  const lines = [BASE];
  for (let c = 0; c < 500; c++) {
    lines.push(`add chain ${T} big${c}`);
    for (let r = 0; r < 3; r++) lines.push(`add rule ${T} big${c} ip saddr @s counter`);
  }
  for (let s = 0; s < 100; s++) {
    lines.push(`add set ${T} peers${s} { type ipv4_addr; }`);
    const members: string[] = [];
    for (let m = 0; m < 1500; m++) members.push(host(2_000_000 + s * 1500 + m));
    lines.push(`add element ${T} peers${s} { ${members.join(', ')} }`);
  }
  return lines.join('\n');
}

interface Figure {
  readonly medianMs: number;
  readonly p90Ms: number;
}

function figure(times: readonly number[]): Figure {
  return { medianMs: round(median(times), 3), p90Ms: round(quantile(times, 0.9), 3) };
}

type Scenario =
  | {
      readonly kind: 'operation';
      readonly executor: 'process' | 'session';
      readonly op: number;
      readonly large: boolean;
    }
  | { readonly kind: 'roundTrip' }
  | { readonly kind: 'history'; readonly count: number; readonly recycleAfter: number };

/** Runs inside the scenario's namespace: kernel tools are spawned directly, as the agent does. */
async function runScenario(sc: Scenario, repetitions: number): Promise<Figure> {
  if (sc.kind === 'operation') {
    const op = OPERATIONS[sc.op];
    const ex = sc.executor === 'process' ? processExecutor() : sessionExecutor();
    try {
      await ex.run(sc.large ? largeTableScript() : BASE);
      const times: number[] = [];
      // Two warm-up rounds: the first request of a session starts its child.
      for (let i = -2; i < repetitions; i++) {
        if (op.before) await ex.run(op.before(i + 2));
        const t = nowMs();
        await ex.run(op.timed(i + 2));
        if (i >= 0) times.push(nowMs() - t);
      }
      return figure(times);
    } finally {
      await ex.close();
    }
  }
  if (sc.kind === 'roundTrip') {
    // An empty script: the file write, the include line and the sentinel, no kernel batch.
    const ex = sessionExecutor();
    try {
      await ex.run(BASE);
      const times: number[] = [];
      for (let i = 0; i < repetitions; i++) {
        const t = nowMs();
        await ex.run('');
        times.push(nowMs() - t);
      }
      return figure(times);
    } finally {
      await ex.close();
    }
  }
  const ex = sessionExecutor(sc.recycleAfter);
  try {
    await ex.run(BASE);
    for (let i = 0; i < sc.count; i++) await ex.run(`add element ${T} s { ${host(i % 50_000)} }`);
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = nowMs();
      await ex.run(`add element ${T} s { ${host(i)} }`);
      times.push(nowMs() - t);
    }
    return figure(times);
  } finally {
    await ex.close();
  }
}

/** Each scenario in a fresh namespace, in a child Node process that runs inside it. */
async function inFreshNamespace(sc: Scenario, repetitions: number): Promise<Figure> {
  const ns = await BenchNetns.create('f');
  try {
    const r = await runCommand([
      'ip',
      'netns',
      'exec',
      ns.name,
      process.execPath,
      __filename,
      '--scenario',
      JSON.stringify(sc),
      '--repetitions',
      String(repetitions),
    ]);
    if (r.code !== 0) throw new Error(`scenario ${JSON.stringify(sc)} failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as Figure;
  } finally {
    await ns.remove();
  }
}

export interface NftFloors {
  readonly repetitions: number;
  readonly operations: {
    readonly name: string;
    readonly process: Figure;
    readonly session: Figure;
    readonly sessionLargeTable: Figure;
  }[];
  readonly sessionRoundTrip: Figure;
  readonly afterTransactions: {
    readonly count: number;
    readonly recycled: Figure;
    readonly notRecycled: Figure;
  };
}

export async function measureNftFloors(repetitions: number): Promise<NftFloors> {
  const operations: NftFloors['operations'][number][] = [];
  for (let op = 0; op < OPERATIONS.length; op++) {
    const at = (executor: 'process' | 'session', large: boolean): Promise<Figure> =>
      inFreshNamespace({ kind: 'operation', executor, op, large }, repetitions);
    operations.push({
      name: OPERATIONS[op].name,
      process: await at('process', false),
      session: await at('session', false),
      sessionLargeTable: await at('session', true),
    });
  }
  const count = 10_000;
  return {
    repetitions,
    operations,
    sessionRoundTrip: await inFreshNamespace({ kind: 'roundTrip' }, repetitions),
    afterTransactions: {
      count,
      recycled: await inFreshNamespace({ kind: 'history', count, recycleAfter: 1000 }, repetitions),
      notRecycled: await inFreshNamespace(
        { kind: 'history', count, recycleAfter: Number.MAX_SAFE_INTEGER },
        repetitions,
      ),
    },
  };
}

function table(f: NftFloors): string {
  const rows = [
    '| operation | new `nft -f -` each time | one `nft -i` session | session, L-sized table |',
    '| --- | --- | --- | --- |',
    ...f.operations.map(
      (o) =>
        `| ${o.name} | ${o.process.medianMs} ms | ${o.session.medianMs} ms | ${o.sessionLargeTable.medianMs} ms |`,
    ),
  ];
  return [
    `Medians of ${f.repetitions} repetitions, each scenario in a fresh network namespace.`,
    '',
    ...rows,
    '',
    `Session round trip (an empty script: file write, include line, sentinel): ${f.sessionRoundTrip.medianMs} ms.`,
    `One element added after ${f.afterTransactions.count} transactions: ${f.afterTransactions.recycled.medianMs} ms ` +
      `with the child recycled every 1000, ${f.afterTransactions.notRecycled.medianMs} ms never recycled.`,
  ].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const repIdx = args.indexOf('--repetitions');
  const repetitions = repIdx >= 0 ? Number(args[repIdx + 1]) : 100;
  if (!Number.isInteger(repetitions) || repetitions < 1)
    throw new Error('--repetitions takes a positive integer');
  const scIdx = args.indexOf('--scenario');
  if (scIdx >= 0) {
    const fig = await runScenario(JSON.parse(args[scIdx + 1]) as Scenario, repetitions);
    process.stdout.write(JSON.stringify(fig));
    return;
  }
  const floors = await measureNftFloors(repetitions);
  process.stdout.write(
    args.includes('--json') ? `${JSON.stringify(floors, null, 2)}\n` : `${table(floors)}\n`,
  );
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
