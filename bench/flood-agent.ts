/**
 * The flood bench's node agent (flood.ts starts it inside the node's network namespace, so its CPU
 * is its own): what the agent runs for verdict logs, without the API server. It compiles the
 * bench cluster, programs the node through the real dataplane with verdict logs on (or off, the
 * control), reads the NFLOG group through the agent's own VerdictLog (a tcpdump child, the log
 * point table, the event ring, the rate-limit counters read every `--counter-period-ms`).
 *
 *   node flood-agent.js --backend B --size S --seed N --verdict-log on|off --rate R --burst B
 *                       [--counter-period-ms MS]
 *
 * Protocol on stdio, one JSON object per line: it prints {"type":"ready",...} once the rules are in
 * and tcpdump listens; each `status` line on stdin gets {"type":"status",...} (the VerdictLog
 * status, and the kernel counters read at that moment); `stop` (or stdin's end) stops it.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { IncrementalCompiler } from '../compiler';
import { ProcessKernel, createDataplane, type BackendKind, type LogCounterSample } from '../dataplane/api';
import { DEFAULT_VERDICT_LOG, type VerdictLogOptions } from '../dataplane/verdict-log';
import { systemClock } from '../agent/daemon/clock';
import { silentLogger } from '../agent/daemon/logger';
import { AgentMetrics } from '../agent/daemon/metrics';
import { DEFAULT_COUNTER_PERIOD_MS, VerdictLog } from '../agent/daemon/verdicts/service';
import { LOCAL_NODE, generateCluster } from './cluster';
import { loadWorld } from './events';
import { SIZES, isSizeName } from './sizes';

function sums(samples: readonly LogCounterSample[]): { seen: number; logged: number } {
  let seen = 0;
  let logged = 0;
  for (const s of samples)
    if (s.role === 'seen') seen += s.packets;
    else logged += s.packets;
  return { seen, logged };
}

function say(doc: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(doc)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'iptables' },
      size: { type: 'string', default: 'S' },
      seed: { type: 'string', default: '1' },
      'verdict-log': { type: 'string', default: 'on' },
      rate: { type: 'string', default: String(DEFAULT_VERDICT_LOG.ratePerSecond) },
      burst: { type: 'string', default: String(DEFAULT_VERDICT_LOG.burst) },
      // The agent's period: the counter reads' cost is part of what is measured.
      'counter-period-ms': { type: 'string', default: String(DEFAULT_COUNTER_PERIOD_MS) },
    },
    strict: true,
  });
  const backend = values.backend as BackendKind;
  if (!isSizeName(values.size)) throw new Error(`unknown size ${values.size}`);
  const logging = values['verdict-log'] === 'on';
  const options: VerdictLogOptions = {
    ...DEFAULT_VERDICT_LOG,
    ratePerSecond: Number(values.rate),
    burst: Number(values.burst),
  };

  const world = generateCluster(SIZES[values.size], Number(values.seed));
  const compiler = new IncrementalCompiler({ nodeName: LOCAL_NODE });
  loadWorld(compiler, world);
  // Inside the node's namespace already: the tools run here, as the agent's do on a node.
  const dataplane = createDataplane({
    kernel: new ProcessKernel(),
    backend,
    families: [4],
    ...(logging ? { verdictLog: options } : {}),
  });
  const vlog = logging
    ? new VerdictLog(
        { nodeName: LOCAL_NODE, group: options.group, allowed: options.allowed, bufferSize: 4096 },
        {
          clock: systemClock,
          log: silentLogger(),
          metrics: new AgentMetrics({ processMetrics: false }),
          podOf: (ip) => {
            const p = compiler.podByIP(ip);
            return p ? `${p.namespace}/${p.name}` : undefined;
          },
        },
      )
    : undefined;
  const target = vlog ? vlog.tracking(dataplane) : dataplane;
  await target.sync(compiler.state(), compiler.flush());
  if (vlog) {
    vlog.start();
    vlog.countRateLimit(() => dataplane.readLogCounters(), Number(values['counter-period-ms']));
    const deadline = Date.now() + 15_000;
    for (;;) {
      const capture = (vlog.status().capture as { state: string; lastError?: string }) ?? {};
      if (capture.state === 'running') break;
      if (Date.now() > deadline)
        throw new Error(`tcpdump did not start: ${capture.lastError ?? capture.state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const status = async (): Promise<Record<string, unknown>> => ({
    pid: process.pid,
    verdictLog: vlog?.status() ?? null,
    kernelCounters: sums(await dataplane.readLogCounters()),
  });
  say({ type: 'ready', ...(await status()) });

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await vlog?.stop();
    await dataplane.close();
    process.exit(0);
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() === 'status') void status().then((s) => say({ type: 'status', ...s }));
    else if (line.trim() === 'stop') void stop();
  });
  lines.on('close', () => void stop());
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
