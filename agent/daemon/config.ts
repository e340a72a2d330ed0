/**
 * The agent's configuration.
 *
 * What it is: every setting of `palisade agent`, with its flag, its environment variable and its
 * default in one table (CONFIG_OPTIONS), so the CLI, the docs and the parser cannot disagree.
 *
 * How it works: the CLI collects raw strings (flag, else environment, else default — commander
 * does the precedence), `parseConfig` turns them into a typed Config and `validateConfig` checks
 * it. Both report every problem at once, as a list, so an operator fixes a manifest in one go.
 */
import { isIP } from 'node:net';
import { BACKENDS, NEW_PODS_POLICIES, type BackendKind, type NewPodsPolicy } from '../../dataplane/api';
import { formatCIDR, parseCIDR } from '../../compiler/validate/ip';
import {
  DEFAULT_VERDICT_LOG,
  type VerdictLogOptions,
  validateVerdictLogOptions,
} from '../../dataplane/verdict-log';
import { formatDuration, parseDuration } from './duration';

export type SyncMode = 'incremental' | 'full';
export type IptablesMode = 'auto' | 'nft' | 'legacy';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type VerdictLogMode = 'off' | 'denied' | 'all';

export const SYNC_MODES: readonly SyncMode[] = ['incremental', 'full'];
export const IPTABLES_MODES: readonly IptablesMode[] = ['auto', 'nft', 'legacy'];
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
export const VERDICT_LOG_MODES: readonly VerdictLogMode[] = ['off', 'denied', 'all'];

export interface Config {
  /** This node's name (spec.nodeName of the pods the agent enforces). */
  readonly nodeName: string;
  /** Path of a kubeconfig file; undefined = in-cluster configuration (service account). */
  readonly kubeconfig: string | undefined;
  /** host:port of the HTTP server for /healthz, /readyz, /metrics; '' disables it. */
  readonly metricsAddress: string;
  /** Path of the debug unix socket; '' disables it. */
  readonly debugSocket: string;
  readonly logLevel: LogLevel;
  /** Period of the drift check and repair, ms. */
  readonly resyncIntervalMs: number;
  /** incremental: apply what changed; full: recompile and restore everything on each change. */
  readonly syncMode: SyncMode;
  /** Which kernel interface programs the rules: iptables + ipset, or nftables natively. */
  readonly backend: BackendKind;
  /** iptables backend only: which iptables (nft or legacy), or detect it. */
  readonly iptablesMode: IptablesMode;
  /** Floor between the starts of two applies, ms (coalesces bursts). */
  readonly minSyncIntervalMs: number;
  /**
   * Leave open connections alone when a change denies them (false, the default: their conntrack
   * entries are deleted in the same apply, so their next packet meets the new rules).
   */
  readonly keepEstablished: boolean;
  /**
   * Traffic of a local pod address the agent has not programmed yet: fail-closed (the default)
   * drops it, except between the pod and its node; fail-open lets it through.
   */
  readonly newPods: NewPodsPolicy;
  /** The node's pod ranges, canonical CIDRs; empty: the Node's spec.podCIDRs as watched. */
  readonly localPodCIDRs: readonly string[];
  /** Verdict logs: off; denied (every drop); all (drops and the first packet of allowed connections). */
  readonly verdictLog: VerdictLogMode;
  /** NFLOG group the log points write to and the agent reads. */
  readonly verdictLogGroup: number;
  /** The node's kernel rate limit of logged packets, per second, and its burst. */
  readonly verdictLogRate: number;
  readonly verdictLogBurst: number;
  /** Verdict events the agent keeps for watchers. */
  readonly verdictBuffer: number;
}

/** Raw values, as strings, keyed like Config minus the unit suffixes. */
export type RawConfig = Partial<Record<OptionKey, string>>;
export type OptionKey =
  | 'nodeName'
  | 'kubeconfig'
  | 'metricsAddress'
  | 'debugSocket'
  | 'logLevel'
  | 'resyncInterval'
  | 'syncMode'
  | 'backend'
  | 'iptablesMode'
  | 'minSyncInterval'
  | 'keepEstablished'
  | 'newPods'
  | 'localPodCidr'
  | 'verdictLog'
  | 'verdictLogGroup'
  | 'verdictLogRate'
  | 'verdictLogBurst'
  | 'verdictBuffer';

export interface OptionSpec {
  readonly key: OptionKey;
  /** Long flag with its value placeholder, as commander takes it (none: a boolean switch). */
  readonly flag: string;
  readonly env: string;
  /** Default as the user would type it; undefined = no default. */
  readonly default: string | undefined;
  readonly description: string;
}

