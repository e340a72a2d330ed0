/**
 * `npm run -s bench:datapath -- [--size S|M|L] [--seed N] [--seconds N] [--json]`: the datapath
 * cost alone (datapath.ts), saved to bench/results/datapath/<size>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kernelAvailable } from './netns';
import { measureDatapath } from './datapath';
import { isSizeName } from './sizes';

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      size: { type: 'string', default: 'M' },
      seed: { type: 'string', default: '1' },
      seconds: { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      'out-dir': { type: 'string', default: resolve(__dirname, '..', '..', 'bench') },
      'no-save': { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!isSizeName(values.size)) throw new Error(`--size: unknown size "${values.size}" (tiny, S, M, L)`);
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds < 1) throw new Error('--seconds: a number of seconds, at least 1');
  const k = await kernelAvailable();
  if (!k.ok) throw new Error(`the datapath bench needs root and the kernel tools (${k.why})`);
  const result = await measureDatapath({
    size: values.size,
    seed: Number(values.seed),
    seconds,
    progress: (m) => process.stderr.write(`${m}\n`),
  });
  const report = {
    size: values.size,
    seed: Number(values.seed),
    command: `npm run -s bench:datapath -- ${argv.join(' ')}`.trim(),
    datapath: result,
  };
  if (!values['no-save']) {
    // A folder of its own: bench/results/*.json are the size reports the chart and tables read.
    const dir = join(resolve(values['out-dir']), 'results', 'datapath');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${values.size}.json`), `${JSON.stringify(report, null, 2)}\n`);
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const row = (name: string, m: Record<string, number>, r: Record<string, number>) =>
    `${name.padEnd(22)} ${['none', 'iptables', 'nftables'].map((c) => `${c} ${m[c]} (${r[c]})`).join('   ')}`;
  process.stdout.write(
    `datapath at ${values.size}: ${result.pair.client} -> ${result.pair.server} ${result.pair.port}/TCP, ${seconds} s each\n` +
      `${row('connections/s', result.connectionsPerSecond, result.ratio.connectionsPerSecond)}\n` +
      `${row('throughput Mbit/s', result.throughputMbps, result.ratio.throughputMbps)}\n`,
  );
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
