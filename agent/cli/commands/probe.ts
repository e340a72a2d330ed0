/**
 * `palisade probe IP PORT[/PROTOCOL]`: one connection attempt from where it runs, with the
 * sandbox's own probe (TCP: connect and echo a nonce; UDP: a nonce echoed, with retries), for
 * e2e suites that probe from inside pods: `kubectl exec POD -- palisade probe 10.244.1.10 80/TCP`.
 * Prints "allowed" or "denied (REASON)"; exit status 0 when allowed, 1 when denied. The peer must
 * echo (every sandbox pod serves its ports that way).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { probeTcp, probeUdp } from '../../../e2e/sandbox/prober';
import { parseIPArg, parseProbe } from '../args';
import { contextOf } from '../context';
import { CliError, EXIT_FAILURE } from '../errors';

function milliseconds(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new InvalidArgumentError('must be a positive number of milliseconds');
  return Number(text);
}

export function register(program: Command): void {
  program
    .command('probe')
    .description(
      'try one connection to IP on PORT/PROTOCOL with a nonce the peer echoes (as the sandbox probes); exit 0 allowed, 1 denied',
    )
    .argument('<ip>', 'destination address', parseIPArg)
    .argument('<port>', 'PORT or PORT/PROTOCOL (TCP, UDP)', parseProbe)
    .option(
      '--timeout <ms>',
      'how long to wait (TCP: the whole exchange; UDP: each of 2 attempts)',
      milliseconds,
      1000,
    )
    .action(
      async (
        ip: string,
        probe: { port: number; protocol: string },
        opts: { timeout: number },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        if (probe.protocol === 'SCTP')
          throw new CliError(
            'SCTP is probed by the sandbox with raw INIT packets, not by `palisade probe`',
            2,
          );
        const detail =
          probe.protocol === 'TCP'
            ? await probeTcp(ip, probe.port, opts.timeout)
            : await probeUdp(ip, probe.port, opts.timeout, 2);
        if (detail === 'echoed') {
          ctx.stdout('allowed\n');
          return;
        }
        ctx.stdout(`denied (${detail})\n`);
        throw new CliError('', EXIT_FAILURE);
      },
    );
}
