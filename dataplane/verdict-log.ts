/**
 * Verdict logs: the contract between the kernel rules (either backend) and the agent.
 *
 * What it models: a *log point* is one place in Palisade's rules where the kernel hands a packet
 * to userspace through NFLOG because a verdict was taken there: every drop (a ClusterNetworkPolicy
 * Deny rule, the NetworkPolicy tier's final drop for a pod, an isolated address whose pod chain
 * is not there yet, a new pod's address not programmed yet), optionally the first packet of an allowed connection (an accepting
 * ClusterNetworkPolicy rule, a NetworkPolicy that admits, the default), and audit mode's shadow
 * evaluation ("would deny", "would allow"). Every packet that reaches Palisade's pod chains is
 * the first of its connection (replies and established flows leave PALISADE-FORWARD at its first
 * rule), so a log point fires once per connection attempt, retransmissions aside.
 *
 * How it works: each log point carries an NFLOG prefix (`formatPrefix`) that names it by an
 * identifier derived from its content (`logPointId`: a hash of verdict, direction, tier, cause,
 * policy, rule and pod). Content-derived identifiers need no allocator and no state shared between
 * the renderers: both backends compute the same prefix from the same IR object, a restarted agent
 * computes the identifiers its predecessor wrote, and any change to what a point means gives it a
 * new identifier, so a record that races an update is never attributed to the new meaning. The
 * agent maps identifiers back to `LogPoint`s through the table the dataplane derives from the
 * compiled state (log-points.ts), keeping removed identifiers for a while.
 *
 * ## The prefix: `pl1:<V><T><D>:<ID>` (18 characters)
 *
 *   pl1   format version 1 (a future format changes this)
 *   V     verdict   D denied, A allowed, d would deny (audit), a would allow (audit)
 *   T     tier      A admin, N NetworkPolicy, B baseline, X default (nothing decided; a pending
 *                   or fail-closed drop)
 *   D     direction I ingress, E egress
 *   ID    10 characters of RFC 4648 base32 (A-Z, 2-7): 50 bits of sha256 over the point's content
 *
 * e.g. `pl1:DNI:K2M7QX4ZAB`. It fits iptables' `--nflog-prefix` (63 characters) and nftables'
 * `log prefix` (127) with room to spare, holds no text from the cluster (names are free text and
 * never reach kernel input), and still says verdict, tier and direction when the identifier is
 * unknown (a record logged by rules a previous agent wrote before this one's first sync).
 *
 * ## The rate limit (per node, in the kernel)
 *
 * One token bucket per node, shared by every log point of both IP families, with a configurable
 * rate (`ratePerSecond`) and burst: a flood of denied packets costs at most that many NFLOG
 * messages a second, and allowed traffic never waits for it (logging is a side branch; the
 * packet's fate is decided by the rules that follow it). Two counters beside the bucket say how
 * many packets reached a log point (`seen`) and how many were handed to NFLOG (`logged`); the
 * agent reads them (`Dataplane.readLogCounters`) and reports the increase of `seen - logged` it
 * observes as lost to the rate limit. Counters restart from zero when their object is written
 * anew (an iptables chain is flushed and refilled whenever one of its rules changes).
 *
 * - iptables: every log point jumps to one fixed chain, `PALISADE-LOG-LIMIT`, before its NFLOG
 *   rule. The chain's first rule counts every packet (`seen`, its packet counter) and clears the
 *   pass bit; its second, `-m hashlimit --hashlimit-upto RATE/sec --hashlimit-burst BURST
 *   --hashlimit-name palisade-log` (no `--hashlimit-mode`: one bucket for all packets, and one
 *   table for every rule with that name), sets the pass bit (`logged`, its packet counter). The
 *   log point's NFLOG rule matches on the pass bit. At a log point the packet's fate is already
 *   decided, so both mark bits are free to use as scratch (see tiers.ts). The counters are read
 *   with `iptables -w -S PALISADE-LOG-LIMIT -v` per family (iptables/log-counters.ts).
 * - nftables: a named `limit` object (`palisade-log`: RATE/second, burst BURST packets) that
 *   every log point references (`limit name "palisade-log"`), and two named counters,
 *   `palisade-log-seen` before the limit and `palisade-log-logged` after it, in the same rule as
 *   the `log group G prefix "..."` statement; the rule's verdict comes after, in a rule of its
 *   own, so an over-limit packet still meets it. The counters are read with `list counters table
 *   inet palisade` through the nft session (nftables/log-counters.ts).
 *
 * NFLOG messages the kernel could not queue to userspace (the listener's socket buffer full) are
 * a second kind of loss, counted by the reader (tcpdump's "dropped by kernel": one per overflow,
 * so a lower bound); events a watcher could not keep up with are a third (`slow_reader`).
 */
import type { ObjectKey } from '../compiler/model';
import { type Direction, shortHash } from './names';

