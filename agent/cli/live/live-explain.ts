/**
 * The live `palisade explain`: a verdict against a running agent's model (/v1/explain), the
 * policy and rule that decided it, in words (format/explain-text.ts), and the kernel path that
 * implements it: the connection's first packet walked through the agent's chains and ipsets as
 * the kernel holds them (kernel-path.ts).
 *
 * Which hook: Palisade hooks FORWARD only. Traffic to or from a pod of this node crosses it;
 * traffic between a pod and its own node (INPUT, OUTPUT) and from this node's hostNetwork pods
 * (OUTPUT) does not, and is always allowed. When neither end is on this node, this node's
 * kernel plays no part.
 * The kernel path is compared with the model's verdict for the directions this node decides;
 * a disagreement means the kernel does not hold what the agent wants (see `palisade diff`).
 */
import type { DirectionVerdict, Endpoint, PodInfo, Probe, Verdict } from '../../../compiler';
import type { DataplaneView } from '../../../dataplane/api';
import { decidedElsewhere, endpointName, explainVerdict, type Explanation } from '../format/explain-text';
import { explainLookup, type ExplainDoc } from './documents';
import { kernelPath, type KernelPath, type PathStep } from './kernel-path';
import { policyRuleOfNote } from './kernel-objects';

export interface LiveExplainReport {
  /** The node of the agent that answered. */
  readonly node: string;
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: string;
  /** The verdict as far as this node decides it (a direction decided elsewhere counts as allowed). */
  readonly allowed: boolean;
  /** Directions decided by another node's agent: this answer does not cover them. */
  readonly decidedElsewhere: ReadonlyArray<{
    readonly direction: 'ingress' | 'egress';
    readonly pod: string;
    readonly node: string;
  }>;
  readonly verdict: Verdict;
  readonly explanation: Explanation;
  /** Null when the kernel of this node has no part in the connection (`kernelNote` says why). */
  readonly kernelPath: (KernelPath & { readonly decidedBy: PathStep | null }) | null;
  readonly kernelNote: string;
  /** Whether the kernel path's outcome equals the model's verdict for this node; null without a path. */
  readonly kernelAgrees: boolean | null;
}

function endPod(doc: ExplainDoc, e: Endpoint): PodInfo | undefined {
  if (e.kind === 'pod') return doc.pods.find((p) => `${p.namespace}/${p.name}` === e.key);
  return doc.pods.find((p) => !p.hostNetwork && p.ips.includes(e.ip));
}

const ipFamilyOf = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

function addressesOf(doc: ExplainDoc, e: Endpoint): readonly string[] {
  return e.kind === 'ip' ? [e.ip] : (endPod(doc, e)?.ips ?? []);
}

/** IPv4 when both ends have an IPv4 address, else IPv6 (as the verdict does). */
function addressPair(src: readonly string[], dst: readonly string[]): [string, string] | null {
  for (const family of [4, 6] as const) {
    const s = src.find((ip) => ipFamilyOf(ip) === family);
    const d = dst.find((ip) => ipFamilyOf(ip) === family);
    if (s !== undefined && d !== undefined) return [s, d];
  }
  return null;
}

/**
 * The step that implements the decision: the policy-chain rule that admitted (a NetworkPolicy
 * rule, or the ClusterNetworkPolicy rule that decided), or the DROP.
 */
function decisiveStep(path: KernelPath, v: Verdict): PathStep | null {
  if (path.result === 'dropped') return path.steps.at(-1) ?? null;
  const deciding = [v.egress, v.ingress].flatMap((d: DirectionVerdict) => [
    ...d.allowedBy,
    ...(d.clusterRule
      ? [{ policy: d.clusterRule.policy, direction: d.direction, rule: d.clusterRule.rule }]
      : []),
  ]);
  for (const step of [...path.steps].reverse()) {
    const ref = policyRuleOfNote(step.note);
    if (
      ref &&
      deciding.some((r) => r.policy === ref.policy && r.direction === ref.direction && r.rule === ref.index)
    )
      return step;
  }
  return null;
}

export async function liveExplain(
  node: string,
  doc: ExplainDoc,
  actual: DataplaneView,
  probe: Probe,
): Promise<LiveExplainReport> {
  const v = doc.verdict;
  const lookup = explainLookup(doc);
  const explanation = explainVerdict(v, doc.from, doc.to, probe, lookup, { agentNode: node });
  const src = endPod(doc, doc.from);
  const dst = endPod(doc, doc.to);
  const elsewhere = decidedElsewhere(v).map((d) => {
    const pod = d.direction === 'egress' ? src : dst;
    return { direction: d.direction, pod: d.subject ?? '', node: pod?.nodeName ?? '' };
  });
  const base = {
    node,
    from: endpointName(doc.from),
    to: endpointName(doc.to),
    port: probe.port,
    protocol: probe.protocol,
    allowed: v.allowed,
    decidedElsewhere: elsewhere,
    verdict: v,
    explanation,
  };
  const none = (kernelNote: string): LiveExplainReport => ({
    ...base,
    kernelPath: null,
    kernelNote,
    kernelAgrees: null,
  });
  if (v.self) return none('traffic from a pod to itself never leaves it: no kernel path');
  if (v.node)
    return none(
      'traffic between a pod and the node it runs on passes through INPUT or OUTPUT, which Palisade does not hook: always allowed',
    );
  const local = (p: PodInfo | undefined) => p !== undefined && p.nodeName === node;
  if (local(src) && src!.hostNetwork)
    return none(
      `${src!.namespace}/${src!.name} uses the host network of ${node}: its traffic leaves through OUTPUT, which Palisade does not hook`,
    );
  if (local(dst) && dst!.hostNetwork)
    return none(
      `${dst!.namespace}/${dst!.name} uses the host network of ${node}: traffic to it arrives through INPUT, which Palisade does not hook`,
    );
  const srcIPs = addressesOf(doc, doc.from);
  const dstIPs = addressesOf(doc, doc.to);
  for (const [e, ips] of [
    [doc.from, srcIPs],
    [doc.to, dstIPs],
  ] as const) {
    if (ips.length === 0) return none(`${endpointName(e)} has no address: no packet can pass`);
  }
  const pair = addressPair(srcIPs, dstIPs);
  if (!pair) return none('the two ends share no address family: no packet can pass');
  if (!local(src) && !local(dst))
    return none(`neither end runs on ${node}: this node's kernel plays no part in this connection`);
  const hook = 'FORWARD';
  const path = await kernelPath(actual, hook, {
    src: pair[0],
    dst: pair[1],
    protocol: probe.protocol,
    port: probe.port,
  });
  return {
    ...base,
    kernelPath: { ...path, decidedBy: decisiveStep(path, v) },
    kernelNote: '',
    kernelAgrees: (path.result === 'allowed') === v.allowed,
  };
}