export const CONFIG_OPTIONS: readonly OptionSpec[] = [
  {
    key: 'nodeName',
    flag: '--node-name <name>',
    env: 'NODE_NAME',
    default: undefined,
    description: 'name of this node (required; in a DaemonSet: the downward API spec.nodeName)',
  },
  {
    key: 'kubeconfig',
    flag: '--kubeconfig <file>',
    env: 'KUBECONFIG',
    default: undefined,
    description: 'kubeconfig file (default: in-cluster service account configuration)',
  },
  {
    key: 'metricsAddress',
    flag: '--metrics-address <host:port>',
    env: 'PALISADE_METRICS_ADDRESS',
    default: '0.0.0.0:9101',
    description: 'address of the HTTP server for /healthz, /readyz and /metrics ("" disables)',
  },
  {
    key: 'debugSocket',
    flag: '--debug-socket <path>',
    env: 'PALISADE_DEBUG_SOCKET',
    default: '/run/palisade/palisade.sock',
    description: 'unix socket of the local debug endpoint ("" disables)',
  },
  {
    key: 'logLevel',
    flag: '--log-level <level>',
    env: 'PALISADE_LOG_LEVEL',
    default: 'info',
    description: `log level: ${LOG_LEVELS.join('|')}`,
  },
  {
    key: 'resyncInterval',
    flag: '--resync-interval <duration>',
    env: 'PALISADE_RESYNC_INTERVAL',
    default: '5m',
    description: 'period of the kernel drift check and repair (e.g. 30s, 5m)',
  },
  {
    key: 'syncMode',
    flag: '--sync-mode <mode>',
    env: 'PALISADE_SYNC_MODE',
    default: 'incremental',
    description: 'incremental: apply only what changed; full: recompile and restore everything per change',
  },
  {
    key: 'backend',
    flag: '--backend <backend>',
    env: 'PALISADE_BACKEND',
    default: 'iptables',
    description: `dataplane: ${BACKENDS.join('|')} (nftables: Palisade's own inet table, one transaction per change)`,
  },
  {
    key: 'iptablesMode',
    flag: '--iptables-mode <mode>',
    env: 'PALISADE_IPTABLES_MODE',
    default: 'auto',
    description:
      'iptables backend: nft, legacy, or auto (use the one holding the most rules, as kube-proxy does)',
  },
  {
    key: 'minSyncInterval',
    flag: '--min-sync-interval <duration>',
    env: 'PALISADE_MIN_SYNC_INTERVAL',
    default: '0s',
    description: 'minimum time between the starts of two applies; events in between are coalesced',
  },
  {
    key: 'keepEstablished',
    flag: '--keep-established',
    env: 'PALISADE_KEEP_ESTABLISHED',
    default: undefined,
    description:
      'leave open connections alone when a policy change denies them (default: cut them in the same apply)',
  },
  {
    key: 'newPods',
    flag: '--new-pods <policy>',
    env: 'PALISADE_NEW_PODS',
    default: 'fail-closed',
    description:
      'traffic of a local pod address not programmed yet, or of an IPv6 link-local one: fail-closed (dropped, except to and from its node) or fail-open',
  },
  {
    key: 'localPodCidr',
    flag: '--local-pod-cidr <cidrs>',
    env: 'PALISADE_LOCAL_POD_CIDR',
    default: '',
    description: "this node's pod ranges, comma-separated (default: the Node's spec.podCIDRs)",
  },
  {
    key: 'verdictLog',
    flag: '--verdict-log <mode>',
    env: 'PALISADE_VERDICT_LOG',
    default: 'denied',
    description:
      'verdict logs (palisade watch, palisade_verdicts_total): off, denied (every drop), all (drops and the first packet of allowed connections)',
  },
  {
    key: 'verdictLogGroup',
    flag: '--verdict-log-group <n>',
    env: 'PALISADE_VERDICT_LOG_GROUP',
    default: String(DEFAULT_VERDICT_LOG.group),
    description: 'NFLOG group of the verdict logs (0-65535; one reader per group and network namespace)',
  },
  {
    key: 'verdictLogRate',
    flag: '--verdict-log-rate <per-second>',
    env: 'PALISADE_VERDICT_LOG_RATE',
    default: String(DEFAULT_VERDICT_LOG.ratePerSecond),
    description: "the node's kernel limit on logged packets per second (a flood costs bounded CPU)",
  },
  {
    key: 'verdictLogBurst',
    flag: '--verdict-log-burst <n>',
    env: 'PALISADE_VERDICT_LOG_BURST',
    default: String(DEFAULT_VERDICT_LOG.burst),
    description: 'logged packets let through at once above the rate, after a quiet period',
  },
  {
    key: 'verdictBuffer',
    flag: '--verdict-buffer <n>',
    env: 'PALISADE_VERDICT_BUFFER',
    default: '4096',
    description: 'recent verdict events the agent keeps for `palisade watch --since`',
  },
];

