/**
 * `npm run -s bench:flood -- --backend iptables|nftables [--size S] [--seed N] [--seconds N]
 * [--rate R] [--burst B] [--no-control] [--json]`: a flood of denied
 * connection attempts against a node that logs verdicts (flood.ts), saved to
 * bench/results/flood/<backend>.json (a folder of its own: the size reports' readers take every
 * JSON file of bench/results).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKENDS, type BackendKind } from '../dataplane/api';
import { floodSummary, measureFlood } from './flood';
import { kernelAvailable } from './netns';
import { isSizeName } from './sizes';
import { round } from './stats';

function positive(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: an integer, at least ${min}`);
  return n;
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      backend: { type: 'string', default: 'iptables' },
      size: { type: 'string', default: 'S' },
      seed: { type: 'string', default: '1' },
      seconds: { type: 'string', default: '10' },
      rate: { type: 'string' },
      burst: { type: 'string' },
      'no-control': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'out-dir': { type: 'string', default: resolve(__dirname, '..', '..', 'bench') },
      'no-save': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const backend = values.backend as BackendKind;
  if (!BACKENDS.includes(backend))
    throw new Error(`--backend: iptables or nftables, not "${values.backend}"`);
  if (!isSizeName(values.size)) throw new Error(`--size: unknown size "${values.size}" (tiny, S, M, L)`);
  const seconds = positive('seconds', values.seconds);
  if (seconds > 120) throw new Error('--seconds: at most 120 (the flood is bounded)');
  const k = await kernelAvailable(backend);
  if (!k.ok) throw new Error(`the flood bench needs root and the kernel tools (${k.why})`);
  const loadAtStart = round(loadavg()[0], 1);
  const result = await measureFlood({
    backend,
    size: values.size,
    seed: positive('seed', values.seed, 0),
    seconds,
    ...(values.rate !== undefined ? { ratePerSecond: positive('rate', values.rate) } : {}),
    ...(values.burst !== undefined ? { burst: positive('burst', values.burst) } : {}),
    control: !values['no-control'],
    progress: (m) => process.stderr.write(`${m}\n`),
  });
  const report = {
    size: values.size,
    seed: Number(values.seed),
    command: `npm run -s bench:flood -- ${argv.join(' ')}`.trim(),
    // The machine's 1-minute load average: the figures mean little on a busy machine.
    loadAverage: { start: loadAtStart, end: round(loadavg()[0], 1) },
    flood: result,
  };
  if (!values['no-save']) {
    const dir = join(resolve(values['out-dir']), 'results', 'flood');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${backend}.json`), `${JSON.stringify(report, null, 2)}\n`);
  }
  process.stdout.write(
    values.json
      ? `${JSON.stringify(report, null, 2)}\n`
      : `${floodSummary(result)}\nload average         ${loadAtStart} at the start, ${report.loadAverage.end} at the end\n`,
  );
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
