/**
 * The compiler alone at a given size: how long loading the cluster takes, what the first flush
 * costs, what each single event costs to compile (model update + flush), and the heap the model
 * and compiled state hold. No dataplane, no kernel: the part to profile first, e.g.
 *
 *   npm run build && node --expose-gc --cpu-prof dist/bench/compile-profile.js --size L
 *
 * (the .cpuprofile lands in the working directory; open it in Chrome DevTools).
 */
import { parseArgs } from 'node:util';
import { IncrementalCompiler, type CompileDelta } from '../compiler';
import { LOCAL_NODE, generateCluster } from './cluster';
import { EVENT_TYPES, type EventType, SingleEvents, applyEvent, loadWorld } from './events';
import { SIZES, isSizeName } from './sizes';
import { median, nowMs, round } from './stats';

function deltaSize(d: CompileDelta): number {
  let members = 0;
  for (const m of d.members.values()) members += m.added.length + m.removed.length;
  return d.pods.size + d.policies.size + d.peerSets.size + members;
}

function heapMb(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return round(process.memoryUsage().heapUsed / 1048576, 1);
}

export function profileCompiler(
  sizeName: string,
  seed: number,
  repetitions: number,
): Record<string, unknown> {
  if (!isSizeName(sizeName)) throw new Error(`--size: unknown size "${sizeName}"`);
  let t = nowMs();
  const world = generateCluster(SIZES[sizeName], seed);
  const generateMs = nowMs() - t;
  const heapWorld = heapMb();
  const compiler = new IncrementalCompiler({ nodeName: LOCAL_NODE });
  t = nowMs();
  loadWorld(compiler, world);
  const loadMs = nowMs() - t;
  t = nowMs();
  compiler.flush();
  const firstFlushMs = nowMs() - t;
  const heapLoaded = heapMb();
  const rssLoadedMb = round(process.memoryUsage().rss / 1048576, 1);
  const peakRssMb = round(process.resourceUsage().maxRSS / 1024, 1);
  const state = compiler.state();
  let members = 0;
  for (const s of state.peerSets.values()) members += s.members.size;

  const events = new SingleEvents(world);
  const samples = Object.fromEntries(EVENT_TYPES.map((e) => [e, [] as number[]])) as Record<
    EventType,
    number[]
  >;
  const changes = Object.fromEntries(EVENT_TYPES.map((e) => [e, [] as number[]])) as Record<
    EventType,
    number[]
  >;
  for (let rep = 0; rep < repetitions; rep++) {
    for (const type of EVENT_TYPES) {
      const e = events.make(type, rep);
      const t0 = nowMs();
      applyEvent(compiler, e);
      const d = compiler.flush();
      samples[type].push(nowMs() - t0);
      changes[type].push(deltaSize(d));
    }
  }
  return {
    size: sizeName,
    generateMs: round(generateMs, 1),
    loadMs: round(loadMs, 1),
    firstFlushMs: round(firstFlushMs, 2),
    heapWorldMb: heapWorld,
    heapLoadedMb: heapLoaded,
    /** Process RSS after that GC, and the peak so far (generation included): compiler only. */
    rssLoadedMb,
    peakRssMb,
    compiled: {
      pods: state.pods.size,
      policies: state.policies.size,
      peerSets: state.peerSets.size,
      members,
    },
    compileMsMedian: Object.fromEntries(EVENT_TYPES.map((e) => [e, round(median(samples[e]), 4)])),
    compileMsMax: Object.fromEntries(EVENT_TYPES.map((e) => [e, round(Math.max(...samples[e]), 3)])),
    deltaObjectsMedian: Object.fromEntries(EVENT_TYPES.map((e) => [e, median(changes[e])])),
  };
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: 'L' },
      seed: { type: 'string', default: '1' },
      repetitions: { type: 'string', default: '20' },
    },
  });
  process.stdout.write(
    `${JSON.stringify(profileCompiler(values.size, Number(values.seed), Number(values.repetitions)), null, 2)}\n`,
  );
}