export type LogVerdict = 'denied' | 'allowed' | 'would-deny' | 'would-allow';
export const LOG_VERDICTS: readonly LogVerdict[] = ['denied', 'allowed', 'would-deny', 'would-allow'];

/** The stage of the evaluation a log point belongs to (as compiler/verdict-types.ts DecidingTier). */
export type LogTier = 'admin' | 'networkpolicy' | 'baseline' | 'default';
export const LOG_TIERS: readonly LogTier[] = ['admin', 'networkpolicy', 'baseline', 'default'];

/**
 * What decided at this point:
 * - rule: a ClusterNetworkPolicy rule (Deny, or Accept when allowed connections are logged);
 * - isolation: NetworkPolicies isolate the pod for the direction and none admits (the NP tier's drop);
 * - policy: a NetworkPolicy admitted the packet (the policy is known, not which of its rules);
 * - default: no tier decided, the connection is allowed (Kubernetes' default);
 * - pending: the address is isolated but its pod chain is not in the kernel yet (a short window
 *   while a pod's rules are written; the dispatch chain's final drop);
 * - fail-closed: the address lies in the node's pod ranges and no pod the agent knows holds it
 *   (a new pod not programmed yet: fail closed for new pods, the forward chain's drop).
 */
export type LogCause = 'rule' | 'isolation' | 'policy' | 'default' | 'pending' | 'fail-closed';

/** The policy that decided: a NetworkPolicy by key, a ClusterNetworkPolicy by name. */
export interface LogPolicyRef {
  readonly kind: 'NetworkPolicy' | 'ClusterNetworkPolicy';
  /** "namespace/name" for a NetworkPolicy, the name for a ClusterNetworkPolicy. */
  readonly key: string;
}

export interface LogRuleRef {
  /** Index in the policy's ingress or egress list. */
  readonly index: number;
  /** The rule's name ('' when it has none; NetworkPolicy rules have none). */
  readonly name: string;
}

/** One place in the kernel rules that logs, as the agent reports it. */
export interface LogPoint {
  readonly id: LogPointId;
  readonly verdict: LogVerdict;
  readonly direction: Direction;
  readonly tier: LogTier;
  readonly cause: LogCause;
  /** The deciding policy (cause rule or policy). */
  readonly policy?: LogPolicyRef;
  /** cause isolation: the NetworkPolicies that isolate the pod for the direction, sorted. */
  readonly policies?: readonly ObjectKey[];
  /** cause rule: the ClusterNetworkPolicy rule that decided. */
  readonly rule?: LogRuleRef;
  /**
   * The subject pod, when the point sits in one pod's chain (isolation, policy, default). Points
   * in chains shared by pods (ClusterNetworkPolicy rules), the pending and fail-closed drops leave it out: the
   * agent finds the subject from the packet's address (destination for ingress, source for egress).
   */
  readonly pod?: ObjectKey;
}

/** 10 characters of base32: see the file comment. */
export type LogPointId = string;

export const PREFIX_VERSION = 'pl1';
export const LOG_POINT_ID_CHARS = 10;
/** iptables' NFLOG prefix limit (64 bytes with the NUL); nftables allows 127. */
export const MAX_IPTABLES_PREFIX = 63;

const VERDICT_CODE: Record<LogVerdict, string> = {
  denied: 'D',
  allowed: 'A',
  'would-deny': 'd',
  'would-allow': 'a',
};
const TIER_CODE: Record<LogTier, string> = { admin: 'A', networkpolicy: 'N', baseline: 'B', default: 'X' };
const DIRECTION_CODE: Record<Direction, string> = { ingress: 'I', egress: 'E' };

function invert<K extends string>(m: Record<K, string>): Map<string, K> {
  return new Map(Object.entries(m).map(([k, v]) => [v as string, k as K]));
}
const VERDICT_OF = invert(VERDICT_CODE);
const TIER_OF = invert(TIER_CODE);
const DIRECTION_OF = invert(DIRECTION_CODE);

/** A log point without its identifier: what the identifier is derived from. */
export type LogPointContent = Omit<LogPoint, 'id'>;

/**
 * The identifier of a log point: 50 bits of sha256 over everything it means (a collision among
 * 10^5 points has a probability near 4e-6). Field order is fixed here, never JSON key order.
 */
export function logPointId(p: LogPointContent): LogPointId {
  const text = [
    'logpoint',
    p.verdict,
    p.direction,
    p.tier,
    p.cause,
    p.policy ? `${p.policy.kind}:${p.policy.key}` : '',
    (p.policies ?? []).join(','),
    p.rule ? `${p.rule.index}:${p.rule.name}` : '',
    p.pod ?? '',
  ].join('\0');
  return shortHash(text, LOG_POINT_ID_CHARS);
}

/** The log point with its identifier. */
export function logPoint(p: LogPointContent): LogPoint {
  return { id: logPointId(p), ...p };
}

