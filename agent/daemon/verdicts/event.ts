/**
 * A verdict event: one NFLOG record of one of Palisade's log points, told in cluster terms.
 *
 * The prefix names the log point (dataplane/verdict-log.ts); the table says what it means (tier,
 * policy, rule, or the policies that isolate the pod); the packet's headers say who talked to whom
 * on which port, and the agent's model turns addresses into pods where it knows them.
 */
import type { ObjectKey } from '../../../compiler';
import {
  parsePrefix,
  type LogCause,
  type LogPolicyRef,
  type LogRuleRef,
  type LogTier,
  type LogVerdict,
} from '../../../dataplane/verdict-log';
import type { CapturedMessage } from './capture';
import type { LogPointTable } from './log-point-table';
import { decodePacket } from './packet';

/** One end of the connection: its address, and the pod that holds it when the agent knows one. */
export interface VerdictPeer {
  readonly ip: string;
  readonly pod?: ObjectKey;
}

export interface VerdictEvent {
  /** Position in the agent's stream of events (1, 2, ...): a watcher sees gaps as losses. */
  readonly seq: number;
  /** When the kernel logged the packet (ISO 8601, UTC). */
  readonly time: string;
  readonly node: string;
  readonly direction: 'ingress' | 'egress';
  readonly verdict: LogVerdict;
  readonly tier: LogTier;
  /** What decided; absent when the log point is unknown to this agent. */
  readonly cause?: LogCause;
  readonly src: VerdictPeer;
  readonly dst: VerdictPeer;
  /** TCP, UDP, SCTP, ICMP, ICMPv6, or the protocol number. */
  readonly protocol: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** The pod whose policies decided (destination for ingress, source for egress). */
  readonly subject?: ObjectKey;
  readonly policy?: LogPolicyRef;
  readonly policies?: readonly ObjectKey[];
  readonly rule?: LogRuleRef;
  /** The log point's identifier, as the kernel rule carries it. */
  readonly point: string;
  /** False when the identifier is not (or no longer) in the agent's table: only the prefix's facts are known. */
  readonly known: boolean;
}

export type EventDraft = Omit<VerdictEvent, 'seq'>;

/** What happened to a record: an event, or why there is none. */
export type Interpretation =
  | { readonly kind: 'event'; readonly event: EventDraft }
  | { readonly kind: 'foreign' }
  | { readonly kind: 'malformed'; readonly reason: string };

export function interpret(
  m: CapturedMessage,
  table: Pick<LogPointTable, 'lookup'>,
  podOf: (ip: string) => ObjectKey | undefined,
  node: string,
): Interpretation {
  const prefix = parsePrefix(m.prefix);
  if (!prefix) return { kind: 'foreign' };
  const packet = decodePacket(m.payload);
  if (!packet) return { kind: 'malformed', reason: 'the payload holds no complete IP header' };
  const point = table.lookup(prefix.id);
  const peer = (ip: string): VerdictPeer => {
    const pod = podOf(ip);
    return pod ? { ip, pod } : { ip };
  };
  const src = peer(packet.src);
  const dst = peer(packet.dst);
  const subject = point?.pod ?? (prefix.direction === 'ingress' ? dst.pod : src.pod);
  return {
    kind: 'event',
    event: {
      time: new Date(m.timeMs).toISOString(),
      node,
      direction: prefix.direction,
      verdict: prefix.verdict,
      tier: prefix.tier,
      ...(point ? { cause: point.cause } : {}),
      src,
      dst,
      protocol: packet.protocol ?? String(packet.protocolNumber),
      ...(packet.srcPort !== undefined ? { srcPort: packet.srcPort } : {}),
      ...(packet.dstPort !== undefined ? { dstPort: packet.dstPort } : {}),
      ...(subject ? { subject } : {}),
      ...(point?.policy ? { policy: point.policy } : {}),
      ...(point?.policies ? { policies: point.policies } : {}),
      ...(point?.rule ? { rule: point.rule } : {}),
      point: prefix.id,
      known: point !== undefined,
    },
  };
}