function defaultOf(key: OptionKey): string {
  return CONFIG_OPTIONS.find((o) => o.key === key)?.default ?? '';
}

function oneOf<T extends string>(allowed: readonly T[], v: string): v is T {
  return (allowed as readonly string[]).includes(v);
}

/** Turns raw strings into a Config; values that do not parse are listed in `problems` (and defaulted). */
export function parseConfig(raw: RawConfig): { config: Config; problems: string[] } {
  const problems: string[] = [];
  const value = (key: OptionKey): string => raw[key] ?? defaultOf(key);
  const duration = (key: OptionKey, flag: string): number => {
    const text = value(key);
    const ms = parseDuration(text);
    if (ms === undefined) {
      problems.push(`${flag}: "${text}" is not a duration (examples: 30s, 5m, 1m30s, 250ms)`);
      return parseDuration(defaultOf(key)) ?? 0;
    }
    return ms;
  };
  const choice = <T extends string>(key: OptionKey, flag: string, allowed: readonly T[]): T => {
    const v = value(key);
    if (oneOf(allowed, v)) return v;
    problems.push(`${flag}: "${v}" is not one of ${allowed.join(', ')}`);
    return defaultOf(key) as T;
  };
  const integer = (key: OptionKey, name: string): number => {
    const text = value(key);
    if (/^\d{1,9}$/.test(text)) return Number(text);
    problems.push(`${name}: "${text}" is not a whole number`);
    return Number(defaultOf(key));
  };
  const flag = (key: OptionKey, name: string): boolean => {
    const v = raw[key] as string | boolean | undefined;
    if (v === undefined || v === false || v === '' || v === 'false' || v === '0') return false;
    if (v === true || v === 'true' || v === '1') return true;
    problems.push(`${name}: "${String(v)}" is not true or false`);
    return false;
  };
  const cidrs = (key: OptionKey, name: string): string[] => {
    const out: string[] = [];
    for (const text of value(key)
      .split(',')
      .map((t) => t.trim())) {
      if (text === '') continue;
      const net = parseCIDR(text);
      if (!net) problems.push(`${name}: "${text}" is not a CIDR (e.g. 10.244.1.0/24, fd00:10:244:1::/64)`);
      else if (!out.includes(formatCIDR(net))) out.push(formatCIDR(net));
    }
    return out;
  };
  const config: Config = {
    nodeName: value('nodeName'),
    kubeconfig: raw.kubeconfig === undefined || raw.kubeconfig === '' ? undefined : raw.kubeconfig,
    metricsAddress: value('metricsAddress'),
    debugSocket: value('debugSocket'),
    logLevel: choice('logLevel', '--log-level', LOG_LEVELS),
    resyncIntervalMs: duration('resyncInterval', '--resync-interval'),
    syncMode: choice('syncMode', '--sync-mode', SYNC_MODES),
    backend: choice('backend', '--backend', BACKENDS),
    iptablesMode: choice('iptablesMode', '--iptables-mode', IPTABLES_MODES),
    minSyncIntervalMs: duration('minSyncInterval', '--min-sync-interval'),
    keepEstablished: flag('keepEstablished', '--keep-established'),
    newPods: choice('newPods', '--new-pods', NEW_PODS_POLICIES),
    localPodCIDRs: cidrs('localPodCidr', '--local-pod-cidr'),
    verdictLog: choice('verdictLog', '--verdict-log', VERDICT_LOG_MODES),
    verdictLogGroup: integer('verdictLogGroup', '--verdict-log-group'),
    verdictLogRate: integer('verdictLogRate', '--verdict-log-rate'),
    verdictLogBurst: integer('verdictLogBurst', '--verdict-log-burst'),
    verdictBuffer: integer('verdictBuffer', '--verdict-buffer'),
  };
  return { config, problems: [...problems, ...validateConfig(config)] };
}

/** host:port, [v6]:port or :port. Returns undefined when malformed. */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** sun_path is 108 bytes on Linux, NUL included. */
const MAX_SOCKET_PATH = 107;
const MIN_RESYNC_MS = 1000;