/** The NFLOG prefix of a log point. */
export function formatPrefix(p: Pick<LogPoint, 'id' | 'verdict' | 'tier' | 'direction'>): string {
  return `${PREFIX_VERSION}:${VERDICT_CODE[p.verdict]}${TIER_CODE[p.tier]}${DIRECTION_CODE[p.direction]}:${p.id}`;
}

/** What a prefix says by itself. */
export interface ParsedPrefix {
  readonly id: LogPointId;
  readonly verdict: LogVerdict;
  readonly tier: LogTier;
  readonly direction: Direction;
}

const PREFIX_RE = new RegExp(`^${PREFIX_VERSION}:([DAda])([ANBX])([IE]):([A-Z2-7]{${LOG_POINT_ID_CHARS}})$`);

/** Parses a prefix Palisade wrote; undefined for anything else (another tool's NFLOG rule on the group). */
export function parsePrefix(text: string): ParsedPrefix | undefined {
  const m = PREFIX_RE.exec(text);
  if (!m) return undefined;
  return {
    verdict: VERDICT_OF.get(m[1])!,
    tier: TIER_OF.get(m[2])!,
    direction: DIRECTION_OF.get(m[3])!,
    id: m[4],
  };
}

// ---- options ----------------------------------------------------------------------------------

/**
 * The shared rate-limit bucket's name carries its rate and burst: neither a hashlimit table
 * (whose bucket settings are those of the first rule that named it) nor an nft limit object (an
 * `add` of an existing one keeps its old settings) takes new settings in place, so new settings
 * are a new bucket, and the rules that log are rewritten to use it.
 */
/** The hashlimit table (iptables): at most 15 characters, `pl-10000-100000` at the largest. */
export function hashlimitName(o: Pick<VerdictLogOptions, 'ratePerSecond' | 'burst'>): string {
  return `pl-${o.ratePerSecond}-${o.burst}`;
}

/** The named limit object (nftables). */
export function limitObjectName(o: Pick<VerdictLogOptions, 'ratePerSecond' | 'burst'>): string {
  return `palisade-log-${o.ratePerSecond}-${o.burst}`;
}
/** nftables named counters around the limit. */
export const LOG_SEEN_COUNTER = 'palisade-log-seen';
export const LOG_LOGGED_COUNTER = 'palisade-log-logged';

/**
 * Bytes of each logged packet the kernel copies to userspace (`--nflog-size` in iptables, `log
 * ... snaplen` in nftables): the IPv4 or IPv6 header with some options or extension headers, and
 * the transport header's ports. The reader's buffer stays large (see the agent's capture.ts).
 */
export const LOG_COPY_BYTES = 128;

/**
 * Records the kernel queues per NFLOG group before sending them to userspace (`--nflog-threshold`,
 * `log ... queue-threshold`). 1: each record leaves at once. Without it the group's instance
 * batches up to 100 records or 1 s (nfnetlink_log's defaults, which tcpdump does not change), so
 * a verdict reached `palisade watch` up to a second late and could be read as a later cluster
 * state's. Measured here: first record after 1.1 s without, 0.03 s with. The per-record cost is
 * bounded by the node's log rate limit.
 */
export const LOG_QUEUE_THRESHOLD = 1;

/** "P" and "L" in ASCII: a group other tools are unlikely to use (kube-router takes 100, Calico 1 and 2). */
export const DEFAULT_LOG_GROUP = 20556;

export interface VerdictLogOptions {
  /** The NFLOG group (0-65535) the log points write to and the agent reads. */
  readonly group: number;
  /** The node's rate limit: NFLOG messages per second, all log points together. */
  readonly ratePerSecond: number;
  /** Messages the bucket lets through at once after a quiet period. */
  readonly burst: number;
  /** Log the first packet of allowed connections too (and audit mode's "would allow"). */
  readonly allowed: boolean;
}

export const DEFAULT_VERDICT_LOG: VerdictLogOptions = {
  group: DEFAULT_LOG_GROUP,
  ratePerSecond: 100,
  burst: 200,
  allowed: false,
};

/** Every problem with the options, one message each; empty = valid. */
export function validateVerdictLogOptions(o: VerdictLogOptions): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(o.group) || o.group < 0 || o.group > 65535)
    problems.push(`NFLOG group ${o.group} is not an integer 0-65535`);
  // hashlimit takes at most 10,000 per second at second granularity (XT_HASHLIMIT_SCALE).
  if (!Number.isInteger(o.ratePerSecond) || o.ratePerSecond < 1 || o.ratePerSecond > 10_000)
    problems.push(`verdict log rate ${o.ratePerSecond}/s is not an integer 1-10000`);
  if (!Number.isInteger(o.burst) || o.burst < 1 || o.burst > 100_000)
    problems.push(`verdict log burst ${o.burst} is not an integer 1-100000`);
  return problems;
}
