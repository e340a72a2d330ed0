/**
 * `palisade probe PORT[/PROTOCOL] IP...`: a connection attempt to each address from where it
 * runs, at once, with the sandbox's own probe (TCP: connect and echo a nonce; UDP: a nonce
 * echoed, two attempts), for e2e suites that probe from inside pods:
 *
 *   kubectl exec POD -- palisade probe 80/TCP 10.244.1.10 10.244.2.11
 *
 * Prints one line per address, "IP allowed" or "IP denied (REASON)" (just "allowed"/"denied"
 * for one address); exit status 0 when every address was reached, 1 otherwise. The peer must
 * echo (every sandbox pod serves its ports that way). One exec for a whole row of a matrix.
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
      'try a connection to each IP on PORT/PROTOCOL with a nonce the peer echoes (as the sandbox probes); exit 0 when all got through',
    )
    .argument('<port>', 'PORT or PORT/PROTOCOL (TCP, UDP)', parseProbe)
    .argument('<ip...>', 'destination addresses')
    .option(
      '--timeout <ms>',
      'how long to wait (TCP: the whole exchange; UDP: each of 2 attempts)',
      milliseconds,
      1000,
    )
    .action(
      async (
        probe: { port: number; protocol: string },
        ipTexts: string[],
        opts: { timeout: number },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        if (probe.protocol === 'SCTP')
          throw new CliError(
            'SCTP is probed by the sandbox with raw INIT packets, not by `palisade probe`',
            2,
          );
        const ips = ipTexts.map(parseIPArg);
        const details = await Promise.all(
          ips.map((ip) =>
            probe.protocol === 'TCP'
              ? probeTcp(ip, probe.port, opts.timeout)
              : probeUdp(ip, probe.port, opts.timeout, 2),
          ),
        );
        const word = (d: string): string => (d === 'echoed' ? 'allowed' : `denied (${d})`);
        ctx.stdout(
          ips.length === 1
            ? `${word(details[0])}\n`
            : ips.map((ip, i) => `${ip} ${word(details[i])}\n`).join(''),
        );
        if (details.some((d) => d !== 'echoed')) throw new CliError('', EXIT_FAILURE);
      },
    );
}