/** Every problem with `c`, as one message each; empty = valid. */
export function validateConfig(c: Config): string[] {
  const problems: string[] = [];
  if (c.nodeName === '') {
    problems.push('--node-name (or NODE_NAME) is required');
  } else if (c.nodeName.length > 253 || !DNS_SUBDOMAIN.test(c.nodeName)) {
    problems.push(`--node-name: "${c.nodeName}" is not a valid node name (a lower-case DNS subdomain)`);
  }
  if (c.metricsAddress !== '' && !parseHostPort(c.metricsAddress)) {
    problems.push(`--metrics-address: "${c.metricsAddress}" is not host:port (e.g. 0.0.0.0:9101, [::]:9101)`);
  }
  if (c.debugSocket !== '') {
    if (!c.debugSocket.startsWith('/'))
      problems.push(`--debug-socket: "${c.debugSocket}" must be an absolute path`);
    if (Buffer.byteLength(c.debugSocket) > MAX_SOCKET_PATH) {
      problems.push(`--debug-socket: path longer than ${MAX_SOCKET_PATH} bytes`);
    }
  }
  if (!oneOf(LOG_LEVELS, c.logLevel))
    problems.push(`--log-level: "${c.logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  if (!oneOf(SYNC_MODES, c.syncMode))
    problems.push(`--sync-mode: "${c.syncMode}" is not one of ${SYNC_MODES.join(', ')}`);
  if (!oneOf(BACKENDS, c.backend))
    problems.push(`--backend: "${c.backend}" is not one of ${BACKENDS.join(', ')}`);
  if (!oneOf(IPTABLES_MODES, c.iptablesMode)) {
    problems.push(`--iptables-mode: "${c.iptablesMode}" is not one of ${IPTABLES_MODES.join(', ')}`);
  }
  if (!(c.resyncIntervalMs >= MIN_RESYNC_MS)) {
    problems.push(`--resync-interval: ${formatDuration(c.resyncIntervalMs)} is below the minimum of 1s`);
  }
  if (!oneOf(NEW_PODS_POLICIES, c.newPods)) {
    problems.push(`--new-pods: "${c.newPods}" is not one of ${NEW_PODS_POLICIES.join(', ')}`);
  }
  if (!oneOf(VERDICT_LOG_MODES, c.verdictLog)) {
    problems.push(`--verdict-log: "${c.verdictLog}" is not one of ${VERDICT_LOG_MODES.join(', ')}`);
  }
  for (const p of validateVerdictLogOptions(verdictLogOptions(c))) {
    problems.push(`--verdict-log-*: ${p}`);
  }
  if (!Number.isInteger(c.verdictBuffer) || c.verdictBuffer < 16 || c.verdictBuffer > 1_000_000) {
    problems.push(`--verdict-buffer: ${c.verdictBuffer} is not a whole number 16-1000000`);
  }
  if (!(c.minSyncIntervalMs >= 0)) problems.push('--min-sync-interval: must not be negative');
  else if (c.minSyncIntervalMs > c.resyncIntervalMs) {
    problems.push(
      `--min-sync-interval: ${formatDuration(c.minSyncIntervalMs)} exceeds --resync-interval ${formatDuration(c.resyncIntervalMs)}`,
    );
  }
  return problems;
}

/** The configuration as logged at start (no secrets live here, so every field is shown). */
export function describeConfig(c: Config): Record<string, string> {
  return {
    nodeName: c.nodeName,
    kubeconfig: c.kubeconfig ?? '(in-cluster)',
    metricsAddress: c.metricsAddress || '(disabled)',
    debugSocket: c.debugSocket || '(disabled)',
    logLevel: c.logLevel,
    resyncInterval: formatDuration(c.resyncIntervalMs),
    syncMode: c.syncMode,
    backend: c.backend,
    iptablesMode: c.iptablesMode,
    minSyncInterval: formatDuration(c.minSyncIntervalMs),
    keepEstablished: String(c.keepEstablished),
    newPods: c.newPods,
    localPodCIDRs: c.localPodCIDRs.length > 0 ? c.localPodCIDRs.join(',') : "(the Node's spec.podCIDRs)",
    verdictLog: c.verdictLog,
    verdictLogGroup: String(c.verdictLogGroup),
    verdictLogRate: `${c.verdictLogRate}/s burst ${c.verdictLogBurst}`,
    verdictBuffer: String(c.verdictBuffer),
  };
}

/** The kernel side of the verdict logs (the dataplane's log points and rate limit) from the flags. */
export function verdictLogOptions(
  c: Pick<Config, 'verdictLog' | 'verdictLogGroup' | 'verdictLogRate' | 'verdictLogBurst'>,
): VerdictLogOptions {
  return {
    group: c.verdictLogGroup,
    ratePerSecond: c.verdictLogRate,
    burst: c.verdictLogBurst,
    allowed: c.verdictLog === 'all',
  };
}
