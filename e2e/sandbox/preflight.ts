/**
 * What the sandbox needs from the machine, checked before anything is created, so a missing
 * piece costs one clear line ("… run `sudo apt-get install -y ipset`") and exit code 2 rather
 * than a half-built sandbox.
 */
import { existsSync } from 'node:fs';
import { run } from './run';
import { locate } from './tools';

export const PREFLIGHT_EXIT_CODE = 2;

/** Command → Debian package that provides it. */
const REQUIRED_COMMANDS: readonly (readonly [string, string])[] = [
  ['ip', 'iproute2'],
  ['iptables', 'iptables'],
  ['ip6tables', 'iptables'],
  ['ipset', 'ipset'],
  ['sysctl', 'procps'],
  // The API server's certificate (HTTPS: kubectl sends its token only over TLS) and exec into pods.
  ['openssl', 'openssl'],
  ['nsenter', 'util-linux'],
];

export interface PreflightNeeds {
  readonly topology: 'routed' | 'bridge';
  /** The agents' dataplane backend: nftables also needs `nft`. Default iptables. */
  readonly backend?: 'iptables' | 'nftables';
  /** The command line to repeat under sudo, for the message. */
  readonly commandLine: string;
}

/**
 * Returns undefined when the sandbox can run, else the one line to print. For the bridge
 * topology it loads br_netfilter when its sysctls are missing and modprobe is available.
 */
export async function preflight(
  needs: PreflightNeeds,
  find: (command: string) => string | undefined = locate,
): Promise<string | undefined> {
  if (process.getuid?.() !== 0) {
    return `palisade sandbox needs root (network namespaces, iptables): run \`sudo ${needs.commandLine}\``;
  }
  const missing = REQUIRED_COMMANDS.filter(([cmd]) => find(cmd) === undefined);
  if (needs.backend === 'nftables' && !find('nft')) missing.push(['nft', 'nftables']);
  if (!find('python3')) missing.push(['python3', 'python3']);
  if (missing.length > 0) {
    const cmds = [...new Set(missing.map(([c]) => c))].join(', ');
    const pkgs = [...new Set(missing.map(([, p]) => p))].join(' ');
    return `palisade sandbox needs ${cmds}: run \`sudo apt-get install -y ${pkgs}\``;
  }
  if (needs.topology === 'bridge' && !existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    const modprobe = find('modprobe');
    if (modprobe) await run([modprobe, 'br_netfilter']);
    if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
      return 'the bridge topology needs the br_netfilter kernel module: run `sudo modprobe br_netfilter` (package kmod)';
    }
  }
  return undefined;
}
